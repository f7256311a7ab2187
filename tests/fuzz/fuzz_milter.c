/*
 * fuzz_milter.c - libFuzzer target for rcptguard-milter's callbacks fed what
 * libmilter hands them: the client's name and address, the envelope
 * arguments (with or without angle brackets, any bytes) and the macros
 * (i, {client_addr}, {mail_addr}, {auth_authen}, {rcpt_addr}).
 *
 * milter/milter_filter.c is linked with a stand-in for the smfi_* calls it
 * makes, and with a real policy and engine thread whose cache holds a few
 * verdicts and whose resolver is a closed port. The input is split on NUL
 * into fields. Invariants: a reply code is 450 or 550 with a well-formed
 * enhanced code and printable text in which every '%' is doubled; a header
 * value is printable; every log line is printable; nothing crashes.
 */
#include "rg_build.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../milter/milter.h"
#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/store.h"
#include "rcptguard/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- what the callbacks see of libmilter ------------------------------------- */

#define FUZZ_FIELDS 10

struct smfi_str {
	void		*priv;
	const char	*macro_i;
	const char	*macro_client_addr;
	const char	*macro_mail_addr;
	const char	*macro_auth;
	const char	*macro_rcpt_addr;
};

void *
smfi_getpriv(SMFICTX *ctx)
{
	return ctx->priv;
}

int
smfi_setpriv(SMFICTX *ctx, void *priv)
{
	ctx->priv = priv;
	return MI_SUCCESS;
}

char *
smfi_getsymval(SMFICTX *ctx, char *name)
{
	const char *v = NULL;

	if (strcmp(name, "i") == 0)
		v = ctx->macro_i;
	else if (strcmp(name, "{client_addr}") == 0)
		v = ctx->macro_client_addr;
	else if (strcmp(name, "{mail_addr}") == 0)
		v = ctx->macro_mail_addr;
	else if (strcmp(name, "{auth_authen}") == 0)
		v = ctx->macro_auth;
	else if (strcmp(name, "{rcpt_addr}") == 0)
		v = ctx->macro_rcpt_addr;
	return (char *)v;
}

int
smfi_setsymlist(SMFICTX *ctx, int stage, char *macros)
{
	(void)ctx;
	(void)stage;
	(void)macros;
	return MI_SUCCESS;
}

static int
fuzz_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int
smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
	(void)ctx;
	if (strcmp(rcode, "450") != 0 && strcmp(rcode, "550") != 0 && strcmp(rcode, "451") != 0)
		abort();
	if (xcode == NULL || xcode[0] != rcode[0] || xcode[1] != '.' || !fuzz_printable(xcode))
		abort();
	if (message == NULL || !fuzz_printable(message))
		abort();
	/* libmilter drops a text with a lone '%': every one must be doubled. */
	for (const char *m = message; *m; m++)
		if (*m == '%' && *++m != '%')
			abort();
	return MI_SUCCESS;
}

int
smfi_addheader(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	if (!fuzz_printable(name) || !fuzz_printable(value))
		abort();
	return MI_SUCCESS;
}

/* ---- the state milter.c would keep ------------------------------------------- */

static pthread_rwlock_t fuzz_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct milter_state fuzz_state;
struct rg_decision milter_stopping;

struct milter_state *
milter_state_rdlock(void)
{
	pthread_rwlock_rdlock(&fuzz_lock);
	return &fuzz_state;
}

void
milter_state_unlock(void)
{
	pthread_rwlock_unlock(&fuzz_lock);
}

static void
fuzz_milter_log(enum rg_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	if (!fuzz_printable(line))
		abort();
}

static void
fuzz_milter_setup(void)
{
	struct rg_config *cfg = &fuzz_state.ms_cfg;
	char dir[] = "/tmp/rg-fuzz-milter-XXXXXX", err[1024];
	struct rg_store *c;
	struct rg_verdict v;
	int status;

	if (mkdtemp(dir) == NULL)
		abort();
	rg_log_init("fuzz_milter", RG_LOG_STDERR);
	rg_log_set_capture(fuzz_milter_log, NULL);
	rg_config_defaults(cfg);
	rg_strlcpy(cfg->state_dir, dir, sizeof(cfg->state_dir));
	rg_strlcpy(cfg->dns_servers, "127.0.0.1:1", sizeof(cfg->dns_servers));
	cfg->providers_file[0] = cfg->disposable_domains_file[0] = cfg->role_accounts_file[0] = '\0';
	rg_strlcpy(cfg->exempt_sasl_users, "trusted", sizeof(cfg->exempt_sasl_users));
	rg_strlcpy(cfg->exempt_client_networks, "198.51.100.0/24",
	    sizeof(cfg->exempt_client_networks));
	cfg->reason_action[RG_REASON_CATCH_ALL] = RG_ACTION_TAG;
	cfg->wait_budget = 0;	/* a miss answers at once: in progress */
	/* Verdicts of each class, so every action is reached. */
	if ((c = rg_store_open(cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err))) == NULL)
		abort();
	rg_verdict_make(&v, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, "no such user",
	    rg_clock_now(), 86400);
	rg_store_put(c, "ghost@dead.example", &v);
	rg_verdict_make(&v, RG_CLASS_RISKY, RG_REASON_CATCH_ALL, "%s %n 100% sure",
	    rg_clock_now(), 86400);
	rg_store_put(c, "any@catchall.example", &v);
	rg_verdict_make(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED, NULL, rg_clock_now(), 86400);
	rg_store_put(c, "alice@live.example", &v);
	rg_store_close(c);
	if ((fuzz_state.ms_policy = rg_policy_new(cfg, err, sizeof(err))) == NULL)
		abort();
	fuzz_state.ms_may_tag = 1;
	if ((fuzz_state.ms_engine = rg_engine_thread_start(cfg, -1, err, sizeof(err))) == NULL)
		abort();
	rg_policy_failed(fuzz_state.ms_policy, &milter_stopping);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[8192], *f[FUZZ_FIELDS];
	unsigned long pf0, pf1, pf2, pf3;
	struct smfi_str ctx;
	char *argv[2];
	size_t len;
	int n = 0;

	if (fuzz_state.ms_policy == NULL)
		fuzz_milter_setup();
	len = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
	memcpy(buf, data, len);
	buf[len] = '\0';
	/* Fields: host, client_addr, i, mail arg, mail_addr, auth, rcpt args... */
	for (char *p = buf; n < FUZZ_FIELDS; n++) {
		f[n] = p;
		p += strlen(p);
		if (p < buf + len)
			p++;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.macro_client_addr = f[1][0] ? f[1] : NULL;
	ctx.macro_i = f[2][0] ? f[2] : NULL;
	ctx.macro_mail_addr = f[4][0] ? f[4] : NULL;
	ctx.macro_auth = f[5][0] ? f[5] : NULL;
	milter_desc.xxfi_negotiate(&ctx, SMFIF_ADDHDRS, 0x1fffff, 0, 0, &pf0, &pf1, &pf2, &pf3);
	milter_desc.xxfi_connect(&ctx, f[0], NULL);
	argv[1] = NULL;
	argv[0] = f[3];
	milter_desc.xxfi_envfrom(&ctx, argv);
	for (int i = 6; i < FUZZ_FIELDS; i++) {
		ctx.macro_rcpt_addr = f[i];
		argv[0] = f[i];
		milter_desc.xxfi_envrcpt(&ctx, argv);
	}
	if (f[2][0] == 'A')
		milter_desc.xxfi_abort(&ctx);
	else
		milter_desc.xxfi_eom(&ctx);
	milter_desc.xxfi_close(&ctx);
	if (ctx.priv != NULL)
		abort();
	return 0;
}
