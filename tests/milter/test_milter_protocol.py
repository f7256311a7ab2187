#!/usr/bin/python3
"""test_milter_protocol.py - rcptguard-milter over the raw milter protocol,
spoken here byte by byte: the exact reply codes and texts, hostile
addresses, malformed and truncated packets (no crash, the connection
closes, the filter keeps serving), reload, -n, fail_mode on a corrupt or
read-only cache, a DNS outage, the privilege drop, the background start and
kill -9 under load. Prints TAP. RG_WRAP runs the filter under a wrapper
(valgrind in scripts/valgrind-check.sh).
"""
import os
import random
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from rgharness import (PROGS, Daemon, faults_background, faults_cache,  # noqa: E402
                       faults_kill9, faults_privs, faults_state, faults_systemd, is_, main, ok,
                       wait_until)

MILTER = PROGS["milter"][0]

SMFI_VERSION = 6
SMFI_CURR_ACTS = 0x1FF
SMFI_CURR_PROT = 0x1FFFFF
SMFIF_ADDHDRS = 0x01


class Closed(Exception):
    pass


class Milter:
    """The MTA side of one milter connection."""

    def __init__(self, d):
        self.s = d.connect()

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _read(self, k):
        buf = b""
        while len(buf) < k:
            c = self.s.recv(k - len(buf))
            if not c:
                raise Closed()
            buf += c
        return buf

    def recv(self):
        (length,) = struct.unpack(">I", self._read(4))
        body = self._read(length)
        return body[:1], body[1:]

    def negotiate(self, actions=SMFI_CURR_ACTS, protocol=SMFI_CURR_PROT):
        self.send(b"O", struct.pack(">III", SMFI_VERSION, actions, protocol))
        cmd, data = self.recv()
        assert cmd == b"O", cmd
        return struct.unpack(">III", data[:12])

    def connect_info(self, host=b"client.example", addr=b"192.0.2.7"):
        self.send(b"C", host + b"\0" + b"4" + struct.pack(">H", 4321) + addr + b"\0")
        return self.recv()

    def mail(self, sender=b"<alice@example.com>", qid=b"QID1", sasl=None):
        macros = b"M" + b"i\0" + qid + b"\0"
        if sasl is not None:
            macros += b"{auth_authen}\0" + sasl + b"\0"
        self.send(b"D", macros)
        self.send(b"M", sender + b"\0")
        return self.recv()

    def rcpt(self, addr):
        """The filter's answer to RCPT TO:<addr>: "continue" or the reply text."""
        if isinstance(addr, str):
            addr = addr.encode()
        self.send(b"R", b"<" + addr + b">\0")
        cmd, data = self.recv()
        if cmd == b"c":
            return "continue"
        if cmd == b"y":
            return data.rstrip(b"\0").decode("latin-1")
        return f"cmd {cmd!r}"

    def eom(self):
        """End of message: the headers added, then the final answer."""
        self.send(b"E")
        headers = []
        while True:
            cmd, data = self.recv()
            if cmd == b"h":
                name, value = data.rstrip(b"\0").split(b"\0", 1)
                headers.append((name.decode(), value.decode()))
                continue
            return cmd, headers

    def close(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.s.close()


def session(d):
    m = Milter(d)
    m.negotiate()
    m.connect_info()
    return m


def ask1(d, rcpt):
    """One recipient in a session of its own."""
    m = session(d)
    m.mail()
    r = m.rcpt(rcpt)
    m.close()
    return r


def closes(d, data, wait=5.0):
    """Send raw bytes on a fresh connection; true when the filter closes it."""
    s = d.connect()
    s.settimeout(wait)
    try:
        s.sendall(data)
        while True:
            c = s.recv(4096)
            if not c:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        s.close()


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


NEG = pkt(b"O", struct.pack(">III", SMFI_VERSION, SMFI_CURR_ACTS, SMFI_CURR_PROT))
CONN = pkt(b"C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"192.0.2.7\0")
MAIL = pkt(b"M", b"<alice@example.com>\0")

REJ_1_1 = "550 5.1.1 rcptguard: the mailbox does not exist (no_mailbox)"
REJ_1_3 = "550 5.1.3 rcptguard: the address is not valid (bad_syntax)"


def run(root):
    d = Daemon(root, "main", prog="milter", extra="""
exempt_recipient_domains = exempt.example
exempt_client_networks = 198.51.100.0/24
[milter]
timeout = 3s
""")
    d.put_classes()
    ok(d.start(), "the filter starts and says ready", d.logtext())

    # ---- reply codes and texts ---------------------------------------------
    m = session(d)
    ver, acts, prot = 0, 0, 0
    m2 = Milter(d)
    ver, acts, prot = m2.negotiate()
    m2.close()
    ok(ver == SMFI_VERSION and acts & SMFIF_ADDHDRS, "negotiation: version 6, asks to add headers",
       ver, hex(acts))
    ok(prot & 0x02 and prot & 0x10 and prot & 0x20, "negotiation: HELO, body and headers are skipped", hex(prot))
    m.mail()
    is_(m.rcpt("alice@live.example"), "continue", "deliverable: continue")
    is_(m.rcpt("ghost@dead.example"), REJ_1_1, "no_mailbox: 550 5.1.1 with the reason")
    is_(m.rcpt("nodomain@gone.example"), "550 5.1.2 rcptguard: the domain does not exist (no_domain)",
        "no_domain: 550 5.1.2")
    is_(m.rcpt("null@nullmx.example"), "550 5.1.10 rcptguard: the domain accepts no mail (null MX) (null_mx)",
        "null MX: 550 5.1.10")
    r = m.rcpt("any@catchall.example")
    ok(r.startswith("450 4.7.1 rcptguard:") and "(catch_all)" in r, "risky: 450 4.7.1 with the reason", r)
    r = m.rcpt("grey@grey.example")
    ok(r.startswith("450 4.7.1 rcptguard:") and "(greylisted)" in r, "greylisted: 450 4.7.1", r)
    r = m.rcpt("new@nowhere.example")
    ok(r.startswith("450 4.7.1") and "(dns_error)" in r,
       "DNS outage: a new address is deferred (dns_error), never rejected", r)
    is_(m.rcpt("bad@@x.example"), REJ_1_3, "bad syntax: 550 5.1.3")
    is_(m.rcpt("ghost@exempt.example"), "continue", "an exempt recipient domain continues")
    cmd, headers = m.eom()
    ok(cmd == b"c" and headers == [], "end of message: continue, no header", cmd, headers)
    m.close()

    m = Milter(d)
    m.negotiate()
    m.connect_info(addr=b"198.51.100.9")
    m.mail()
    is_(m.rcpt("ghost@dead.example"), "continue", "an exempt client network continues")
    m.close()

    # ---- hostile addresses: never echoed, never raw in the log ------------------
    m = session(d)
    m.mail()
    hostile = [
        ("control bytes", b"a\x01b\x7f@dead.example"),
        ("CR LF", b"x\r\n250 ok@dead.example"),
        ("a percent sign", b"%s%n%d@dead.example"),
        ("an overlong address", b"a" * 3000 + b"@dead.example"),
        ("8-bit bytes", b"\xff\xfe\xc3\x28@dead.example"),
        ("an empty address", b""),
    ]
    before_hostile = d.logtext().count("action=")
    for name, addr in hostile:
        r = m.rcpt(addr)
        ok(r in ("continue", REJ_1_3) or (r.startswith("450 4.7.1") or r.startswith("550 5.1.")),
           f"hostile recipient ({name}): a normal answer", r)
        ok(all(0x20 <= ord(ch) < 0x7f for ch in r) and "%n" not in r and "\r" not in r,
           f"hostile recipient ({name}): printable reply, no raw bytes", repr(r))
    m.close()
    # The filter writes its log lines out every 50 ms: wait for the decisions
    # (one each; an empty address is not one).
    wait_until(lambda: d.logtext().count("action=") >= before_hostile + len(hostile) - 1, 30)
    log = d.logtext()
    ok("\x01" not in log and "\r" not in log and "\xff" not in log,
       "hostile recipients reach the log escaped")

    # ---- malformed and truncated packets --------------------------------------
    malformed = [
        ("a zero length", struct.pack(">I", 0)),
        ("a length of 4 GiB", struct.pack(">I", 0xFFFFFFFF) + b"O"),
        ("a length over the data limit", struct.pack(">I", 70000) + b"R" + b"x" * 100),
        ("an unknown command", NEG + pkt(b"Z", b"junk")),
        ("a truncated header then EOF", b"\x00\x00#EOF"),
        ("a truncated packet then EOF", struct.pack(">I", 100) + b"O" + b"\0" * 10 + b"#EOF"),
        ("a short negotiation", pkt(b"O", b"\0\0\0\6")),
        ("a connect packet without NULs", NEG + pkt(b"C", b"host" + b"4" + b"\0\x19" + b"1.2.3.4")),
        ("a connect packet without any NUL", NEG + pkt(b"C", b"\xc1\xf7\xab\x0fkt\xd2\x86")),
        ("RCPT without a NUL", NEG + CONN + MAIL + pkt(b"R", b"<ghost@dead.example>")),
        ("RCPT without data", NEG + CONN + MAIL + pkt(b"R")),
        ("a quit-and-go (Q) in the middle", NEG + CONN + MAIL + pkt(b"Q") + pkt(b"R", b"<x@y>\0")),
    ]
    for name, data in malformed:
        if data.endswith(b"#EOF"):
            data = data[:-4]
            s = d.connect()
            s.settimeout(5)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
                closed = True
            except socket.timeout:
                closed = False
            except OSError:
                closed = True
            s.close()
        else:
            closed = closes(d, data)
        ok(closed and d.proc.poll() is None, f"malformed ({name}): the connection closes, no crash")

    # Out of order or unparsable but framed: libmilter ignores the packet and
    # waits for the next one (the MTA side closes such a session). The filter
    # must not crash, and must keep serving others.
    for name, data in (("RCPT before anything else", pkt(b"R", b"<ghost@dead.example>\0")),
                       ("a macro packet without NULs", NEG + CONN + pkt(b"D", b"Mi")),
                       ("MAIL before the connect packet", NEG + MAIL)):
        s = d.connect()
        s.sendall(data)
        r = ask1(d, "ghost@dead.example")
        s.close()
        ok(d.proc.poll() is None and r == REJ_1_1, f"out of order ({name}): no crash, others are served", r)

    # Random packets: the filter survives and keeps serving.
    rnd = random.Random(5321)
    for i in range(200):
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 64)))
        cmd = bytes([rnd.choice(b"OCHMRDALNBETUQKZ\0\xff")])
        data = NEG if i % 2 else b""
        data += pkt(cmd, body) if i % 3 else struct.pack(">I", rnd.randrange(1 << 32)) + body
        try:
            s = d.connect()
            s.settimeout(0.5)
            s.sendall(data)
            s.recv(4096)
        except OSError:
            pass
        finally:
            s.close()
    ok(d.proc.poll() is None, "200 random packets: the filter is still running")
    is_(ask1(d, "ghost@dead.example"), REJ_1_1, "after the malformed packets the filter serves")

    # ---- reload -----------------------------------------------------------------
    ok(d.reload("action_undeliverable = defer\n"), "SIGHUP: the filter reloads", d.logtext()[-500:])
    r = ask1(d, "ghost@dead.example")
    ok(r.startswith("450 4.7.1") and "(no_mailbox)" in r, "after the reload undeliverable is deferred", r)
    with open(d.conf, "a") as f:
        f.write("bogus_key = 1\n")
    ok(d.reload(None), "SIGHUP with a bad config gets an answer")
    r = ask1(d, "ghost@dead.example")
    ok(r.startswith("450 4.7.1") and "reload refused" in d.logtext() and "bogus_key" in d.logtext(),
       "a bad config is refused and the old one keeps running", r)
    # Reload while sessions are in the middle of a message.
    m = session(d)
    m.mail()
    d.reload("")
    is_(m.rcpt("ghost@dead.example"), REJ_1_1, "a session open across a reload is served by the new config")
    m.close()
    is_(d.stop(), 0, "SIGTERM: a clean exit")

    # ---- -n -----------------------------------------------------------------------
    d.write_conf("bogus_key = 1\n")
    p = subprocess.run([MILTER, "-n", "-c", d.conf], capture_output=True, text=True)
    ok(p.returncode == 1 and f"{d.conf}:" in p.stderr and "bogus_key" in p.stderr,
       "-n names the file and line of a bad key", p.stderr)
    d.write_conf("")
    p = subprocess.run([MILTER, "-n", "-c", d.conf], capture_output=True, text=True)
    ok(p.returncode == 0 and "configuration OK" in p.stdout, "-n accepts a good config", p.stdout + p.stderr)

    # ---- monitor mode, tag ----------------------------------------------------------
    mo = Daemon(root, "monitor", extra="mode = monitor\n", prog="milter")
    mo.put("ghost@dead.example", "undeliverable", "no_mailbox")
    mo.start()
    is_(ask1(mo, "ghost@dead.example"), "continue", "monitor mode: undeliverable continues")
    ok("action=pass monitor=yes would=reject" in mo.wait_log("monitor=yes"),
       "monitor mode logs what it would have done")
    is_(mo.stop(), 0, "monitor mode: clean exit")

    t = Daemon(root, "tag", extra="reason_actions = catch_all=tag\n", prog="milter")
    t.put("any@catchall.example", "risky", "catch_all")
    t.start()
    m = session(t)
    m.mail()
    is_(m.rcpt("any@catchall.example"), "continue", "tag: continue at RCPT")
    cmd, headers = m.eom()
    is_(headers, [("X-Rcptguard-Verdict", "risky; reason=catch_all; rcpt=<any@catchall.example>")],
        "tag: the header is added at end of message")
    m.close()
    is_(t.stop(), 0, "tag: clean exit")

    # ---- faults both front-ends share ---------------------------------------------
    faults_cache(root, "milter", ask1,
                 {"pass": "continue",
                  "defer": "450 4.7.1 rcptguard: recipient verification is unavailable"})
    faults_privs(root, "milter", ask1, "450 4.7.1")
    faults_state(root, "milter")
    faults_background(root, "milter", ask1, REJ_1_3, "inet:99999@256.0.0.1")
    faults_systemd(root, "milter", ask1, REJ_1_3)
    faults_kill9(root, "milter", ask1, """
def pkt(c, d=b""):
    return struct.pack(">I", len(d) + 1) + c + d


def session(s, i):
    s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1ff, 0x1fffff)))
    s.recv(4096)
    s.sendall(pkt(b"C", b"h\\0" + b"4" + b"\\0\\x19" + b"192.0.2.1\\0"))
    s.recv(4096)
    s.sendall(pkt(b"M", b"<a@b.example>\\0"))
    s.recv(4096)
    for j in range(20):
        s.sendall(pkt(b"R", b"<u%d@new%d.example>\\0" % (i, i % 7)))
        s.recv(4096)
        i += 1
    return i
""", REJ_1_1)


if __name__ == "__main__":
    sys.exit(main("milter", run))
