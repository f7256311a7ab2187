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
import os
import socket
import sys

# One RESP codec for the tests and the benchmarks: the lab's fleet tool.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))
from fleet_tool import resp_encode, resp_read as read  # noqa: E402


def enc(*args):
    return resp_encode(list(args))


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
