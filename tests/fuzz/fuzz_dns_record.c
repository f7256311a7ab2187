/*
 * fuzz_dns_record.c - libFuzzer target for the cached MX record decoder:
 * whatever decodes stays within its bounds and encodes back to the same
 * bytes.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/record.h"
#include "rcptguard/dns.h"
#include "rcptguard/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_mx_result res;
	unsigned char buf[RG_RECORD_MX_MAX];
	int64_t exp;
	size_t n;

	if (rg_record_mx_decode(data, size, &res, &exp) < 0)
		return 0;
	if (res.m_nhosts < 1 || res.m_nhosts > RG_DNS_MAX_HOSTS)
		abort();
	for (int h = 0; h < res.m_nhosts; h++)
		if (res.m_hosts[h].h_naddrs > RG_DNS_MAX_ADDRS ||
		    strlen(res.m_hosts[h].h_name) > RG_DNS_NAME_MAX)
			abort();
	n = rg_record_mx_encode(&res, exp, buf, sizeof(buf));
	/* The implicit flag is stored as 0/1: compare everything else exactly. */
	if (n != size || memcmp(buf, data, 13) != 0 || memcmp(buf + 14, data + 14, size - 14) != 0)
		abort();
	return 0;
}
