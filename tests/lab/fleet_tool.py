#!/usr/bin/python3
"""fleet_tool.py - the fleet tests' client side and scripted Redis servers.

usage:
  fleet_tool.py ask PORT ADDRESS...           one policy request each; prints "ADDRESS ACTION"
  fleet_tool.py burst PORT:ADDRESS...         all at once, one connection each; prints
                                              "PORT ADDRESS ACTION" lines
  fleet_tool.py load DIR PORT,PORT,...        policy requests until DIR/stop exists (at most
                                              120 s): known addresses whose answer must not
                                              change, and new ones; writes DIR/count as it
                                              goes and DIR/result at the end
  fleet_tool.py metric PORT NAME [LABELS]     a sample of a daemon's /metrics (0 when absent)
  fleet_tool.py redis PORT CMD ARG...         one command to the Redis on 127.0.0.1:PORT;
                                              prints the reply
  fleet_tool.py spoil PORT SRCKEY DSTKEY HOW  writes a spoiled copy of SRCKEY's record:
                                              HOW is truncated, future (an unknown version)
                                              or foreign (bytes that are no record)
  fleet_tool.py fakeredis PORT MODE           a scripted Redis on 127.0.0.1:PORT: "error"
                                              answers every command with -ERR; "silent"
                                              answers PING, AUTH and SELECT, then nothing;
                                              "huge" answers them, then declares an array
                                              of two billion elements

Only behaviours a real redis-server does not show on demand are scripted.
The redis command logs in first with AUTH $FLEET_AUTH ("user password") when set.
"""
import os
import socket
import sys
import threading
import time

POLICY_REQ = ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
              "client_address=192.0.2.7\nclient_name=client.example\n"
              "sender=s@client.example\nrecipient=%s\n\n")


def policy(sock_file, sock, address):
    sock.sendall((POLICY_REQ % address).encode())
    lines = []
    while True:
        line = sock_file.readline()
        if not line:
            raise OSError("connection closed")
        line = line.rstrip("\n")
        if line == "":
            break
        lines.append(line)
    return lines[0] if lines else "(empty)"


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), 30)
    return s, s.makefile("r")


def cmd_ask(port, addresses):
    s, f = connect(port)
    for a in addresses:
        print(a, policy(f, s, a), flush=True)
    s.close()


def cmd_burst(specs):
    out = [None] * len(specs)
    go = threading.Event()

    def one(i, port, address):
        try:
            s, f = connect(port)
            go.wait()
            out[i] = policy(f, s, address)
            s.close()
        except OSError as e:
            out[i] = "error=%s" % e

    threads = []
    for i, spec in enumerate(specs):
        port, address = spec.split(":", 1)
        t = threading.Thread(target=one, args=(i, port, address))
        t.start()
        threads.append(t)
    go.set()
    for t in threads:
        t.join(60)
    for spec, action in zip(specs, out):
        port, address = spec.split(":", 1)
        print(port, address, action or "error=no answer")


def cmd_load(d, ports):
    """Known answers must stay what they are; new addresses must get an answer."""
    ports = ports.split(",")
    known = [("alice@honest.test", "action=DUNNO"), ("nobody1@honest.test", "action=550")]
    stop = os.path.join(d, "stop")
    conns = {p: connect(p) for p in ports}
    n = wrong = failed = 0
    notes = []
    end = time.time() + 120
    i = 0
    while not os.path.exists(stop) and time.time() < end:
        port = ports[i % len(ports)]
        s, f = conns[port]
        if i % 4 == 3:
            address, want = "load%d@honest.test" % i, None
        else:
            address, want = known[i % 2]
        try:
            action = policy(f, s, address)
        except OSError as e:
            failed += 1
            notes.append("%s %s: %s" % (port, address, e))
            conns[port] = connect(port)
            i += 1
            continue
        n += 1
        ok = action.startswith(want) if want else (
            action.startswith("action=550") or action.startswith("action=DEFER"))
        if not ok:
            wrong += 1
            notes.append("%s %s: %s" % (port, address, action))
        i += 1
        if n % 20 == 0:
            with open(os.path.join(d, "count.tmp"), "w") as c:
                c.write("%d\n" % n)
            os.replace(os.path.join(d, "count.tmp"), os.path.join(d, "count"))
    with open(os.path.join(d, "result"), "w") as r:
        r.write("answers=%d wrong=%d failed=%d\n" % (n, wrong, failed))
        for line in notes[:20]:
            r.write("# %s\n" % line)


def cmd_metric(port, name, labels=""):
    s = socket.create_connection(("127.0.0.1", int(port)), 10)
    s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    want = name + ("{%s}" % labels if labels else "")
    for line in data.decode(errors="replace").splitlines():
        if line.startswith(want + " "):
            print(line.split()[-1])
            return
    print(0)


def resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp_read(f):
    line = f.readline()
    if not line:
        raise OSError("closed")
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        return [resp_read(f) for _ in range(int(rest))]
    raise OSError("bad reply %r" % line)


def redis(port, *args):
    s = socket.create_connection(("127.0.0.1", int(port)), 10)
    f = s.makefile("rb")
    if os.environ.get("FLEET_AUTH"):
        s.sendall(resp_encode(["AUTH"] + os.environ["FLEET_AUTH"].split()))
        resp_read(f)
    s.sendall(resp_encode(args))
    r = resp_read(f)
    s.close()
    return r


def cmd_spoil(port, src, dst, how):
    rec = redis(port, "GET", src)
    if not isinstance(rec, bytes):
        sys.exit("no record at %s" % src)
    if how == "truncated":
        bad = rec[:len(rec) // 2]
    elif how == "future":
        bad = rec[:3] + bytes([200]) + rec[4:]
    else:
        bad = b"hello, this is not a record of anyone's"
    print(redis(port, "SET", dst, bad, "EX", "3600"))


def cmd_fakeredis(port, mode):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(64)

    def serve(c):
        f = c.makefile("rb")
        try:
            while True:
                cmd = resp_read(f)
                verb = (cmd[0] if isinstance(cmd, list) and cmd else b"").upper()
                if mode == "error":
                    c.sendall(b"-ERR scripted failure\r\n")
                elif verb == b"PING":
                    c.sendall(b"+PONG\r\n")
                elif verb in (b"AUTH", b"SELECT"):
                    c.sendall(b"+OK\r\n")
                elif mode == "huge":
                    c.sendall(b"*2000000000\r\n")
                # silent: everything else is read and never answered
        except (OSError, ValueError, IndexError):
            pass
        c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "ask":
        cmd_ask(a[1], a[2:])
    elif a[0] == "burst":
        cmd_burst(a[1:])
    elif a[0] == "load":
        cmd_load(a[1], a[2])
    elif a[0] == "metric":
        cmd_metric(*a[1:4])
    elif a[0] == "redis":
        r = redis(a[1], *a[2:])
        print(r.decode(errors="replace") if isinstance(r, bytes) else r)
    elif a[0] == "spoil":
        cmd_spoil(*a[1:5])
    elif a[0] == "fakeredis":
        cmd_fakeredis(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
