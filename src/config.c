/*
 * Configuration (DESIGN §7): built-in defaults, herenow.conf, then
 * HERENOW_* environment variables.  Every key is described once in a table;
 * a refused value or line changes nothing and names the key in the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hn.h"

#define MS_SECOND	1000LL
#define MS_MINUTE	(60 * MS_SECOND)
#define MS_HOUR		(60 * MS_MINUTE)

#define ENV_PREFIX	"HERENOW_"
#define ENV_CONFIG	"HERENOW_CONFIG"

/* Bytes of a user's text echoed back in a message. */
#define ECHO_MAX	40
#define ERR_MAX		512

enum key_type {
	KEY_DURATION,		/* int64_t milliseconds */
	KEY_UINT,		/* unsigned */
	KEY_BOOL,		/* bool */
	KEY_STRING,		/* char[size], NUL-terminated */
};

/* Extra checks of a string value: NULL when fine, else why not. */
typedef const char	*key_check(const char *, size_t);

struct key_desc {
	const char	*name;
	enum key_type	 type;
	size_t		 off;
	size_t		 size;		/* strings: the field's size */
	int64_t		 min, max;	/* durations (ms) and integers */
	key_check	*check;		/* strings, may be NULL */
	bool		 secret;	/* never echo the value */
};

static void	 seterr(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 echo(char *, size_t, const char *, size_t);
static void	 fmt_ms(char *, size_t, int64_t);
static bool	 is_blank(char);
static void	 trim(const char **, size_t *);
static const char *duration_scan(const char *, size_t, int64_t *);
static const char *uint_scan(const char *, size_t, int64_t *);
static const char *bool_scan(const char *, size_t, bool *);
static const char *check_db(const char *, size_t);
static const char *check_prefix(const char *, size_t);
static const char *check_origins(const char *, size_t);
static const struct key_desc *key_find(const char *, size_t);
static int	 key_set(struct hn_config *, const struct key_desc *,
		    const char *, const char *, size_t, char *, size_t);
static int	 parse_line(struct hn_config *, const char *, size_t, size_t,
		    size_t *, char *, size_t);

#define FIELD(f)	offsetof(struct hn_config, f), \
			sizeof(((struct hn_config *)0)->f)
#define UINT_MAX_KEY	10000000

/* The order is the order of DESIGN §7 and of conf/herenow.conf. */
static const struct key_desc keys[] = {
	{ "db", KEY_STRING, FIELD(db), 0, 0, check_db, false },
	{ "prefix", KEY_STRING, FIELD(prefix), 0, 0, check_prefix, false },
	{ "heartbeat", KEY_DURATION, FIELD(heartbeat_ms),
	    100, MS_HOUR, NULL, false },
	{ "stale_after", KEY_DURATION, FIELD(stale_after_ms),
	    MS_SECOND, 24 * MS_HOUR, NULL, false },
	{ "leave_grace", KEY_DURATION, FIELD(leave_grace_ms),
	    0, 10 * MS_MINUTE, NULL, false },
	{ "broadcast_interval", KEY_DURATION, FIELD(broadcast_interval_ms),
	    0, MS_MINUTE, NULL, false },
	{ "site_interval", KEY_DURATION, FIELD(site_interval_ms),
	    0, MS_HOUR, NULL, false },
	{ "poll_interval", KEY_DURATION, FIELD(poll_interval_ms),
	    10, 10 * MS_SECOND, NULL, false },
	{ "sse_heartbeat", KEY_DURATION, FIELD(sse_heartbeat_ms),
	    MS_SECOND, MS_HOUR, NULL, false },
	{ "ws_ping", KEY_DURATION, FIELD(ws_ping_ms),
	    MS_SECOND, MS_HOUR, NULL, false },
	{ "origins", KEY_STRING, FIELD(origins), 0, 0, check_origins, false },
	{ "fastcgi_upgrade", KEY_BOOL, FIELD(fastcgi_upgrade), 0, 0, NULL,
	    false },
	{ "tunnel_listen", KEY_STRING, FIELD(tunnel_listen), 0, 0, NULL,
	    false },
	{ "admin_token", KEY_STRING, FIELD(admin_token), 0, 0, NULL, true },
	{ "trusted_proxies", KEY_STRING, FIELD(trusted_proxies), 0, 0,
	    hn_addr_list_check, false },
	{ "max_streams_per_addr", KEY_UINT, FIELD(max_streams_per_addr),
	    1, UINT_MAX_KEY, NULL, false },
	{ "max_sessions_per_visitor", KEY_UINT,
	    FIELD(max_sessions_per_visitor), 1, UINT_MAX_KEY, NULL, false },
	{ "max_pages", KEY_UINT, FIELD(max_pages), 1, UINT_MAX_KEY, NULL,
	    false },
	{ "max_streams", KEY_UINT, FIELD(max_streams), 1, UINT_MAX_KEY, NULL,
	    false },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/* Messages go to a caller's buffer that may be absent; a cut message is
 * still a useful one, so truncation is accepted here. */
static void
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* Quotes a bounded, printable excerpt of the user's text for a message, so
 * a hostile value cannot flood or garble a terminal or a log line. */
static void
echo(char *out, size_t outsz, const char *s, size_t len)
{
	size_t	i, o = 0, n = len > ECHO_MAX ? ECHO_MAX : len;

	if (outsz < 6) {
		if (outsz > 0)
			out[0] = '\0';
		return;
	}
	if (n > outsz - 6)		/* quotes, "..." and the NUL */
		n = outsz - 6;
	out[o++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* Milliseconds in the largest unit that shows them exactly. */
static void
fmt_ms(char *out, size_t outsz, int64_t ms)
{
	if (ms != 0 && ms % MS_HOUR == 0)
		snprintf(out, outsz, "%lldh", (long long)(ms / MS_HOUR));
	else if (ms != 0 && ms % MS_MINUTE == 0)
		snprintf(out, outsz, "%lldm", (long long)(ms / MS_MINUTE));
	else if (ms != 0 && ms % MS_SECOND == 0)
		snprintf(out, outsz, "%llds", (long long)(ms / MS_SECOND));
	else
		snprintf(out, outsz, "%lldms", (long long)ms);
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*s)[*len - 1]))
		(*len)--;
}

/* Digits, then exactly one unit.  Returns NULL or the reason, worded to
 * follow the quoted value in a message. */
static const char *
duration_scan(const char *s, size_t len, int64_t *ms)
{
	int64_t	v = 0, unit;
	size_t	i = 0;

	if (len == 0)
		return "is empty, a duration needs a number and a unit "
		    "(e.g. 250ms, 3s, 2m, 1h)";
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		int d = s[i] - '0';

		if (v > (INT64_MAX - d) / 10)
			return "is too large";
		v = v * 10 + d;
	}
	if (i == 0)
		return "is not a duration (e.g. 250ms, 3s, 2m, 1h)";
	if (i == len)
		return "needs a unit (ms, s, m, h)";
	if (s[i] == '.' || s[i] == ',')
		return "must be a whole number with a unit "
		    "(e.g. 1500ms, not 1.5s)";
	if (len - i == 2 && memcmp(s + i, "ms", 2) == 0)
		unit = 1;
	else if (len - i == 1 && s[i] == 's')
		unit = MS_SECOND;
	else if (len - i == 1 && s[i] == 'm')
		unit = MS_MINUTE;
	else if (len - i == 1 && s[i] == 'h')
		unit = MS_HOUR;
	else
		return "has an unknown unit (ms, s, m, h)";
	if (v > INT64_MAX / unit)
		return "is too large";
	*ms = v * unit;
	return NULL;
}

int
hn_duration_parse(const char *s, int64_t *ms)
{
	int64_t	v;

	if (s == NULL || duration_scan(s, strlen(s), &v) != NULL)
		return HN_EINVAL;
	*ms = v;
	return HN_OK;
}

/* Decimal only: no sign, no 0x, no exponent. */
static const char *
uint_scan(const char *s, size_t len, int64_t *out)
{
	int64_t	v = 0;
	size_t	i;

	if (len == 0)
		return "is empty, expected a whole number";
	for (i = 0; i < len; i++) {
		int d;

		if (s[i] < '0' || s[i] > '9')
			return "is not a whole number";
		d = s[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return "is too large";
		v = v * 10 + d;
	}
	*out = v;
	return NULL;
}

static const char *
bool_scan(const char *s, size_t len, bool *out)
{
	static const struct {
		const char	*word;
		bool		 val;
	} words[] = {
		{ "on", true }, { "off", false }, { "yes", true },
		{ "no", false }, { "true", true }, { "false", false },
		{ "1", true }, { "0", false },
	};
	size_t	i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == len &&
		    strncasecmp(words[i].word, s, len) == 0) {
			*out = words[i].val;
			return NULL;
		}
	}
	return "is not a boolean (on/off, yes/no, true/false, 1/0)";
}

/* Every process must open the same file (DESIGN §5). */
static const char *
check_db(const char *s, size_t len)
{
	if (len == 0)
		return "must not be empty";
	if (len == 8 && memcmp(s, ":memory:", 8) == 0)
		return "\":memory:\" cannot be shared between processes, "
		    "name a file";
	return NULL;
}

static const char *
check_prefix(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || s[0] != '/' || s[len - 1] != '/')
		return "must start and end with '/' (e.g. /herenow/)";
	for (i = 0; i < len; i++)
		if (s[i] == ' ' || s[i] == '?' || s[i] == '#' || s[i] == '%')
			return "must be a plain path without spaces, "
			    "'?', '#' or '%'";
	return NULL;
}

/*
 * Origins are compared exactly with the browser's Origin header, which is
 * "scheme://host[:port]" in lower case without a path: an entry written any
 * other way would silently never match, so it is refused here.
 */
static const char *
check_origins(const char *s, size_t len)
{
	size_t	i = 0, start, j;

	while (i < len) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		for (j = start; j < i && s[j] != ':'; j++) {
			char c = s[j];

			if (!((c >= 'a' && c <= 'z') || (j > start &&
			    ((c >= '0' && c <= '9') || c == '+' || c == '-' ||
			    c == '.'))))
				break;
		}
		if (j == start || j + 3 >= i || memcmp(s + j, "://", 3) != 0)
			return "each origin must be scheme://host[:port] "
			    "(e.g. https://blog.example)";
		for (j += 3; j < i; j++) {
			if (s[j] == '/')
				return "an origin has no path or trailing '/' "
				    "(e.g. https://blog.example)";
			if (s[j] >= 'A' && s[j] <= 'Z')
				return "origins must be lower case, "
				    "as browsers send them";
		}
	}
	return NULL;
}

static const struct key_desc *
key_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len &&
		    memcmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

/*
 * Parses v (vlen bytes, surrounding blanks ignored) for key k and stores it
 * in cfg only when it is valid.  label names the key in messages: the key
 * itself, or the environment variable that carried it.
 */
static int
key_set(struct hn_config *cfg, const struct key_desc *k, const char *label,
    const char *v, size_t vlen, char *err, size_t errsz)
{
	char		 q[ECHO_MAX + 8], lo[32], hi[32];
	char		*field = (char *)cfg + k->off;
	const char	*why;
	int64_t		 n;
	size_t		 i;
	unsigned	 u;
	bool		 b;

	trim(&v, &vlen);
	echo(q, sizeof(q), v, vlen);
	switch (k->type) {
	case KEY_DURATION:
		if ((why = duration_scan(v, vlen, &n)) != NULL) {
			seterr(err, errsz, "%s: %s %s", label, q, why);
			return HN_EINVAL;
		}
		if (n < k->min || n > k->max) {
			fmt_ms(lo, sizeof(lo), k->min);
			fmt_ms(hi, sizeof(hi), k->max);
			seterr(err, errsz, "%s: %s is out of range (%s..%s)",
			    label, q, lo, hi);
			return HN_EINVAL;
		}
		memcpy(field, &n, sizeof(n));
		return HN_OK;
	case KEY_UINT:
		if ((why = uint_scan(v, vlen, &n)) != NULL) {
			seterr(err, errsz, "%s: %s %s", label, q, why);
			return HN_EINVAL;
		}
		if (n < k->min || n > k->max) {
			seterr(err, errsz, "%s: %s is out of range (%lld..%lld)",
			    label, q, (long long)k->min, (long long)k->max);
			return HN_EINVAL;
		}
		u = (unsigned)n;
		memcpy(field, &u, sizeof(u));
		return HN_OK;
	case KEY_BOOL:
		if ((why = bool_scan(v, vlen, &b)) != NULL) {
			seterr(err, errsz, "%s: %s %s", label, q, why);
			return HN_EINVAL;
		}
		memcpy(field, &b, sizeof(b));
		return HN_OK;
	case KEY_STRING:
		/* String values may be secrets: described, never echoed. */
		if (vlen >= k->size) {
			seterr(err, errsz, "%s: too long (%zu bytes, at most %zu)",
			    label, vlen, k->size - 1);
			return HN_EINVAL;
		}
		for (i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)v[i];

			if (c < 0x20 || c == 0x7f) {
				seterr(err, errsz, "%s: contains a control "
				    "character at byte %zu", label, i + 1);
				return HN_EINVAL;
			}
		}
		if (k->check != NULL && (why = k->check(v, vlen)) != NULL) {
			if (k->secret)
				seterr(err, errsz, "%s: %s", label, why);
			else
				seterr(err, errsz, "%s: %s %s", label, q, why);
			return HN_EINVAL;
		}
		/* Zero the whole field: no stale tail of an old secret. */
		memset(field, 0, k->size);
		memcpy(field, v, vlen);
		return HN_OK;
	}
	seterr(err, errsz, "%s: internal error, unknown key type", label);
	return HN_EINVAL;
}

void
hn_config_defaults(struct hn_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->db, sizeof(cfg->db), "%s", "/var/lib/herenow/herenow.db");
	snprintf(cfg->prefix, sizeof(cfg->prefix), "%s", "/herenow/");
	cfg->heartbeat_ms = 10 * MS_SECOND;
	cfg->stale_after_ms = 30 * MS_SECOND;
	cfg->leave_grace_ms = 3 * MS_SECOND;
	cfg->broadcast_interval_ms = 250;
	cfg->site_interval_ms = 5 * MS_SECOND;
	cfg->poll_interval_ms = 100;
	cfg->sse_heartbeat_ms = 25 * MS_SECOND;
	cfg->ws_ping_ms = 25 * MS_SECOND;
	cfg->origins[0] = '\0';
	cfg->fastcgi_upgrade = false;
	cfg->tunnel_listen[0] = '\0';
	cfg->admin_token[0] = '\0';
	cfg->trusted_proxies[0] = '\0';
	cfg->max_streams_per_addr = 64;
	cfg->max_sessions_per_visitor = 16;
	cfg->max_pages = 100000;
	cfg->max_streams = 50000;
}

int
hn_config_set(struct hn_config *cfg, const char *key, const char *value,
    char *err, size_t errsz)
{
	const struct key_desc	*k;
	char			 q[ECHO_MAX + 8];

	if (key == NULL || value == NULL) {
		seterr(err, errsz, "config: missing key or value");
		return HN_EINVAL;
	}
	if ((k = key_find(key, strlen(key))) == NULL) {
		echo(q, sizeof(q), key, strlen(key));
		seterr(err, errsz, "unknown key %s", q);
		return HN_EINVAL;
	}
	return key_set(cfg, k, k->name, value, strlen(value), err, errsz);
}

/*
 * One line of herenow.conf, without its newline (and CR).  seen[] holds the
 * line on which each key was set, to refuse a second setting in one file.
 */
static int
parse_line(struct hn_config *cfg, const char *line, size_t len,
    size_t lineno, size_t *seen, char *err, size_t errsz)
{
	const struct key_desc	*k;
	const char		*eq, *key, *v;
	size_t			 keylen, vlen, i;
	char			 q[ECHO_MAX + 8], msg[ERR_MAX];

	trim(&line, &len);
	if (len == 0 || line[0] == '#')
		return HN_OK;

	if ((eq = memchr(line, '=', len)) == NULL) {
		for (keylen = 0; keylen < len && !is_blank(line[keylen]);
		    keylen++)
			;
		echo(q, sizeof(q), line, keylen);
		seterr(err, errsz, "line %zu: %s: missing '=' "
		    "(expected key = value)", lineno, q);
		return HN_EINVAL;
	}
	key = line;
	keylen = (size_t)(eq - line);
	trim(&key, &keylen);
	if (keylen == 0) {
		seterr(err, errsz, "line %zu: missing key before '='", lineno);
		return HN_EINVAL;
	}
	if ((k = key_find(key, keylen)) == NULL) {
		echo(q, sizeof(q), key, keylen);
		seterr(err, errsz, "line %zu: unknown key %s", lineno, q);
		return HN_EINVAL;
	}
	if (seen[k - keys] != 0) {
		seterr(err, errsz, "line %zu: %s: duplicate key (first set on "
		    "line %zu)", lineno, k->name, seen[k - keys]);
		return HN_EINVAL;
	}
	seen[k - keys] = lineno;

	v = eq + 1;
	vlen = len - (size_t)(v - line);
	trim(&v, &vlen);
	if (vlen > 0 && v[0] == '"') {
		/* Quoted: '#' inside is literal; after it only a comment. */
		const char *close = memchr(v + 1, '"', vlen - 1);

		if (close == NULL) {
			seterr(err, errsz, "line %zu: %s: missing closing "
			    "quote", lineno, k->name);
			return HN_EINVAL;
		}
		i = (size_t)(close - v) + 1;
		while (i < vlen && is_blank(v[i]))
			i++;
		if (i < vlen && v[i] != '#') {
			seterr(err, errsz, "line %zu: %s: text after the "
			    "closing quote", lineno, k->name);
			return HN_EINVAL;
		}
		vlen = (size_t)(close - v) - 1;
		v++;
	} else {
		/* '#' starts a comment at the start of the value or after a
		 * blank, so "a#b" (a token, a URL fragment) stays whole. */
		for (i = 0; i < vlen; i++)
			if (v[i] == '#' && (i == 0 || is_blank(v[i - 1])))
				break;
		vlen = i;
	}

	if (key_set(cfg, k, k->name, v, vlen, msg, sizeof(msg)) != HN_OK) {
		seterr(err, errsz, "line %zu: %s", lineno, msg);
		return HN_EINVAL;
	}
	return HN_OK;
}

int
hn_config_parse(struct hn_config *cfg, const char *text, size_t len,
    char *err, size_t errsz)
{
	struct hn_config	 tmp = *cfg;
	size_t			 seen[NKEYS] = { 0 };
	size_t			 pos = 0, lineno = 0, n;
	const char		*line, *nl, *nul;

	if (len > HN_CONFIG_FILE_MAX) {
		seterr(err, errsz, "config: %zu bytes, over the limit of %d",
		    len, HN_CONFIG_FILE_MAX);
		return HN_EINVAL;
	}
	if (len == 0)
		return HN_OK;
	if ((nul = memchr(text, '\0', len)) != NULL) {
		for (line = text, lineno = 1; line < nul; line++)
			if (*line == '\n')
				lineno++;
		seterr(err, errsz, "line %zu: NUL byte in the file", lineno);
		return HN_EINVAL;
	}

	/* Work on a copy so that a bad line leaves cfg as it was. */
	while (pos < len) {
		line = text + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		lineno++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (parse_line(&tmp, line, n, lineno, seen, err, errsz) != HN_OK)
			return HN_EINVAL;
	}
	*cfg = tmp;
	return HN_OK;
}

int
hn_config_load(struct hn_config *cfg, const char *path, char *err,
    size_t errsz)
{
	struct stat	 st;
	char		*buf, msg[ERR_MAX];
	size_t		 have = 0;
	ssize_t		 r;
	int		 fd, saved, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		saved = errno;
		seterr(err, errsz, "%s: %s", path, strerror(saved));
		errno = saved;
		return HN_EIO;
	}
	if (fstat(fd, &st) == -1) {
		saved = errno;
		seterr(err, errsz, "%s: %s", path, strerror(saved));
		close(fd);
		errno = saved;
		return HN_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errsz, "%s: not a regular file", path);
		close(fd);
		return HN_EINVAL;
	}
	/* One byte more than allowed tells an oversize file from a full one,
	 * whatever st_size said (the file may grow while we read). */
	if ((buf = malloc(HN_CONFIG_FILE_MAX + 1)) == NULL) {
		seterr(err, errsz, "%s: out of memory", path);
		close(fd);
		return HN_ENOMEM;
	}
	while (have < HN_CONFIG_FILE_MAX + 1) {
		r = read(fd, buf + have, HN_CONFIG_FILE_MAX + 1 - have);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			saved = errno;
			seterr(err, errsz, "%s: %s", path, strerror(saved));
			free(buf);
			close(fd);
			errno = saved;
			return HN_EIO;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	close(fd);
	if (have > HN_CONFIG_FILE_MAX) {
		seterr(err, errsz, "%s: larger than %d bytes", path,
		    HN_CONFIG_FILE_MAX);
		free(buf);
		return HN_ETOOBIG;
	}
	rc = hn_config_parse(cfg, buf, have, msg, sizeof(msg));
	free(buf);
	if (rc != HN_OK)
		seterr(err, errsz, "%s: %s", path, msg);
	return rc;
}

int
hn_config_env(struct hn_config *cfg, char *const *envp, char *err,
    size_t errsz)
{
	struct hn_config	 tmp = *cfg;
	const struct key_desc	*k;
	const char		*e, *eq;
	char			 label[64], q[ECHO_MAX + 8];
	size_t			 plen = strlen(ENV_PREFIX), namelen, i, j;

	if (envp == NULL)
		return HN_OK;
	/* Work on a copy so that a bad variable leaves cfg as it was. */
	for (; *envp != NULL; envp++) {
		e = *envp;
		if (strncmp(e, ENV_PREFIX, plen) != 0 ||
		    (eq = strchr(e, '=')) == NULL)
			continue;
		namelen = (size_t)(eq - e);
		if (namelen == strlen(ENV_CONFIG) &&
		    memcmp(e, ENV_CONFIG, namelen) == 0)
			continue;

		/* HERENOW_ + the key in upper case, exactly. */
		k = NULL;
		for (i = 0; i < NKEYS && k == NULL; i++) {
			const char *name = keys[i].name;

			if (strlen(name) != namelen - plen)
				continue;
			for (j = 0; name[j] != '\0'; j++) {
				char up = name[j] >= 'a' && name[j] <= 'z' ?
				    (char)(name[j] - 'a' + 'A') : name[j];

				if (e[plen + j] != up)
					break;
			}
			if (name[j] == '\0')
				k = &keys[i];
		}
		if (k == NULL) {
			echo(q, sizeof(q), e, namelen);
			seterr(err, errsz, "environment variable %s: no such "
			    "key (HERENOW_ + a config key in upper case)", q);
			return HN_EINVAL;
		}
		snprintf(label, sizeof(label), "%.*s", (int)namelen, e);
		if (key_set(&tmp, k, label, eq + 1, strlen(eq + 1), err,
		    errsz) != HN_OK)
			return HN_EINVAL;
	}
	*cfg = tmp;
	return HN_OK;
}

int
hn_config_check(const struct hn_config *cfg, char *err, size_t errsz)
{
	char	a[32], b[32];

	/* A live process must beat at least once before it counts as dead. */
	if (cfg->stale_after_ms <= cfg->heartbeat_ms) {
		fmt_ms(a, sizeof(a), cfg->stale_after_ms);
		fmt_ms(b, sizeof(b), cfg->heartbeat_ms);
		seterr(err, errsz, "stale_after (%s) must be longer than "
		    "heartbeat (%s)", a, b);
		return HN_EINVAL;
	}
	return HN_OK;
}
