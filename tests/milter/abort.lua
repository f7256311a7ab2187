-- abort.lua - abort in the middle of a message: its tags are dropped, the
-- connection goes on, and connections closed mid-message leave nothing behind
-- (the driver runs this under valgrind too).
dofile(top_srcdir .. "/tests/milter/tap.lua")

local conn = open()
mail(conn, "QID0301")
is(rcpt(conn, "risky@example.org"), "c", "a tagged recipient before the abort")
ok(mt.abort(conn) == nil, "abort is accepted")
mail(conn, "QID0302")
is(rcpt(conn, "ok@example.org"), "c", "after the abort the connection serves a new message")
mt.eom(conn)
ok(not mt.eom_check(conn, MT_HDRADD), "the aborted message's tag is not added to the next one")
mail(conn, "QID0303")
is(rcpt(conn, "ghost@example.org"), "y", "after the abort rejects still reject")
mt.abort(conn)
mt.disconnect(conn)

-- Connections that go away in the middle of a message, politely or not.
for i = 1, 20 do
	local c = open()
	mail(c, "QID04" .. i)
	rcpt(c, "risky@example.org")
	mt.disconnect(c, i % 2 == 0)
end
local last = open()
mail(last, "QID0500")
is(rcpt(last, "ghost@example.org"), "y", "after 20 connections dropped mid-message the filter serves")
mt.disconnect(last)
