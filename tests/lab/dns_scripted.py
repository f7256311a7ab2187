#!/usr/bin/python3
"""dns_scripted.py ADDR PORT - the lab's scripted resolver, for answers
dnsmasq does not give (bounded life: an hour).

  *.wild.test, MX   MX 10 mx.tarpit.test: a wildcard whose mail host is the
                    lab's tarpit (dnsmasq has no wildcard MX)
  *.wild.test, else NOERROR with no answer
  anything else     SERVFAIL (servfail.test)
"""
import socket
import struct
import sys
import time

QTYPE_MX = 15


def qname(q):
    """The question's name (lower case) and the offset after its type and class."""
    labels, i = [], 12
    while i < len(q) and q[i] != 0:
        n = q[i]
        labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    return ".".join(labels), i + 5


def answer(q):
    if len(q) < 17:
        return None
    name, end = qname(q)
    if end > len(q):
        return None
    qtype = struct.unpack(">H", q[end - 4:end - 2])[0]
    question = q[12:end]
    flags_rd = q[2] & 0x79
    if name == "wild.test" or name.endswith(".wild.test"):
        if qtype != QTYPE_MX:
            return q[:2] + bytes([0x84 | flags_rd, 0x80]) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
        target = b"".join(bytes([len(p)]) + p for p in (b"mx", b"tarpit", b"test")) + b"\x00"
        rdata = struct.pack(">H", 10) + target
        rr = b"\xc0\x0c" + struct.pack(">HHIH", QTYPE_MX, 1, 300, len(rdata)) + rdata
        return q[:2] + bytes([0x84 | flags_rd, 0x80]) + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question + rr
    # Same id and question; QR=1, opcode from the query, RD copied, RA=1, RCODE=2.
    return q[:2] + bytes([0x80 | flags_rd, 0x80 | 2]) + q[4:6] + b"\x00\x00\x00\x00\x00\x00" + q[12:]


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
    a = answer(q)
    if a is not None:
        s.sendto(a, peer)
