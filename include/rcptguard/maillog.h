/*
 * maillog.h - one line of an MTA's delivery log, read: Postfix's delivery
 * agents (smtp, lmtp, local, virtual, pipe; 2.11 and 3.x) through syslog,
 * Postfix's own maillog_file or the journal, and Exim's main.log.
 *
 * The parser knows the shape of the lines, not what they mean for a
 * mailbox: learn.h decides that. It never allocates; the spans of an
 * entry point into the line, which must outlive the entry.
 */
#ifndef RG_MAILLOG_H
#define RG_MAILLOG_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/reply.h"

#define RG_MAILLOG_QID_MAX	31
#define RG_MAILLOG_HOST_MAX	255
#define RG_MAILLOG_ADDR_MAX	63
#define RG_MAILLOG_PROG_MAX	63

enum rg_maillog_format {
	RG_MAILLOG_AUTO,	/* either, line by line: the two cannot be confused */
	RG_MAILLOG_POSTFIX,
	RG_MAILLOG_EXIM,
};

enum rg_maillog_status {
	RG_MAILLOG_SENT,	/* Postfix status=sent, Exim => and -> */
	RG_MAILLOG_BOUNCED,	/* Postfix status=bounced, Exim ** */
	RG_MAILLOG_DEFERRED,	/* Postfix status=deferred, Exim == */
	RG_MAILLOG_EXPIRED,	/* Postfix status=expired */
	RG_MAILLOG_OTHER,	/* any other status word (undeliverable, deliverable, ...) */
};

/* The command the remote reply answered. */
enum rg_maillog_stage {
	RG_MAILLOG_AT_NONE,	/* no remote reply, or not said */
	RG_MAILLOG_AT_CONNECT,	/* the greeting ("refused to talk to me") */
	RG_MAILLOG_AT_HELO,
	RG_MAILLOG_AT_MAIL,
	RG_MAILLOG_AT_RCPT,
	RG_MAILLOG_AT_DATA,
	RG_MAILLOG_AT_DATA_END,	/* "end of DATA", Exim's "end of data" */
	RG_MAILLOG_AT_OTHER,
};

struct rg_maillog_span {
	const char	*s_ptr;		/* into the line; NULL when absent */
	size_t		 s_len;
};

struct rg_maillog_entry {
	enum rg_maillog_format	e_format;
	enum rg_maillog_status	e_status;
	int64_t		e_time;		/* the line's timestamp; 0 when it has none */
	char		e_qid[RG_MAILLOG_QID_MAX + 1];
	char		e_program[RG_MAILLOG_PROG_MAX + 1];	/* "postfix/smtp", "exim"; "" */
	struct rg_maillog_span e_rcpt;	/* the recipient, without <> */
	struct rg_maillog_span e_orig;	/* orig_to, or Exim's parent address */
	int		e_remote;	/* handed to a host named by an IP address over SMTP */
	char		e_relay_host[RG_MAILLOG_HOST_MAX + 1];
	char		e_relay_addr[RG_MAILLOG_ADDR_MAX + 1];	/* "192.0.2.1", "2001:db8::1" */
	int		e_relay_port;	/* 0 when not logged */
	char		e_dsn[RG_REPLY_DSN_MAX + 1];	/* Postfix dsn= */
	enum rg_maillog_stage e_stage;
	int		e_has_reply;	/* e_reply holds the remote server's words */
	struct rg_reply	e_reply;	/* sanitized and bounded */
	struct rg_maillog_span e_detail;	/* the explanation as logged, whole */
};

/*
 * rg_maillog_parse - read len bytes of line (no newline) as fmt. 1 when it
 * is the record of one recipient's delivery attempt, filled into e; 0 for
 * every other line (an smtpd, cleanup or qmgr line, a warning, a partial
 * or malformed record). now anchors timestamps that carry no year.
 */
int rg_maillog_parse(const char *line, size_t len, enum rg_maillog_format fmt, int64_t now,
    struct rg_maillog_entry *e);

/*
 * rg_maillog_detect - the format a log's first line shows: Exim's stamp
 * ("2026-12-07 09:54:21") and message id, or else Postfix (syslog, the
 * journal, maillog_file); AUTO for an empty line.
 */
enum rg_maillog_format rg_maillog_detect(const char *line, size_t len);
/*
 * RG_MAILLOG_POSTFIX_MARK - every Postfix delivery record holds it, so a
 * reader may pass over lines without it.
 */
#define RG_MAILLOG_POSTFIX_MARK	", status="

const char *rg_maillog_status_name(enum rg_maillog_status s);
const char *rg_maillog_stage_name(enum rg_maillog_stage s);
const char *rg_maillog_format_name(enum rg_maillog_format f);
/* rg_maillog_format_parse - "postfix", "exim", "auto": 0, or -1. */
int rg_maillog_format_parse(const char *name, enum rg_maillog_format *out);

#endif /* RG_MAILLOG_H */
