#!/usr/bin/python3
"""test_metrics_scrape.py - the metrics of both daemons as an admin meets
them: requests through each daemon's own protocol move exactly the
counters they must (decisions, verdicts, cache lookups), the text passes
`promtool check metrics`, other paths and methods are refused, a reload
moves the endpoint and keeps the counts, a bad or busy metrics_listen stops
the start with a clear error, and a real Prometheus started here scrapes
both daemons and answers, through its HTTP API, the counters this test's
requests moved. Prints TAP.
"""
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from rgharness import RG, Daemon, is_, main, ok, skip, wait_until  # noqa: E402


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "..", path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


POL = load("policyd/test_policyd_protocol.py", "policy_proto")
MIL = load("milter/test_milter_protocol.py", "milter_proto")
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(port, path="/metrics", method="GET"):
    """(status, body) of one HTTP request; (None, error) when it fails."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), ""
    except OSError as e:
        return None, str(e), ""


def sample(text, name):
    """The value of the series written exactly name (with its labels), or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def promtool(text, what):
    if not os.access(PROMTOOL, os.X_OK):
        skip(f"{what}: promtool check metrics", "promtool is not installed")
        return
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    ok(p.returncode == 0, f"{what}: promtool check metrics passes", p.stdout, p.stderr)


def metrics_conf(prog, spec):
    """The config lines of a metrics_listen (a second [section] adds to the first)."""
    return f"[{prog}]\nmetrics_listen = {spec}\n"


def endpoint(root, prog, port, name):
    return Daemon(root, name, extra=metrics_conf(prog, f"inet:127.0.0.1:{port}"), prog=prog)


def prometheus_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
    except (OSError, ValueError):
        return None
    res = body.get("data", {}).get("result", [])
    return float(res[0]["value"][1]) if body.get("status") == "success" and res else None


def real_prometheus(root, ppol, pmil, want_pol, want_mil):
    if not os.access(PROMETHEUS, os.X_OK):
        skip("a real Prometheus scrapes both daemons", "prometheus is not installed")
        return
    pdir = tempfile.mkdtemp(prefix="prom-", dir=root)
    conf = os.path.join(pdir, "prometheus.yml")
    with open(conf, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rcptguard-policyd
    static_configs:
      - targets: ['127.0.0.1:{ppol}']
  - job_name: rcptguard-milter
    static_configs:
      - targets: ['127.0.0.1:{pmil}']
""")
    web = free_port()
    log = open(os.path.join(pdir, "prometheus.log"), "wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={conf}",
                             f"--storage.tsdb.path={pdir}/data", f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=log, stderr=log)
    log.close()
    try:
        up = wait_until(lambda: get(web, "/-/ready")[0] == 200, 120)
        ok(up, "prometheus is ready", open(os.path.join(pdir, "prometheus.log")).read()[-2000:])
        if not up:
            return
        for job in ("rcptguard-policyd", "rcptguard-milter"):
            got = wait_until(lambda: prometheus_query(web, f'up{{job="{job}"}}') == 1.0, 120)
            ok(got, f"prometheus scrapes {job}: up == 1",
               prometheus_query(web, f'up{{job="{job}"}}'))
        for job, want in (("rcptguard-policyd", want_pol), ("rcptguard-milter", want_mil)):
            qq = f'sum(rcptguard_decisions_total{{job="{job}",action="reject"}})'
            got = wait_until(lambda: prometheus_query(web, qq) == want, 120)
            is_(prometheus_query(web, qq), want,
                f"the query API answers {job}'s rejects, as this test's requests made them")
        qq = 'sum(rcptguard_cache_lookups_total{job="rcptguard-policyd",result="fresh"})'
        wait_until(lambda: prometheus_query(web, qq) == 4.0, 60)
        is_(prometheus_query(web, qq), 4.0, "the query API answers policyd's fresh cache hits")
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fake_endpoint(answer):
    """A port that answers every connection with answer, then closes (a thread)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(60)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                c.recv(4096)
                c.sendall(answer)
            except OSError:
                pass
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv


def stats(conf, *args):
    p = subprocess.run([RG, "-c", conf, "stats", *args], capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def stats_cases(root, pol, ppol, pmil):
    """rcptguard stats over both daemons' endpoints and pol's cache."""
    conf = os.path.join(root, "stats.conf")

    def write(pspec, mspec):
        with open(conf, "w") as f:
            f.write(f"[general]\nstate_dir = {pol.dir}/state\nuser =\n"
                    f"[policyd]\nmetrics_listen = {pspec}\n[milter]\nmetrics_listen = {mspec}\n")
    write(f"inet:127.0.0.1:{ppol}", f"inet:127.0.0.1:{pmil}")
    rc, out, err = stats(conf, "--json")
    ok(rc == 0, "stats --json: exit 0 with both daemons up", rc, err)
    try:
        j = json.loads(out)
    except ValueError:
        j = {}
    ok(j.get("policyd", {}).get("up") is True and j.get("milter", {}).get("up") is True,
       "stats --json: both daemons up", out[:500])
    is_(j.get("policyd", {}).get("decisions", {}).get("reject"), 4, "stats --json: policyd's rejects")
    is_(j.get("milter", {}).get("decisions", {}).get("pass"), 1, "stats --json: the milter's passes")
    is_(j.get("policyd", {}).get("cache_lookups", {}).get("fresh"), 4,
        "stats --json: policyd's fresh cache hits")
    is_(j.get("policyd", {}).get("cache_hit_ratio"), 1.0, "stats --json: the hit ratio")
    is_((j.get("cache") or {}).get("entries", {}).get("verdicts"), 6,
        "stats --json: the cache statistics of cache stats")
    ok('rcptguard_build_info{version="0.1.0"}' in j.get("policyd", {}).get("metrics", {}),
       "stats --json: every sample is there too")
    rc, out, err = stats(conf)
    ok(rc == 0 and "verdicts:  6" in out and "reject 4" in out and "hit ratio 100.0%" in out,
       "stats: the text view", out, err)

    # A live view while requests arrive: rates, then the sum of what was sent.
    w = subprocess.Popen([RG, "-c", conf, "stats", "--watch", "--interval", "1", "--count", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    sent = 0
    while w.poll() is None and time.monotonic() < end:
        POL.ask1(pol, "ghost@dead.example")
        sent += 1
    out, err = w.communicate(timeout=120)
    out = out.decode(errors="replace")
    blocks = [b for b in out.split("\n\n") if b.startswith("rcptguard stats")]
    ok(len(blocks) == 4, "stats --watch --count 4: four views, then it stops", out, err)
    rej = []
    for b in blocks[1:]:
        for line in b.splitlines():
            if line.startswith("policyd "):
                try:
                    rej.append(float(line.split()[4]))
                except (IndexError, ValueError):
                    pass
    ok(sent > 0 and rej and max(rej) > 0, f"stats --watch shows the reject rate ({sent} sent)", out)
    ok("\033[2J" not in out, "stats --watch into a pipe prints blocks, no screen control")

    # A daemon that does not answer, one that is not configured, one that lies.
    write(f"inet:127.0.0.1:{ppol}", f"inet:127.0.0.1:{free_port()}")
    rc, out, err = stats(conf)
    ok(rc == 1 and "milter" in out and "refused" in out, "stats: a daemon that does not answer: "
       "exit 1, and why", out, err)
    ok("reject 4" in out or "reject 5" in out or "reject" in out, "stats: ... the other is still shown", out)
    write(f"inet:127.0.0.1:{ppol}", "")
    rc, out, err = stats(conf, "--json")
    j = json.loads(out) if out.strip() else {}
    ok(rc == 0 and j.get("milter", {}).get("up") is False and
       "not set" in j.get("milter", {}).get("error", ""), "stats: a daemon without metrics_listen "
       "is said so, exit 0", out, err)
    evil = fake_endpoint(b"HTTP/1.0 200 OK\r\n\r\n# x\nrcptguard_decisions_total{frontend=\"milter\","
                         b"action=\"reject\"} 7\n\x1b[2J\x07evil 1\nrcptguard_build_info{version=\"\x1b[31m\"} 1\n"
                         + b"x" * 300000 + b" 1\n")
    write(f"inet:127.0.0.1:{ppol}", f"inet:127.0.0.1:{evil.getsockname()[1]}")
    rc, out, err = stats(conf)
    ok(rc == 0 and "reject 7" in out, "stats: a hostile endpoint's samples that parse are read", out[-800:], err)
    ok("\x1b" not in out and "\x07" not in out, "stats: no control byte from an endpoint reaches the terminal")
    evil.close()
    nope = fake_endpoint(b"HTTP/1.1 404 Not Found\r\n\r\nno")
    write(f"inet:127.0.0.1:{ppol}", f"inet:127.0.0.1:{nope.getsockname()[1]}")
    rc, out, err = stats(conf)
    ok(rc == 1 and "not a metrics endpoint" in out, "stats: a port that is not a metrics endpoint", out, err)
    nope.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    write(f"inet:127.0.0.1:{ppol}", f"inet:127.0.0.1:{silent.getsockname()[1]}")
    rc, out, err = stats(conf, "--timeout", "1")
    ok(rc == 1 and "no answer in time" in out, "stats: an endpoint that never answers times out", out, err)
    silent.close()
    for bad in (["--interval", "0"], ["--count", "-1"], ["--watch", "--json"], ["extra"]):
        rc, out, err = stats(conf, *bad)
        is_(rc, 2, f"stats {' '.join(bad)}: a usage error")


def run(root):
    ppol, pmil = free_port(), free_port()
    pol = endpoint(root, "policyd", ppol, "pol")
    mil = endpoint(root, "milter", pmil, "mil")
    for d in (pol, mil):
        d.put_classes()
        ok(d.start(), f"{d.prog} starts with metrics_listen", d.logtext()[-2000:])

    # What each daemon is asked, and what it must count.
    is_(POL.ask1(pol, "ghost@dead.example")[:10], "action=550", "policyd rejects ghost@dead.example")
    is_(POL.ask1(pol, "alice@live.example")[:11], "action=DUNN", "policyd passes alice@live.example")
    is_(POL.ask1(pol, "not an address")[:10], "action=550", "policyd rejects a bad address")
    is_(POL.ask1(pol, "null@nullmx.example")[:10], "action=550", "policyd rejects null@nullmx.example")
    r = MIL.ask1(mil, "ghost@dead.example")
    ok(r.startswith("550"), "the milter rejects ghost@dead.example", r)
    is_(MIL.ask1(mil, "alice@live.example"), "continue", "the milter passes alice@live.example")

    st, text, ctype = get(ppol)
    is_(st, 200, "policyd: GET /metrics answers 200")
    ok(ctype.startswith("text/plain; version=0.0.4"), "policyd: the exposition's content type", ctype)
    want = {
        'rcptguard_decisions_total{frontend="policyd",action="reject"}': 3,
        'rcptguard_decisions_total{frontend="policyd",action="pass"}': 1,
        'rcptguard_decisions_total{frontend="milter",action="reject"}': 0,
        'rcptguard_verdicts_total{class="undeliverable",reason="no_mailbox"}': 1,
        'rcptguard_verdicts_total{class="undeliverable",reason="bad_syntax"}': 1,
        'rcptguard_verdicts_total{class="undeliverable",reason="null_mx"}': 1,
        'rcptguard_verdicts_total{class="deliverable",reason="accepted"}': 1,
        'rcptguard_lookups_total{source="cache"}': 3,
        'rcptguard_lookups_total{source="syntax"}': 1,
        'rcptguard_cache_lookups_total{result="fresh"}': 3,
        'rcptguard_cache_lookups_total{result="miss"}': 0,
        'rcptguard_decision_causes_total{why="verdict"}': 4,
        'rcptguard_lookup_duration_seconds_count': 4,
        'rcptguard_cache_entries{db="verdicts"}': 6,
        'rcptguard_cache_up': 1,
        'rcptguard_build_info{version="%s"}' % os.environ.get("PACKAGE_VERSION", "0.1.0"): 1,
        'rcptguard_connections': 0,
        'rcptguard_probes_total{class="undeliverable",reason="no_mailbox"}': 0,
        'rcptguard_dns_lookups_total{result="ok"}': 0,
    }
    for k, v in want.items():
        is_(sample(text, k), float(v), f"policyd: {k} == {v}")
    ok((sample(text, 'rcptguard_cache_map_bytes{kind="size"}') or 0) > 0, "policyd: the map size is shown")
    promtool(text, "policyd")

    st, mtext, _ = get(pmil)
    is_(st, 200, "milter: GET /metrics answers 200")
    for k, v in {
        'rcptguard_decisions_total{frontend="milter",action="reject"}': 1,
        'rcptguard_decisions_total{frontend="milter",action="pass"}': 1,
        'rcptguard_decisions_total{frontend="policyd",action="reject"}': 0,
        'rcptguard_cache_lookups_total{result="fresh"}': 2,
        'rcptguard_verdicts_total{class="undeliverable",reason="no_mailbox"}': 1,
    }.items():
        is_(sample(mtext, k), float(v), f"milter: {k} == {v}")
    promtool(mtext, "milter")

    # A connection held open shows in the gauge of the milter.
    m = MIL.session(mil)
    got = wait_until(lambda: sample(get(pmil)[1], "rcptguard_connections") == 1.0, 30)
    ok(got, "milter: an open MTA connection shows in rcptguard_connections")
    m.close()
    c = pol.connect()
    got = wait_until(lambda: sample(get(ppol)[1], "rcptguard_connections") == 1.0, 30)
    ok(got, "policyd: an open MTA connection shows in rcptguard_connections")
    c.close()

    # What else may be asked.
    is_(get(ppol, "/")[0], 404, "another path answers 404")
    is_(get(ppol, "/metrics/../etc")[0], 404, "a path that only starts like /metrics answers 404")
    is_(get(ppol, method="POST")[0], 405, "POST answers 405")
    is_(get(ppol, method="HEAD")[0], 200, "HEAD answers 200")
    s = socket.create_connection(("127.0.0.1", ppol), timeout=30)
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    try:
        head = s.recv(64)
    except OSError:
        head = b""
    s.close()
    ok(not head.startswith(b"HTTP/1.1 200"), "20 kB of headers are refused", head)
    s = socket.create_connection(("127.0.0.1", ppol), timeout=30)
    s.sendall(b"\x00\xff\r\n\r\n" * 50)
    s.close()
    is_(get(ppol)[0], 200, "after garbage and oversized requests the endpoint still serves")
    is_(POL.ask1(pol, "ghost@dead.example")[:10], "action=550", "... and so does the policy server")

    # Prometheus scrapes what was counted.
    real_prometheus(root, ppol, pmil, 4.0, 1.0)
    stats_cases(root, pol, ppol, pmil)

    # A reload moves the endpoint and keeps the counts.
    for d, port, name in ((pol, ppol, "policyd"), (mil, pmil, "milter")):
        newport = free_port()
        ok(d.reload(metrics_conf(d.section, f"inet:127.0.0.1:{newport}")),
           f"{name}: reload with a new metrics_listen", d.logtext()[-1500:])
        st, t2, _ = get(newport)
        is_(st, 200, f"{name}: the new address serves after the reload")
        is_(get(port)[0], None, f"{name}: the old address is closed")
        key = f'rcptguard_decisions_total{{frontend="{name}",action="reject"}}'
        ok((sample(t2, key) or 0) >= (5.0 if name == "policyd" else 1.0),
           f"{name}: the counts survive the reload", sample(t2, key))
        # A busy address refuses the reload; the running one stays.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        bport = busy.getsockname()[1]
        mark = d.logtext().count("reload refused")
        d.reload(metrics_conf(d.section, f"inet:127.0.0.1:{bport}"))
        ok(wait_until(lambda: d.logtext().count("reload refused") > mark, 30) and
           "metrics_listen" in d.logtext().split("reload refused")[-1][:300],
           f"{name}: a reload onto a busy port is refused, saying why", d.logtext()[-800:])
        is_(get(newport)[0], 200, f"{name}: ... and the running endpoint still serves")
        busy.close()
        is_(d.stop(), 0, f"{name}: stops cleanly (exit 0; 99 would be a valgrind error)")

    # Start-up refuses what cannot work.
    for prog in ("policyd", "milter"):
        for bad, why in (("127.0.0.1:9", "no inet: prefix"), ("inet:127.0.0.1", "no port"),
                         ("inet:nosuchhost.invalid:80", "a name, not an address")):
            d = Daemon(root, f"bad-{prog}-{bad.replace(':', '_')}", prog=prog,
                       extra=metrics_conf(prog, bad))
            ok(not d.start(), f"{prog}: metrics_listen = {bad} ({why}) stops the start")
            ok("metrics_listen" in d.logtext(), f"{prog}: ... and says metrics_listen", d.logtext()[-500:])
            d.stop()
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        d = Daemon(root, f"busy-{prog}", prog=prog,
                   extra=metrics_conf(prog, f"inet:127.0.0.1:{busy.getsockname()[1]}"))
        ok(not d.start(), f"{prog}: a metrics port in use stops the start")
        ok("Address already in use" in d.logtext(), f"{prog}: ... saying the address is in use",
           d.logtext()[-500:])
        d.stop()
        busy.close()


if __name__ == "__main__":
    sys.exit(main("policyd", run))
