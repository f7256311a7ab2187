-- exempt.lua - exempt_sasl_users = trusted: a message whose {auth_authen}
-- is trusted passes every recipient; other logins and none are verified.
dofile(top_srcdir .. "/tests/milter/tap.lua")

local conn = open()
mail(conn, "QID0201", "trusted")
is(rcpt(conn, "ghost@example.org"), "c", "{auth_authen}=trusted: undeliverable passes (exempt)")
is(rcpt(conn, "risky@example.org"), "c", "{auth_authen}=trusted: risky passes (exempt)")
mt.eom(conn)
mail(conn, "QID0202", "someone")
is(rcpt(conn, "ghost@example.org"), "y", "another login: undeliverable rejected")
mt.eom(conn)
mail(conn, "QID0203")
is(rcpt(conn, "ghost@example.org"), "y", "no login: undeliverable rejected")
mt.disconnect(conn)
