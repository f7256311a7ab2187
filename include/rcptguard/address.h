/*
 * address.h - parse and normalize an RFC 5321 Mailbox.
 *
 * The parser takes untrusted bytes with an explicit length, so an embedded
 * NUL is seen and refused like any other control byte. On success the
 * address is in its wire form: the local part as given (quoted only when it
 * has to be), the domain lower-cased and converted to A-labels. Only an
 * address that parsed here may ever be written to an SMTP session.
 */
#ifndef RG_ADDRESS_H
#define RG_ADDRESS_H

#include <stddef.h>

#define RG_ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define RG_ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define RG_ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, "<" and ">" included */
#define RG_ADDR_MAILBOX_MAX	(RG_ADDR_PATH_MAX - 2)
#define RG_ADDR_LABEL_MAX	63
#define RG_ADDR_INPUT_MAX	1024	/* longer input is refused before parsing */

/* Flags describing a parsed address. */
#define RG_ADDR_F_LITERAL	0x01u	/* domain is an address literal [..] */
#define RG_ADDR_F_NODOT		0x02u	/* domain has no dot: classified, not probed */
#define RG_ADDR_F_QUOTED	0x04u	/* local part needs quoting on the wire */
#define RG_ADDR_F_UTF8_LOCAL	0x08u	/* local part has UTF-8: needs SMTPUTF8 */
#define RG_ADDR_F_IDN		0x10u	/* domain was converted from U-labels */

/* Parse options. */
#define RG_ADDR_O_FOLD_LOCAL	0x01u	/* cache key compares local parts case-insensitively */

struct rg_address {
	char		a_local[RG_ADDR_LOCAL_MAX + 1];		/* wire form */
	char		a_domain[RG_ADDR_DOMAIN_MAX + 1];	/* A-label, lower case, or [literal] */
	char		a_mailbox[RG_ADDR_MAILBOX_MAX + 1];	/* local@domain, wire form */
	char		a_key[RG_ADDR_MAILBOX_MAX + 1];		/* cache key */
	unsigned	a_flags;
};

struct rg_address_error {
	const char	*e_detail;	/* static text: "control character", ... */
	size_t		 e_offset;	/* byte offset in the input */
};

/*
 * rg_address_parse - parse len bytes of in as a Mailbox, with or without
 * angle brackets (a source route is accepted and ignored, RFC 5321 C).
 * Returns 0 on success, -1 on bad syntax with err filled in.
 */
int rg_address_parse(const char *in, size_t len, unsigned opts,
    struct rg_address *addr, struct rg_address_error *err);

/*
 * rg_address_parse_domain - parse a bare domain name (no address literal)
 * into its A-label form. Returns 0 or -1 with err filled in.
 */
int rg_address_parse_domain(const char *in, size_t len, char *out, size_t outsize,
    unsigned *flags, struct rg_address_error *err);

#endif /* RG_ADDRESS_H */
