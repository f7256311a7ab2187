#!/usr/bin/python3
"""test_learn.py - `rcptguard learn` as an admin meets it, on the real
binary and a real cache:

- the corpus (tests/learn/corpus.txt): every line of Postfix 3.x and 2.11,
  the journal, Postfix's maillog_file and Exim yields the verdict it must,
  and the lines that must be ignored yield nothing;
- what is written: source=delivery with the queue id in `cache get`, an
  admin's verdict never replaced, a newer verdict kept, a catch-all domain
  kept risky with "delivered", an old log expiring sooner, a dry run
  writing nothing;
- the outage guard: a burst of 5.1.1 for 50 known-deliverable recipients
  leaves them deliverable, due for a probe, and logs the suspicion once;
  a lone such bounce is learned;
- --follow: lines as they come, rotation by rename and by copytruncate, a
  restart in the middle (neither relearning nor missing a line, also across
  a rotation while stopped), a line cut in half at the end of the file;
- hostile input: a 1 MB line, NUL bytes, invalid UTF-8, control bytes:
  skipped or refused with a count, nothing raw printed;
- --follow's metrics, checked with promtool when it is there.
Prints TAP.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from rgharness import RG, is_, ok, skip, wait_until  # noqa: E402

TOP_SRC = os.environ.get("top_srcdir", os.path.join(HERE, "..", ".."))
PROMTOOL = "/usr/bin/promtool"

ROOT = None
CONF = None


def write_conf(root, extra=""):
    path = os.path.join(root, "rg.conf")
    with open(path, "w") as f:
        f.write(f"""[general]
state_dir = {root}/state
user =
[lists]
providers_file = {TOP_SRC}/conf/providers.conf
disposable_domains_file = {TOP_SRC}/conf/disposable_domains
role_accounts_file = {TOP_SRC}/conf/role_accounts
reply_rules_file = {TOP_SRC}/conf/reply_rules
{extra}
""")
    return path


def rg(*args, conf=None, inp=None):
    p = subprocess.run([RG, "-c", conf or CONF] + list(args), input=inp, capture_output=True,
                       timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def learn_lines(text, *args, conf=None):
    """learn on standard input; the JSON objects it printed."""
    rc, out, err = rg("learn", "--json", *args, "-", conf=conf, inp=text.encode())
    objs = [json.loads(x) for x in out.splitlines() if x.strip()]
    return rc, objs, err


def get(addr, conf=None):
    rc, out, _ = rg("cache", "get", "--json", addr, conf=conf)
    if rc != 0:
        return None
    return json.loads(out.splitlines()[0])


def pf(qid, rcpt, status, detail, relay="mx.example.com[93.184.216.40]:25", stamp=None,
       dsn="5.1.1"):
    stamp = stamp or time.strftime("%b %e %H:%M:%S", time.localtime())
    return (f"{stamp} mx1 postfix/smtp[125]: {qid}: to=<{rcpt}>, relay={relay}, delay=1, "
            f"delays=0/0/0/1, dsn={dsn}, status={status} ({detail})\n")


def bounce(qid, rcpt, **kw):
    host = kw.pop("host", "mx.example.com[93.184.216.40]")
    return pf(qid, rcpt, "bounced", f"host {host} said: 550 5.1.1 <{rcpt}>: Recipient "
              "address rejected: User unknown (in reply to RCPT TO command)", **kw)


def sent(qid, rcpt, **kw):
    return pf(qid, rcpt, "sent", "250 2.0.0 Ok: queued as 4F2A1B", dsn="2.0.0", **kw)


# ---- the corpus ------------------------------------------------------------------

def corpus_cases():
    cases, expect = [], None
    with open(os.path.join(HERE, "corpus.txt"), encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith("= "):
                expect = line[2:].split(" ", 2)
                continue
            cases.append((expect, line))
            expect = None
    return cases


def test_corpus():
    cases = corpus_cases()
    ok(len(cases) >= 55, f"the corpus has its cases ({len(cases)})")
    for expect, line in cases:
        data = line.encode("utf-8", "surrogateescape") + b"\n"
        p = subprocess.run([RG, "-c", CONF, "learn", "--dry-run", "--json", "--verbose", "-"],
                           input=data, capture_output=True, timeout=60)
        objs = [json.loads(x) for x in p.stdout.decode().splitlines() if x.strip()]
        name = f"corpus: {line[:90]}"
        if expect[0] == "none":
            is_(objs, [], name + " -> nothing")
            continue
        if len(objs) != 1:
            ok(False, name, f"want one record, got {objs!r}", p.stderr.decode()[-500:])
            continue
        o = objs[0]
        if expect[0] == "ignored":
            got = ["ignored", o.get("why"), o.get("address")]
        else:
            got = [o.get("learned"), f"{o.get('class')}/{o.get('reason')}", o.get("address")]
        is_(got, expect, name)
        ok(o.get("dry_run") is True and p.returncode == 0, name + ": a dry run, exit 0")


# ---- what is written ---------------------------------------------------------------

def test_writes():
    now = time.time()
    log = (bounce("AAAA10001", "gone@example.com") + sent("AAAA10002", "here@example.com") +
           bounce("AAAA10003", "admin@example.com"))
    rg("cache", "put", "admin@example.com", "deliverable", "accepted", "--ttl", "1d")
    rc, objs, err = learn_lines(log)
    is_(rc, 0, "learn exits 0")
    g = get("gone@example.com")
    ok(g is not None and g["class"] == "undeliverable" and g["reason"] == "no_mailbox" and
       g["source"] == "delivery" and g["queue_id"] == "AAAA10001" and g["code"] == 550 and
       g["dsn"] == "5.1.1" and g["mx"] == "mx.example.com",
       "a learned bounce: undeliverable, source delivery, its queue id, code and relay", g)
    ok(g is not None and abs(g["checked_at"] - now) < 120 and
       g["expires_at"] - g["checked_at"] == 3 * 86400,
       "it takes the TTL of undeliverable (3d) from its delivery time", g)
    h = get("here@example.com")
    ok(h is not None and h["class"] == "deliverable" and h["source"] == "delivery" and
       h["expires_at"] - h["checked_at"] == 31 * 86400,
       "a delivery: deliverable, source delivery, TTL 31d", h)
    a = get("admin@example.com")
    ok(a is not None and a["class"] == "deliverable" and a["source"] == "admin",
       "an admin's verdict (cache put) is never replaced", a)
    ok(any(o["address"] == "admin@example.com" and o["learned"] == "ignored" for o in objs) is False,
       "ignored records are not printed without --verbose", objs)

    # Evidence older than what the cache holds does not replace it.
    rg("cache", "put", "newer@example.com", "deliverable", "accepted", "--source", "probe")
    old = time.strftime("%b %e %H:%M:%S", time.localtime(time.time() - 3600))
    rc, objs, _ = learn_lines(bounce("AAAA10004", "newer@example.com", stamp=old), "--verbose")
    n = get("newer@example.com")
    ok(n["class"] == "deliverable" and n["source"] == "probe" and
       objs and objs[0]["why"] == "newer_verdict",
       "a bounce older than the cached verdict does not replace it", objs, n)

    # A log from 2 days ago: the undeliverable verdict has 1 day left; 4 days: nothing.
    two = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 2 * 86400))
    four = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 4 * 86400))
    line2 = bounce("AAAA10005", "old2@example.com").split(" mx1 ", 1)[1]
    line4 = bounce("AAAA10006", "old4@example.com").split(" mx1 ", 1)[1]
    rc, objs, _ = learn_lines(f"{two} mx1 {line2}{four} mx1 {line4}", "--verbose")
    o2 = get("old2@example.com")
    ok(o2 is not None and abs(o2["expires_at"] - (time.time() + 86400)) < 300,
       "a bounce of 2 days ago expires 1 day from now", o2)
    ok(get("old4@example.com") is None and objs[-1]["why"] == "too_old",
       "a bounce of 4 days ago is too old to keep", objs)

    # Catch-all domain: a delivery keeps it risky, with delivered.
    rg("cache", "put", "someone@catchall.example", "risky", "catch_all", "--source", "probe")
    rc, objs, _ = learn_lines(sent("AAAA10007", "someone@catchall.example"))
    c = get("someone@catchall.example")
    ok(c["class"] == "risky" and c["reason"] == "catch_all" and c.get("delivered") is True and
       c["source"] == "delivery", "a delivery on a catch-all domain stays risky, delivered", c)

    # A dry run writes nothing and keeps no position.
    rc, objs, _ = learn_lines(bounce("AAAA10008", "dry@example.com"), "--dry-run")
    ok(objs and objs[0]["learned"] == "undeliverable" and get("dry@example.com") is None,
       "--dry-run prints what it would learn and writes nothing", objs)

    # skip_relays and trust_sent = no.
    conf2 = write_conf(ROOT, "[learn]\nskip_relays = smarthost.example.net\ntrust_sent = no\n")
    rc, objs, _ = learn_lines(sent("AAAA10009", "viahub@example.com",
                                   relay="smarthost.example.net[93.184.216.50]:587") +
                              sent("AAAA1000A", "direct@example.com"), "--verbose", conf=conf2)
    is_([o["why"] for o in objs], ["skipped_relay", "sent_not_learned"],
        "skip_relays and trust_sent = no are honoured")
    write_conf(ROOT)


# ---- the outage guard ----------------------------------------------------------------

def test_outage_guard():
    rcpts = [f"user{i}@outage.example" for i in range(50)]
    for r in rcpts:
        rg("cache", "put", r, "deliverable", "accepted", "--source", "probe")
    start = time.time() + 1
    log = "".join(bounce(f"BBBB{i:05d}", r, stamp=time.strftime(
        "%b %e %H:%M:%S", time.localtime(start + i)),
        host="mx.outage.example[203.0.113.80]", relay="mx.outage.example[203.0.113.80]:25")
        for i, r in enumerate(rcpts))
    # 203.0.113.0/24 is a documentation network: the relay check must allow it here.
    conf2 = write_conf(ROOT, "[probe]\nprobe_allow_networks = 203.0.113.0/24\n")
    rc, objs, err = learn_lines(log, conf=conf2)
    states = [get(r, conf=conf2) for r in rcpts]
    ok(all(s and s["class"] == "deliverable" and s["source"] == "probe" for s in states),
       "a burst of 5.1.1 for 50 known-deliverable recipients leaves them deliverable",
       [s for s in states if not s or s["class"] != "deliverable"][:3])
    ok(all(s and s["state"] == "stale" for s in states),
       "and makes them due for a probe (stale)", [s["state"] for s in states if s][:5])
    is_(err.count("suspected outage"), 1, "the suspicion is logged once")
    is_(sum(1 for o in objs if o["learned"] == "suspect"), 50, "50 suspects reported")
    ok("learn: suspected outage" in err and "outage.example" in err and
       "mx.outage.example" in err, "the log line names the domain and the mail host", err[-800:])

    # One such bounce is no burst: learned when its window has passed (here: the end).
    rg("cache", "put", "lone@single.example", "deliverable", "accepted", "--source", "probe",
       conf=conf2)
    rc, objs, err = learn_lines(bounce("BBBB90000", "lone@single.example",
                                       relay="mx.single.example[203.0.113.81]:25",
                                       host="mx.single.example[203.0.113.81]"), conf=conf2)
    g = get("lone@single.example", conf=conf2)
    ok(g["class"] == "undeliverable" and g["source"] == "delivery" and
       [o["learned"] for o in objs] == ["held", "undeliverable"],
       "a lone 5.1.1 for a deliverable recipient is held, then learned", objs, g)


# ---- --follow ----------------------------------------------------------------------

class Follower:
    """rcptguard learn --follow --json on a file, its output read as it comes."""

    def __init__(self, path, *args, conf=None):
        self.objs = []
        self.err = b""
        self.proc = subprocess.Popen([RG, "-c", conf or CONF, "learn", "--follow", "--json",
                                      *args, path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.te = threading.Thread(target=self._read_err, daemon=True)
        self.te.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.objs.append(json.loads(line))
            except ValueError:
                self.objs.append({"bad": line})

    def _read_err(self):
        self.err = self.proc.stderr.read()

    def learned(self, addr):
        return [o for o in self.objs if o.get("address") == addr]

    def wait_learned(self, addr, secs=60):
        return wait_until(lambda: self.learned(addr), secs)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.t.join(10)
        self.te.join(10)
        return rc


def append(path, text, mode="a"):
    with open(path, mode) as f:
        f.write(text)
        f.flush()


def test_follow():
    d = os.path.join(ROOT, "follow")
    os.makedirs(d)
    log = os.path.join(d, "mail.log")
    append(log, bounce("CCCC00001", "f1@example.com"), "w")
    fo = Follower(log)
    ok(fo.wait_learned("f1@example.com"), "--follow: the lines already there")
    append(log, bounce("CCCC00002", "f2@example.com"))
    ok(fo.wait_learned("f2@example.com"), "--follow: a line appended")

    # Rotation by rename: the writer finishes a line in the old file, then a new one.
    os.rename(log, log + ".1")
    append(log + ".1", bounce("CCCC00003", "f3@example.com"))
    append(log, bounce("CCCC00004", "f4@example.com"), "w")
    ok(fo.wait_learned("f3@example.com") and fo.wait_learned("f4@example.com"),
       "rotation by rename: the old file's last line and the new file's first")

    # copytruncate
    shutil.copy(log, log + ".2")
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, bounce("CCCC00005", "f5@example.com"))
    ok(fo.wait_learned("f5@example.com"), "rotation by copytruncate: read again from the start")

    # A line cut in half stays unread until it is whole; the position stops before it.
    line6 = bounce("CCCC00006", "f6@example.com")
    append(log, line6[:60])
    size_before = os.path.getsize(log) - 60
    # The follower reads what is there once more before it stops: the half line too.
    rc = fo.stop()
    is_(rc, 0, "SIGTERM: --follow ends with 0")
    ok(fo.learned("f6@example.com") == [], "a half line is not learned")
    posf = [p for p in os.listdir(os.path.join(ROOT, "state")) if p.startswith("learn-")]
    pos = {}
    for p in posf:
        with open(os.path.join(ROOT, "state", p)) as f:
            txt = f.read()
        if f"path {os.path.realpath(log)}\n" in txt:
            pos = dict(x.split(" ", 1) for x in txt.splitlines()[1:])
    is_(int(pos.get("offset", -1)), size_before, "the position kept is before the half line")
    ok(b"last line is not finished" in fo.err, "the summary says the last line is unfinished",
       fo.err.decode()[-300:])
    n_before = len([o for o in fo.objs if o.get("learned") == "undeliverable"])
    is_(n_before, 5, "five lines learned once each")

    # Restart: the rest of the half line and more lines; then a rotation while stopped.
    append(log, line6[60:] + bounce("CCCC00007", "f7@example.com"))
    os.rename(log, log + ".1")
    append(log + ".1", bounce("CCCC00008", "f8@example.com"))
    append(log, bounce("CCCC00009", "f9@example.com"), "w")
    fo2 = Follower(log)
    ok(fo2.wait_learned("f9@example.com"), "after a restart: the new file")
    ok(fo2.learned("f6@example.com") and fo2.learned("f7@example.com") and
       fo2.learned("f8@example.com"),
       "after a restart across a rotation: the rest of the old file, the finished half line")
    fo2.stop()
    addrs = [o["address"] for o in fo2.objs]
    is_(sorted(addrs), ["f6@example.com", "f7@example.com", "f8@example.com", "f9@example.com"],
        "nothing relearned, nothing missed")
    g = get("f6@example.com")
    ok(g and g["class"] == "undeliverable" and g["queue_id"] == "CCCC00006",
       "the line finished across the restart is learned whole", g)

    # --from-start reads it all again.
    rc, out, err = rg("learn", "--from-start", log)
    ok(rc == 0 and "1 delivery records" in err, "--from-start ignores the saved position", err)


# ---- hostile input ---------------------------------------------------------------------

def test_hostile():
    d = os.path.join(ROOT, "hostile")
    os.makedirs(d)
    path = os.path.join(d, "mail.log")
    ok_line = bounce("DDDD00001", "fine@example.com").encode()
    with open(path, "wb") as f:
        f.write(b"Dec  7 10:00:00 mx1 postfix/smtp[1]: DDDD00000: to=<" + b"x" * (1 << 20) +
                b"@example.com>, status=bounced\n")
        f.write(ok_line.replace(b"fine@", b"nul\x00@"))
        f.write(bounce("DDDD00002", "bad\xffutf8@example.com").encode("latin-1"))
        f.write(bounce("DDDD00003", "esc\x1b]0;owned\x07@example.com").encode())
        f.write(pf("DDDD00004", "reply@example.com", "bounced",
                   "host mx.example.com[93.184.216.40] said: 550 5.1.1 \x1b[2J\xff\xfe no "
                   "(in reply to RCPT TO command)").encode("latin-1"))
        f.write(ok_line)
    p = subprocess.run([RG, "-c", CONF, "learn", "--json", "--verbose", path],
                       capture_output=True, timeout=120)
    is_(p.returncode, 0, "hostile lines: learn goes on and exits 0")
    out, err = p.stdout, p.stderr
    ok(b"\x1b" not in out and b"\x1b" not in err and b"\x00" not in out and b"\x07" not in out,
       "no control byte reaches the output or the log")
    ok(b"skipped 1 lines over 65536 bytes, 1 with NUL bytes" in err,
       "the 1 MB line and the NUL line are skipped and counted", err.decode()[-400:])
    objs = [json.loads(x) for x in out.decode().splitlines()]
    whys = {o["address"]: o.get("why") for o in objs}
    ok(any(v == "bad_address" and "\\x1b" in k for k, v in whys.items()),
       "an address with control bytes is refused, shown escaped", whys)
    ok(any(v == "bad_address" and "\\xff" in k for k, v in whys.items()),
       "an address with invalid UTF-8 is refused, shown escaped", whys)
    r = get("reply@example.com")
    ok(r and r["class"] == "undeliverable" and "\x1b" not in r["text"] and "?" in r["text"],
       "a reply with control bytes is kept sanitized", r)
    ok(get("fine@example.com") is not None, "the good line after them is learned")


# ---- metrics ------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_metrics():
    d = os.path.join(ROOT, "metrics")
    os.makedirs(d)
    log = os.path.join(d, "mail.log")
    append(log, bounce("EEEE00001", "m1@example.com") + sent("EEEE00002", "m2@example.com") +
           pf("EEEE00003", "m3@example.com", "deferred", "connect to x[198.51.100.7]:25: "
              "Connection refused", relay="none", dsn="4.4.1"), "w")
    port = free_port()
    conf2 = write_conf(ROOT, f"[learn]\nmetrics_listen = inet:127.0.0.1:{port}\n")
    fo = Follower(log, conf=conf2)
    ok(fo.wait_learned("m2@example.com"), "--follow with metrics_listen learns")

    def scrape():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return ""
    text = wait_until(lambda: (lambda t: t if 'outcome="ignored"} 1' in t else "")(scrape()), 60)
    ok('rcptguard_learned_total{outcome="undeliverable"} 1' in text and
       'rcptguard_learned_total{outcome="deliverable"} 1' in text and
       'rcptguard_learned_total{outcome="ignored"} 1' in text and
       "rcptguard_learn_lines_total 3" in text,
       "the metrics count learned verdicts by outcome and lines read", text[-1500:])
    if os.access(PROMTOOL, os.X_OK):
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        is_(p.returncode, 0, "promtool check metrics passes on learn's metrics")
    else:
        skip("promtool check metrics on learn's metrics", "promtool is not installed")
    rc, out, err = rg("stats", "--json", conf=conf2)
    st = json.loads(out) if out.strip() else {}
    ln = st.get("learn", {})
    ok(ln.get("up") is True and ln.get("learned", {}).get("undeliverable") == 1 and
       ln.get("learned", {}).get("deliverable") == 1 and ln.get("lines") == 3,
       "rcptguard stats --json shows learn's counters", out[-600:], err)
    rc, out, err = rg("stats", conf=conf2)
    ok("learn" in out and "undeliverable 1" in out, "rcptguard stats shows them too", out)
    fo.stop()
    write_conf(ROOT)


def test_usage():
    rc, _, err = rg("learn", "--format", "sendmail", "-")
    ok(rc == 2 and "--format" in err, "an unknown --format is a usage error", err)
    rc, _, err = rg("learn", os.path.join(ROOT, "no-such.log"))
    ok(rc == 2 and "no-such.log" in err, "a missing file is a usage error naming it", err)
    rc, _, err = rg("learn", "a", "b")
    is_(rc, 2, "two files are a usage error")


def main():
    global ROOT, CONF
    if not os.access(RG, os.X_OK):
        print(f"Bail out! no rcptguard at {RG}")
        return 1
    ROOT = tempfile.mkdtemp(prefix="rg-learn-")
    CONF = write_conf(ROOT)
    os.environ["TZ"] = os.environ.get("TZ", "UTC")
    try:
        test_corpus()
        test_writes()
        test_outage_guard()
        test_follow()
        test_hostile()
        test_metrics()
        test_usage()
    finally:
        if os.environ.get("RG_KEEP"):
            print(f"# kept {ROOT}")
        else:
            shutil.rmtree(ROOT, ignore_errors=True)
    from rgharness import n, failed  # noqa: E402
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
