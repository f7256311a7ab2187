/*
 * log_impl.h - the inside of the log module shared by its files: log.c
 * (levels, escaping, the stderr sink and its buffer) and log_syslog.c
 * (the syslog client). Nothing outside the log module includes it.
 */
#ifndef RG_LOG_IMPL_H
#define RG_LOG_IMPL_H

#include <stddef.h>

#include "rcptguard/log.h"

/* All of these run under log.c's lock. */

/* rg_syslog_open - ident[pid] for every line; connect (-1: not now, retried later). */
int rg_syslog_open(const char *ident, long pid);
/* rg_syslog_set_path - the socket from now on (default /dev/log); -1 when too long. */
int rg_syslog_set_path(const char *path);
/*
 * rg_syslog_line - one line at priority prio (LOG_INFO...), "what: " first
 * when what is not NULL; queued when buffered, else sent before returning.
 */
void rg_syslog_line(int prio, const char *what, const char *line, size_t len, int buffered);
/* rg_syslog_flush - send the queue; wait: block (bounded) until it has left. */
void rg_syslog_flush(int wait);
void rg_syslog_close(void);

#endif /* RG_LOG_IMPL_H */
