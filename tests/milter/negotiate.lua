-- negotiate.lua - the filter asks only for the steps it uses, and for
-- SMFIF_ADDHDRS only when some action can tag (global expect_tag).
dofile(top_srcdir .. "/tests/milter/tap.lua")

local conn = open()
ok(mt.test_option(conn, SMFIP_NOHELO), "HELO is skipped")
ok(mt.test_option(conn, SMFIP_NODATA), "DATA is skipped")
ok(mt.test_option(conn, SMFIP_NOHDRS), "headers are skipped")
ok(mt.test_option(conn, SMFIP_NOEOH), "end of headers is skipped")
ok(mt.test_option(conn, SMFIP_NOBODY), "the body is skipped")
ok(mt.test_option(conn, SMFIP_NOUNKNOWN), "unknown commands are skipped")
ok(not mt.test_option(conn, SMFIP_NORCPT), "RCPT is not skipped")
ok(not mt.test_option(conn, SMFIP_NOMAIL), "MAIL is not skipped")
if expect_tag == "1" then
	ok(mt.test_action(conn, SMFIF_ADDHDRS), "a config that can tag asks for SMFIF_ADDHDRS")
else
	ok(not mt.test_action(conn, SMFIF_ADDHDRS), "a config that never tags asks for no action")
end
ok(not mt.test_action(conn, SMFIF_CHGBODY), "the body is never changed")
ok(not mt.test_action(conn, SMFIF_ADDRCPT), "recipients are never added")
mt.disconnect(conn)
