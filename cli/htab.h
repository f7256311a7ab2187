/*
 * htab.h - a string-keyed hash table for the command line's working sets.
 * Keys are copied; values are the caller's.
 */
#ifndef RG_CLI_HTAB_H
#define RG_CLI_HTAB_H

#include <stddef.h>
#include <stdint.h>

/* cli_hash64 - FNV-1a with a final mix; seed varies the function. */
uint64_t cli_hash64(const void *data, size_t len, uint64_t seed);

struct cli_htab;

struct cli_htab *cli_htab_new(size_t nbuckets);
void *cli_htab_get(struct cli_htab *t, const char *key);
/* cli_htab_put - add or replace; 0, or -1 when out of memory. */
int cli_htab_put(struct cli_htab *t, const char *key, void *val);
/* cli_htab_del - remove key; its value, or NULL. */
void *cli_htab_del(struct cli_htab *t, const char *key);
size_t cli_htab_count(const struct cli_htab *t);
void cli_htab_each(struct cli_htab *t, void (*fn)(const char *key, void *val, void *arg),
    void *arg);
/* cli_htab_free - free the table, and each value with freeval when not NULL. */
void cli_htab_free(struct cli_htab *t, void (*freeval)(void *));

#endif /* RG_CLI_HTAB_H */
