/*
 * htab.c - a string-keyed hash table with chaining, for the command line's
 * bounded working sets (rows and domains in flight), and the FNV-1a hash
 * it shares with the verify journal.
 */
#include "rg_build.h"

#include <stdlib.h>
#include <string.h>

#include "htab.h"

struct cli_hent {
	struct cli_hent	*h_next;
	void		*h_val;
	char		 h_key[];
};

struct cli_htab {
	struct cli_hent	**t_buckets;
	size_t		  t_mask;
	size_t		  t_count;
};

uint64_t
cli_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	/* A final mix, so that the low bits (the bucket) depend on every byte. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

struct cli_htab *
cli_htab_new(size_t nbuckets)
{
	struct cli_htab *t = calloc(1, sizeof(*t));
	size_t n = 16;

	while (n < nbuckets)
		n <<= 1;
	if (t == NULL || (t->t_buckets = calloc(n, sizeof(*t->t_buckets))) == NULL) {
		free(t);
		return NULL;
	}
	t->t_mask = n - 1;
	return t;
}

static struct cli_hent **
cli_htab_slot(struct cli_htab *t, const char *key)
{
	struct cli_hent **pp = &t->t_buckets[cli_hash64(key, strlen(key), 0) & t->t_mask];

	while (*pp != NULL && strcmp((*pp)->h_key, key) != 0)
		pp = &(*pp)->h_next;
	return pp;
}

void *
cli_htab_get(struct cli_htab *t, const char *key)
{
	struct cli_hent **pp = cli_htab_slot(t, key);

	return *pp ? (*pp)->h_val : NULL;
}

int
cli_htab_put(struct cli_htab *t, const char *key, void *val)
{
	struct cli_hent **pp = cli_htab_slot(t, key);
	size_t len = strlen(key);

	if (*pp != NULL) {
		(*pp)->h_val = val;
		return 0;
	}
	if ((*pp = malloc(sizeof(**pp) + len + 1)) == NULL)
		return -1;
	(*pp)->h_next = NULL;
	(*pp)->h_val = val;
	memcpy((*pp)->h_key, key, len + 1);
	t->t_count++;
	return 0;
}

void *
cli_htab_del(struct cli_htab *t, const char *key)
{
	struct cli_hent **pp = cli_htab_slot(t, key), *e = *pp;
	void *val;

	if (e == NULL)
		return NULL;
	*pp = e->h_next;
	val = e->h_val;
	free(e);
	t->t_count--;
	return val;
}

size_t
cli_htab_count(const struct cli_htab *t)
{
	return t->t_count;
}

void
cli_htab_each(struct cli_htab *t, void (*fn)(const char *key, void *val, void *arg), void *arg)
{
	for (size_t i = 0; i <= t->t_mask; i++)
		for (struct cli_hent *e = t->t_buckets[i]; e != NULL; e = e->h_next)
			fn(e->h_key, e->h_val, arg);
}

void
cli_htab_free(struct cli_htab *t, void (*freeval)(void *))
{
	if (t == NULL)
		return;
	for (size_t i = 0; i <= t->t_mask; i++) {
		struct cli_hent *e = t->t_buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->h_next;
			if (freeval != NULL)
				freeval(e->h_val);
			free(e);
		}
	}
	free(t->t_buckets);
	free(t);
}
