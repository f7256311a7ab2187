#!/usr/bin/python3
"""test_policyd_protocol.py - the policy protocol against the real
rcptguard-policyd binary over temporary sockets: persistent connections,
non-RCPT states, unknown attributes, every malformed request (closed without
a reply), the caps and deadlines, idle floods and a slowloris client,
exemptions, monitor mode, the defer window, fail_mode on a corrupt or
read-only cache, reload, privilege drop and kill -9 under load.

Verdicts come from the shared cache, written with `rcptguard cache put`;
the prober has no network (its resolver is a closed port), so a miss is
unknown/dns_error. Prints TAP. RG_WRAP (for example "valgrind -q
--error-exitcode=99") runs the daemon under a wrapper.
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from rgharness import (PROGS, Daemon, faults_background, faults_cache,  # noqa: E402
                       faults_kill9, faults_privs, faults_state, faults_systemd, is_, main, ok,
                       wait_until)

POLICYD = PROGS["policyd"][0]


def request(**kw):
    d = {"request": "smtpd_access_policy", "protocol_state": "RCPT", "queue_id": "4XQ1",
         "sender": "alice@sender.example", "client_address": "192.0.2.7",
         "client_name": "client.example", "sasl_username": ""}
    d.update(kw)
    return "".join(f"{k}={v}\n" for k, v in d.items() if v is not None).encode() + b"\n"


_pending = {}


def read_reply(s):
    """One reply ("action=...") without the blank line; "" when the server closed."""
    buf = _pending.pop(s.fileno(), b"")
    while b"\n\n" not in buf:
        try:
            c = s.recv(4096)
        except socket.timeout:
            return "TIMEOUT"
        if not c:
            return "" if buf == b"" else "PARTIAL:" + buf.decode(errors="replace")
        buf += c
    reply, rest = buf.split(b"\n\n", 1)
    if rest:
        _pending[s.fileno()] = rest
    return reply.decode(errors="replace")


def ask(s, **kw):
    s.sendall(request(**kw))
    return read_reply(s)


def closed_without_reply(s, data):
    """Send data; true when the server closes without writing a byte."""
    try:
        s.sendall(data)
    except OSError:
        return True
    try:
        got = s.recv(4096)
    except socket.timeout:
        return False
    except OSError:
        return True
    return got == b""


def ask1(d, recipient):
    """One request on a connection of its own."""
    c = d.connect()
    r = ask(c, recipient=recipient)
    c.close()
    return r


def wait_closed(s, secs, trickle=None):
    """Seconds until the server closes s (reading and dropping what it sends),
    or None when it is still open after secs. trickle: a byte to send every
    0.5 s meanwhile, as a slow client does."""
    t0 = time.monotonic()
    s.settimeout(0.5)
    while time.monotonic() - t0 < secs:
        try:
            if s.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0
        if trickle is not None:
            try:
                s.sendall(trickle)
            except OSError:
                return time.monotonic() - t0
    return None


def still_open(s):
    s.setblocking(False)
    try:
        return s.recv(4096) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.settimeout(10)


def conn_limits(root):
    """Deadlines that trickled or pipelined bytes cannot dodge, and the order
    of eviction at max_connections."""
    d = Daemon(root, "limits", extra="""[policyd]
max_connections = 4
request_timeout = 2s
idle_timeout = 60s
listen_backlog = 77
""")
    d.put_classes()
    ok(d.start(), "limits: the daemon starts", d.logtext())

    # A complete request and the start of the next in one write, then a byte a
    # second: the next request's deadline runs from its first byte.
    held = []
    for _ in range(4):
        c = d.connect()
        c.sendall(request(recipient="ghost@dead.example") + b"request=smtpd_acc")
        held.append(c)
    for c in held:
        ok(read_reply(c).startswith("action=550 5.1.1"), "the complete request is answered")
    times = [wait_closed(c, 15, trickle=b"e") for c in held]
    ok(all(t is not None and t < 10 for t in times),
       "a partial request after a complete one is closed at request_timeout, trickling or not",
       times)
    c = d.connect()
    is_(ask(c, recipient="alice@live.example"), "action=DUNNO", "a fifth client is then served")
    c.close()
    for c in held:
        c.close()

    # Eviction: idle connections first, then the oldest partial request.
    partial = []
    for i in range(3):
        c = d.connect()
        c.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n")
        partial.append(c)
    # Connections are accepted in the order they came, each with the bytes it
    # sent already read: no wait is needed for the order to hold.
    idle = d.connect()
    newc = d.connect()
    is_(ask(newc, recipient="alice@live.example"), "action=DUNNO",
        "at max_connections a new client is served")
    ok(wait_closed(idle, 10) is not None, "the idle connection made room")
    ok(all(still_open(c) for c in partial), "the partial requests keep their slots")
    newc.close()
    # Three partial requests and a slot (or the idle client that has just
    # gone): a fourth partial takes it, then a new client makes the oldest
    # partial request go.
    fourth = d.connect()
    fourth.sendall(b"request=smtpd_access_policy\n")
    newc = d.connect()
    is_(ask(newc, recipient="alice@live.example"), "action=DUNNO",
        "with every slot holding a partial request a new client is served")
    ok(wait_closed(partial[0], 10) is not None, "the oldest partial request made room")
    ok(all(still_open(c) for c in partial[1:] + [fourth]), "the newer partial requests stay")
    ok("is the oldest incomplete one" in d.wait_log("is the oldest incomplete one"),
       "the eviction is logged")
    newc.close()
    for c in partial + [fourth]:
        c.close()

    # The backlog is the configured one (ss shows it as Send-Q of the listener).
    p = subprocess.run(["ss", "-xlnH", "src", d.sock], capture_output=True, text=True)
    fields = p.stdout.split()
    ok(len(fields) > 4 and fields[3] == "77", "listen_backlog sets the backlog", p.stdout, p.stderr)
    is_(d.stop(), 0, "limits: clean exit")


def run(root):
    # ---- one daemon for the protocol cases ---------------------------------
    d = Daemon(root, "main", extra="""
exempt_recipient_domains = exempt.example, .sub.example
exempt_sender_domains = trusted.example
exempt_client_networks = 198.51.100.0/24
exempt_sasl_users = bob
[policyd]
request_timeout = 2s
idle_timeout = 3s
max_connections = 64
max_attributes = 20
max_line_length = 300
""")
    d.put_classes()
    ok(d.start(), "the daemon starts and says ready", d.logtext())

    s = d.connect()
    is_(ask(s, recipient="alice@live.example"), "action=DUNNO", "deliverable passes (DUNNO)")
    is_(ask(s, recipient="ghost@dead.example"),
        "action=550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)",
        "no_mailbox is rejected with 550 5.1.1")
    is_(ask(s, recipient="nodomain@gone.example"),
        "action=550 5.1.2 rcptguard: the domain does not exist (no_domain)",
        "no_domain is rejected with 5.1.2")
    is_(ask(s, recipient="null@nullmx.example"),
        "action=550 5.1.10 rcptguard: the domain accepts no mail (null MX) (null_mx)",
        "null MX is rejected with 5.1.10")
    r = ask(s, recipient="any@catchall.example")
    ok(r.startswith("action=DEFER_IF_PERMIT 4.7.1 rcptguard:") and "(catch_all)" in r,
       "risky is deferred with DEFER_IF_PERMIT 4.7.1", r)
    r = ask(s, recipient="grey@grey.example")
    ok(r.startswith("action=DEFER_IF_PERMIT 4.7.1") and "(greylisted)" in r,
       "greylisted is deferred", r)
    r = ask(s, recipient="new@nowhere.example")
    ok(r.startswith("action=DEFER_IF_PERMIT 4.7.1") and "(dns_error)" in r,
       "a miss whose probe cannot resolve is deferred, never rejected", r)
    is_(ask(s, recipient="bad@@x.example"),
        "action=550 5.1.3 rcptguard: the address is not valid (bad_syntax)",
        "bad syntax is rejected with 5.1.3")
    r = ask(s, recipient="a\x01b\x7f@dead.example")
    ok("\x01" not in r and "\x7f" not in r and "a\x01b" not in r and r.startswith("action=550 5.1.3"),
       "control bytes of a recipient never reach the reply", r)

    # Many requests on one connection, and pipelined ones.
    answers = [ask(s, recipient="ghost@dead.example" if i % 2 else "alice@live.example")
               for i in range(200)]
    ok(all(a == ("action=550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)" if i % 2
                 else "action=DUNNO") for i, a in enumerate(answers)),
       "200 requests on one connection are all answered in order")
    s.sendall(request(recipient="ghost@dead.example") + request(recipient="alice@live.example") +
              request(recipient="ghost@dead.example"))
    got = [read_reply(s) for _ in range(3)]
    ok(got[0].startswith("action=550") and got[1] == "action=DUNNO" and got[2].startswith("action=550"),
       "three pipelined requests get three answers in order", got)

    # Other states, the null recipient, unknown attributes.
    for state in ("CONNECT", "EHLO", "MAIL", "DATA", "END-OF-MESSAGE", "VRFY", "ETRN"):
        is_(ask(s, protocol_state=state, recipient="ghost@dead.example"), "action=DUNNO",
            f"protocol_state={state} is DUNNO")
    is_(ask(s, recipient=""), "action=DUNNO", "an empty recipient is DUNNO")
    is_(ask(s, recipient="ghost@dead.example", policy_context="x", compatibility_level="3.6",
            ccert_subject="CN=x", future_attribute_2030="yes=no=maybe"),
        "action=550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)",
        "unknown attributes are ignored")
    is_(ask(s, recipient="ghost@dead.example", queue_id=None, sender=None),
        "action=550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)",
        "missing optional attributes are fine")
    s2 = d.connect()
    s2.sendall(request(recipient="ghost@dead.example").replace(b"\n", b"\r\n"))
    r = read_reply(s2)
    ok(r.startswith("action=550 5.1.1"), "CRLF line ends are accepted", r)
    s2.close()

    # Exemptions.
    is_(ask(s, recipient="ghost@exempt.example"), "action=DUNNO", "exempt recipient domain")
    is_(ask(s, recipient="ghost@a.sub.example"), "action=DUNNO", ".domain exempts subdomains")
    d.put("ghost@sub.example", "undeliverable", "no_mailbox")
    ok(ask(s, recipient="ghost@sub.example").startswith("action=550"),
       ".domain does not exempt the domain itself")
    is_(ask(s, recipient="ghost@dead.example", sender="x@trusted.example"), "action=DUNNO",
        "exempt sender domain")
    is_(ask(s, recipient="ghost@dead.example", client_address="198.51.100.9"), "action=DUNNO",
        "exempt client network")
    is_(ask(s, recipient="ghost@dead.example", sasl_username="bob"), "action=DUNNO",
        "exempt SASL user")
    ok(ask(s, recipient="ghost@dead.example", sasl_username="mallory").startswith("action=550"),
       "another SASL user is verified")
    log = d.logtext()
    ok("4XQ1: action=reject client=client.example[192.0.2.7] sender=<alice@sender.example> "
       "rcpt=<ghost@dead.example> class=undeliverable reason=no_mailbox source=cache" in log,
       "one log line per decision: queue id first, then key=value fields")
    ok("NOQUEUE: action=reject" in log, "NOQUEUE when Postfix sends no queue id")
    ok("action=pass exempt=sasl_user" in log, "exemptions are logged with their kind")
    s.close()

    # ---- malformed requests: logged, closed, no reply ----------------------
    malformed = [
        ("a line without =", b"request=smtpd_access_policy\nprotocol_state RCPT\n\n"),
        ("a NUL byte", b"request=smtpd_access_policy\nrecipient=gh\x00ost@dead.example\n\n"),
        ("another request type", b"request=smtpd_other_policy\nprotocol_state=RCPT\n\n"),
        ("no request attribute", b"protocol_state=RCPT\nrecipient=ghost@dead.example\n\n"),
        ("an empty request", b"\n"),
        ("an attribute without a name", b"request=smtpd_access_policy\n=x\n\n"),
        ("an oversized line", b"request=smtpd_access_policy\nrecipient=" + b"a" * 400 + b"\n\n"),
        ("an oversized line without a newline", b"x" * 2000),
        ("too many attributes", b"request=smtpd_access_policy\n" +
         b"".join(b"x%d=y\n" % i for i in range(30)) + b"\n"),
        ("a known attribute that does not fit", b"request=smtpd_access_policy\nclient_address=" +
         b"1" * 100 + b"\n\n"),
    ]
    before = d.logtext().count("closing connection")
    for name, data in malformed:
        c = d.connect()
        ok(closed_without_reply(c, data), f"malformed ({name}): closed without a reply")
        c.close()
    wait_until(lambda: d.logtext().count("closing connection") - before >= len(malformed), 30)
    is_(d.logtext().count("closing connection") - before, len(malformed),
        "every malformed request is logged")
    c = d.connect()
    c.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=" + b"b" * 250 +
              b"@dead.example\n\n")
    r = read_reply(c)
    ok(r.startswith("action=550 5.1.3"), "a line just under max_line_length is served (too long an address: 5.1.3)", r)
    c.close()

    # ---- deadlines, idle floods, slowloris ---------------------------------
    slow = d.connect()
    slow.sendall(b"request=smtpd_access_policy\nprotocol_st")
    t0 = time.monotonic()
    got = slow.recv(100)
    el = time.monotonic() - t0
    ok(got == b"" and 1.0 < el < 6.0, f"a request not finished in request_timeout is closed ({el:.1f}s)")
    slow.close()

    idle = d.connect()
    t0 = time.monotonic()
    got = idle.recv(100)
    el = time.monotonic() - t0
    ok(got == b"" and 2.0 < el < 8.0, f"an idle connection is closed after idle_timeout ({el:.1f}s)")
    idle.close()

    # 1,000 idle connections (max_connections is 64) and a slowloris client that
    # trickles a byte every 0.2 s: a normal client is still served at once.
    flood = []
    for _ in range(1000):
        c = socket.socket(socket.AF_UNIX)
        c.connect(d.sock)
        flood.append(c)
    loris = d.connect()
    loris.sendall(b"r")
    served = []
    for i in range(5):
        loris.sendall(b"e")
        t0 = time.monotonic()
        c = d.connect()
        r = ask(c, recipient="ghost@dead.example")
        served.append((r.startswith("action=550"), time.monotonic() - t0))
        c.close()
        time.sleep(0.2)
    ok(all(x[0] for x in served) and max(x[1] for x in served) < 2.0,
       "with 1,000 idle connections and a slowloris client a normal client is served",
       served)
    alive = 0
    for c in flood:
        c.setblocking(False)
        try:
            if c.recv(1) == b"":
                pass
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        c.close()
    ok(alive <= 64, f"no more than max_connections are kept open ({alive} of the flood alive)")
    loris.close()
    ok(d.proc.poll() is None, "the daemon survived the flood")

    # ---- reload ---------------------------------------------------------------
    ok(d.reload("action_undeliverable = defer\n"), "SIGHUP: the reload is acknowledged")
    c = d.connect()
    r = ask(c, recipient="ghost@dead.example")
    ok(r.startswith("action=DEFER_IF_PERMIT 4.7.1") and "(no_mailbox)" in r,
       "SIGHUP reloads: undeliverable is now deferred", r)
    with open(d.conf, "a") as f:
        f.write("bogus_key = 1\n")
    ok(d.reload(None), "SIGHUP with a bad file: the refusal is logged")
    r = ask(c, recipient="ghost@dead.example")
    ok(r.startswith("action=DEFER_IF_PERMIT") and "reload refused" in d.logtext() and
       "bogus_key" in d.logtext(), "a bad config is refused on SIGHUP and the old one keeps running", r)
    c.close()
    rc = d.stop()
    is_(rc, 0, "SIGTERM: a clean exit")
    ok(not os.path.exists(d.sock), "the unix socket is removed at exit")

    # ---- -n -------------------------------------------------------------------
    p = subprocess.run([POLICYD, "-n", "-c", d.conf], capture_output=True, text=True)
    ok(p.returncode == 1 and f"{d.conf}:" in p.stderr and "bogus_key" in p.stderr,
       "-n names the file and line of a bad key", p.stderr)
    d.write_conf("")
    p = subprocess.run([POLICYD, "-n", "-c", d.conf], capture_output=True, text=True)
    ok(p.returncode == 0 and "configuration OK" in p.stdout, "-n accepts a good config", p.stdout + p.stderr)
    d.write_conf("exempt_client_networks = 300.1.2.3/8\n")
    p = subprocess.run([POLICYD, "-n", "-c", d.conf], capture_output=True, text=True)
    ok(p.returncode == 1 and "exempt_client_networks" in p.stderr, "-n checks the exemption lists", p.stderr)

    # ---- policy modes -----------------------------------------------------------
    m = Daemon(root, "monitor", extra="mode = monitor\n")
    m.put("ghost@dead.example", "undeliverable", "no_mailbox")
    m.start()
    c = m.connect()
    is_(ask(c, recipient="ghost@dead.example"), "action=DUNNO", "monitor mode passes an undeliverable recipient")
    is_(ask(c, recipient="new@nowhere.example"), "action=DUNNO", "monitor mode passes an unknown recipient")
    ok("action=pass monitor=yes would=reject" in m.logtext() and
       "action=pass monitor=yes would=defer" in m.logtext(), "monitor mode logs what it would have done")
    c.close()
    is_(m.stop(), 0, "monitor mode: clean exit")

    t = Daemon(root, "tag", extra="""reason_actions = catch_all=tag, no_mailbox=tag
defer_reply = 450
defer_window = 2s
""")
    t.put("any@catchall.example", "risky", "catch_all")
    t.put("ghost@dead.example", "undeliverable", "no_mailbox")
    t.put("box@full.example", "risky", "mailbox_full")
    t.start()
    c = t.connect()
    is_(ask(c, recipient="any@catchall.example"),
        "action=PREPEND X-Rcptguard-Verdict: risky; reason=catch_all; rcpt=<any@catchall.example>",
        "tag answers PREPEND with the verdict header")
    ok(ask(c, recipient="ghost@dead.example").startswith("action=PREPEND X-Rcptguard-Verdict: undeliverable"),
       "a per-reason override wins over the class action")
    r = ask(c, recipient="box@full.example")
    ok(r.startswith("action=450 4.7.1 rcptguard:") and "(mailbox_full)" in r, "defer_reply = 450", r)
    time.sleep(2.2)
    r = ask(c, recipient="box@full.example")
    is_(r, "action=PREPEND X-Rcptguard-Verdict: risky; reason=defer_window; rcpt=<box@full.example>",
        "after the defer window the recipient passes, tagged")
    ok("defer_window=expired" in t.logtext(), "the end of the defer window is logged")
    c.close()
    is_(t.stop(), 0, "tag and defer window: clean exit")

    conn_limits(root)

    # ---- fail_mode, privileges -----------------------------------------------
    faults_cache(root, "policyd", ask1,
                 {"pass": "action=DUNNO", "defer": "action=DEFER_IF_PERMIT 4.7.1"})
    faults_privs(root, "policyd", ask1, "action=DEFER_IF_PERMIT 4.7.1")
    faults_state(root, "policyd")

    # ---- background mode, kill -9 under load ----------------------------------
    faults_background(root, "policyd", ask1,
                      "action=550 5.1.3 rcptguard: the address is not valid (bad_syntax)",
                      "inet:256.0.0.1:99999")
    faults_systemd(root, "policyd", ask1,
                   "action=550 5.1.3 rcptguard: the address is not valid (bad_syntax)")
    faults_kill9(root, "policyd", ask1, """
def session(s, i):
    for j in range(50):
        s.sendall(b"request=smtpd_access_policy\\nprotocol_state=RCPT\\nrecipient=u%d@new%d.example\\n\\n"
                  % (i, i % 7))
        s.recv(4096)
        i += 1
    return i
""", "action=550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)")


if __name__ == "__main__":
    sys.exit(main("policyd", run))
