/*
 * milter_filter.c - the libmilter callbacks.
 *
 * The filter asks only for what it uses: connect, MAIL and RCPT, and the
 * end of the message only to add the tag headers (SMFIF_ADDHDRS is asked
 * for only when some action can tag). HELO, DATA, headers and body are
 * skipped. Each RCPT is decided on its own, through the same policy module
 * as rcptguard-policyd, so the two front-ends never disagree.
 *
 * The decision itself and the texts handed back live in milter_decide.c.
 * A connection context is made at connect and freed at close; a message
 * context at MAIL and freed at end of message, abort or close.
 *
 * SECURITY
 *   The envelope arguments come from the SMTP client through the MTA and
 *   are hostile. Each is copied, bounded, into a fixed buffer
 *   (MILTER_ADDR_MAX) and decided through rg_address_parse like a policy
 *   request (milter_copy_addr); the reply text handed back to the MTA is
 *   printable ASCII with every '%' doubled (milter_reply_text); at most MILTER_TAGS_MAX headers are added to one
 *   message.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "milter.h"
#include "milter_decide.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

#define MILTER_TAGS_MAX		100	/* headers added to one message, at most */
#define MILTER_ADDR_MAX		(RG_ADDR_INPUT_MAX + 1)

struct milter_tag {
	STAILQ_ENTRY(milter_tag) t_link;
	char			 t_value[sizeof(((struct rg_decision *)0)->d_header)];
};

struct milter_msg {
	char				 mm_sender[MILTER_ADDR_MAX];
	char				 mm_sasl[256];
	int				 mm_ntags;
	STAILQ_HEAD(, milter_tag)	 mm_tags;
};

struct milter_conn {
	char			 mc_client_name[256];
	char			 mc_client_addr[64];
	struct milter_msg	*mc_msg;
};

static void
milter_msg_free(struct milter_msg *m)
{
	struct milter_tag *t;

	if (m == NULL)
		return;
	while ((t = STAILQ_FIRST(&m->mm_tags)) != NULL) {
		STAILQ_REMOVE_HEAD(&m->mm_tags, t_link);
		free(t);
	}
	free(m);
}

static void
milter_conn_drop_msg(struct milter_conn *c)
{
	if (c != NULL) {
		milter_msg_free(c->mc_msg);
		c->mc_msg = NULL;
	}
}

/* ---- negotiation and connection --------------------------------------------- */

/* milter_negotiate - ask for RCPT and MAIL only, and SMFIF_ADDHDRS when a tag is possible. */
static sfsistat
milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	const unsigned long skip = SMFIP_NOHELO | SMFIP_NODATA | SMFIP_NOHDRS | SMFIP_NOEOH |
	    SMFIP_NOBODY | SMFIP_NOUNKNOWN;
	struct milter_state *st = milter_state_rdlock();
	int may_tag = st != NULL && st->ms_may_tag;

	milter_state_unlock();
	(void)f2;
	(void)f3;
	*pf0 = 0;
	if (may_tag) {
		if (f0 & SMFIF_ADDHDRS)
			*pf0 = SMFIF_ADDHDRS;
		else
			rg_log_warn("the MTA does not let filters add headers: tags are logged only");
	}
	*pf1 = f1 & skip;	/* only the steps the MTA can skip */
	*pf2 = 0;
	*pf3 = 0;
	/* The macros used, where the MTA lets filters ask (Postfix does). */
	smfi_setsymlist(ctx, SMFIM_CONNECT, "{client_addr}");
	smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {mail_addr}");
	smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i {rcpt_addr}");
	return SMFIS_CONTINUE;
}

int milter_connections;

static sfsistat
milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct milter_conn *c = calloc(1, sizeof(*c));
	const char *macro;

	if (c == NULL) {
		rg_log_error("out of memory for a connection: it is not verified");
		return SMFIS_ACCEPT;
	}
	rg_strlcpy(c->mc_client_name, hostname != NULL ? hostname : "", sizeof(c->mc_client_name));
	if ((macro = smfi_getsymval(ctx, "{client_addr}")) != NULL) {
		rg_strlcpy(c->mc_client_addr, macro, sizeof(c->mc_client_addr));
	} else if (hostaddr != NULL && hostaddr->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)hostaddr)->sin_addr,
		    c->mc_client_addr, sizeof(c->mc_client_addr));
	} else if (hostaddr != NULL && hostaddr->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)hostaddr)->sin6_addr,
		    c->mc_client_addr, sizeof(c->mc_client_addr));
	}
	smfi_setpriv(ctx, c);
	__atomic_add_fetch(&milter_connections, 1, __ATOMIC_RELAXED);
	return SMFIS_CONTINUE;
}

/* ---- the envelope ------------------------------------------------------------ */

/* milter_envfrom - a new message context: the sender and the SASL login. */
static sfsistat
milter_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	struct milter_msg *m;
	const char *macro;

	if (c == NULL)
		return SMFIS_ACCEPT;	/* no context (out of memory): not ours */
	milter_conn_drop_msg(c);
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		rg_log_error("out of memory for a message: it is not verified");
		return SMFIS_ACCEPT;
	}
	STAILQ_INIT(&m->mm_tags);
	if ((macro = smfi_getsymval(ctx, "{mail_addr}")) != NULL)
		rg_strlcpy(m->mm_sender, macro, sizeof(m->mm_sender));
	else
		milter_copy_addr(m->mm_sender, sizeof(m->mm_sender), argv != NULL ? argv[0] : NULL);
	if ((macro = smfi_getsymval(ctx, "{auth_authen}")) != NULL)
		rg_strlcpy(m->mm_sasl, macro, sizeof(m->mm_sasl));
	c->mc_msg = m;
	return SMFIS_CONTINUE;
}

/* milter_tag_add - keep a tag for the end of the message. */
static void
milter_tag_add(struct milter_msg *m, const char *value)
{
	struct milter_tag *t;

	if (m->mm_ntags >= MILTER_TAGS_MAX || (t = malloc(sizeof(*t))) == NULL) {
		rg_log_warn("too many tagged recipients in one message: a tag is logged only");
		return;
	}
	rg_strlcpy(t->t_value, value, sizeof(t->t_value));
	STAILQ_INSERT_TAIL(&m->mm_tags, t, t_link);
	m->mm_ntags++;
}

/* milter_envrcpt - decide one recipient and answer libmilter. */
static sfsistat
milter_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	struct milter_state *st;
	struct rg_policy_request req;
	struct rg_decision d;
	struct milter_reply r;
	char rcpt[MILTER_ADDR_MAX];
	const char *qid = smfi_getsymval(ctx, "i");

	if (c == NULL || c->mc_msg == NULL)
		return SMFIS_CONTINUE;
	milter_copy_addr(rcpt, sizeof(rcpt), argv != NULL ? argv[0] : NULL);
	if (rcpt[0] == '\0')
		return SMFIS_CONTINUE;
	memset(&req, 0, sizeof(req));
	req.pr_queue_id = qid;
	req.pr_recipient = rcpt;
	req.pr_recipient_len = strlen(rcpt);
	req.pr_sender = c->mc_msg->mm_sender;
	req.pr_client_address = c->mc_client_addr;
	req.pr_client_name = c->mc_client_name;
	req.pr_sasl_username = c->mc_msg->mm_sasl;

	if ((st = milter_state_rdlock()) == NULL) {
		d = milter_stopping;	/* the fail_mode decision, made while there was a policy */
		rg_policy_log(&req, NULL, &d);
	} else {
		milter_decide(st->ms_policy, st->ms_engine, st->ms_cfg.wait_budget * 1000, &req, &d);
	}
	milter_state_unlock();

	switch (milter_outcome(&d, &r)) {
	case MILTER_TAG:
		milter_tag_add(c->mc_msg, d.d_header);
		return SMFIS_CONTINUE;
	case MILTER_REJECT:
	case MILTER_TEMPFAIL:
		if (smfi_setreply(ctx, r.mr_code, r.mr_dsn, r.mr_text) != MI_SUCCESS)
			rg_log_warn("%s: the reply text was refused; the MTA's own is used",
			    qid != NULL ? qid : "NOQUEUE");
		return d.d_action == RG_ACTION_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
	case MILTER_CONTINUE:
		break;
	}
	return SMFIS_CONTINUE;
}

/* ---- end of message, abort, close ------------------------------------------- */

static sfsistat
milter_eom(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	struct milter_tag *t;

	if (c == NULL || c->mc_msg == NULL)
		return SMFIS_CONTINUE;
	STAILQ_FOREACH(t, &c->mc_msg->mm_tags, t_link)
		if (smfi_addheader(ctx, RG_POLICY_HEADER, t->t_value) != MI_SUCCESS)
			rg_log_warn("cannot add the %s header", RG_POLICY_HEADER);
	milter_conn_drop_msg(c);
	return SMFIS_CONTINUE;
}

static sfsistat
milter_abort(SMFICTX *ctx)
{
	milter_conn_drop_msg(smfi_getpriv(ctx));
	return SMFIS_CONTINUE;
}

static sfsistat
milter_close(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		milter_conn_drop_msg(c);
		free(c);
		smfi_setpriv(ctx, NULL);
		__atomic_sub_fetch(&milter_connections, 1, __ATOMIC_RELAXED);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
	.xxfi_name = "rcptguard",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS,	/* the most we may ask for; negotiate narrows it */
	.xxfi_connect = milter_connect,
	.xxfi_envfrom = milter_envfrom,
	.xxfi_envrcpt = milter_envrcpt,
	.xxfi_eom = milter_eom,
	.xxfi_abort = milter_abort,
	.xxfi_close = milter_close,
	.xxfi_negotiate = milter_negotiate,
};
