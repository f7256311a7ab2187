#!/usr/bin/python3
"""bench_flood.py - a flood of hostile connections against a daemon's socket,
and one well-behaved client measured meanwhile.

  bench_flood.py attack policyd|milter ADDR CONNS SECONDS
      Keeps CONNS hostile connections open to ADDR for SECONDS, a quarter
      of each kind: partial requests left hanging, a byte a second, a
      complete request followed by a partial one in the same write, and
      connect-and-hold. A connection the daemon closes is opened again, so
      the flood never lets up. Prints how many connects it made.

  bench_flood.py client policyd|milter ADDR SECONDS INTERVAL
      Postfix-like: one persistent connection, a request every INTERVAL
      seconds for a cached recipient, the reply awaited for up to 30 s. A
      connection found dead is opened again and the request sent once more,
      as Postfix's policy and milter clients do. Prints the requests, how
      many were answered, and the p50/p99/max latency in milliseconds.

ADDR is inet:HOST:PORT or unix:/path.
"""
import resource
import selectors
import socket
import struct
import sys
import time

POLICY_REQ = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
              b"client_address=192.0.2.10\nclient_name=relay.example.com\n"
              b"queue_id=4XQ1\nsender=news@example.com\nrecipient=alice@live.example\n"
              b"instance=a1b2.1\n\n")


def connect(addr, blocking=True):
    kind, _, rest = addr.partition(":")
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX)
        target = rest
    else:
        host, _, port = rest.rpartition(":")
        s = socket.socket(socket.AF_INET)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target = (host, int(port))
    s.setblocking(blocking)
    if blocking:
        s.settimeout(30)
    try:
        s.connect(target)
    except (BlockingIOError, InterruptedError):
        pass
    return s


def mpkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


MILTER_OPTNEG = mpkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
MILTER_SESSION = (mpkt(b"C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"192.0.2.7\0"),
                  mpkt(b"M", b"<news@example.com>\0"), mpkt(b"R", b"<alice@live.example>\0"))


def hostile(prog, kind):
    """(first bytes, trickle byte or None) for a hostile connection of kind."""
    if prog == "policyd":
        return [(b"request=smtpd_access_policy\nprotocol_st", None),
                (b"r", b"e"),
                (POLICY_REQ + b"request=smtpd_acc", None),
                (b"", None)][kind]
    return [(struct.pack(">I", 200) + b"O\0\0", None),
            (b"\0", b"\0"),
            (MILTER_OPTNEG + struct.pack(">I", 300) + b"C", None),
            (b"", None)][kind]


def attack(prog, addr, conns, secs):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    live = {}
    made = 0
    end = time.monotonic() + secs
    next_trickle = time.monotonic() + 1

    def open_one(kind):
        nonlocal made
        try:
            s = connect(addr, blocking=False)
        except OSError:
            return False
        made += 1
        first, trickle = hostile(prog, kind)
        live[s] = (kind, first, trickle, False)
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
        return True

    def close_one(s):
        sel.unregister(s)
        del live[s]
        s.close()

    kinds = [i % 4 for i in range(conns)]
    pending = list(kinds)
    while time.monotonic() < end:
        # Top the flood up to CONNS (a connect refused for a full backlog is retried).
        while pending and len(live) < conns:
            if not open_one(pending.pop()):
                break
        for key, ev in sel.select(timeout=0.05):
            s = key.fileobj
            kind, first, trickle, sent = live[s]
            if ev & selectors.EVENT_WRITE and not sent:
                try:
                    if first:
                        s.send(first)
                    live[s] = (kind, first, trickle, True)
                    sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    close_one(s)
                    pending.append(kind)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    close_one(s)
                    pending.append(kind)
        if time.monotonic() >= next_trickle:
            next_trickle += 1
            for s, (kind, first, trickle, sent) in list(live.items()):
                if trickle is not None and sent:
                    try:
                        s.send(trickle)
                    except OSError:
                        close_one(s)
                        pending.append(kind)
    print(f"hostile={conns} connects={made} open_at_end={len(live)}", flush=True)


class PolicyClient:
    def __init__(self, addr):
        self.addr = addr
        self.s = None
        self.buf = b""

    def ask(self):
        if self.s is None:
            self.s = connect(self.addr)
            self.buf = b""
        self.s.sendall(POLICY_REQ)
        while b"\n\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise OSError("closed")
            self.buf += d
        reply, self.buf = self.buf.split(b"\n\n", 1)
        return reply.startswith(b"action=")


class MilterClient:
    """One milter session per request, as Postfix opens one per SMTP session."""
    def __init__(self, addr):
        self.addr = addr
        self.s = None

    def recv_pkt(self):
        head = b""
        while len(head) < 4:
            d = self.s.recv(4 - len(head))
            if not d:
                raise OSError("closed")
            head += d
        (n,) = struct.unpack(">I", head)
        body = b""
        while len(body) < n:
            d = self.s.recv(n - len(body))
            if not d:
                raise OSError("closed")
            body += d
        return body[:1]

    def ask(self):
        self.s = connect(self.addr)
        try:
            self.s.sendall(MILTER_OPTNEG)
            self.recv_pkt()
            # One command at a time, each reply awaited, as Postfix does.
            replies = []
            for pkt in MILTER_SESSION:
                self.s.sendall(pkt)
                replies.append(self.recv_pkt())
            self.s.sendall(mpkt(b"A") + mpkt(b"Q"))
            return replies[-1] in (b"c", b"r", b"t", b"y", b"a")
        finally:
            self.s.close()
            self.s = None


def client(prog, addr, secs, interval):
    c = PolicyClient(addr) if prog == "policyd" else MilterClient(addr)
    lat = []
    sent = answered = retried = 0
    end = time.monotonic() + secs
    nxt = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now < nxt:
            time.sleep(nxt - now)
        nxt += interval
        sent += 1
        t0 = time.monotonic()
        ok = False
        for attempt in range(2):
            try:
                ok = c.ask()
                break
            except OSError:
                if getattr(c, "s", None) is not None:
                    c.s.close()
                c.s = None
                if attempt == 0:
                    retried += 1
        if ok:
            answered += 1
            lat.append(time.monotonic() - t0)
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] * 1000) if lat else (lambda q: 0)
    print(f"requests={sent} answered={answered} answered_pct={100.0 * answered / max(sent, 1):.2f} "
          f"retried={retried} p50_ms={pct(0.5):.2f} p99_ms={pct(0.99):.2f} "
          f"max_ms={(lat[-1] * 1000 if lat else 0):.2f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "attack":
        attack(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 6 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
