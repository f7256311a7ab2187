-- actions.lua - the default actions, one class at a time and mixed in one
-- message. A reject or a defer comes with its own reply ("y"), so the MTA
-- sends rcptguard's code and text; the driver checks the texts in the log.
dofile(top_srcdir .. "/tests/milter/tap.lua")

local conn = open()
mail(conn, "QID0001")
is(rcpt(conn, "ok@example.org"), "c", "deliverable: continue")
is(rcpt(conn, "ghost@example.org"), "y", "undeliverable: reply code (550)")
is(rcpt(conn, "nodomain@nxdomain.example"), "y", "no such domain: reply code (550)")
is(rcpt(conn, "risky@example.org"), "y", "risky: reply code (450)")
is(rcpt(conn, "grey@example.org"), "y", "unknown (greylisted): reply code (450)")
is(rcpt(conn, "bad..dots@example.org"), "y", "bad syntax: reply code (550)")
is(rcpt(conn, "ok2@example.org"), "c", "a later deliverable recipient of the same message: continue")
local err = mt.eom(conn)
ok(err == nil, "end of message", err)
ok(not mt.eom_check(conn, MT_HDRADD), "no header without a tag action")

-- A second message on the same connection is decided afresh.
mail(conn, "QID0002")
is(rcpt(conn, "ghost@example.org"), "y", "second message: undeliverable rejected again")
is(rcpt(conn, "ok@example.org"), "c", "second message: deliverable continues")
mt.eom(conn)

mt.disconnect(conn)

-- No queue id macro (a new connection): the log line says NOQUEUE.
conn = open()
mt.mailfrom(conn, "<alice@example.com>")
is(rcpt(conn, "noqueue@example.org"), "y", "without the i macro the recipient is still decided")
mt.disconnect(conn)
