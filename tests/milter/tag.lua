-- tag.lua - with catch_all=tag: the risky recipient is accepted and gets an
-- X-Rcptguard-Verdict header at the end of the message; rejects still reject.
dofile(top_srcdir .. "/tests/milter/tap.lua")

local conn = open()
ok(mt.test_action(conn, SMFIF_ADDHDRS), "the filter asked to add headers")
mail(conn, "QID0101")
is(rcpt(conn, "risky@example.org"), "c", "tag: the recipient continues")
is(rcpt(conn, "ghost@example.org"), "y", "tag config: undeliverable still rejected")
is(rcpt(conn, "risky2@example.org"), "c", "a second tagged recipient continues")
is(rcpt(conn, "ok@example.org"), "c", "deliverable continues")
mt.eom(conn)
ok(mt.eom_check(conn, MT_HDRADD, "X-Rcptguard-Verdict",
    "risky; reason=catch_all; rcpt=<risky@example.org>"),
    "end of message adds X-Rcptguard-Verdict for the first tagged recipient")
ok(mt.eom_check(conn, MT_HDRADD, "X-Rcptguard-Verdict",
    "risky; reason=catch_all; rcpt=<risky2@example.org>"),
    "and one for the second")
is(mt.getheader(conn, "X-Rcptguard-Verdict", 2), nil, "and no third")

-- The next message carries only its own tags.
mail(conn, "QID0102")
is(rcpt(conn, "ok@example.org"), "c", "next message: deliverable continues")
mt.eom(conn)
ok(not mt.eom_check(conn, MT_HDRADD), "next message: no tag carried over")
mt.disconnect(conn)
