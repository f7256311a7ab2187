#!/usr/bin/python3
"""dns_servfail.py ADDR PORT - answer every DNS query with SERVFAIL (bounded life)."""
import socket
import sys
import time

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(1)
print("ready", flush=True)
end = time.time() + 3600
while time.time() < end:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    if len(q) < 12:
        continue
    # Same id and question; QR=1, opcode from the query, RD copied, RA=1, RCODE=2.
    flags = bytes([0x80 | (q[2] & 0x79), 0x80 | 2])
    s.sendto(q[:2] + flags + q[4:6] + b"\x00\x00\x00\x00\x00\x00" + q[12:], peer)
