/*
 * address.c - RFC 5321 Mailbox parser and normalizer.
 *
 * Grammar (RFC 5321 4.1.2, with RFC 6531 UTF-8 extensions):
 *   Mailbox      = Local-part "@" ( Domain / address-literal )
 *   Local-part   = Dot-string / Quoted-string
 *   Dot-string   = Atom *("." Atom)
 *   Quoted-string = DQUOTE *( qtextSMTP / quoted-pairSMTP ) DQUOTE
 *   Domain       = sub-domain *("." sub-domain)
 *
 * SECURITY
 *   Every byte below 0x20 and 0x7f is refused anywhere in the input, before
 *   any other parsing, so no CR, LF or NUL survives into a normalized address.
 *   All output goes into fixed buffers whose limits are the RFC limits; input
 *   that would exceed them is refused, never truncated.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rcptguard/address.h"
#include "rcptguard/util.h"

#define RG_ADDR_FAIL(err, msg, off) do {		\
	(err)->e_detail = (msg);			\
	(err)->e_offset = (size_t)(off);		\
	return -1;					\
} while (0)

/* rg_address_is_atext - RFC 5322 atext, ASCII part. */
static int
rg_address_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/*
 * rg_address_utf8_len - length of the valid UTF-8 sequence at p (at most
 * avail bytes), or 0 when it is not one: overlong forms, surrogates and
 * code points above U+10FFFF are refused.
 */
static size_t
rg_address_utf8_len(const unsigned char *p, size_t avail)
{
	size_t n;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* rg_address_is_dot_string - whether s[0..len) is a valid Dot-string. */
static int
rg_address_is_dot_string(const unsigned char *s, size_t len)
{
	size_t i = 0;
	int need_atext = 1;

	if (len == 0)
		return 0;
	while (i < len) {
		if (s[i] == '.') {
			if (need_atext)
				return 0;
			need_atext = 1;
			i++;
		} else if (s[i] >= 0x80) {
			size_t n = rg_address_utf8_len(s + i, len - i);
			if (n == 0)
				return 0;
			i += n;
			need_atext = 0;
		} else if (rg_address_is_atext(s[i])) {
			i++;
			need_atext = 0;
		} else {
			return 0;
		}
	}
	return !need_atext;
}

/*
 * rg_address_local - parse the local part at in[*pos] up to '@'. Writes the
 * canonical wire form into out (quoted only when a Dot-string cannot carry
 * the content) and advances *pos to the '@'.
 */
static int
rg_address_local(const unsigned char *in, size_t len, size_t *pos, char *out,
    unsigned *flags, struct rg_address_error *err)
{
	unsigned char content[RG_ADDR_LOCAL_MAX + 1];
	size_t cl = 0, i = *pos, o = 0;
	int dot = -1;		/* content is a Dot-string: -1 not yet known */

	if (i < len && in[i] == '"') {
		/* Quoted-string: collect the unescaped content. */
		i++;
		for (;;) {
			unsigned char c;
			size_t n = 1;

			if (i >= len)
				RG_ADDR_FAIL(err, "unterminated quoted string", i);
			c = in[i];
			if (c == '"')
				break;
			if (c == '\\') {
				if (i + 1 >= len || in[i + 1] < 0x20 || in[i + 1] > 0x7e)
					RG_ADDR_FAIL(err, "bad quoted pair", i);
				c = in[++i];
			} else if (c >= 0x80) {
				if ((n = rg_address_utf8_len(in + i, len - i)) == 0)
					RG_ADDR_FAIL(err, "invalid UTF-8 in local part", i);
			} else if (c < 0x20 || c > 0x7e) {
				RG_ADDR_FAIL(err, "bad character in quoted string", i);
			}
			if (cl + n > RG_ADDR_LOCAL_MAX)
				RG_ADDR_FAIL(err, "local part too long", i);
			memcpy(content + cl, in + i, n);
			cl += n;
			i += n;
		}
		i++;	/* closing quote */
		if (i >= len || in[i] != '@')
			RG_ADDR_FAIL(err, "text after quoted local part", i);
	} else {
		size_t start = i;
		while (i < len && in[i] != '@')
			i++;
		if (i >= len)
			RG_ADDR_FAIL(err, "missing @", len);
		cl = i - start;
		if (cl == 0)
			RG_ADDR_FAIL(err, "empty local part", start);
		if (cl > RG_ADDR_LOCAL_MAX)
			RG_ADDR_FAIL(err, "local part too long", start);
		memcpy(content, in + start, cl);
		if ((dot = rg_address_is_dot_string(content, cl)) == 0) {
			/* Find the first offending byte for a precise message. */
			if (content[0] == '.')
				RG_ADDR_FAIL(err, "dot at start of local part", start);
			if (content[cl - 1] == '.')
				RG_ADDR_FAIL(err, "dot at end of local part", start + cl - 1);
			for (size_t k = 0; k < cl; k++) {
				if (content[k] == '.' && k + 1 < cl && content[k + 1] == '.')
					RG_ADDR_FAIL(err, "consecutive dots in local part", start + k);
				if (content[k] >= 0x80 && rg_address_utf8_len(content + k, cl - k) == 0)
					RG_ADDR_FAIL(err, "invalid UTF-8 in local part", start + k);
				if (content[k] < 0x80 && content[k] != '.' && !rg_address_is_atext(content[k]))
					RG_ADDR_FAIL(err, "bad character in local part", start + k);
			}
			RG_ADDR_FAIL(err, "bad local part", start);
		}
	}
	if (cl == 0)
		RG_ADDR_FAIL(err, "empty local part", *pos);

	for (size_t k = 0; k < cl; k++)
		if (content[k] >= 0x80)
			*flags |= RG_ADDR_F_UTF8_LOCAL;

	if (dot < 0)
		dot = rg_address_is_dot_string(content, cl);
	if (dot) {
		/* "john"@x and john@x are the same mailbox: the unquoted form is canonical. */
		memcpy(out, content, cl);
		o = cl;
	} else {
		*flags |= RG_ADDR_F_QUOTED;
		out[o++] = '"';
		for (size_t k = 0; k < cl; k++) {
			if (content[k] == '"' || content[k] == '\\') {
				if (o + 2 > RG_ADDR_LOCAL_MAX)
					RG_ADDR_FAIL(err, "local part too long", *pos);
				out[o++] = '\\';
			}
			if (o + 1 > RG_ADDR_LOCAL_MAX)
				RG_ADDR_FAIL(err, "local part too long", *pos);
			out[o++] = (char)content[k];
		}
		if (o + 1 > RG_ADDR_LOCAL_MAX)
			RG_ADDR_FAIL(err, "local part too long", *pos);
		out[o++] = '"';
	}
	out[o] = '\0';
	*pos = i;
	return 0;
}

/* rg_address_check_ldh - validate an ASCII domain name label by label. */
static int
rg_address_check_ldh(const char *d, size_t base, struct rg_address_error *err)
{
	size_t len = strlen(d), i = 0, label_start = 0;
	int all_digits = 1;

	if (len == 0)
		RG_ADDR_FAIL(err, "empty domain", base);
	if (len > RG_ADDR_DOMAIN_MAX)
		RG_ADDR_FAIL(err, "domain too long", base);
	for (i = 0; i <= len; i++) {
		char c = d[i];
		if (c == '.' || c == '\0') {
			size_t ll = i - label_start;
			if (ll == 0) {
				if (c == '\0' && i > 0)
					RG_ADDR_FAIL(err, "trailing dot in domain", base + i - 1);
				RG_ADDR_FAIL(err, "empty label in domain", base + i);
			}
			if (ll > RG_ADDR_LABEL_MAX)
				RG_ADDR_FAIL(err, "label too long", base + label_start);
			if (d[label_start] == '-' || d[i - 1] == '-')
				RG_ADDR_FAIL(err, "hyphen at start or end of label", base + label_start);
			if (c == '\0' && all_digits)
				RG_ADDR_FAIL(err, "numeric top-level label", base + label_start);
			label_start = i + 1;
			all_digits = 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			RG_ADDR_FAIL(err, "bad character in domain", base + i);
		if (c < '0' || c > '9')
			all_digits = 0;
	}
	return 0;
}

int
rg_address_parse_domain(const char *in, size_t len, char *out, size_t outsize,
    unsigned *flags, struct rg_address_error *err)
{
	char buf[RG_ADDR_DOMAIN_MAX * 4 + 1];
	const unsigned char *u = (const unsigned char *)in;
	int utf8 = 0;

	if (len == 0)
		RG_ADDR_FAIL(err, "empty domain", 0);
	if (len >= sizeof(buf))
		RG_ADDR_FAIL(err, "domain too long", 0);
	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			RG_ADDR_FAIL(err, "control character", i);
		if (u[i] >= 0x80) {
			size_t n = rg_address_utf8_len(u + i, len - i);
			if (n == 0)
				RG_ADDR_FAIL(err, "invalid UTF-8 in domain", i);
			utf8 = 1;
			i += n - 1;
		}
	}
	memcpy(buf, in, len);
	buf[len] = '\0';

	if (utf8) {
		char *alabel = NULL;
		int rc;

		/* An empty label or trailing dot is a syntax error before IDNA gets a say. */
		if (buf[0] == '.' || strstr(buf, "..") != NULL)
			RG_ADDR_FAIL(err, "empty label in domain", 0);
		if (buf[len - 1] == '.')
			RG_ADDR_FAIL(err, "trailing dot in domain", len - 1);
		rc = idn2_lookup_u8((const uint8_t *)buf, (uint8_t **)&alabel,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK)
			RG_ADDR_FAIL(err, "invalid internationalized domain", 0);
		if (rg_strlcpy(buf, alabel, sizeof(buf)) >= sizeof(buf)) {
			idn2_free(alabel);
			RG_ADDR_FAIL(err, "domain too long", 0);
		}
		idn2_free(alabel);
		if (flags != NULL)
			*flags |= RG_ADDR_F_IDN;
	}
	if (rg_address_check_ldh(buf, 0, err) < 0) {
		/* Offsets in an A-label do not map to the input: point at the domain. */
		if (utf8)
			err->e_offset = 0;
		return -1;
	}
	rg_strlower(buf);
	if (rg_strlcpy(out, buf, outsize) >= outsize)
		RG_ADDR_FAIL(err, "domain too long", 0);
	if (flags != NULL && strchr(buf, '.') == NULL)
		*flags |= RG_ADDR_F_NODOT;
	return 0;
}

/* rg_address_literal - validate "[...]" and write its canonical form. */
static int
rg_address_literal(const char *in, size_t len, size_t base, char *out, size_t outsize,
    struct rg_address_error *err)
{
	char body[RG_ADDR_DOMAIN_MAX + 1], txt[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];

	if (len < 2 || in[len - 1] != ']')
		RG_ADDR_FAIL(err, "unterminated address literal", base + len);
	if (len > RG_ADDR_DOMAIN_MAX)
		RG_ADDR_FAIL(err, "domain too long", base);
	memcpy(body, in + 1, len - 2);
	body[len - 2] = '\0';
	if (strncasecmp(body, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, body + 5, bin) != 1)
			RG_ADDR_FAIL(err, "bad IPv6 address literal", base + 1);
		inet_ntop(AF_INET6, bin, txt, sizeof(txt));
		rg_strlcpy(out, "[IPv6:", outsize);
		rg_strlcat(out, txt, outsize);
		rg_strlcat(out, "]", outsize);
		return 0;
	}
	if (inet_pton(AF_INET, body, bin) != 1)
		RG_ADDR_FAIL(err, "bad address literal", base + 1);
	rg_strlcpy(out, "[", outsize);
	rg_strlcat(out, body, outsize);
	rg_strlcat(out, "]", outsize);
	return 0;
}

/* rg_address_parse_in - rg_address_parse proper: brackets, local part, domain, key. */
static int
rg_address_parse_in(const char *input, size_t len, unsigned opts,
    struct rg_address *addr, struct rg_address_error *err)
{
	const unsigned char *in = (const unsigned char *)input;
	size_t pos = 0, end = len, at;
	size_t ll, dl;

	err->e_detail = NULL;
	err->e_offset = 0;

	if (len == 0)
		RG_ADDR_FAIL(err, "empty address", 0);
	if (len > RG_ADDR_INPUT_MAX)
		RG_ADDR_FAIL(err, "address too long", RG_ADDR_INPUT_MAX);
	/* First and before anything else: no control byte passes. */
	for (size_t i = 0; i < len; i++)
		if (in[i] < 0x20 || in[i] == 0x7f)
			RG_ADDR_FAIL(err, "control character", i);

	if (in[0] == '<') {
		if (in[len - 1] != '>')
			RG_ADDR_FAIL(err, "unbalanced angle brackets", len - 1);
		pos = 1;
		end = len - 1;
		if (end == pos)
			RG_ADDR_FAIL(err, "null address", 0);
		/* A-d-l ":" : a source route, accepted and ignored (RFC 5321 4.1.2, C). */
		if (in[pos] == '@') {
			while (pos < end && in[pos] != ':') {
				if (in[pos] == '"' || in[pos] == '<' || in[pos] == '>')
					RG_ADDR_FAIL(err, "bad source route", pos);
				pos++;
			}
			if (pos >= end)
				RG_ADDR_FAIL(err, "bad source route", pos);
			pos++;
		}
	} else if (in[len - 1] == '>') {
		RG_ADDR_FAIL(err, "unbalanced angle brackets", len - 1);
	}
	if (pos >= end)
		RG_ADDR_FAIL(err, "empty address", pos);

	if (rg_address_local(in, end, &pos, addr->a_local, &addr->a_flags, err) < 0)
		return -1;
	at = pos;
	if (at + 1 >= end)
		RG_ADDR_FAIL(err, "empty domain", at + 1);

	if (in[at + 1] == '[') {
		if (rg_address_literal(input + at + 1, end - at - 1, at + 1, addr->a_domain,
		    sizeof(addr->a_domain), err) < 0)
			return -1;
		addr->a_flags |= RG_ADDR_F_LITERAL;
	} else {
		for (size_t i = at + 1; i < end; i++)
			if (in[i] == '@')
				RG_ADDR_FAIL(err, "bad character in domain", i);
		if (rg_address_parse_domain(input + at + 1, end - at - 1, addr->a_domain,
		    sizeof(addr->a_domain), &addr->a_flags, err) < 0) {
			err->e_offset += at + 1;
			return -1;
		}
	}

	ll = strlen(addr->a_local);
	dl = strlen(addr->a_domain);
	if (ll + 1 + dl > RG_ADDR_MAILBOX_MAX)
		RG_ADDR_FAIL(err, "path too long", 0);
	memcpy(addr->a_mailbox, addr->a_local, ll);
	addr->a_mailbox[ll] = '@';
	memcpy(addr->a_mailbox + ll + 1, addr->a_domain, dl + 1);

	memcpy(addr->a_key, addr->a_mailbox, ll + 1 + dl + 1);
	if (opts & RG_ADDR_O_FOLD_LOCAL) {
		/* ASCII folding only; UTF-8 local parts compare as given. */
		for (size_t i = 0; i < ll; i++)
			if (addr->a_key[i] >= 'A' && addr->a_key[i] <= 'Z')
				addr->a_key[i] = (char)(addr->a_key[i] - 'A' + 'a');
	}
	return 0;
}

int
rg_address_parse(const char *input, size_t len, unsigned opts,
    struct rg_address *addr, struct rg_address_error *err)
{
	/* Strings, not whole buffers: a lookup per request need not clear a kilobyte. */
	addr->a_flags = 0;
	if (rg_address_parse_in(input, len, opts, addr, err) < 0) {
		/* What a failed parse leaves behind is never half a string. */
		addr->a_local[0] = addr->a_domain[0] = addr->a_mailbox[0] = addr->a_key[0] = '\0';
		return -1;
	}
	return 0;
}
