/*
 * config.h - the one configuration file shared by every rcptguard program.
 *
 * Every key lives in one table (lib/config.c) with its section, type,
 * default, bounds and a one-line description. Defaults are strings parsed by
 * the same code as the file, so a default can never be out of its own bounds;
 * tests/unit/test_config.c checks that conf/rcptguard.conf and
 * rcptguard.conf(5) document exactly this table.
 */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/verdict.h"

#define RG_CONFIG_PATH_MAX	1024

enum rg_config_type {
	RG_CFG_BOOL,
	RG_CFG_INT,
	RG_CFG_SIZE,		/* bytes, with k/M/G suffixes */
	RG_CFG_DURATION,	/* seconds, with s/m/h/d/w suffixes */
	RG_CFG_STRING,
	RG_CFG_ENUM,
	RG_CFG_REASON_DURATIONS,	/* "reason=duration, reason=duration" */
	RG_CFG_REASON_ACTIONS,	/* "reason=action, reason=action" (k_choices: the actions) */
	RG_CFG_OCTAL,		/* a file mode such as 0660 */
	RG_CFG_MILLIS,		/* milliseconds: "20ms", or a duration */
};

enum rg_config_local_case {
	RG_LOCAL_CASE_INSENSITIVE,
	RG_LOCAL_CASE_SENSITIVE,
};

/* Policy actions, in the order of the config choices "pass|tag|defer|reject". */
enum rg_action {
	RG_ACTION_PASS,
	RG_ACTION_TAG,
	RG_ACTION_DEFER,
	RG_ACTION_REJECT,
	RG_ACTION_COUNT
};

enum rg_policy_mode {
	RG_MODE_ENFORCE,
	RG_MODE_MONITOR,	/* log what would be done, pass everything */
};

enum rg_defer_reply {
	RG_DEFER_IF_PERMIT,	/* policyd: DEFER_IF_PERMIT; milter: 450 */
	RG_DEFER_450,
	RG_DEFER_451,
};

enum rg_fail_mode {
	RG_FAIL_PASS,		/* let mail through, logged */
	RG_FAIL_DEFER,		/* ask the client to retry later */
};

enum rg_config_sync {
	RG_SYNC_PERIODIC,	/* MDB_NOSYNC, flushed every sync_interval and at close */
	RG_SYNC_COMMIT,		/* every write transaction is flushed before it returns */
};

struct rg_config {
	/* [general] */
	char		state_dir[RG_CONFIG_PATH_MAX];
	int64_t		local_part_case;	/* enum rg_config_local_case */
	char		user[64];		/* daemons drop to it; empty: stay */
	char		syslog_socket[108];	/* a unix datagram socket */
	/* [cache] */
	char		cache_file[RG_CONFIG_PATH_MAX];
	int64_t		map_size;
	int64_t		map_size_max;
	int64_t		max_readers;
	int64_t		sync_mode;		/* enum rg_config_sync */
	int64_t		sync_interval;
	int64_t		sweep_batch;
	int64_t		lease_ttl;
	int64_t		ttl[RG_CLASS_COUNT];
	int64_t		refresh[RG_CLASS_COUNT];
	int64_t		reason_ttl[RG_REASON_COUNT];	/* -1: use the class value */
	int64_t		reason_refresh[RG_REASON_COUNT];

	/* [dns] */
	char		dns_servers[RG_CONFIG_PATH_MAX];
	int64_t		dns_timeout;
	int64_t		dns_tries;
	/* [probe] */
	char		helo_name[256];
	char		mail_from[RG_CONFIG_PATH_MAX];
	char		source_addresses[RG_CONFIG_PATH_MAX];
	char		probe_allow_networks[RG_CONFIG_PATH_MAX];
	int64_t		connect_timeout;
	int64_t		greeting_timeout;
	int64_t		command_timeout;
	int64_t		session_timeout;
	int64_t		max_rcpt_per_session;
	int64_t		max_mx_hosts;
	int64_t		starttls;		/* bool */
	int64_t		catch_all_check;	/* bool */
	int64_t		greylist_retry_delay;
	int64_t		greylist_max_retries;
	/* [limits] */
	int64_t		domain_rate;
	int64_t		domain_burst;
	int64_t		mx_concurrency;
	int64_t		global_concurrency;
	int64_t		throttle_cooldown;
	int64_t		max_probe_jobs;
	int64_t		max_domain_jobs;
	int64_t		max_waiters;
	/* [lists] */
	char		providers_file[RG_CONFIG_PATH_MAX];
	char		disposable_domains_file[RG_CONFIG_PATH_MAX];
	char		role_accounts_file[RG_CONFIG_PATH_MAX];
	char		reply_rules_file[RG_CONFIG_PATH_MAX];
	/* [policy] */
	int64_t		mode;			/* enum rg_policy_mode */
	int64_t		action[RG_CLASS_COUNT];	/* enum rg_action */
	int64_t		reason_action[RG_REASON_COUNT];	/* -1: use the class action */
	int64_t		defer_reply;		/* enum rg_defer_reply */
	int64_t		defer_window;
	int64_t		fail_mode;		/* enum rg_fail_mode */
	int64_t		wait_budget;		/* seconds */
	char		exempt_recipient_domains[RG_CONFIG_PATH_MAX];
	char		exempt_sender_domains[RG_CONFIG_PATH_MAX];
	char		exempt_client_networks[RG_CONFIG_PATH_MAX];
	char		exempt_sasl_users[RG_CONFIG_PATH_MAX];
	/* [policyd] */
	char		listen[RG_CONFIG_PATH_MAX];
	char		socket_owner[64];
	char		socket_group[64];
	int64_t		socket_mode;
	int64_t		max_connections;
	int64_t		idle_timeout;
	int64_t		request_timeout;
	int64_t		max_line_length;
	int64_t		max_attributes;
	int64_t		listen_backlog;
	char		metrics_listen[RG_CONFIG_PATH_MAX];	/* "": no metrics */
	/* [milter] */
	char		milter_listen[RG_CONFIG_PATH_MAX];
	char		milter_socket_owner[64];
	char		milter_socket_group[64];
	int64_t		milter_socket_mode;
	int64_t		milter_timeout;
	int64_t		milter_listen_backlog;
	char		milter_metrics_listen[RG_CONFIG_PATH_MAX];
	/* [learn] */
	char		learn_log_file[RG_CONFIG_PATH_MAX];
	int64_t		learn_trust_sent;	/* bool */
	char		learn_skip_relays[RG_CONFIG_PATH_MAX];
	int64_t		learn_burst_threshold;
	int64_t		learn_burst_window;
	char		learn_metrics_listen[RG_CONFIG_PATH_MAX];
	/* [redis] */
	char		redis_server[RG_CONFIG_PATH_MAX];	/* "": no shared tier */
	char		redis_user[64];		/* "": AUTH with the password alone */
	char		redis_password[256];
	int64_t		redis_database;
	char		redis_key_prefix[64];
	char		redis_instance[128];	/* "": the host name */
	int64_t		redis_timeout;		/* milliseconds */
	int64_t		redis_connect_timeout;	/* milliseconds */
	int64_t		redis_reconnect_max;	/* seconds */
	int64_t		redis_max_pending;

	char		source[RG_CONFIG_PATH_MAX];	/* file it was read from, or "" */
};

struct rg_config_key {
	const char		*k_section;
	const char		*k_name;
	enum rg_config_type	 k_type;
	size_t			 k_offset;
	const char		*k_default;
	int64_t			 k_min;
	int64_t			 k_max;		/* for strings: buffer size */
	const char		*k_choices;	/* for enums: "a|b|c", in enum order */
	const char		*k_desc;
};

/* The table itself, for the docs check and for `rcptguard config`. */
const struct rg_config_key *rg_config_keys(size_t *count);

/* rg_config_defaults - fill cfg with every default. */
void rg_config_defaults(struct rg_config *cfg);

/*
 * rg_config_load - defaults, then the file at path. With must_exist 0 a
 * missing file means "defaults only" (the embedded default); any other
 * problem is an error. Errors name the file and line: "FILE:LINE: text".
 * Returns 0 or -1.
 */
int rg_config_load(struct rg_config *cfg, const char *path, int must_exist,
    char *err, size_t errsize);

/* rg_config_parse_string - as rg_config_load, from memory (tests). */
int rg_config_parse_string(struct rg_config *cfg, const char *text, const char *name,
    char *err, size_t errsize);

/* rg_config_set - set one key from its text form; 0 or -1 with err set. */
int rg_config_set(struct rg_config *cfg, const char *section, const char *name,
    const char *value, char *err, size_t errsize);

/* rg_config_format - the current value of a key in its text form. */
void rg_config_format(const struct rg_config *cfg, const struct rg_config_key *k,
    char *buf, size_t size);

/* rg_config_cache_path - state_dir/cache_file, or cache_file when absolute. */
int rg_config_cache_path(const struct rg_config *cfg, char *buf, size_t size);

/* rg_config_ttl - expiry and refresh periods for a verdict of class c and reason r. */
void rg_config_ttl(const struct rg_config *cfg, enum rg_class c, enum rg_reason r,
    int64_t *ttl, int64_t *refresh);

/*
 * rg_config_redis_server - split [redis] server: "IP:port" (localhost is
 * 127.0.0.1) or "[IPv6]:port" into host and port, "unix:/path" into path.
 * Never a name to resolve: the daemons' loops must not block on DNS.
 * 0, or -1 with err set.
 */
int rg_config_redis_server(const char *server, char *host, size_t hostsize, int *port,
    char *path, size_t pathsize, char *err, size_t errsize);

/* The default configuration file path, fixed at build time. */
extern const char rg_config_default_path[];

#endif /* RG_CONFIG_H */
