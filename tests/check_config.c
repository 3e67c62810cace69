/*
 * Check suite for config.c: defaults against DESIGN §7, durations, every
 * key from a file and from the environment, refused values and lines, the
 * file loader and the example conf/herenow.conf.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hn.h"
#include "check_main.h"

/* Every key with a value other than its default. */
static const struct {
	const char	*key;
	const char	*value;
} custom[] = {
	{ "db", "/tmp/herenow-test.db" },
	{ "prefix", "/live/" },
	{ "heartbeat", "5s" },
	{ "stale_after", "1m" },
	{ "leave_grace", "500ms" },
	{ "broadcast_interval", "1s" },
	{ "site_interval", "10s" },
	{ "poll_interval", "50ms" },
	{ "sse_heartbeat", "15s" },
	{ "ws_ping", "2m" },
	{ "origins", "https://a.example  https://b.example:8443" },
	{ "fastcgi_upgrade", "on" },
	{ "tunnel_listen", "unix:/run/herenow/tunnel.sock" },
	{ "admin_token", "s3cret-token" },
	{ "trusted_proxies", "127.0.0.1 10.0.0.0/8 ::1" },
	{ "max_streams_per_addr", "8" },
	{ "max_sessions_per_visitor", "4" },
	{ "max_pages", "1000" },
	{ "max_streams", "200" },
};
#define NCUSTOM	(sizeof(custom) / sizeof(custom[0]))
#define PATH_BUF	4096

static void	 expect_defaults(const struct hn_config *);
static void	 expect_custom(const struct hn_config *);
static int	 cfg_equal(const struct hn_config *, const struct hn_config *);
static void	 env_name(char *, size_t, const char *);
static char	*write_temp(const char *, size_t);
static int	 parse_str(struct hn_config *, const char *, char *, size_t);

static void
expect_defaults(const struct hn_config *c)
{
	ck_assert_str_eq(c->db, "/var/lib/herenow/herenow.db");
	ck_assert_str_eq(c->prefix, "/herenow/");
	ck_assert_int_eq(c->heartbeat_ms, 10000);
	ck_assert_int_eq(c->stale_after_ms, 30000);
	ck_assert_int_eq(c->leave_grace_ms, 3000);
	ck_assert_int_eq(c->broadcast_interval_ms, 250);
	ck_assert_int_eq(c->site_interval_ms, 5000);
	ck_assert_int_eq(c->poll_interval_ms, 100);
	ck_assert_int_eq(c->sse_heartbeat_ms, 25000);
	ck_assert_int_eq(c->ws_ping_ms, 25000);
	ck_assert_str_eq(c->origins, "");
	ck_assert(!c->fastcgi_upgrade);
	ck_assert_str_eq(c->tunnel_listen, "");
	ck_assert_str_eq(c->admin_token, "");
	ck_assert_str_eq(c->trusted_proxies, "");
	ck_assert_uint_eq(c->max_streams_per_addr, 64);
	ck_assert_uint_eq(c->max_sessions_per_visitor, 16);
	ck_assert_uint_eq(c->max_pages, 100000);
	ck_assert_uint_eq(c->max_streams, 50000);
}

static void
expect_custom(const struct hn_config *c)
{
	ck_assert_str_eq(c->db, "/tmp/herenow-test.db");
	ck_assert_str_eq(c->prefix, "/live/");
	ck_assert_int_eq(c->heartbeat_ms, 5000);
	ck_assert_int_eq(c->stale_after_ms, 60000);
	ck_assert_int_eq(c->leave_grace_ms, 500);
	ck_assert_int_eq(c->broadcast_interval_ms, 1000);
	ck_assert_int_eq(c->site_interval_ms, 10000);
	ck_assert_int_eq(c->poll_interval_ms, 50);
	ck_assert_int_eq(c->sse_heartbeat_ms, 15000);
	ck_assert_int_eq(c->ws_ping_ms, 120000);
	ck_assert_str_eq(c->origins,
	    "https://a.example  https://b.example:8443");
	ck_assert(c->fastcgi_upgrade);
	ck_assert_str_eq(c->tunnel_listen, "unix:/run/herenow/tunnel.sock");
	ck_assert_str_eq(c->admin_token, "s3cret-token");
	ck_assert_str_eq(c->trusted_proxies, "127.0.0.1 10.0.0.0/8 ::1");
	ck_assert_uint_eq(c->max_streams_per_addr, 8);
	ck_assert_uint_eq(c->max_sessions_per_visitor, 4);
	ck_assert_uint_eq(c->max_pages, 1000);
	ck_assert_uint_eq(c->max_streams, 200);
}

/* Field by field: padding bytes may differ between equal configs. */
static int
cfg_equal(const struct hn_config *a, const struct hn_config *b)
{
	return strcmp(a->db, b->db) == 0 &&
	    strcmp(a->prefix, b->prefix) == 0 &&
	    a->heartbeat_ms == b->heartbeat_ms &&
	    a->stale_after_ms == b->stale_after_ms &&
	    a->leave_grace_ms == b->leave_grace_ms &&
	    a->broadcast_interval_ms == b->broadcast_interval_ms &&
	    a->site_interval_ms == b->site_interval_ms &&
	    a->poll_interval_ms == b->poll_interval_ms &&
	    a->sse_heartbeat_ms == b->sse_heartbeat_ms &&
	    a->ws_ping_ms == b->ws_ping_ms &&
	    strcmp(a->origins, b->origins) == 0 &&
	    a->fastcgi_upgrade == b->fastcgi_upgrade &&
	    strcmp(a->tunnel_listen, b->tunnel_listen) == 0 &&
	    strcmp(a->admin_token, b->admin_token) == 0 &&
	    strcmp(a->trusted_proxies, b->trusted_proxies) == 0 &&
	    a->max_streams_per_addr == b->max_streams_per_addr &&
	    a->max_sessions_per_visitor == b->max_sessions_per_visitor &&
	    a->max_pages == b->max_pages &&
	    a->max_streams == b->max_streams;
}

/* "stale_after" -> "HERENOW_STALE_AFTER" */
static void
env_name(char *out, size_t outsz, const char *key)
{
	size_t	i, n = strlen("HERENOW_");

	ck_assert_uint_lt(n + strlen(key), outsz);
	memcpy(out, "HERENOW_", n);
	for (i = 0; key[i] != '\0'; i++)
		out[n + i] = (key[i] >= 'a' && key[i] <= 'z') ?
		    (char)(key[i] - 'a' + 'A') : key[i];
	out[n + i] = '\0';
}

/* A temporary file holding len bytes of text; the caller unlinks and
 * frees the returned path. */
static char *
write_temp(const char *text, size_t len)
{
	const char	*dir = getenv("TMPDIR");
	char		*path;
	int		 fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	ck_assert_ptr_nonnull(path = malloc(PATH_BUF));
	ck_assert_int_lt(snprintf(path, PATH_BUF, "%s/check_config.XXXXXX",
	    dir), PATH_BUF);
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	return path;
}

static int
parse_str(struct hn_config *c, const char *text, char *err, size_t errsz)
{
	return hn_config_parse(c, text, strlen(text), err, errsz);
}

/* ---- defaults ---------------------------------------------------------- */

START_TEST(test_defaults)
{
	struct hn_config	c;
	char			err[256];

	memset(&c, 0xa5, sizeof(c));
	hn_config_defaults(&c);
	expect_defaults(&c);
	ck_assert_int_eq(hn_config_check(&c, err, sizeof(err)), HN_OK);
}
END_TEST

START_TEST(test_empty_inputs)
{
	struct hn_config	c;
	char			err[256];
	char			*envp[] = { NULL };

	hn_config_defaults(&c);
	ck_assert_int_eq(hn_config_parse(&c, NULL, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_str(&c, "", err, sizeof(err)), 0);
	ck_assert_int_eq(parse_str(&c, "\n\n  \t\n# only comments\n",
	    err, sizeof(err)), 0);
	ck_assert_int_eq(hn_config_env(&c, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(hn_config_env(&c, envp, err, sizeof(err)), 0);
	expect_defaults(&c);
}
END_TEST

/* ---- durations --------------------------------------------------------- */

static const struct {
	const char	*in;
	int		 rc;
	int64_t		 ms;
} durations[] = {
	{ "250ms", 0, 250 },
	{ "3s", 0, 3000 },
	{ "2m", 0, 120000 },
	{ "1h", 0, 3600000 },
	{ "0ms", 0, 0 },
	{ "0s", 0, 0 },
	{ "007s", 0, 7000 },
	{ "1500ms", 0, 1500 },
	{ "24h", 0, 86400000 },
	{ "9223372036854775807ms", 0, INT64_MAX },
	{ "9223372036854775s", 0, INT64_C(9223372036854775000) },
	{ "", HN_EINVAL, 0 },
	{ "3", HN_EINVAL, 0 },
	{ "0", HN_EINVAL, 0 },
	{ "-3s", HN_EINVAL, 0 },
	{ "+3s", HN_EINVAL, 0 },
	{ " 3s", HN_EINVAL, 0 },
	{ "3s ", HN_EINVAL, 0 },
	{ "3 s", HN_EINVAL, 0 },
	{ "3sx", HN_EINVAL, 0 },
	{ "3ss", HN_EINVAL, 0 },
	{ "3ms5", HN_EINVAL, 0 },
	{ "3S", HN_EINVAL, 0 },
	{ "3d", HN_EINVAL, 0 },
	{ "3us", HN_EINVAL, 0 },
	{ "1.5s", HN_EINVAL, 0 },
	{ "s", HN_EINVAL, 0 },
	{ "ms", HN_EINVAL, 0 },
	{ "0x10s", HN_EINVAL, 0 },
	{ "9223372036854775808ms", HN_EINVAL, 0 },
	{ "9223372036854776s", HN_EINVAL, 0 },
	{ "2562047788015216h", HN_EINVAL, 0 },
	{ "99999999999999999999999h", HN_EINVAL, 0 },
};

START_TEST(test_duration)
{
	int64_t	ms = -42;
	int	rc;

	rc = hn_duration_parse(durations[_i].in, &ms);
	ck_assert_msg(rc == durations[_i].rc, "\"%s\": rc %d, want %d",
	    durations[_i].in, rc, durations[_i].rc);
	if (rc == 0)
		ck_assert_msg(ms == durations[_i].ms, "\"%s\": %lld ms",
		    durations[_i].in, (long long)ms);
	else
		ck_assert_int_eq(ms, -42);	/* untouched on error */
}
END_TEST

START_TEST(test_duration_null)
{
	int64_t	ms = 1;

	ck_assert_int_eq(hn_duration_parse(NULL, &ms), HN_EINVAL);
	ck_assert_int_eq(ms, 1);
}
END_TEST

/* ---- every key, three ways --------------------------------------------- */

START_TEST(test_set_all)
{
	struct hn_config	c;
	char			err[256];
	size_t			i;

	hn_config_defaults(&c);
	for (i = 0; i < NCUSTOM; i++)
		ck_assert_msg(hn_config_set(&c, custom[i].key,
		    custom[i].value, err, sizeof(err)) == 0, "%s: %s",
		    custom[i].key, err);
	expect_custom(&c);
	ck_assert_int_eq(hn_config_check(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_file_all)
{
	struct hn_config	c;
	char			text[4096], err[256];
	size_t			i, off = 0;

	for (i = 0; i < NCUSTOM; i++) {
		int n = snprintf(text + off, sizeof(text) - off, "%s = %s\n",
		    custom[i].key, custom[i].value);
		ck_assert(n > 0 && (size_t)n < sizeof(text) - off);
		off += (size_t)n;
	}
	hn_config_defaults(&c);
	ck_assert_msg(parse_str(&c, text, err, sizeof(err)) == 0, "%s", err);
	expect_custom(&c);
}
END_TEST

START_TEST(test_env_all)
{
	struct hn_config	c;
	char			vars[NCUSTOM + 4][128], *envp[NCUSTOM + 4];
	char			name[64], err[256];
	size_t			i, n = 0;

	for (i = 0; i < NCUSTOM; i++) {
		env_name(name, sizeof(name), custom[i].key);
		snprintf(vars[n], sizeof(vars[n]), "%s=%s", name,
		    custom[i].value);
		envp[n] = vars[n];
		n++;
	}
	/* Not ours, or the file's path: ignored. */
	snprintf(vars[n], sizeof(vars[n]), "PATH=/usr/bin");
	envp[n] = vars[n], n++;
	snprintf(vars[n], sizeof(vars[n]), "HERENOW_CONFIG=/etc/x.conf");
	envp[n] = vars[n], n++;
	snprintf(vars[n], sizeof(vars[n]), "HERENOWDB=/nowhere");
	envp[n] = vars[n], n++;
	envp[n] = NULL;

	hn_config_defaults(&c);
	ck_assert_msg(hn_config_env(&c, envp, err, sizeof(err)) == 0, "%s",
	    err);
	expect_custom(&c);
}
END_TEST

/* One key at a time, from the file and the environment: only it changes. */
START_TEST(test_each_key)
{
	struct hn_config	 def, viaset, viafile, viaenv;
	char			 text[256], var[256], name[64], err[256];
	char			*envp[2] = { var, NULL };

	hn_config_defaults(&def);
	viaset = viafile = viaenv = def;
	ck_assert_int_eq(hn_config_set(&viaset, custom[_i].key,
	    custom[_i].value, err, sizeof(err)), 0);
	ck_assert_msg(!cfg_equal(&viaset, &def), "%s did not change",
	    custom[_i].key);

	snprintf(text, sizeof(text), "%s=%s", custom[_i].key,
	    custom[_i].value);
	ck_assert_int_eq(parse_str(&viafile, text, err, sizeof(err)), 0);
	ck_assert(cfg_equal(&viafile, &viaset));

	env_name(name, sizeof(name), custom[_i].key);
	snprintf(var, sizeof(var), "%s=%s", name, custom[_i].value);
	ck_assert_int_eq(hn_config_env(&viaenv, envp, err, sizeof(err)), 0);
	ck_assert(cfg_equal(&viaenv, &viaset));
}
END_TEST

START_TEST(test_env_overrides_file)
{
	struct hn_config	 c;
	char			*path, err[256];
	char			*envp[] = {
		"HERENOW_HEARTBEAT=2s",
		"HERENOW_ORIGINS=https://env.example",
		NULL
	};
	const char		*text =
	    "heartbeat = 7s\norigins = https://file.example\nmax_pages = 9\n";

	path = write_temp(text, strlen(text));
	hn_config_defaults(&c);
	ck_assert_msg(hn_config_load(&c, path, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_eq(c.heartbeat_ms, 7000);
	ck_assert_int_eq(hn_config_env(&c, envp, err, sizeof(err)), 0);
	ck_assert_int_eq(c.heartbeat_ms, 2000);
	ck_assert_str_eq(c.origins, "https://env.example");
	ck_assert_uint_eq(c.max_pages, 9);	/* the file's, untouched */
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_values_accepted)
{
	static const struct {
		const char	*key, *value;
	} ok[] = {
		{ "fastcgi_upgrade", "off" }, { "fastcgi_upgrade", "yes" },
		{ "fastcgi_upgrade", "no" }, { "fastcgi_upgrade", "true" },
		{ "fastcgi_upgrade", "FALSE" }, { "fastcgi_upgrade", "1" },
		{ "fastcgi_upgrade", "0" }, { "fastcgi_upgrade", "On" },
		{ "prefix", "/" }, { "prefix", "/a/b/" },
		{ "heartbeat", "100ms" }, { "heartbeat", "1h" },
		{ "broadcast_interval", "0ms" },
		{ "broadcast_interval", "60s" },
		{ "poll_interval", "10ms" }, { "poll_interval", "10s" },
		{ "max_pages", "1" }, { "max_pages", "10000000" },
		{ "max_streams", "0050" },
		{ "origins", "" }, { "origins", "  https://x.example  " },
		{ "origins", "http://localhost:8080 https://b.example" },
		{ "admin_token", "" }, { "tunnel_listen", "127.0.0.1:7000" },
		{ "admin_token", "a\"b#c d" },
	};
	struct hn_config	c;
	char			err[256];
	size_t			i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		hn_config_defaults(&c);
		ck_assert_msg(hn_config_set(&c, ok[i].key, ok[i].value, err,
		    sizeof(err)) == 0, "%s = %s: %s", ok[i].key, ok[i].value,
		    err);
	}
	hn_config_defaults(&c);
	ck_assert_int_eq(hn_config_set(&c, "fastcgi_upgrade", "yes", err,
	    sizeof(err)), 0);
	ck_assert(c.fastcgi_upgrade);
	ck_assert_int_eq(hn_config_set(&c, "fastcgi_upgrade", "0", err,
	    sizeof(err)), 0);
	ck_assert(!c.fastcgi_upgrade);
	ck_assert_int_eq(hn_config_set(&c, "origins", "  https://x.example ",
	    err, sizeof(err)), 0);
	ck_assert_str_eq(c.origins, "https://x.example");
	ck_assert_int_eq(hn_config_set(&c, "max_streams", "0050", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(c.max_streams, 50);
	/* The longest string that fits, then shorter: no stale tail. */
	{
		char	long_tok[sizeof(c.admin_token)];

		memset(long_tok, 'x', sizeof(long_tok) - 1);
		long_tok[sizeof(long_tok) - 1] = '\0';
		ck_assert_int_eq(hn_config_set(&c, "admin_token", long_tok,
		    err, sizeof(err)), 0);
		ck_assert_str_eq(c.admin_token, long_tok);
		ck_assert_int_eq(hn_config_set(&c, "admin_token", "ab", err,
		    sizeof(err)), 0);
		ck_assert_int_eq(c.admin_token[3], '\0');
		ck_assert_int_eq(c.admin_token[sizeof(c.admin_token) - 2],
		    '\0');
	}
}
END_TEST

/* ---- refused values ---------------------------------------------------- */

static char	long_db[1100], long_origins[2100], long_prefix[200];
static char	long_token[300], long_tunnel[300];

static const struct {
	const char	*key;
	const char	*value;
	const char	*why;		/* a part of the message */
} bad[] = {
	{ "heartbeat", "3", "needs a unit (ms, s, m, h)" },
	{ "stale_after", "", "empty" },
	{ "leave_grace", "-1s", "not a duration" },
	{ "leave_grace", "11m", "out of range (0ms..10m)" },
	{ "broadcast_interval", "61s", "out of range (0ms..1m)" },
	{ "poll_interval", "5ms", "out of range (10ms..10s)" },
	{ "poll_interval", "11s", "out of range" },
	{ "heartbeat", "50ms", "out of range (100ms..1h)" },
	{ "heartbeat", "2h", "out of range" },
	{ "stale_after", "500ms", "out of range" },
	{ "site_interval", "5s junk", "unknown unit" },
	{ "sse_heartbeat", "1.5s", "whole number" },
	{ "ws_ping", "99999999999999999999h", "too large" },
	{ "ws_ping", "3d", "unknown unit" },
	{ "ws_ping", "0s", "out of range" },
	{ "max_pages", "0", "out of range (1..10000000)" },
	{ "max_pages", "10000001", "out of range" },
	{ "max_streams", "-5", "not a whole number" },
	{ "max_streams", "0x10", "not a whole number" },
	{ "max_streams", "1e6", "not a whole number" },
	{ "max_streams_per_addr", "12abc", "not a whole number" },
	{ "max_streams_per_addr", "4.0", "not a whole number" },
	{ "max_sessions_per_visitor", "", "empty" },
	{ "max_sessions_per_visitor", "99999999999999999999999", "too large" },
	{ "fastcgi_upgrade", "maybe", "not a boolean" },
	{ "fastcgi_upgrade", "", "not a boolean" },
	{ "fastcgi_upgrade", "onn", "not a boolean" },
	{ "prefix", "herenow/", "start and end with '/'" },
	{ "prefix", "/herenow", "start and end with '/'" },
	{ "prefix", "", "start and end with '/'" },
	{ "prefix", "/her now/", "plain path" },
	{ "prefix", "/a?b/", "plain path" },
	{ "prefix", long_prefix, "too long" },
	{ "db", "", "must not be empty" },
	{ "db", ":memory:", "cannot be shared" },
	{ "db", long_db, "too long (1099 bytes, at most 1023)" },
	{ "admin_token", long_token, "too long" },
	{ "admin_token", "a\001b", "control character" },
	{ "tunnel_listen", long_tunnel, "too long" },
	{ "origins", "https://a.example/", "no path" },
	{ "origins", "https://a.example/blog", "no path" },
	{ "origins", "a.example", "scheme://host" },
	{ "origins", "https://", "scheme://host" },
	{ "origins", "https://ok.example *", "scheme://host" },
	{ "origins", "https://A.example", "lower case" },
	{ "trusted_proxies", "localhost", "address or network" },
	{ "trusted_proxies", "10.0.0.0/33", "address or network" },
	{ "origins", long_origins, "too long" },
};
#define NBAD	(sizeof(bad) / sizeof(bad[0]))

static void
fill_long(void)
{
	memset(long_db, 'd', sizeof(long_db) - 1);
	long_db[0] = '/';
	memset(long_prefix, 'p', sizeof(long_prefix) - 1);
	long_prefix[0] = long_prefix[sizeof(long_prefix) - 2] = '/';
	memset(long_token, 't', sizeof(long_token) - 1);
	memset(long_tunnel, 'u', sizeof(long_tunnel) - 1);
	memset(long_origins, 'o', sizeof(long_origins) - 1);
	memcpy(long_origins, "https://", 8);
}

/* A starting point with every key away from its default, so a refused
 * value that reset anything would show. */
static void
custom_config(struct hn_config *c)
{
	char	err[256];
	size_t	i;

	hn_config_defaults(c);
	for (i = 0; i < NCUSTOM; i++)
		ck_assert_int_eq(hn_config_set(c, custom[i].key,
		    custom[i].value, err, sizeof(err)), 0);
}

START_TEST(test_bad_set)
{
	struct hn_config	c, before;
	char			err[512];

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	memset(err, 0, sizeof(err));
	ck_assert_int_eq(hn_config_set(&c, bad[_i].key, bad[_i].value, err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_msg(strncmp(err, bad[_i].key, strlen(bad[_i].key)) == 0 &&
	    err[strlen(bad[_i].key)] == ':', "%s = \"%.20s\": %s",
	    bad[_i].key, bad[_i].value, err);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "want \"%s\" in: %s",
	    bad[_i].why, err);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_bad_file)
{
	struct hn_config	c, before;
	char			text[4096], err[512], want[64];

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	/* Line 1 is valid and would change another key; line 3 is
	 * refused. */
	snprintf(text, sizeof(text), "%s\n\n%s = %s\nmax_pages = 5\n",
	    strcmp(bad[_i].key, "db") == 0 ? "heartbeat = 2s" :
	    "db = /elsewhere.db", bad[_i].key, bad[_i].value);
	ck_assert_int_eq(parse_str(&c, text, err, sizeof(err)), HN_EINVAL);
	snprintf(want, sizeof(want), "line 3: %s:", bad[_i].key);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "want \"%s\" in: %s",
	    bad[_i].why, err);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_bad_env)
{
	struct hn_config	 c, before;
	char			 var[4096], name[64], err[512], want[80];
	char			*envp[] = { "HERENOW_DB=/elsewhere.db", var,
				    "HERENOW_MAX_PAGES=5", NULL };

	/* A key set twice in the environment is simply set twice; the
	 * refused variable comes second either way. */

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	env_name(name, sizeof(name), bad[_i].key);
	snprintf(var, sizeof(var), "%s=%s", name, bad[_i].value);
	ck_assert_int_eq(hn_config_env(&c, envp, err, sizeof(err)), HN_EINVAL);
	snprintf(want, sizeof(want), "%s:", name);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "want \"%s\" in: %s",
	    bad[_i].why, err);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_message_example)
{
	struct hn_config	c;
	char			err[256];

	hn_config_defaults(&c);
	ck_assert_int_eq(hn_config_set(&c, "stale_after", "3", err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_str_eq(err, "stale_after: \"3\" needs a unit (ms, s, m, h)");
	/* Durations echo the value, bounded and made printable. */
	ck_assert_int_eq(hn_config_set(&c, "heartbeat",
	    "1\033[2J00000000000000000000000000000000000000000000000", err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_ptr_null(strchr(err, '\033'));
	ck_assert_ptr_nonnull(strstr(err, "...\""));
	/* A secret is never echoed. */
	ck_assert_int_eq(hn_config_set(&c, "admin_token", long_token, err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_ptr_null(strstr(err, "ttt"));
}
END_TEST

START_TEST(test_bad_key)
{
	struct hn_config	 c, before;
	char			 err[256];
	char			*envp[] = { "HERENOW_NOSUCH=1", NULL };
	char			*envp2[] = { "HERENOW_db=/x.db", NULL };
	char			*envp3[] = { "HERENOW_=1", NULL };

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	ck_assert_int_eq(hn_config_set(&c, "nosuch", "1", err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "\"nosuch\""));
	ck_assert_int_eq(hn_config_set(&c, "DB", "/x.db", err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "DB"));
	ck_assert_int_eq(hn_config_set(&c, NULL, "1", err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_int_eq(hn_config_set(&c, "db", NULL, err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_int_eq(hn_config_env(&c, envp, err, sizeof(err)), HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "HERENOW_NOSUCH"));
	ck_assert_int_eq(hn_config_env(&c, envp2, err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "HERENOW_db"));
	ck_assert_int_eq(hn_config_env(&c, envp3, err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "HERENOW_"));
	/* No room for a message, or none at all: still refused. */
	ck_assert_int_eq(hn_config_set(&c, "nosuch", "1", err, 0), HN_EINVAL);
	ck_assert_int_eq(hn_config_set(&c, "nosuch", "1", NULL, 0),
	    HN_EINVAL);
	ck_assert_int_eq(hn_config_set(&c, "heartbeat", "1", err, 8),
	    HN_EINVAL);
	ck_assert_uint_eq(strlen(err), 7);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

/* ---- file syntax ------------------------------------------------------- */

START_TEST(test_syntax_ok)
{
	struct hn_config	c;
	char			err[256];
	const char		*text =
	    "# a comment\n"
	    "   # an indented comment\n"
	    "\n"
	    "\t \n"
	    "  heartbeat\t=\t5s  \n"
	    "stale_after=1m\n"
	    "origins = https://a.example https://b.example # two blogs\n"
	    "admin_token = \"s3cret # not a comment\"   # but this is\n"
	    "tunnel_listen = unix:/run/x#y\n"
	    "db = \"\"\n"
	    "prefix = \"/live/\"\n"
	    "max_pages = 12 #\n"
	    "max_streams = #nothing\n";

	hn_config_defaults(&c);
	ck_assert_int_eq(parse_str(&c, text, err, sizeof(err)), HN_EINVAL);
	ck_assert_msg(strstr(err, "line 10: db:") != NULL, "%s", err);

	/* The same without the refused empty db and empty max_streams. */
	text =
	    "# a comment\n"
	    "   # an indented comment\n"
	    "\n"
	    "\t \n"
	    "  heartbeat\t=\t5s  \n"
	    "stale_after=1m\n"
	    "origins = https://a.example https://b.example # two blogs\n"
	    "admin_token = \"s3cret # not a comment\"   # but this is\n"
	    "tunnel_listen = unix:/run/x#y\n"
	    "prefix = \"/live/\"\n"
	    "max_pages = 12 #\n"
	    "fastcgi_upgrade = \"yes\"#c\n"
	    "site_interval = \"  7s  \"\n"
	    "db = /x.db";	/* no final newline */
	hn_config_defaults(&c);
	ck_assert_msg(parse_str(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.heartbeat_ms, 5000);
	ck_assert_int_eq(c.stale_after_ms, 60000);
	ck_assert_str_eq(c.origins, "https://a.example https://b.example");
	ck_assert_str_eq(c.admin_token, "s3cret # not a comment");
	ck_assert_str_eq(c.tunnel_listen, "unix:/run/x#y");
	ck_assert_str_eq(c.prefix, "/live/");
	ck_assert_uint_eq(c.max_pages, 12);
	ck_assert(c.fastcgi_upgrade);
	ck_assert_int_eq(c.site_interval_ms, 7000);
	ck_assert_str_eq(c.db, "/x.db");

	/* Empty values, plain and quoted, for strings that allow them. */
	custom_config(&c);
	ck_assert_int_eq(parse_str(&c, "origins =\nadmin_token = \"\"\n"
	    "tunnel_listen = # none\n", err, sizeof(err)), 0);
	ck_assert_str_eq(c.origins, "");
	ck_assert_str_eq(c.admin_token, "");
	ck_assert_str_eq(c.tunnel_listen, "");
}
END_TEST

START_TEST(test_syntax_crlf)
{
	struct hn_config	c;
	char			err[256];

	hn_config_defaults(&c);
	ck_assert_int_eq(parse_str(&c, "# dos\r\nheartbeat = 5s\r\n\r\n"
	    "admin_token = abc\r\norigins = \"https://a.example\"\r\n"
	    "prefix = /p/\r", err, sizeof(err)), 0);
	ck_assert_int_eq(c.heartbeat_ms, 5000);
	ck_assert_str_eq(c.admin_token, "abc");
	ck_assert_str_eq(c.origins, "https://a.example");
	ck_assert_str_eq(c.prefix, "/p/");

	/* Line numbers still count CR LF lines once. */
	ck_assert_int_eq(parse_str(&c, "\r\n\r\nnosuch = 1\r\n", err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "line 3:"));
}
END_TEST

static const struct {
	const char	*text;
	const char	*want[2];	/* parts of the message */
} bad_lines[] = {
	{ "heartbeat 5s\n", { "line 1: \"heartbeat\"", "missing '='" } },
	{ "\n\nheartbeat\n", { "line 3: \"heartbeat\"", "missing '='" } },
	{ "= 5s\n", { "line 1:", "missing key" } },
	{ "nosuch = 1\n", { "line 1: unknown key \"nosuch\"", "" } },
	{ "Heartbeat = 5s\n", { "line 1:", "\"Heartbeat\"" } },
	{ "heartbeat = 5s\nheartbeat = 6s\n",
	    { "line 2: heartbeat: duplicate", "line 1" } },
	{ "admin_token = \"abc\n", { "line 1: admin_token:", "quote" } },
	{ "admin_token = \"abc\" def\n",
	    { "line 1: admin_token:", "after the closing quote" } },
	{ "heartbeat = \"5\"\n", { "line 1: heartbeat:", "needs a unit" } },
	{ "heartbeat = 5s#x\n", { "line 1: heartbeat:", "unit" } },
	{ "admin_token = a\rb\n", { "line 1: admin_token:", "control" } },
	{ "# ok\nheartbeat = 5s\r\r\n", { "line 2: heartbeat:", "unit" } },
};

START_TEST(test_syntax_bad)
{
	struct hn_config	c, before;
	char			err[256];

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	ck_assert_int_eq(parse_str(&c, bad_lines[_i].text, err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_msg(strstr(err, bad_lines[_i].want[0]) != NULL &&
	    strstr(err, bad_lines[_i].want[1]) != NULL, "%s", err);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_syntax_nul_and_size)
{
	struct hn_config	 c, before;
	char			 err[256];
	char			*big;
	const char		 text[] = "heartbeat = 5s\nadmin_token = a\0b\n";

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	ck_assert_int_eq(hn_config_parse(&c, text, sizeof(text) - 1, err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "line 2: NUL"));
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);

	/* Exactly the limit parses; one byte more does not. */
	ck_assert_ptr_nonnull(big = malloc(HN_CONFIG_FILE_MAX + 1));
	memset(big, '#', HN_CONFIG_FILE_MAX + 1);
	ck_assert_int_eq(hn_config_parse(&c, big, HN_CONFIG_FILE_MAX, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(hn_config_parse(&c, big, HN_CONFIG_FILE_MAX + 1, err,
	    sizeof(err)), HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "65537"));
	free(big);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

/* ---- the file loader --------------------------------------------------- */

START_TEST(test_load)
{
	struct hn_config	 c;
	char			 err[512];
	char			*path;
	const char		*text = "heartbeat = 4s\nmax_streams = 10\n";

	path = write_temp(text, strlen(text));
	hn_config_defaults(&c);
	ck_assert_msg(hn_config_load(&c, path, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_eq(c.heartbeat_ms, 4000);
	ck_assert_uint_eq(c.max_streams, 10);
	unlink(path);

	/* Missing now: an error naming the file, errno set. */
	errno = 0;
	ck_assert_int_eq(hn_config_load(&c, path, err, sizeof(err)), HN_EIO);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(c.heartbeat_ms, 4000);
	free(path);

	/* A directory is not a config file. */
	ck_assert_int_ne(hn_config_load(&c, "/", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_load_errors)
{
	struct hn_config	 c, before;
	char			 err[512];
	char			*path, *big;
	const char		*text = "heartbeat = 4s\nnosuch = 1\n";

	custom_config(&c);
	memcpy(&before, &c, sizeof(c));
	path = write_temp(text, strlen(text));
	ck_assert_int_eq(hn_config_load(&c, path, err, sizeof(err)),
	    HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "line 2: unknown key \"nosuch\""));
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	unlink(path);
	free(path);

	/* Comment lines up to exactly the limit load; one byte more does
	 * not. */
	ck_assert_ptr_nonnull(big = malloc(HN_CONFIG_FILE_MAX + 1));
	memset(big, '#', HN_CONFIG_FILE_MAX + 1);
	for (size_t i = 79; i < HN_CONFIG_FILE_MAX; i += 80)
		big[i] = '\n';
	path = write_temp(big, HN_CONFIG_FILE_MAX);
	ck_assert_msg(hn_config_load(&c, path, err, sizeof(err)) == 0, "%s",
	    err);
	unlink(path);
	free(path);
	path = write_temp(big, HN_CONFIG_FILE_MAX + 1);
	ck_assert_int_eq(hn_config_load(&c, path, err, sizeof(err)),
	    HN_ETOOBIG);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	unlink(path);
	free(path);
	free(big);
}
END_TEST

/* ---- the example conf/herenow.conf ------------------------------------- */

/* Finds conf/herenow.conf from $srcdir, the current directory or "..". */
static char *
example_path(void)
{
	const char	*dirs[] = { getenv("srcdir"), ".", ".." };
	char		*path;
	size_t		 i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (dirs[i] == NULL || *dirs[i] == '\0')
			continue;
		ck_assert_ptr_nonnull(path = malloc(PATH_BUF));
		ck_assert_int_lt(snprintf(path, PATH_BUF,
		    "%s/conf/herenow.conf", dirs[i]), PATH_BUF);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	ck_abort_msg("conf/herenow.conf not found (set srcdir)");
	return NULL;
}

START_TEST(test_example_conf)
{
	struct hn_config	 c;
	char			 err[512];
	char			*path;

	path = example_path();
	memset(&c, 0, sizeof(c));
	hn_config_defaults(&c);
	ck_assert_msg(hn_config_load(&c, path, err, sizeof(err)) == 0, "%s",
	    err);
	expect_defaults(&c);
	free(path);
}
END_TEST

/*
 * Every "#key = value" line of the example, uncommented, must parse and
 * give the defaults: the file lists every key, once, with its true
 * default.  Descriptions are "# text", so they stay comments.
 */
START_TEST(test_example_conf_uncommented)
{
	struct hn_config	 c;
	char			 err[512], *path, *text, *out;
	FILE			*f;
	size_t			 len, o = 0, i, j;

	path = example_path();
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(text = malloc(HN_CONFIG_FILE_MAX + 1));
	ck_assert_ptr_nonnull(out = malloc(HN_CONFIG_FILE_MAX + 1));
	len = fread(text, 1, HN_CONFIG_FILE_MAX, f);
	fclose(f);
	text[len] = '\0';

	for (i = 0; i < len; i++) {
		bool bol = i == 0 || text[i - 1] == '\n';

		if (bol && text[i] == '#' && i + 1 < len &&
		    text[i + 1] >= 'a' && text[i + 1] <= 'z')
			continue;	/* drop the '#' of a setting */
		out[o++] = text[i];
	}
	out[o] = '\0';
	for (j = 0; j < NCUSTOM; j++) {
		char		 want[64];
		const char	*at;

		snprintf(want, sizeof(want), "\n%s =", custom[j].key);
		at = strstr(out, want);
		ck_assert_msg(at != NULL && (at[strlen(want)] == ' ' ||
		    at[strlen(want)] == '\n'), "%s missing from %s",
		    custom[j].key, path);
	}
	memset(&c, 0, sizeof(c));
	hn_config_defaults(&c);
	ck_assert_msg(parse_str(&c, out, err, sizeof(err)) == 0, "%s", err);
	expect_defaults(&c);
	free(text);
	free(out);
	free(path);
}
END_TEST

/* ---- cross-key checks -------------------------------------------------- */

START_TEST(test_check)
{
	struct hn_config	c;
	char			err[256];

	hn_config_defaults(&c);
	c.stale_after_ms = c.heartbeat_ms;
	ck_assert_int_eq(hn_config_check(&c, err, sizeof(err)), HN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "stale_after"));
	ck_assert_ptr_nonnull(strstr(err, "heartbeat"));
	ck_assert_str_eq(err,
	    "stale_after (10s) must be longer than heartbeat (10s)");
	c.stale_after_ms = 1000;
	ck_assert_int_eq(hn_config_check(&c, err, sizeof(err)), HN_EINVAL);
	c.stale_after_ms = c.heartbeat_ms + 1;
	ck_assert_int_eq(hn_config_check(&c, err, sizeof(err)), 0);

	/* Parse leaves it to check: each value is fine on its own. */
	hn_config_defaults(&c);
	ck_assert_int_eq(parse_str(&c, "heartbeat = 1m\n", err, sizeof(err)),
	    0);
	ck_assert_int_eq(hn_config_check(&c, err, sizeof(err)), HN_EINVAL);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc;

	tc = tcase_create("defaults");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_inputs);
	suite_add_tcase(s, tc);

	tc = tcase_create("durations");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_duration, 0,
	    sizeof(durations) / sizeof(durations[0]));
	tcase_add_test(tc, test_duration_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_set_all);
	tcase_add_test(tc, test_file_all);
	tcase_add_test(tc, test_env_all);
	tcase_add_loop_test(tc, test_each_key, 0, NCUSTOM);
	tcase_add_test(tc, test_env_overrides_file);
	tcase_add_test(tc, test_values_accepted);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_set_timeout(tc, 10);
	tcase_add_unchecked_fixture(tc, fill_long, NULL);
	tcase_add_loop_test(tc, test_bad_set, 0, NBAD);
	tcase_add_loop_test(tc, test_bad_file, 0, NBAD);
	tcase_add_loop_test(tc, test_bad_env, 0, NBAD);
	tcase_add_test(tc, test_message_example);
	tcase_add_test(tc, test_bad_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_syntax_ok);
	tcase_add_test(tc, test_syntax_crlf);
	tcase_add_loop_test(tc, test_syntax_bad, 0,
	    sizeof(bad_lines) / sizeof(bad_lines[0]));
	tcase_add_test(tc, test_syntax_nul_and_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_example_conf);
	tcase_add_test(tc, test_example_conf_uncommented);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return hn_check_run(config_suite());
}
