/*
 * record.c - the cursor over record bytes and the codec of every record
 * type of the cache (record.h).
 *
 * Layouts, after the common header (all integers little-endian):
 *   verdict 'v' 3  refresh_at i64, checked_at i64, class u8, reason u8,
 *                  flags u16, code u16, attempts u16, retry_reason u8,
 *                  source u8, dsn str8, mx str8, text str16, qid str8
 *                  (version 2, without source and qid, and version 1,
 *                  also without retry_reason, are still read: source
 *                  probe)
 *   domain  'd' 2  catch_all u8, catch_all_until i64, dns_reason u8,
 *                  dns_until i64, cooldown_until i64, source_index u8,
 *                  cooldown_level u8, rcpt_per_txn u16, rcpt_per_session
 *                  u16, limits_until i64 (version 1 ends after
 *                  cooldown_level, and is still read)
 *   mx      'm' 1  nhosts u8, implicit u8, then per host: pref u16,
 *                  name str8, naddrs u8, per address: 4 + 4 bytes or
 *                  6 + 16 bytes
 *   lease   'l' 1  pid u32, token u64
 *   bucket  'b' 1  tokens i64 (thousandths), updated i64 (ms)
 *   mark    'f' 1  first i64
 *   retry   't' 1  due i64, attempt u16, reason u8, source u8, pid u32,
 *                  token u64
 *
 * SECURITY
 *   Records come from a file other processes write, and may be damaged or
 *   of another version. Every read is bounds-checked by the cursor; every
 *   enum is range-checked and every string checked for printable ASCII
 *   before a decoder reports success.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "rcptguard/record.h"

void
rg_record_writer_init(struct rg_record_writer *w, void *buf, size_t size)
{
	w->w_buf = buf;
	w->w_size = size;
	w->w_len = 0;
	w->w_err = 0;
}

/* rg_record_room - whether n more bytes fit; records the failure when not. */
static int
rg_record_room(struct rg_record_writer *w, size_t n)
{
	if (w->w_err || w->w_size - w->w_len < n) {
		w->w_err = 1;
		return 0;
	}
	return 1;
}

/* rg_record_put_le - n bytes of x, least significant first. */
static void
rg_record_put_le(struct rg_record_writer *w, uint64_t x, size_t n)
{
	if (!rg_record_room(w, n))
		return;
	for (size_t i = 0; i < n; i++)
		w->w_buf[w->w_len++] = (unsigned char)(x >> (8 * i));
}

void
rg_record_put_u8(struct rg_record_writer *w, uint8_t x)
{
	rg_record_put_le(w, x, 1);
}

void
rg_record_put_u16(struct rg_record_writer *w, uint16_t x)
{
	rg_record_put_le(w, x, 2);
}

void
rg_record_put_u32(struct rg_record_writer *w, uint32_t x)
{
	rg_record_put_le(w, x, 4);
}

void
rg_record_put_u64(struct rg_record_writer *w, uint64_t x)
{
	rg_record_put_le(w, x, 8);
}

void
rg_record_put_i64(struct rg_record_writer *w, int64_t x)
{
	rg_record_put_le(w, (uint64_t)x, 8);
}

void
rg_record_put_bytes(struct rg_record_writer *w, const void *p, size_t n)
{
	if (!rg_record_room(w, n))
		return;
	if (n > 0)
		memcpy(w->w_buf + w->w_len, p, n);
	w->w_len += n;
}

void
rg_record_put_str8(struct rg_record_writer *w, const char *s, size_t n)
{
	if (n > 0xff) {
		w->w_err = 1;
		return;
	}
	rg_record_put_u8(w, (uint8_t)n);
	rg_record_put_bytes(w, s, n);
}

void
rg_record_put_str16(struct rg_record_writer *w, const char *s, size_t n)
{
	if (n > 0xffff) {
		w->w_err = 1;
		return;
	}
	rg_record_put_u16(w, (uint16_t)n);
	rg_record_put_bytes(w, s, n);
}

void
rg_record_put_header(struct rg_record_writer *w, enum rg_record_type type, uint8_t version,
    int64_t expires_at)
{
	rg_record_put_u8(w, 'r');
	rg_record_put_u8(w, 'g');
	rg_record_put_u8(w, (uint8_t)type);
	rg_record_put_u8(w, version);
	rg_record_put_i64(w, expires_at);
}

size_t
rg_record_writer_end(const struct rg_record_writer *w)
{
	return w->w_err ? 0 : w->w_len;
}

void
rg_record_reader_init(struct rg_record_reader *r, const void *buf, size_t len)
{
	r->r_buf = buf;
	r->r_len = len;
	r->r_pos = 0;
	r->r_err = 0;
}

/* rg_record_take - the next n bytes, or NULL (and r_err) when they are not there. */
static const unsigned char *
rg_record_take(struct rg_record_reader *r, size_t n)
{
	const unsigned char *p;

	if (r->r_err || r->r_len - r->r_pos < n) {
		r->r_err = 1;
		return NULL;
	}
	p = r->r_buf + r->r_pos;
	r->r_pos += n;
	return p;
}

/* rg_record_get_le - n bytes, least significant first; 0 when short. */
static uint64_t
rg_record_get_le(struct rg_record_reader *r, size_t n)
{
	const unsigned char *p = rg_record_take(r, n);
	uint64_t x = 0;

	if (p == NULL)
		return 0;
	for (size_t i = n; i > 0; i--)
		x = (x << 8) | p[i - 1];
	return x;
}

uint8_t
rg_record_get_u8(struct rg_record_reader *r)
{
	return (uint8_t)rg_record_get_le(r, 1);
}

uint16_t
rg_record_get_u16(struct rg_record_reader *r)
{
	return (uint16_t)rg_record_get_le(r, 2);
}

uint32_t
rg_record_get_u32(struct rg_record_reader *r)
{
	return (uint32_t)rg_record_get_le(r, 4);
}

uint64_t
rg_record_get_u64(struct rg_record_reader *r)
{
	return rg_record_get_le(r, 8);
}

int64_t
rg_record_get_i64(struct rg_record_reader *r)
{
	return (int64_t)rg_record_get_le(r, 8);
}

void
rg_record_get_bytes(struct rg_record_reader *r, void *dst, size_t n)
{
	const unsigned char *p = rg_record_take(r, n);

	if (p != NULL && n > 0)
		memcpy(dst, p, n);
}

/* rg_record_get_str - n bytes of printable ASCII into dst; r_err otherwise. */
static void
rg_record_get_str(struct rg_record_reader *r, size_t n, char *dst, size_t max, int nospace)
{
	const unsigned char *p;

	dst[0] = '\0';
	if (n > max) {
		r->r_err = 1;
		return;
	}
	if ((p = rg_record_take(r, n)) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < (nospace ? 0x21 : 0x20) || p[i] >= 0x7f) {
			r->r_err = 1;
			dst[0] = '\0';
			return;
		}
		dst[i] = (char)p[i];
	}
	dst[n] = '\0';
}

void
rg_record_get_str8(struct rg_record_reader *r, char *dst, size_t max, int nospace)
{
	size_t n = rg_record_get_u8(r);

	if (r->r_err) {
		dst[0] = '\0';
		return;
	}
	rg_record_get_str(r, n, dst, max, nospace);
}

void
rg_record_get_str16(struct rg_record_reader *r, char *dst, size_t max)
{
	size_t n = rg_record_get_u16(r);

	if (r->r_err) {
		dst[0] = '\0';
		return;
	}
	rg_record_get_str(r, n, dst, max, 0);
}

int
rg_record_get_header(struct rg_record_reader *r, enum rg_record_type type, uint8_t version,
    int64_t *expires_at)
{
	return rg_record_get_header_range(r, type, version, version, NULL, expires_at);
}

int
rg_record_get_header_range(struct rg_record_reader *r, enum rg_record_type type, uint8_t oldest,
    uint8_t newest, uint8_t *version, int64_t *expires_at)
{
	const unsigned char *p;
	int64_t exp;

	if (r->r_len - r->r_pos < 4)
		return RG_RECORD_ECORRUPT;
	p = r->r_buf + r->r_pos;
	if (p[0] != 'r' || p[1] != 'g' || p[2] != (unsigned char)type)
		return RG_RECORD_ECORRUPT;
	if (p[3] < oldest || p[3] > newest)
		return RG_RECORD_EVERSION;
	if (version != NULL)
		*version = p[3];
	r->r_pos += 4;
	exp = rg_record_get_i64(r);
	if (r->r_err)
		return RG_RECORD_ECORRUPT;
	if (expires_at != NULL)
		*expires_at = exp;
	return RG_RECORD_OK;
}

int
rg_record_reader_end(const struct rg_record_reader *r)
{
	return !r->r_err && r->r_pos == r->r_len ? RG_RECORD_OK : RG_RECORD_ECORRUPT;
}

int
rg_record_expires(const void *buf, size_t len, int64_t *expires_at)
{
	const unsigned char *p = buf;
	struct rg_record_reader r;

	/* Version 0 was never written: such bytes are not a record. */
	if (len < RG_RECORD_HDR || p[0] != 'r' || p[1] != 'g' || p[3] == 0)
		return -1;
	rg_record_reader_init(&r, p + 4, len - 4);
	*expires_at = rg_record_get_i64(&r);
	return 0;
}

int64_t
rg_record_age(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	struct rg_verdict v;
	int64_t exp;

	if (len >= 3 && p[2] == RG_RECORD_VERDICT)
		return rg_record_verdict_decode(buf, len, &v) == RG_RECORD_OK ? v.v_checked_at : 0;
	return rg_record_expires(buf, len, &exp) == 0 ? exp : 0;
}

size_t
rg_record_verdict_encode(const struct rg_verdict *v, void *buf, size_t size)
{
	struct rg_record_writer w;

	rg_record_writer_init(&w, buf, size);
	rg_record_put_header(&w, RG_RECORD_VERDICT, RG_RECORD_VERDICT_VERSION, v->v_expires_at);
	rg_record_put_i64(&w, v->v_refresh_at);
	rg_record_put_i64(&w, v->v_checked_at);
	rg_record_put_u8(&w, (uint8_t)v->v_class);
	rg_record_put_u8(&w, (uint8_t)v->v_reason);
	rg_record_put_u16(&w, (uint16_t)v->v_flags);
	rg_record_put_u16(&w, v->v_code);
	rg_record_put_u16(&w, v->v_attempts);
	rg_record_put_u8(&w, (uint8_t)v->v_retry_reason);
	rg_record_put_u8(&w, (uint8_t)v->v_source);
	rg_record_put_str8(&w, v->v_dsn, strnlen(v->v_dsn, RG_VERDICT_DSN_MAX));
	rg_record_put_str8(&w, v->v_mx, strnlen(v->v_mx, RG_VERDICT_MX_MAX));
	rg_record_put_str16(&w, v->v_text, strnlen(v->v_text, RG_VERDICT_TEXT_MAX));
	rg_record_put_str8(&w, v->v_qid, strnlen(v->v_qid, RG_VERDICT_QID_MAX));
	return rg_record_writer_end(&w);
}

int
rg_record_verdict_decode(const void *buf, size_t len, struct rg_verdict *v)
{
	struct rg_record_reader r;
	uint8_t vclass, reason, retry = 0, source = RG_SOURCE_PROBE, version = 0;
	int rc;

	memset(v, 0, sizeof(*v));
	rg_record_reader_init(&r, buf, len);
	if ((rc = rg_record_get_header_range(&r, RG_RECORD_VERDICT, 1, RG_RECORD_VERDICT_VERSION,
	    &version, &v->v_expires_at)) != RG_RECORD_OK)
		return rc;
	v->v_refresh_at = rg_record_get_i64(&r);
	v->v_checked_at = rg_record_get_i64(&r);
	vclass = rg_record_get_u8(&r);
	reason = rg_record_get_u8(&r);
	v->v_flags = rg_record_get_u16(&r);
	v->v_code = rg_record_get_u16(&r);
	v->v_attempts = rg_record_get_u16(&r);
	if (version >= 2)
		retry = rg_record_get_u8(&r);
	if (version >= 3)
		source = rg_record_get_u8(&r);
	if (r.r_err || vclass >= RG_CLASS_COUNT || reason >= RG_REASON_COUNT ||
	    retry >= RG_REASON_COUNT || source >= RG_SOURCE_COUNT)
		return RG_RECORD_ECORRUPT;
	v->v_source = (enum rg_source)source;
	v->v_class = (enum rg_class)vclass;
	v->v_reason = (enum rg_reason)reason;
	v->v_retry_reason = (enum rg_reason)retry;
	rg_record_get_str8(&r, v->v_dsn, RG_VERDICT_DSN_MAX, 0);
	rg_record_get_str8(&r, v->v_mx, RG_VERDICT_MX_MAX, 0);
	rg_record_get_str16(&r, v->v_text, RG_VERDICT_TEXT_MAX);
	if (version >= 3)
		rg_record_get_str8(&r, v->v_qid, RG_VERDICT_QID_MAX, 1);
	return rg_record_reader_end(&r);
}

size_t
rg_record_domain_encode(const struct rg_domain_record *d, void *buf, size_t size)
{
	struct rg_record_writer w;
	int64_t exp = d->d_catch_all_until;

	if (d->d_dns_until > exp)
		exp = d->d_dns_until;
	if (d->d_cooldown_until > exp)
		exp = d->d_cooldown_until;
	rg_record_writer_init(&w, buf, size);
	if (d->d_limits_until > exp)
		exp = d->d_limits_until;
	rg_record_put_header(&w, RG_RECORD_DOMAIN, RG_RECORD_DOMAIN_VERSION, exp);
	rg_record_put_u8(&w, d->d_catch_all);
	rg_record_put_i64(&w, d->d_catch_all_until);
	rg_record_put_u8(&w, d->d_dns_reason);
	rg_record_put_i64(&w, d->d_dns_until);
	rg_record_put_i64(&w, d->d_cooldown_until);
	rg_record_put_u8(&w, d->d_source_index);
	rg_record_put_u8(&w, d->d_cooldown_level);
	rg_record_put_u16(&w, d->d_rcpt_per_txn);
	rg_record_put_u16(&w, d->d_rcpt_per_session);
	rg_record_put_i64(&w, d->d_limits_until);
	return rg_record_writer_end(&w);
}

int
rg_record_domain_decode(const void *buf, size_t len, struct rg_domain_record *d)
{
	struct rg_record_reader r;
	uint8_t version = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	rg_record_reader_init(&r, buf, len);
	/* Version 1 (before the learned recipient limits) reads as having none. */
	if ((rc = rg_record_get_header_range(&r, RG_RECORD_DOMAIN, 1, RG_RECORD_DOMAIN_VERSION,
	    &version, NULL)) != RG_RECORD_OK)
		return rc;
	d->d_catch_all = rg_record_get_u8(&r);
	d->d_catch_all_until = rg_record_get_i64(&r);
	d->d_dns_reason = rg_record_get_u8(&r);
	d->d_dns_until = rg_record_get_i64(&r);
	d->d_cooldown_until = rg_record_get_i64(&r);
	d->d_source_index = rg_record_get_u8(&r);
	d->d_cooldown_level = rg_record_get_u8(&r);
	if (version >= 2) {
		d->d_rcpt_per_txn = rg_record_get_u16(&r);
		d->d_rcpt_per_session = rg_record_get_u16(&r);
		d->d_limits_until = rg_record_get_i64(&r);
	}
	if (d->d_catch_all > RG_CATCH_ALL_YES)
		d->d_catch_all = RG_CATCH_ALL_UNKNOWN;
	if (d->d_dns_reason >= RG_REASON_COUNT)
		d->d_dns_reason = 0;
	/* A damaged level would make the cooldown shift undefined. */
	if (d->d_cooldown_level > RG_COOLDOWN_LEVEL_MAX)
		return RG_RECORD_ECORRUPT;
	return rg_record_reader_end(&r);
}

/* rg_record_mx_put_addr - one address: family tag, then its bytes. */
static void
rg_record_mx_put_addr(struct rg_record_writer *w, const struct sockaddr_storage *ss)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;

	if (sa->sa_family == AF_INET) {
		rg_record_put_u8(w, 4);
		rg_record_put_bytes(w, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else {
		rg_record_put_u8(w, 6);
		rg_record_put_bytes(w, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	}
}

size_t
rg_record_mx_encode(const struct rg_mx_result *res, int64_t expires_at, void *buf, size_t size)
{
	struct rg_record_writer w;

	if (res->m_status != RG_DNS_OK)
		return 0;
	rg_record_writer_init(&w, buf, size);
	rg_record_put_header(&w, RG_RECORD_MX, 1, expires_at);
	rg_record_put_u8(&w, (uint8_t)res->m_nhosts);
	rg_record_put_u8(&w, (uint8_t)(res->m_implicit != 0));
	for (int i = 0; i < res->m_nhosts; i++) {
		const struct rg_mx_host *h = &res->m_hosts[i];

		rg_record_put_u16(&w, (uint16_t)h->h_pref);
		rg_record_put_str8(&w, h->h_name, strlen(h->h_name));
		rg_record_put_u8(&w, (uint8_t)h->h_naddrs);
		for (int a = 0; a < h->h_naddrs; a++)
			rg_record_mx_put_addr(&w, &h->h_addrs[a]);
	}
	return rg_record_writer_end(&w);
}

/* rg_record_mx_get_addr - one address of host h; -1 when damaged. */
static int
rg_record_mx_get_addr(struct rg_record_reader *r, struct rg_mx_host *h, int a)
{
	uint8_t fam = rg_record_get_u8(r);

	if (fam == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&h->h_addrs[a];
		sin->sin_family = AF_INET;
		sin->sin_port = htons(25);
		rg_record_get_bytes(r, &sin->sin_addr, 4);
		h->h_addrlens[a] = sizeof(*sin);
	} else if (fam == 6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&h->h_addrs[a];
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(25);
		rg_record_get_bytes(r, &sin6->sin6_addr, 16);
		h->h_addrlens[a] = sizeof(*sin6);
	} else {
		return -1;
	}
	return r->r_err ? -1 : 0;
}

int
rg_record_mx_decode(const void *buf, size_t len, struct rg_mx_result *res, int64_t *expires_at)
{
	struct rg_record_reader r;
	int rc;

	memset(res, 0, sizeof(*res));
	rg_record_reader_init(&r, buf, len);
	if ((rc = rg_record_get_header(&r, RG_RECORD_MX, 1, expires_at)) != RG_RECORD_OK)
		return rc;
	res->m_nhosts = rg_record_get_u8(&r);
	res->m_implicit = rg_record_get_u8(&r) != 0;
	if (r.r_err || res->m_nhosts < 1 || res->m_nhosts > RG_DNS_MAX_HOSTS)
		return RG_RECORD_ECORRUPT;
	for (int i = 0; i < res->m_nhosts; i++) {
		struct rg_mx_host *h = &res->m_hosts[i];

		h->h_pref = rg_record_get_u16(&r);
		rg_record_get_str8(&r, h->h_name, RG_DNS_NAME_MAX, 1);
		h->h_naddrs = rg_record_get_u8(&r);
		if (r.r_err || h->h_name[0] == '\0' || h->h_naddrs > RG_DNS_MAX_ADDRS)
			return RG_RECORD_ECORRUPT;
		for (int a = 0; a < h->h_naddrs; a++)
			if (rg_record_mx_get_addr(&r, h, a) < 0)
				return RG_RECORD_ECORRUPT;
	}
	if ((rc = rg_record_reader_end(&r)) != RG_RECORD_OK)
		return rc;
	res->m_status = RG_DNS_OK;
	return RG_RECORD_OK;
}

size_t
rg_record_lease_encode(const struct rg_record_lease *l, void *buf, size_t size)
{
	struct rg_record_writer w;

	rg_record_writer_init(&w, buf, size);
	rg_record_put_header(&w, RG_RECORD_LEASE, 1, l->l_expires_at);
	rg_record_put_u32(&w, l->l_pid);
	rg_record_put_u64(&w, l->l_token);
	return rg_record_writer_end(&w);
}

int
rg_record_lease_decode(const void *buf, size_t len, struct rg_record_lease *l)
{
	struct rg_record_reader r;
	int rc;

	memset(l, 0, sizeof(*l));
	rg_record_reader_init(&r, buf, len);
	if ((rc = rg_record_get_header(&r, RG_RECORD_LEASE, 1, &l->l_expires_at)) != RG_RECORD_OK)
		return rc;
	l->l_pid = rg_record_get_u32(&r);
	l->l_token = rg_record_get_u64(&r);
	return rg_record_reader_end(&r);
}

size_t
rg_record_bucket_encode(const struct rg_record_bucket *b, void *buf, size_t size)
{
	struct rg_record_writer w;

	rg_record_writer_init(&w, buf, size);
	rg_record_put_header(&w, RG_RECORD_BUCKET, 1, b->b_expires_at);
	rg_record_put_i64(&w, b->b_tokens);
	rg_record_put_i64(&w, b->b_updated_ms);
	return rg_record_writer_end(&w);
}

int
rg_record_bucket_decode(const void *buf, size_t len, struct rg_record_bucket *b)
{
	struct rg_record_reader r;
	int rc;

	memset(b, 0, sizeof(*b));
	rg_record_reader_init(&r, buf, len);
	if ((rc = rg_record_get_header(&r, RG_RECORD_BUCKET, 1, &b->b_expires_at)) != RG_RECORD_OK)
		return rc;
	b->b_tokens = rg_record_get_i64(&r);
	b->b_updated_ms = rg_record_get_i64(&r);
	return rg_record_reader_end(&r);
}

size_t
rg_record_mark_encode(const struct rg_record_mark *m, void *buf, size_t size)
{
	struct rg_record_writer w;

	rg_record_writer_init(&w, buf, size);
	rg_record_put_header(&w, RG_RECORD_MARK, 1, m->m_expires_at);
	rg_record_put_i64(&w, m->m_first);
	return rg_record_writer_end(&w);
}

int
rg_record_mark_decode(const void *buf, size_t len, struct rg_record_mark *m)
{
	struct rg_record_reader r;
	int rc;

	memset(m, 0, sizeof(*m));
	rg_record_reader_init(&r, buf, len);
	if ((rc = rg_record_get_header(&r, RG_RECORD_MARK, 1, &m->m_expires_at)) != RG_RECORD_OK)
		return rc;
	m->m_first = rg_record_get_i64(&r);
	return rg_record_reader_end(&r);
}

size_t
rg_record_retry_encode(const struct rg_record_retry *t, void *buf, size_t size)
{
	struct rg_record_writer w;

	rg_record_writer_init(&w, buf, size);
	rg_record_put_header(&w, RG_RECORD_RETRY, 1, t->rt_expires_at);
	rg_record_put_i64(&w, t->rt_due);
	rg_record_put_u16(&w, t->rt_attempt);
	rg_record_put_u8(&w, t->rt_reason);
	rg_record_put_u8(&w, t->rt_source);
	rg_record_put_u32(&w, t->rt_pid);
	rg_record_put_u64(&w, t->rt_token);
	return rg_record_writer_end(&w);
}

int
rg_record_retry_decode(const void *buf, size_t len, struct rg_record_retry *t)
{
	struct rg_record_reader r;
	int rc;

	memset(t, 0, sizeof(*t));
	rg_record_reader_init(&r, buf, len);
	if ((rc = rg_record_get_header(&r, RG_RECORD_RETRY, 1, &t->rt_expires_at)) != RG_RECORD_OK)
		return rc;
	t->rt_due = rg_record_get_i64(&r);
	t->rt_attempt = rg_record_get_u16(&r);
	t->rt_reason = rg_record_get_u8(&r);
	t->rt_source = rg_record_get_u8(&r);
	t->rt_pid = rg_record_get_u32(&r);
	t->rt_token = rg_record_get_u64(&r);
	if (t->rt_reason >= RG_REASON_COUNT)
		return RG_RECORD_ECORRUPT;
	return rg_record_reader_end(&r);
}
