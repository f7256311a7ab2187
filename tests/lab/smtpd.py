#!/usr/bin/python3
"""smtpd.py - scripted SMTP servers for the behaviours no real MTA shows on demand.

usage: smtpd.py --record DIR ADDR:MODE [ADDR:MODE ...]

Each ADDR (ip[:port], port 25 by default) gets one listening socket with one
behaviour. Every line a client sends is appended to DIR/<ip>.log, so tests
can check what reached the wire. Recipients whose local part starts with
"ghost" or "rg-" (the prober's random catch-all probe) are unknown (550 5.1.1);
every other recipient is accepted, unless the mode says otherwise.

modes: rcpt252, full552, dnsbl, ehlo502, tarpit, slowgreet, multiline,
421after2 (421 "too many recipients" after two RCPTs of a session), 421rate
(the same, worded as a rate from the client's IP: throttling), m365 (as
Microsoft 365 does to a verifier: the first RCPT of a session is answered,
every later one, RSET or not, gets 452 4.5.3), hangup, plain, and modes whose
first session fails temporarily and later ones do not: greet421once (421 at
the greeting), mail451once (451 greylisting at MAIL FROM, "try again in 2
seconds"), dropfirst (hangs up after MAIL FROM), verify450 (each recipient's
first RCPT gets 450 "Address verification in progress", as a relay running
Postfix's reject_unverified_recipient answers)
"""
import os
import socket
import sys
import threading
import time

RECORD_DIR = None
LOCK = threading.Lock()
SESSIONS = {}           # ip -> sessions begun
SEEN = set()            # (ip, recipient) asked before


def first_session(ip):
    """Count a new session of ip; True for the first one."""
    with LOCK:
        SESSIONS[ip] = SESSIONS.get(ip, 0) + 1
        return SESSIONS[ip] == 1


def seen_before(ip, rcpt):
    with LOCK:
        key = (ip, rcpt.lower())
        if key in SEEN:
            return True
        SEEN.add(key)
        return False


def record(ip, line):
    with LOCK, open(os.path.join(RECORD_DIR, ip + ".log"), "ab") as f:
        f.write(line + b"\n")


def unknown(rcpt):
    local = rcpt.split(b"@")[0].lstrip(b"<").lower()
    return local.startswith(b"ghost") or local.startswith(b"rg-")


def serve(conn, ip, mode):
    conn.settimeout(30)
    f = conn.makefile("rb")

    def send(text):
        conn.sendall(text.encode() + b"\r\n")

    if mode == "tarpit":
        # Never greet; hold the connection until the client gives up.
        try:
            while f.readline():
                pass
        except OSError:
            pass
        return
    if mode == "slowgreet":
        time.sleep(2)
    first = first_session(ip)
    if mode == "greet421once" and first:
        send("421 4.3.2 mx.lab.test Service not available, closing transmission channel")
        return
    if mode == "multiline":
        send("220-mx.lab.test ESMTP")
        send("220-this greeting")
        send("220 spans three lines")
    else:
        send("220 mx.lab.test ESMTP scripted")
    rcpts = 0
    while True:
        try:
            line = f.readline(4096)
        except OSError:
            return
        if not line:
            return
        line = line.rstrip(b"\r\n")
        record(ip, line)
        verb = line[:4].upper()
        if verb == b"EHLO":
            if mode == "ehlo502":
                send("502 5.5.2 Error: command not recognized")
            elif mode == "multiline":
                send("250-mx.lab.test")
                send("250-PIPELINING")
                send("250-SIZE 10240000")
                send("250 8BITMIME")
            else:
                send("250-mx.lab.test")
                send("250 8BITMIME")
        elif verb == b"HELO":
            send("250 mx.lab.test")
        elif verb == b"MAIL":
            if mode == "mail451once" and first:
                send("451 4.7.1 Greylisted, please try again in 2 seconds")
            elif mode == "dropfirst" and first:
                conn.shutdown(socket.SHUT_RDWR)
                return
            else:
                send("250 2.1.0 Ok")
        elif verb == b"RCPT":
            rcpts += 1
            rcpt = line[8:].strip()
            if mode == "421after2" and rcpts > 2:
                send("421 4.7.0 mx.lab.test Too many recipients, closing")
                return
            if mode == "421rate" and rcpts > 2:
                send("421 4.7.0 Too many recipients from your IP, try again later")
                return
            if mode == "m365" and rcpts > 1:
                send("452 4.5.3 Too many recipients")
                continue
            if mode == "verify450" and not seen_before(ip, rcpt):
                send("450 4.1.1 %s: Recipient address rejected: unverified address: "
                     "Address verification in progress" % rcpt.decode(errors="replace"))
                continue
            if unknown(rcpt):
                if mode == "multiline":
                    send("550-5.1.1 The email account that you tried to reach does not exist.")
                    send("550-5.1.1 Please try double-checking the recipient's address")
                    send("550 5.1.1 for typos or unnecessary spaces.")
                else:
                    send("550 5.1.1 User unknown")
            elif mode == "rcpt252":
                send("252 2.1.5 Cannot VRFY user, but will accept message")
            elif mode == "full552":
                send("552 5.2.2 Mailbox full")
            elif mode == "dnsbl":
                send("550 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org")
            elif mode == "multiline":
                send("250-2.1.5 Ok,")
                send("250 2.1.5 recipient accepted")
            else:
                send("250 2.1.5 Ok")
            if mode == "hangup":
                conn.shutdown(socket.SHUT_RDWR)
                return
        elif verb == b"RSET" or verb == b"NOOP":
            send("250 2.0.0 Ok")
        elif verb == b"QUIT":
            send("221 2.0.0 Bye")
            return
        elif verb == b"DATA":
            # The prober must never get here; say so loudly in the record.
            record(ip, b"!!! DATA RECEIVED")
            send("554 5.5.1 no DATA in this lab")
        else:
            send("502 5.5.2 Error: command not recognized")


def listen(addr, mode):
    ip, _, port = addr.partition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, int(port or 25)))
    s.listen(64)

    def loop():
        while True:
            conn, _ = s.accept()
            t = threading.Thread(target=handle, args=(conn, ip, mode), daemon=True)
            t.start()

    def handle(conn, ip, mode):
        try:
            serve(conn, ip, mode)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=loop, daemon=True).start()


def main():
    global RECORD_DIR
    args = sys.argv[1:]
    if len(args) < 3 or args[0] != "--record":
        sys.exit(__doc__)
    RECORD_DIR = args[1]
    for spec in args[2:]:
        addr, _, mode = spec.rpartition(":")
        listen(addr, mode)
    print("ready", flush=True)
    # Bounded life: the lab stops us, and we stop ourselves after an hour.
    time.sleep(3600)


if __name__ == "__main__":
    main()
