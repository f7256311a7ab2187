-- tap.lua - helpers for the miltertest scripts of rcptguard-milter. Each
-- check prints "ok - NAME" or "not ok - NAME" and the driver
-- (test_milter_miltertest.sh) numbers them. The driver passes the socket as
-- the global `sock` (miltertest -D sock=...).

function ok(cond, name, diag)
	if cond then
		print("ok - " .. name)
	else
		print("not ok - " .. name)
		if diag ~= nil then
			print("#   " .. tostring(diag))
		end
	end
end

function is(got, want, name)
	ok(got == want, name, "got " .. tostring(got) .. ", want " .. tostring(want))
end

-- open - a connection that has negotiated with the MTA's default offer.
function open()
	local conn = mt.connect(sock, 50, 0.1)
	if conn == nil then
		error("cannot connect to " .. sock)
	end
	local err = mt.negotiate(conn, nil, nil, nil)
	if err ~= nil then
		error("negotiate: " .. err)
	end
	err = mt.conninfo(conn, "client.example", "192.0.2.7")
	if err ~= nil then
		error("conninfo: " .. err)
	end
	return conn
end

-- mail - a new message: the job id and SASL login macros, then MAIL FROM.
function mail(conn, qid, sasl)
	local err = mt.macro(conn, SMFIC_MAIL, "i", qid, "{auth_authen}", sasl or "")
	if err == nil then
		err = mt.mailfrom(conn, "<alice@example.com>")
	end
	if err ~= nil then
		error("mail: " .. err)
	end
end

-- rcpt - RCPT TO for addr; the filter's reply as a letter: "c" continue,
-- "y" a reply code (reject or defer with a text), "r" reject, "t" tempfail.
function rcpt(conn, addr)
	local err = mt.rcptto(conn, "<" .. addr .. ">")
	if err ~= nil then
		error("rcpt " .. addr .. ": " .. err)
	end
	return string.char(math.floor(mt.getreply(conn)))
end
