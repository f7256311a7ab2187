#!/usr/bin/python3
"""bench_fleet.py - Redis chores of run-fleet-bench.sh (SOCKET: a unix socket path or host:port).

usage:
  bench_fleet.py fill SOCKET TEMPLATE_KEY PREFIX SUFFIX N
      copies the record at TEMPLATE_KEY to PREFIX<i>SUFFIX for i in 0..N-1
      (pipelined, expiring in a day)
  bench_fleet.py commands SOCKET   Redis's count of commands processed so far
  bench_fleet.py memory SOCKET     Redis's used_memory, in bytes
  bench_fleet.py flush SOCKET      deletes the filled keys (rcptguard:v:f*)
"""
import socket
import sys


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return rest
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        return [read(f) for _ in range(int(rest))]
    raise OSError("bad reply %r" % line)


def conn(path):
    """A unix socket path, or host:port."""
    if path.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
    else:
        host, port = path.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), 10)
    return s, s.makefile("rb")


def main():
    a = sys.argv[1:]
    s, f = conn(a[1])
    if a[0] == "fill":
        s.sendall(enc("GET", a[2]))
        rec = read(f)
        if not rec:
            sys.exit("no record at %s" % a[2])
        n, batch = int(a[5]), 2000
        for start in range(0, n, batch):
            end = min(n, start + batch)
            s.sendall(b"".join(enc("SET", "%s%d%s" % (a[3], i, a[4]), rec, "EX", "86400")
                               for i in range(start, end)))
            for _ in range(start, end):
                read(f)
    elif a[0] == "commands":
        s.sendall(enc("INFO", "stats"))
        for line in read(f).decode().splitlines():
            if line.startswith("total_commands_processed:"):
                print(line.split(":")[1])
    elif a[0] == "memory":
        s.sendall(enc("INFO", "memory"))
        for line in read(f).decode().splitlines():
            if line.startswith("used_memory:"):
                print(line.split(":")[1])
    elif a[0] == "flush":
        cursor = b"0"
        while True:
            s.sendall(enc("SCAN", cursor, "MATCH", "rcptguard:v:f*", "COUNT", "5000"))
            cursor, keys = read(f)
            if keys:
                s.sendall(enc("UNLINK", *keys))
                read(f)
            if cursor == b"0":
                break
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
