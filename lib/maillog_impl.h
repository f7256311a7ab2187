/*
 * maillog_impl.h - what the files of the maillog module share: the cursor
 * over one line, the field readers, the timestamps. Not a public header:
 * maillog.h is the module's interface.
 */
#ifndef RG_MAILLOG_IMPL_H
#define RG_MAILLOG_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rcptguard/maillog.h"

/* A cursor over a line of known length: nothing is read at or past end. */
struct rg_ml_cur {
	const char	*p;
	const char	*end;
};

/* rg_maillog_lit - the same for a string literal (only: the macro refuses anything else). */
#define rg_maillog_lit(c, lit)	rg_maillog_litn((c), "" lit "", sizeof(lit) - 1)

/* Character classes of the fields copied out of a line. */
#define RG_ML_ALNUM	0x01u	/* queue ids */
#define RG_ML_HOST	0x02u	/* host names: letters, digits, . - _ */
#define RG_ML_IP	0x04u	/* IPv4 and IPv6 literals: hex digits, . : */
#define RG_ML_PROG	0x08u	/* syslog tags: host characters and / */
#define RG_ML_DSN	0x10u	/* enhanced status codes: digits and . */

/* rg_maillog_classes - the classes of each byte (maillog_scan.c). */
extern const unsigned char rg_maillog_classes[256];

/* rg_maillog_class - the classes byte c belongs to. */
static inline unsigned
rg_maillog_class(unsigned char c)
{
	return rg_maillog_classes[c];
}

/*
 * A timestamp as read; turned into a Unix time only for a delivery record
 * (rg_maillog_when), since mktime() looks at the time zone file each time.
 */
enum rg_ml_stamp_kind {
	RG_ML_STAMP_NONE,
	RG_ML_STAMP_LOCAL,	/* a local wall-clock time */
	RG_ML_STAMP_NOYEAR,	/* the same, without the year */
	RG_ML_STAMP_OFFSET,	/* with its offset from UTC */
};

struct rg_ml_stamp {
	enum rg_ml_stamp_kind	 kind;
	struct tm		 tm;
	int			 offset;	/* seconds east of UTC */
};

/* Field readers (maillog_scan.c); each says what it reads. */
int rg_maillog_litn(struct rg_ml_cur *c, const char *lit, size_t n);
int64_t rg_maillog_when(struct rg_ml_stamp *st, int64_t now);
int rg_maillog_stamp_rfc3339(struct rg_ml_cur *c, struct rg_ml_stamp *st);
int rg_maillog_stamp_bsd(struct rg_ml_cur *c, struct rg_ml_stamp *st);
int rg_maillog_stamp_exim(struct rg_ml_cur *c, struct rg_ml_stamp *st);
int rg_maillog_token(struct rg_ml_cur *c, struct rg_maillog_span *out);
int rg_maillog_address(struct rg_ml_cur *c, char close, struct rg_maillog_span *out);
int rg_maillog_copy(char *dst, size_t size, const char *src, size_t len, unsigned cls);
void rg_maillog_set_relay(struct rg_maillog_entry *e, const char *host, size_t hlen,
    const char *addr, size_t alen);
int rg_maillog_port(const char *p, const char *end);
int rg_maillog_reply(struct rg_maillog_entry *e, const char *p, size_t len);
enum rg_maillog_stage rg_maillog_stage_of(const char *p, size_t len);
const char *rg_maillog_memrstr(const char *p, size_t len, const char *needle);
const char *rg_maillog_memstr(const char *p, size_t len, const char *needle);

/* The Postfix and the Exim reader of one line after its stamp. */
int rg_maillog_postfix(struct rg_ml_cur *c, int stamped, struct rg_maillog_entry *e);
int rg_maillog_exim(struct rg_ml_cur *c, struct rg_maillog_entry *e);
int rg_maillog_exim_id(struct rg_ml_cur *c, struct rg_maillog_entry *e);

#endif /* RG_MAILLOG_IMPL_H */
