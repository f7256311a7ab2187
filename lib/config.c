/*
 * config.c - the configuration table, its parser and its bounds checks.
 *
 * The file is INI, read by libinih through rg_config_reader(), which counts
 * lines and refuses lines longer than inih's buffer (inih would otherwise
 * split them silently into two lines). The handler resolves each key in the
 * table and parses it with the table's type; the first error wins and names
 * the file and line.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "rcptguard/config.h"
#include "rcptguard/util.h"

#ifndef RG_SYSCONFDIR
#define RG_SYSCONFDIR "/etc"
#endif
#ifndef RG_LOCALSTATEDIR
#define RG_LOCALSTATEDIR "/var"
#endif

const char rg_config_default_path[] = RG_SYSCONFDIR "/rcptguard/rcptguard.conf";

#define RG_OFF(field) offsetof(struct rg_config, field)
#define RG_DAY 86400LL
#define RG_YEAR (366 * RG_DAY)
#define RG_ACTION_CHOICES "pass|tag|defer|reject"

static const struct rg_config_key rg_config_table[] = {
	{ "general", "state_dir", RG_CFG_STRING, RG_OFF(state_dir),
	  RG_LOCALSTATEDIR "/lib/rcptguard", 1, RG_CONFIG_PATH_MAX, NULL,
	  "directory holding the verdict cache and run-time state" },
	{ "general", "local_part_case", RG_CFG_ENUM, RG_OFF(local_part_case),
	  "insensitive", 0, 1, "insensitive|sensitive",
	  "whether local parts that differ only in case are the same mailbox" },
	{ "general", "user", RG_CFG_STRING, RG_OFF(user),
	  "rcptguard", 0, 64, NULL,
	  "daemons started as root drop to this user; empty: keep the starting user" },
	{ "general", "syslog_socket", RG_CFG_STRING, RG_OFF(syslog_socket),
	  "/dev/log", 1, 108, NULL,
	  "the syslog socket the daemons log to (with -s, or in the background)" },

	{ "cache", "cache_file", RG_CFG_STRING, RG_OFF(cache_file),
	  "cache.lmdb", 1, RG_CONFIG_PATH_MAX, NULL,
	  "LMDB file name, relative to state_dir unless absolute" },
	{ "cache", "map_size", RG_CFG_SIZE, RG_OFF(map_size),
	  "16M", 1048576, 1099511627776LL, NULL,
	  "initial LMDB map size; grown on demand" },
	{ "cache", "map_size_max", RG_CFG_SIZE, RG_OFF(map_size_max),
	  "1G", 1048576, 1099511627776LL, NULL,
	  "hard limit of the map; at it, expired then oldest verdicts are evicted" },
	{ "cache", "max_readers", RG_CFG_INT, RG_OFF(max_readers),
	  "512", 16, 65536, NULL,
	  "LMDB reader slots shared by all processes on the host" },
	{ "cache", "sync_mode", RG_CFG_ENUM, RG_OFF(sync_mode),
	  "periodic", 0, 1, "periodic|commit",
	  "periodic: flush every sync_interval; commit: flush every write" },
	{ "cache", "sync_interval", RG_CFG_DURATION, RG_OFF(sync_interval),
	  "5s", 1, 3600, NULL,
	  "longest time a committed write waits to be flushed in periodic mode" },
	{ "cache", "sweep_batch", RG_CFG_INT, RG_OFF(sweep_batch),
	  "256", 1, 100000, NULL,
	  "records examined per write transaction when sweeping expired entries" },
	{ "cache", "lease_ttl", RG_CFG_DURATION, RG_OFF(lease_ttl),
	  "2m", 1, RG_DAY, NULL,
	  "lifetime of a probe lease; a lease of a dead holder is void at once" },
	{ "cache", "ttl_deliverable", RG_CFG_DURATION, RG_OFF(ttl[RG_CLASS_DELIVERABLE]),
	  "31d", 60, RG_YEAR, NULL,
	  "how long a deliverable verdict may answer" },
	{ "cache", "refresh_deliverable", RG_CFG_DURATION, RG_OFF(refresh[RG_CLASS_DELIVERABLE]),
	  "7d", 0, RG_YEAR, NULL,
	  "age after which a deliverable verdict is refreshed in the background" },
	{ "cache", "ttl_undeliverable", RG_CFG_DURATION, RG_OFF(ttl[RG_CLASS_UNDELIVERABLE]),
	  "3d", 60, RG_YEAR, NULL,
	  "how long an undeliverable verdict may answer" },
	{ "cache", "refresh_undeliverable", RG_CFG_DURATION, RG_OFF(refresh[RG_CLASS_UNDELIVERABLE]),
	  "3h", 0, RG_YEAR, NULL,
	  "age after which an undeliverable verdict is refreshed in the background" },
	{ "cache", "ttl_risky", RG_CFG_DURATION, RG_OFF(ttl[RG_CLASS_RISKY]),
	  "7d", 60, RG_YEAR, NULL,
	  "how long a risky verdict may answer" },
	{ "cache", "refresh_risky", RG_CFG_DURATION, RG_OFF(refresh[RG_CLASS_RISKY]),
	  "1d", 0, RG_YEAR, NULL,
	  "age after which a risky verdict is refreshed in the background" },
	{ "cache", "ttl_unknown", RG_CFG_DURATION, RG_OFF(ttl[RG_CLASS_UNKNOWN]),
	  "1h", 60, RG_YEAR, NULL,
	  "how long an unknown verdict may answer" },
	{ "cache", "refresh_unknown", RG_CFG_DURATION, RG_OFF(refresh[RG_CLASS_UNKNOWN]),
	  "5m", 0, RG_YEAR, NULL,
	  "age after which an unknown verdict is re-probed in the background" },
	{ "cache", "reason_ttl", RG_CFG_REASON_DURATIONS, RG_OFF(reason_ttl),
	  "", 60, RG_YEAR, NULL,
	  "per-reason expiry overrides, as reason=duration pairs" },
	{ "cache", "reason_refresh", RG_CFG_REASON_DURATIONS, RG_OFF(reason_refresh),
	  "", 0, RG_YEAR, NULL,
	  "per-reason refresh overrides, as reason=duration pairs" },

	{ "dns", "dns_servers", RG_CFG_STRING, RG_OFF(dns_servers),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "resolvers as host[:port], comma separated; empty: /etc/resolv.conf" },
	{ "dns", "dns_timeout", RG_CFG_DURATION, RG_OFF(dns_timeout),
	  "5s", 1, 60, NULL,
	  "time to wait for one DNS answer before retrying" },
	{ "dns", "dns_tries", RG_CFG_INT, RG_OFF(dns_tries),
	  "2", 1, 10, NULL,
	  "attempts per DNS query" },

	{ "probe", "helo_name", RG_CFG_STRING, RG_OFF(helo_name),
	  "", 0, 256, NULL,
	  "name sent in EHLO; empty: this host's fully qualified name" },
	{ "probe", "mail_from", RG_CFG_STRING, RG_OFF(mail_from),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "probe sender; empty: postmaster@helo_name; <> for the null sender" },
	{ "probe", "source_addresses", RG_CFG_STRING, RG_OFF(source_addresses),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "local addresses to probe from, comma separated; sticky per domain" },
	{ "probe", "probe_allow_networks", RG_CFG_STRING, RG_OFF(probe_allow_networks),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "networks that may be probed although private, loopback or reserved" },
	{ "probe", "connect_timeout", RG_CFG_DURATION, RG_OFF(connect_timeout),
	  "15s", 1, 300, NULL,
	  "time to establish the TCP connection to one MX address" },
	{ "probe", "greeting_timeout", RG_CFG_DURATION, RG_OFF(greeting_timeout),
	  "1m", 1, 600, NULL,
	  "time to wait for the 220 greeting (slow servers delay it on purpose)" },
	{ "probe", "command_timeout", RG_CFG_DURATION, RG_OFF(command_timeout),
	  "30s", 1, 600, NULL,
	  "time to wait for the reply to each command" },
	{ "probe", "session_timeout", RG_CFG_DURATION, RG_OFF(session_timeout),
	  "2m", 1, 1800, NULL,
	  "deadline of a whole SMTP session" },
	{ "probe", "max_rcpt_per_session", RG_CFG_INT, RG_OFF(max_rcpt_per_session),
	  "20", 1, 100, NULL,
	  "recipients of one domain verified in one SMTP session" },
	{ "probe", "max_mx_hosts", RG_CFG_INT, RG_OFF(max_mx_hosts),
	  "5", 1, 10, NULL,
	  "MX hosts tried per domain, in preference order" },
	{ "probe", "starttls", RG_CFG_BOOL, RG_OFF(starttls),
	  "yes", 0, 1, NULL,
	  "use STARTTLS when the server offers it" },
	{ "probe", "catch_all_check", RG_CFG_BOOL, RG_OFF(catch_all_check),
	  "yes", 0, 1, NULL,
	  "probe a random local part once per domain to detect catch-all domains" },
	{ "probe", "greylist_retry_delay", RG_CFG_DURATION, RG_OFF(greylist_retry_delay),
	  "5m", 1, RG_DAY, NULL,
	  "first re-probe after greylisting; each further one waits twice as long" },
	{ "probe", "greylist_max_retries", RG_CFG_INT, RG_OFF(greylist_max_retries),
	  "4", 0, 20, NULL,
	  "re-probes of a greylisted recipient before it stays unknown" },

	{ "limits", "domain_rate", RG_CFG_INT, RG_OFF(domain_rate),
	  "30", 1, 100000, NULL,
	  "SMTP sessions per minute to one domain, shared by every process" },
	{ "limits", "domain_burst", RG_CFG_INT, RG_OFF(domain_burst),
	  "10", 1, 100000, NULL,
	  "sessions to one domain that may start at once before the rate applies" },
	{ "limits", "mx_concurrency", RG_CFG_INT, RG_OFF(mx_concurrency),
	  "2", 1, 64, NULL,
	  "concurrent sessions to one MX address, across every process" },
	{ "limits", "global_concurrency", RG_CFG_INT, RG_OFF(global_concurrency),
	  "50", 1, 1024, NULL,
	  "concurrent sessions in all, across every process" },
	{ "limits", "throttle_cooldown", RG_CFG_DURATION, RG_OFF(throttle_cooldown),
	  "1m", 1, RG_DAY, NULL,
	  "pause after a domain throttles the probe; doubles while it keeps doing so" },
	{ "limits", "max_probe_jobs", RG_CFG_INT, RG_OFF(max_probe_jobs),
	  "1000", 1, 1000000, NULL,
	  "probe jobs (one domain, up to max_rcpt_per_session recipients each) queued or running in a process" },
	{ "limits", "max_domain_jobs", RG_CFG_INT, RG_OFF(max_domain_jobs),
	  "16", 1, 100000, NULL,
	  "probe jobs of one domain queued or running in a process" },
	{ "limits", "max_waiters", RG_CFG_INT, RG_OFF(max_waiters),
	  "10000", 1, 10000000, NULL,
	  "lookups waiting for a probe or a refresh in a process; past it they answer at once" },

	{ "lists", "providers_file", RG_CFG_STRING, RG_OFF(providers_file),
	  RG_SYSCONFDIR "/rcptguard/providers.conf", 0, RG_CONFIG_PATH_MAX, NULL,
	  "MX host suffixes and how far their answers can be trusted" },
	{ "lists", "disposable_domains_file", RG_CFG_STRING, RG_OFF(disposable_domains_file),
	  RG_SYSCONFDIR "/rcptguard/disposable_domains", 0, RG_CONFIG_PATH_MAX, NULL,
	  "domains of throwaway address services, one per line" },
	{ "lists", "role_accounts_file", RG_CFG_STRING, RG_OFF(role_accounts_file),
	  RG_SYSCONFDIR "/rcptguard/role_accounts", 0, RG_CONFIG_PATH_MAX, NULL,
	  "local parts that name a role, one per line" },
	{ "lists", "reply_rules_file", RG_CFG_STRING, RG_OFF(reply_rules_file),
	  RG_SYSCONFDIR "/rcptguard/reply_rules", 0, RG_CONFIG_PATH_MAX, NULL,
	  "how SMTP replies are read: ordered rules of codes, enhanced codes and wording" },

	{ "policy", "mode", RG_CFG_ENUM, RG_OFF(mode),
	  "enforce", 0, 1, "enforce|monitor",
	  "monitor: log the action that would be taken and pass every recipient" },
	{ "policy", "action_deliverable", RG_CFG_ENUM, RG_OFF(action[RG_CLASS_DELIVERABLE]),
	  "pass", 0, 3, RG_ACTION_CHOICES,
	  "action for a deliverable recipient" },
	{ "policy", "action_undeliverable", RG_CFG_ENUM, RG_OFF(action[RG_CLASS_UNDELIVERABLE]),
	  "reject", 0, 3, RG_ACTION_CHOICES,
	  "action for an undeliverable recipient" },
	{ "policy", "action_risky", RG_CFG_ENUM, RG_OFF(action[RG_CLASS_RISKY]),
	  "defer", 0, 3, RG_ACTION_CHOICES,
	  "action for a risky recipient (catch-all, full mailbox, disposable, ...)" },
	{ "policy", "action_unknown", RG_CFG_ENUM, RG_OFF(action[RG_CLASS_UNKNOWN]),
	  "defer", 0, 3, RG_ACTION_CHOICES,
	  "action for a recipient whose verdict is not known (yet)" },
	{ "policy", "reason_actions", RG_CFG_REASON_ACTIONS, RG_OFF(reason_action),
	  "", 0, 3, RG_ACTION_CHOICES,
	  "per-reason overrides of the class actions, as reason=action pairs" },
	{ "policy", "defer_reply", RG_CFG_ENUM, RG_OFF(defer_reply),
	  "defer_if_permit", 0, 2, "defer_if_permit|450|451",
	  "how policyd defers: DEFER_IF_PERMIT, or a final 450 or 451 reply" },
	{ "policy", "defer_window", RG_CFG_DURATION, RG_OFF(defer_window),
	  "30m", 0, 7 * RG_DAY, NULL,
	  "longest time one recipient is deferred; after it, it passes, tagged" },
	{ "policy", "fail_mode", RG_CFG_ENUM, RG_OFF(fail_mode),
	  "pass", 0, 1, "pass|defer",
	  "what happens to mail when the cache or the engine fails" },
	{ "policy", "wait_budget", RG_CFG_DURATION, RG_OFF(wait_budget),
	  "5s", 0, 60, NULL,
	  "longest wait for a probe on a cache miss before answering unknown" },
	{ "policy", "exempt_recipient_domains", RG_CFG_STRING, RG_OFF(exempt_recipient_domains),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "recipient domains never verified; .example.com covers subdomains" },
	{ "policy", "exempt_sender_domains", RG_CFG_STRING, RG_OFF(exempt_sender_domains),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "sender domains whose mail is never verified; .example.com covers subdomains" },
	{ "policy", "exempt_client_networks", RG_CFG_STRING, RG_OFF(exempt_client_networks),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "client networks whose mail is never verified, as address/prefix" },
	{ "policy", "exempt_sasl_users", RG_CFG_STRING, RG_OFF(exempt_sasl_users),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "SASL login names whose mail is never verified; * for every logged-in user" },

	{ "policyd", "listen", RG_CFG_STRING, RG_OFF(listen),
	  "inet:127.0.0.1:10040", 1, RG_CONFIG_PATH_MAX, NULL,
	  "sockets of rcptguard-policyd: unix:/path or inet:host:port, comma separated" },
	{ "policyd", "socket_owner", RG_CFG_STRING, RG_OFF(socket_owner),
	  "", 0, 64, NULL,
	  "owner of unix sockets; empty: user" },
	{ "policyd", "socket_group", RG_CFG_STRING, RG_OFF(socket_group),
	  "", 0, 64, NULL,
	  "group of unix sockets; empty: the owner's group (Postfix needs access)" },
	{ "policyd", "socket_mode", RG_CFG_OCTAL, RG_OFF(socket_mode),
	  "0660", 0, 0777, NULL,
	  "permissions of unix sockets" },
	{ "policyd", "max_connections", RG_CFG_INT, RG_OFF(max_connections),
	  "256", 1, 65536, NULL,
	  "open connections; at the limit the longest idle one, else the oldest incomplete request, is closed" },
	{ "policyd", "idle_timeout", RG_CFG_DURATION, RG_OFF(idle_timeout),
	  "10m", 1, RG_DAY, NULL,
	  "a connection without a request for this long is closed" },
	{ "policyd", "request_timeout", RG_CFG_DURATION, RG_OFF(request_timeout),
	  "10s", 1, 600, NULL,
	  "a request must arrive whole within this time of its first byte" },
	{ "policyd", "max_line_length", RG_CFG_INT, RG_OFF(max_line_length),
	  "1024", 256, 65536, NULL,
	  "longest name=value line of a request; a longer one closes the connection" },
	{ "policyd", "max_attributes", RG_CFG_INT, RG_OFF(max_attributes),
	  "100", 8, 10000, NULL,
	  "most attributes in one request; more closes the connection" },
	{ "policyd", "listen_backlog", RG_CFG_INT, RG_OFF(listen_backlog),
	  "1024", 16, 65535, NULL,
	  "connections the kernel queues before they are accepted (capped by net.core.somaxconn)" },
	{ "policyd", "metrics_listen", RG_CFG_STRING, RG_OFF(metrics_listen),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "Prometheus metrics at http://host:port/metrics, written inet:host:port; empty: none" },

	{ "milter", "listen", RG_CFG_STRING, RG_OFF(milter_listen),
	  "inet:10041@127.0.0.1", 1, RG_CONFIG_PATH_MAX, NULL,
	  "socket of rcptguard-milter: unix:/path or inet:port@host (libmilter's form)" },
	{ "milter", "socket_owner", RG_CFG_STRING, RG_OFF(milter_socket_owner),
	  "", 0, 64, NULL,
	  "owner of a unix socket; empty: user" },
	{ "milter", "socket_group", RG_CFG_STRING, RG_OFF(milter_socket_group),
	  "", 0, 64, NULL,
	  "group of a unix socket; empty: the owner's group (Postfix needs access)" },
	{ "milter", "socket_mode", RG_CFG_OCTAL, RG_OFF(milter_socket_mode),
	  "0660", 0, 0777, NULL,
	  "permissions of a unix socket" },
	{ "milter", "timeout", RG_CFG_DURATION, RG_OFF(milter_timeout),
	  "1m", 1, RG_DAY, NULL,
	  "a command the MTA has begun must arrive whole within this time (and writes to it)" },
	{ "milter", "listen_backlog", RG_CFG_INT, RG_OFF(milter_listen_backlog),
	  "1024", 16, 65535, NULL,
	  "connections the kernel queues before libmilter accepts them (capped by net.core.somaxconn)" },
	{ "milter", "metrics_listen", RG_CFG_STRING, RG_OFF(milter_metrics_listen),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "Prometheus metrics at http://host:port/metrics, written inet:host:port; empty: none" },

	{ "learn", "log_file", RG_CFG_STRING, RG_OFF(learn_log_file),
	  "/var/log/mail.log", 0, RG_CONFIG_PATH_MAX, NULL,
	  "the MTA's log rcptguard learn reads when no file is named" },
	{ "learn", "trust_sent", RG_CFG_BOOL, RG_OFF(learn_trust_sent),
	  "yes", 0, 1, NULL,
	  "a message the recipient's server accepted makes the mailbox deliverable" },
	{ "learn", "skip_relays", RG_CFG_STRING, RG_OFF(learn_skip_relays),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "relay host names that are not the recipients' servers (smarthosts, filters); their outcomes are not learned" },
	{ "learn", "burst_threshold", RG_CFG_INT, RG_OFF(learn_burst_threshold),
	  "5", 2, 100000, NULL,
	  "no-such-mailbox bounces for known deliverable recipients of one domain or MX that make a suspected outage" },
	{ "learn", "burst_window", RG_CFG_DURATION, RG_OFF(learn_burst_window),
	  "10m", 1, RG_DAY, NULL,
	  "the window of burst_threshold; such a bounce is held this long before it is learned" },
	{ "learn", "metrics_listen", RG_CFG_STRING, RG_OFF(learn_metrics_listen),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "Prometheus metrics of rcptguard learn --follow, written inet:host:port; empty: none" },

	{ "redis", "server", RG_CFG_STRING, RG_OFF(redis_server),
	  "", 0, RG_CONFIG_PATH_MAX, NULL,
	  "the Redis server of the fleet's shared tier, host:port or unix:/path; empty: no shared tier" },
	{ "redis", "user", RG_CFG_STRING, RG_OFF(redis_user),
	  "", 0, 64, NULL,
	  "the ACL user of AUTH (Redis 6 and later); empty: the default user" },
	{ "redis", "password", RG_CFG_STRING, RG_OFF(redis_password),
	  "", 0, 256, NULL,
	  "sent with AUTH after connecting; empty: no AUTH" },
	{ "redis", "database", RG_CFG_INT, RG_OFF(redis_database),
	  "0", 0, 100000, NULL,
	  "the database number, chosen with SELECT" },
	{ "redis", "key_prefix", RG_CFG_STRING, RG_OFF(redis_key_prefix),
	  "rcptguard:", 0, 64, NULL,
	  "the prefix of every key rcptguard writes; fleets sharing one Redis keep apart with it" },
	{ "redis", "instance", RG_CFG_STRING, RG_OFF(redis_instance),
	  "", 0, 128, NULL,
	  "this host's name in the fleet, unique per host: it owns leases and greylisting retries; empty: the host name" },
	{ "redis", "timeout", RG_CFG_MILLIS, RG_OFF(redis_timeout),
	  "20ms", 1, 10000, NULL,
	  "the longest a lookup waits for Redis before it goes on without it" },
	{ "redis", "connect_timeout", RG_CFG_MILLIS, RG_OFF(redis_connect_timeout),
	  "500ms", 1, 60000, NULL,
	  "the longest a connection (with AUTH and SELECT) may take" },
	{ "redis", "reconnect_max", RG_CFG_DURATION, RG_OFF(redis_reconnect_max),
	  "30s", 1, 3600, NULL,
	  "reconnecting after a failure backs off from 1s to this" },
	{ "redis", "max_pending", RG_CFG_INT, RG_OFF(redis_max_pending),
	  "10000", 16, 1000000, NULL,
	  "commands in flight at most; past it writes are dropped (the local tier keeps them) and lookups skip Redis" },
};

const struct rg_config_key *
rg_config_keys(size_t *count)
{
	*count = RG_ARRAY_LEN(rg_config_table);
	return rg_config_table;
}

/*
 * rg_config_find - the key name of section; without section (or when the
 * section has no such key), the first key of that name, so the error can
 * say where it belongs.
 */
static const struct rg_config_key *
rg_config_find(const char *section, const char *name)
{
	const struct rg_config_key *any = NULL;

	for (size_t i = 0; i < RG_ARRAY_LEN(rg_config_table); i++) {
		if (strcmp(rg_config_table[i].k_name, name) != 0)
			continue;
		if (section == NULL || strcmp(rg_config_table[i].k_section, section) == 0)
			return &rg_config_table[i];
		if (any == NULL)
			any = &rg_config_table[i];
	}
	return any;
}

static int
rg_config_section_known(const char *section)
{
	for (size_t i = 0; i < RG_ARRAY_LEN(rg_config_table); i++)
		if (strcmp(rg_config_table[i].k_section, section) == 0)
			return 1;
	return 0;
}

/* rg_config_choice - index of value in a "a|b|c" list, or -1. */
static int
rg_config_choice(const char *choices, const char *value)
{
	size_t vl = strlen(value);
	int idx = 0;

	for (const char *p = choices; ; idx++) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vl && strncmp(p, value, n) == 0)
			return idx;
		if (bar == NULL)
			return -1;
		p = bar + 1;
	}
}

/* rg_config_choice_name - the idx-th name of a "a|b|c" list, or "?". */
static void
rg_config_choice_name(const char *choices, int64_t idx, char *buf, size_t size)
{
	const char *p = choices;

	for (int64_t i = 0; i < idx && p != NULL; i++) {
		p = strchr(p, '|');
		if (p != NULL)
			p++;
	}
	if (p == NULL || idx < 0)
		p = "?";
	snprintf(buf, size, "%.*s", (int)strcspn(p, "|"), p);
}

/* rg_config_reason_map - parse "reason=duration, ..." or "reason=action, ..." into a per-reason array. */
static int
rg_config_reason_map(const struct rg_config_key *k, const char *value, int64_t *arr,
    char *err, size_t errsize)
{
	char buf[1024], *save = NULL, *tok;

	for (size_t i = 0; i < RG_REASON_COUNT; i++)
		arr[i] = -1;
	if (rg_strlcpy(buf, value, sizeof(buf)) >= sizeof(buf)) {
		snprintf(err, errsize, "%s: value too long", k->k_name);
		return -1;
	}
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		char *eq = strchr(tok, '=');
		enum rg_reason r;
		int64_t d;

		if (eq == NULL) {
			snprintf(err, errsize, "%s: \"%s\" is not reason=%s", k->k_name, tok,
			    k->k_type == RG_CFG_REASON_ACTIONS ? "action" : "duration");
			return -1;
		}
		*eq = '\0';
		if (rg_verdict_reason_parse(tok, &r) < 0) {
			snprintf(err, errsize, "%s: unknown reason \"%s\"", k->k_name, tok);
			return -1;
		}
		if (k->k_type == RG_CFG_REASON_ACTIONS) {
			int idx = rg_config_choice(k->k_choices, eq + 1);
			if (idx < 0) {
				snprintf(err, errsize, "%s: \"%s\" for %s is not one of %s", k->k_name,
				    eq + 1, tok, k->k_choices);
				return -1;
			}
			arr[r] = idx;
			continue;
		}
		if (rg_parse_duration(eq + 1, &d) < 0) {
			snprintf(err, errsize, "%s: bad duration \"%s\" for %s", k->k_name, eq + 1, tok);
			return -1;
		}
		if (d < k->k_min || d > k->k_max) {
			snprintf(err, errsize, "%s: %s=%s is out of bounds", k->k_name, tok, eq + 1);
			return -1;
		}
		arr[r] = d;
	}
	return 0;
}

/* rg_config_apply - parse value by the key's type and store it. */
static int
rg_config_apply(struct rg_config *cfg, const struct rg_config_key *k, const char *value,
    char *err, size_t errsize)
{
	char *field = (char *)cfg + k->k_offset;
	int64_t v = 0;
	int idx;

	switch (k->k_type) {
	case RG_CFG_STRING:
		if (strlen(value) < (size_t)k->k_min) {
			snprintf(err, errsize, "%s: must not be empty", k->k_name);
			return -1;
		}
		if (rg_strlcpy(field, value, (size_t)k->k_max) >= (size_t)k->k_max) {
			snprintf(err, errsize, "%s: value longer than %" PRId64 " bytes",
			    k->k_name, k->k_max - 1);
			return -1;
		}
		return 0;
	case RG_CFG_ENUM:
		if ((idx = rg_config_choice(k->k_choices, value)) < 0) {
			snprintf(err, errsize, "%s: \"%s\" is not one of %s", k->k_name, value,
			    k->k_choices);
			return -1;
		}
		*(int64_t *)(void *)field = idx;
		return 0;
	case RG_CFG_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			v = 1;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
		    strcmp(value, "0") == 0)
			v = 0;
		else {
			snprintf(err, errsize, "%s: \"%s\" is not yes or no", k->k_name, value);
			return -1;
		}
		*(int64_t *)(void *)field = v;
		return 0;
	case RG_CFG_INT:
		if (rg_parse_int(value, &v) < 0) {
			snprintf(err, errsize, "%s: \"%s\" is not a number", k->k_name, value);
			return -1;
		}
		break;
	case RG_CFG_SIZE:
		if (rg_parse_size(value, &v) < 0) {
			snprintf(err, errsize, "%s: \"%s\" is not a size (like 64M)", k->k_name, value);
			return -1;
		}
		break;
	case RG_CFG_DURATION:
		if (rg_parse_duration(value, &v) < 0) {
			snprintf(err, errsize, "%s: \"%s\" is not a duration (like 30s, 5m, 3h, 31d)",
			    k->k_name, value);
			return -1;
		}
		break;
	case RG_CFG_MILLIS:
		if (rg_parse_millis(value, &v) < 0) {
			snprintf(err, errsize, "%s: \"%s\" is not a time (like 20ms, 2s)",
			    k->k_name, value);
			return -1;
		}
		break;
	case RG_CFG_REASON_DURATIONS:
	case RG_CFG_REASON_ACTIONS:
		return rg_config_reason_map(k, value, (int64_t *)(void *)field, err, errsize);
	case RG_CFG_OCTAL: {
		char *end;
		errno = 0;
		v = strtoll(value, &end, 8);
		if (errno != 0 || end == value || *end != '\0') {
			snprintf(err, errsize, "%s: \"%s\" is not an octal mode (like 0660)",
			    k->k_name, value);
			return -1;
		}
		break;
	}
	}
	if (v < k->k_min || v > k->k_max) {
		char lo[32], hi[32];
		if (k->k_type == RG_CFG_DURATION) {
			rg_format_duration(k->k_min, lo, sizeof(lo));
			rg_format_duration(k->k_max, hi, sizeof(hi));
		} else if (k->k_type == RG_CFG_MILLIS) {
			rg_format_millis(k->k_min, lo, sizeof(lo));
			rg_format_millis(k->k_max, hi, sizeof(hi));
		} else if (k->k_type == RG_CFG_SIZE) {
			rg_format_size(k->k_min, lo, sizeof(lo));
			rg_format_size(k->k_max, hi, sizeof(hi));
		} else if (k->k_type == RG_CFG_OCTAL) {
			snprintf(lo, sizeof(lo), "%04" PRIo64, k->k_min);
			snprintf(hi, sizeof(hi), "%04" PRIo64, k->k_max);
		} else {
			snprintf(lo, sizeof(lo), "%" PRId64, k->k_min);
			snprintf(hi, sizeof(hi), "%" PRId64, k->k_max);
		}
		snprintf(err, errsize, "%s: %s is out of bounds (%s..%s)", k->k_name, value, lo, hi);
		return -1;
	}
	*(int64_t *)(void *)field = v;
	return 0;
}

int
rg_config_set(struct rg_config *cfg, const char *section, const char *name,
    const char *value, char *err, size_t errsize)
{
	const struct rg_config_key *k = rg_config_find(section, name);

	if (k == NULL) {
		snprintf(err, errsize, "unknown key \"%s\"", name);
		return -1;
	}
	if (section != NULL && strcmp(section, k->k_section) != 0) {
		snprintf(err, errsize, "key \"%s\" belongs in section [%s], not [%s]", name,
		    k->k_section, section);
		return -1;
	}
	return rg_config_apply(cfg, k, value, err, errsize);
}

void
rg_config_defaults(struct rg_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < RG_ARRAY_LEN(rg_config_table); i++) {
		/* A default that fails its own table is a build defect; the unit test catches it. */
		if (rg_config_apply(cfg, &rg_config_table[i], rg_config_table[i].k_default,
		    err, sizeof(err)) < 0)
			abort();
	}
}

void
rg_config_format(const struct rg_config *cfg, const struct rg_config_key *k, char *buf,
    size_t size)
{
	const char *field = (const char *)cfg + k->k_offset;
	int64_t v = 0;

	if (k->k_type != RG_CFG_STRING)
		memcpy(&v, field, sizeof(v));
	switch (k->k_type) {
	case RG_CFG_STRING:
		rg_strlcpy(buf, field, size);
		break;
	case RG_CFG_ENUM:
		rg_config_choice_name(k->k_choices, v, buf, size);
		break;
	case RG_CFG_BOOL:
		rg_strlcpy(buf, v ? "yes" : "no", size);
		break;
	case RG_CFG_INT:
		snprintf(buf, size, "%" PRId64, v);
		break;
	case RG_CFG_SIZE:
		rg_format_size(v, buf, size);
		break;
	case RG_CFG_DURATION:
		rg_format_duration(v, buf, size);
		break;
	case RG_CFG_MILLIS:
		rg_format_millis(v, buf, size);
		break;
	case RG_CFG_OCTAL:
		snprintf(buf, size, "%04" PRIo64, v);
		break;
	case RG_CFG_REASON_DURATIONS:
	case RG_CFG_REASON_ACTIONS: {
		const int64_t *arr = (const int64_t *)(const void *)field;
		buf[0] = '\0';
		for (int r = 0; r < RG_REASON_COUNT; r++) {
			char d[32], item[96];
			if (arr[r] < 0)
				continue;
			if (k->k_type == RG_CFG_REASON_ACTIONS)
				rg_config_choice_name(k->k_choices, arr[r], d, sizeof(d));
			else
				rg_format_duration(arr[r], d, sizeof(d));
			snprintf(item, sizeof(item), "%s%s=%s", buf[0] ? ", " : "",
			    rg_verdict_reason_name((enum rg_reason)r), d);
			rg_strlcat(buf, item, size);
		}
		break;
	}
	}
}

/* Parser state shared by the reader and the handler. */
struct rg_config_parse {
	struct rg_config	*cfg;
	const char		*name;
	FILE			*fp;		/* file input */
	const char		*text;		/* or string input */
	int			 line;
	int			 err_line;
	char			*err;
	size_t			 errsize;
};

static void
rg_config_error(struct rg_config_parse *ps, int line, const char *msg)
{
	if (ps->err_line != 0)
		return;
	ps->err_line = line;
	snprintf(ps->err, ps->errsize, "%s:%d: %s", ps->name, line, msg);
}

/*
 * rg_config_reader - inih reader: one line per call, counted. A line that
 * does not fit inih's buffer is an error for that line and is replaced by an
 * empty comment, so inih never sees half a line.
 */
static char *
rg_config_reader(char *str, int num, void *stream)
{
	struct rg_config_parse *ps = stream;
	char line[4096];
	size_t len = 0;
	int truncated = 0;

	if (ps->fp != NULL) {
		if (fgets(line, sizeof(line), ps->fp) == NULL)
			return NULL;
		len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			int c;
			truncated = 1;
			while ((c = fgetc(ps->fp)) != EOF && c != '\n')
				;
		}
	} else {
		const char *nl;
		if (*ps->text == '\0')
			return NULL;
		nl = strchr(ps->text, '\n');
		len = nl ? (size_t)(nl - ps->text + 1) : strlen(ps->text);
		if (len >= sizeof(line)) {
			truncated = 1;
			len = sizeof(line) - 1;
		}
		memcpy(line, ps->text, len);
		line[len] = '\0';
		ps->text += nl ? (size_t)(nl - ps->text + 1) : strlen(ps->text);
	}
	ps->line++;
	if (truncated || len >= (size_t)num) {
		char msg[64];
		snprintf(msg, sizeof(msg), "line too long (at most %d bytes)", num - 2);
		rg_config_error(ps, ps->line, msg);
		rg_strlcpy(str, ";\n", (size_t)num);
		return str;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
			rg_config_error(ps, ps->line, "control character in line");
			rg_strlcpy(str, ";\n", (size_t)num);
			return str;
		}
	}
	memcpy(str, line, len + 1);
	return str;
}

static int
rg_config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct rg_config_parse *ps = user;
	char msg[512];

	if (section[0] == '\0') {
		snprintf(msg, sizeof(msg), "key \"%s\" outside any [section]", name);
		rg_config_error(ps, ps->line, msg);
		return 0;
	}
	if (!rg_config_section_known(section)) {
		snprintf(msg, sizeof(msg), "unknown section [%s]", section);
		rg_config_error(ps, ps->line, msg);
		return 0;
	}
	if (rg_config_set(ps->cfg, section, name, value, msg, sizeof(msg)) < 0) {
		rg_config_error(ps, ps->line, msg);
		return 0;
	}
	return 1;
}

int
rg_config_redis_server(const char *server, char *host, size_t hostsize, int *port, char *path,
    size_t pathsize, char *err, size_t errsize)
{
	const char *colon;
	char h[64];
	unsigned char buf[16];
	int64_t p;
	size_t n;

	host[0] = path[0] = '\0';
	if (strncmp(server, "unix:", 5) == 0) {
		if (server[5] != '/' || strlen(server + 5) >= pathsize) {
			snprintf(err, errsize, "redis server \"%s\": unix: needs an absolute path "
			    "shorter than %zu bytes", server, pathsize);
			return -1;
		}
		rg_strlcpy(path, server + 5, pathsize);
		return 0;
	}
	if (server[0] == '[') {
		const char *end = strchr(server, ']');
		if (end == NULL || end[1] != ':' || (n = (size_t)(end - server - 1)) >= sizeof(h))
			goto bad;
		memcpy(h, server + 1, n);
		h[n] = '\0';
		colon = end + 1;
		if (inet_pton(AF_INET6, h, buf) != 1)
			goto bad;
	} else {
		if ((colon = strrchr(server, ':')) == NULL ||
		    (n = (size_t)(colon - server)) >= sizeof(h))
			goto bad;
		memcpy(h, server, n);
		h[n] = '\0';
		if (strcmp(h, "localhost") == 0)
			rg_strlcpy(h, "127.0.0.1", sizeof(h));
		if (inet_pton(AF_INET, h, buf) != 1)
			goto bad;
	}
	if (rg_parse_int(colon + 1, &p) < 0 || p < 1 || p > 65535)
		goto bad;
	rg_strlcpy(host, h, hostsize);
	*port = (int)p;
	return 0;
bad:
	snprintf(err, errsize, "redis server \"%s\": expected IP:port, [IPv6]:port or unix:/path "
	    "(an address, not a name: a name would be resolved on the daemon's loop)", server);
	return -1;
}

/* rg_config_check - relations between keys that one key's bounds cannot express. */
static int
rg_config_check(struct rg_config_parse *ps)
{
	const struct rg_config *cfg = ps->cfg;
	char host[64], path[108], why[400];
	int port;

	if (cfg->map_size > cfg->map_size_max) {
		snprintf(ps->err, ps->errsize, "%s: map_size must not exceed map_size_max", ps->name);
		return -1;
	}
	for (int c = 0; c < RG_CLASS_COUNT; c++) {
		if (cfg->refresh[c] > cfg->ttl[c]) {
			snprintf(ps->err, ps->errsize, "%s: refresh_%s must not exceed ttl_%s",
			    ps->name, rg_verdict_class_name((enum rg_class)c),
			    rg_verdict_class_name((enum rg_class)c));
			return -1;
		}
	}
	if (cfg->redis_server[0] != '\0' && rg_config_redis_server(cfg->redis_server, host,
	    sizeof(host), &port, path, sizeof(path), why, sizeof(why)) < 0) {
		snprintf(ps->err, ps->errsize, "%s: %s", ps->name, why);
		return -1;
	}
	return 0;
}

static int
rg_config_run(struct rg_config_parse *ps)
{
	int rc = ini_parse_stream(rg_config_reader, ps, rg_config_handler, ps);

	if (rc < 0) {
		snprintf(ps->err, ps->errsize, "%s: cannot read: %s", ps->name, strerror(errno));
		return -1;
	}
	if (rc > 0 && (ps->err_line == 0 || rc < ps->err_line)) {
		ps->err_line = 0;
		rg_config_error(ps, rc, "syntax error (expected [section] or key = value)");
	}
	if (ps->err_line != 0)
		return -1;
	return rg_config_check(ps);
}

int
rg_config_load(struct rg_config *cfg, const char *path, int must_exist, char *err,
    size_t errsize)
{
	struct rg_config_parse ps = { .cfg = cfg, .name = path, .err = err, .errsize = errsize };
	int rc;

	rg_config_defaults(cfg);
	if ((ps.fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	rc = rg_config_run(&ps);
	fclose(ps.fp);
	if (rc == 0)
		rg_strlcpy(cfg->source, path, sizeof(cfg->source));
	return rc;
}

int
rg_config_parse_string(struct rg_config *cfg, const char *text, const char *name,
    char *err, size_t errsize)
{
	struct rg_config_parse ps = {
		.cfg = cfg, .name = name, .text = text, .err = err, .errsize = errsize
	};

	rg_config_defaults(cfg);
	return rg_config_run(&ps);
}

int
rg_config_cache_path(const struct rg_config *cfg, char *buf, size_t size)
{
	int n;

	if (cfg->cache_file[0] == '/')
		n = snprintf(buf, size, "%s", cfg->cache_file);
	else
		n = snprintf(buf, size, "%s/%s", cfg->state_dir, cfg->cache_file);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

void
rg_config_ttl(const struct rg_config *cfg, enum rg_class c, enum rg_reason r, int64_t *ttl,
    int64_t *refresh)
{
	*ttl = cfg->ttl[c];
	*refresh = cfg->refresh[c];
	if ((unsigned)r < RG_REASON_COUNT) {
		if (cfg->reason_ttl[r] >= 0)
			*ttl = cfg->reason_ttl[r];
		if (cfg->reason_refresh[r] >= 0)
			*refresh = cfg->reason_refresh[r];
	}
	if (*refresh > *ttl)
		*refresh = *ttl;
}
