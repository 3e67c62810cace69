/*
 * herenow: one header for the whole program, prototypes listed by file
 * (OpenBSD daemon style).  Modules keep their struct layouts private unless
 * a test must see them.
 */
#ifndef HN_H
#define HN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One error convention: 0 (or a count) on success, a negative HN_E* code. */
#define HN_OK		0
#define HN_EINVAL	(-1)	/* malformed input */
#define HN_ETOOBIG	(-2)	/* input or output over a bound */
#define HN_ENOMEM	(-3)
#define HN_EAGAIN	(-4)	/* need more input, or the write would block */
#define HN_EIO		(-5)	/* system call failed, errno is set */
#define HN_EDB		(-6)	/* database error */
#define HN_EPROTO	(-7)	/* peer broke the protocol */
#define HN_ELIMIT	(-8)	/* a configured limit (max_*) was reached */

/* Limits: every input is bounded, the bounds live here. */
#define HN_PAGE_MAX		256	/* bytes of a page key after normalisation */
#define HN_PAGE_RAW_MAX		1024	/* bytes of a page key before it */
#define HN_VISITOR_MAX		64
#define HN_SID_LEN		16	/* hex characters of a session id */
#define HN_OWNER_LEN		16	/* hex characters of an owner id */
#define HN_QUERY_MAX		4096	/* QUERY_STRING bytes */
#define HN_WATCH_MAX		50	/* pages one stream may watch */
#define HN_CONFIG_FILE_MAX	65536	/* bytes of herenow.conf */
#define HN_STREAM_QUEUE_MAX	65536	/* bytes queued for one held stream */

/* ---- log.c ------------------------------------------------------------ */
void	 hn_log_init(const char *progname, int debug);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- util.c ----------------------------------------------------------- */
int64_t	 hn_now_ms(void);		/* CLOCK_REALTIME, shared between processes */
int64_t	 hn_mono_ms(void);		/* CLOCK_MONOTONIC, for timers */
int64_t	 hn_mono_us(void);		/* the same in microseconds */
/* Fills out with n random lowercase hex characters and a NUL (out: n+1). */
int	 hn_random_hex(char *out, size_t n);

/* ---- addr.c: client addresses (pure) ---------------------------------- */
#define HN_ADDR_KEY_MAX		64	/* bytes of a client key with its NUL */
/* NULL when s (len bytes) is a space-separated list of IPv4/IPv6
 * addresses and networks ("10.0.0.0/8"), else a static reason. */
const char *hn_addr_list_check(const char *s, size_t len);
/*
 * The key the client's streams are counted under, into out (at least
 * HN_ADDR_KEY_MAX): REMOTE_ADDR, or, when remote is one of trusted (a list
 * as above), the rightmost X-Forwarded-For entry that is not; IPv6 as its
 * /64.  Returns 0, HN_EINVAL (no remote) or HN_ETOOBIG.
 */
int	 hn_addr_client(const char *remote, const char *forwarded,
	    const char *trusted, char *out, size_t outsz);

/* ---- page.c: page keys, visitor ids, query strings (pure) -------------- */
/*
 * Normalises a page key per DESIGN §2: query and fragment cut, must start
 * with '/', percent-decoded once, valid UTF-8 without control characters,
 * "//" collapsed, "." and ".." resolved (never above "/"), trailing "/"
 * dropped except for "/" itself, at most HN_PAGE_MAX bytes after.
 * in/len: the raw key (already decoded from its transport, e.g. a query).
 * out: at least HN_PAGE_MAX + 1 bytes; gets the NUL-terminated key.
 * Returns the key's length, HN_EINVAL (*why: static text) or HN_ETOOBIG.
 */
int	 hn_page_normalize(const char *in, size_t len, char *out,
	    const char **why);
/* 1 when s (len bytes) is a visitor id: 1-64 of [A-Za-z0-9_-], else 0. */
int	 hn_visitor_valid(const char *s, size_t len);
/*
 * Finds key in a query string "a=b&c=d" (qlen bytes) and decodes its value
 * (%XX and '+') into out (outsz bytes, NUL-terminated; *outlen its length).
 * Returns 1 found, 0 absent, HN_EINVAL bad escape, HN_ETOOBIG value too long.
 * The first occurrence wins.
 */
int	 hn_query_get(const char *query, size_t qlen, const char *key,
	    char *out, size_t outsz, size_t *outlen);
/*
 * Parses a watch list: comma-separated raw page keys (commas inside paths
 * percent-encoded), each normalised with hn_page_normalize; duplicates
 * dropped; empty items skipped.  pages: HN_WATCH_MAX rows.
 * Returns the number of pages, HN_EINVAL (*why) or HN_ETOOBIG (over 50).
 */
int	 hn_watch_parse(const char *in, size_t len,
	    char pages[][HN_PAGE_MAX + 1], const char **why);

/* ---- config.c ---------------------------------------------------------- */
struct hn_config {
	char		 db[1024];
	char		 prefix[128];
	int64_t		 heartbeat_ms;
	int64_t		 stale_after_ms;
	int64_t		 leave_grace_ms;
	int64_t		 broadcast_interval_ms;
	int64_t		 site_interval_ms;
	int64_t		 poll_interval_ms;
	int64_t		 sse_heartbeat_ms;
	int64_t		 ws_ping_ms;
	char		 origins[2048];
	bool		 fastcgi_upgrade;
	char		 tunnel_listen[256];
	char		 admin_token[256];
	char		 trusted_proxies[1024];
	unsigned	 max_streams_per_addr;
	unsigned	 max_sessions_per_visitor;
	unsigned	 max_pages;
	unsigned	 max_streams;
};
void	 hn_config_defaults(struct hn_config *);
/* "250ms", "3s", "2m", "1h" -> milliseconds.  0 or HN_EINVAL. */
int	 hn_duration_parse(const char *s, int64_t *ms);
/*
 * Sets one key from its text value.  0, or HN_EINVAL with a message naming
 * the key and what is wrong in err.
 */
int	 hn_config_set(struct hn_config *, const char *key, const char *value,
	    char *err, size_t errsz);
/* Parses herenow.conf text ("key = value", '#' comments).  0 or HN_EINVAL
 * with "line N: ..." in err. */
int	 hn_config_parse(struct hn_config *, const char *text, size_t len,
	    char *err, size_t errsz);
/* Reads and parses a file (at most HN_CONFIG_FILE_MAX bytes).  0, HN_EIO
 * (errno set), HN_ETOOBIG or HN_EINVAL, with the path in err. */
int	 hn_config_load(struct hn_config *, const char *path, char *err,
	    size_t errsz);
/* Applies HERENOW_<KEY> variables of envp (HERENOW_CONFIG is skipped). */
int	 hn_config_env(struct hn_config *, char *const *envp, char *err,
	    size_t errsz);
/* Cross-key checks (stale_after > heartbeat).  0 or HN_EINVAL with a
 * message in err.  Parse and env leave them to main, run after both. */
int	 hn_config_check(const struct hn_config *, char *err, size_t errsz);

/* ---- sse.c: Server-Sent Events encoding (pure) ------------------------- */
/* Each returns the bytes written to out, or HN_ETOOBIG / HN_EINVAL. */
ssize_t	 hn_sse_event(char *out, size_t outsz, const char *event,
	    const char *data, size_t datalen);
ssize_t	 hn_sse_retry(char *out, size_t outsz, unsigned ms);
ssize_t	 hn_sse_comment(char *out, size_t outsz, const char *text);

/* ---- fcgi_stream.c: FastCGI records for held streams (pure codec) ------ */
#define HN_FCGI_HEADER_LEN	8
#define HN_FCGI_BEGIN_REQUEST	1
#define HN_FCGI_ABORT_REQUEST	2
#define HN_FCGI_END_REQUEST	3
#define HN_FCGI_PARAMS		4
#define HN_FCGI_STDIN		5
#define HN_FCGI_STDOUT		6
#define HN_FCGI_STDERR		7
#define HN_FCGI_DATA		8
#define HN_FCGI_GET_VALUES	9
#define HN_FCGI_GET_VALUES_RESULT 10
#define HN_FCGI_UNKNOWN_TYPE	11
#define HN_FCGI_MAX_CONTENT	65535

/* Bytes hn_fcgi_encode needs for len bytes of content (several records
 * when len > 65535; content padded to a multiple of 8). */
size_t	 hn_fcgi_encoded_len(size_t len);
/*
 * Writes data as records of type with requestId reqid into out.  len == 0
 * writes one empty record (the end of a stream).  Returns the bytes written
 * or HN_ETOOBIG when outsz is short.
 */
ssize_t	 hn_fcgi_encode(unsigned char *out, size_t outsz, int type,
	    uint16_t reqid, const void *data, size_t len);
/* An empty FCGI_STDOUT record followed by FCGI_END_REQUEST. */
ssize_t	 hn_fcgi_encode_end(unsigned char *out, size_t outsz, uint16_t reqid,
	    uint32_t app_status);

/* A record as the parser hands it out: content borrowed from the input,
 * valid until the next call. */
struct hn_fcgi_record {
	int			 type;
	uint16_t		 reqid;
	const unsigned char	*content;	/* may be a part of the record */
	size_t			 len;		/* bytes of content in this piece */
	bool			 last;		/* the record's content is complete */
};
/* Resumable parser; zero it (or hn_fcgi_parser_init) to start. */
struct hn_fcgi_parser {
	unsigned char	 hdr[HN_FCGI_HEADER_LEN];
	size_t		 hdr_have;
	int		 type;
	uint16_t	 reqid;
	size_t		 content_left;
	size_t		 padding_left;
	bool		 in_body;
};
void	 hn_fcgi_parser_init(struct hn_fcgi_parser *);
/*
 * Consumes bytes of in (len) into the parser.  Returns the number of bytes
 * consumed (>= 0) and, when a piece of content or an empty record is ready,
 * sets *ready and fills rec.  Call again with the rest.  HN_EPROTO on a
 * record with a version other than 1.
 */
ssize_t	 hn_fcgi_parse(struct hn_fcgi_parser *, const unsigned char *in,
	    size_t len, struct hn_fcgi_record *rec, bool *ready);

/* ---- json.c: our messages in and out, on top of jansson (pure) --------- */
/* {"type":"count","page":...,"readers":...,"tabs":...,"site":...}\n
 * Returns bytes written (with the newline unless nl is false), or
 * HN_ETOOBIG. */
ssize_t	 hn_json_count(char *out, size_t outsz, const char *page,
	    long readers, long tabs, long site, bool nl);
/*
 * A POST body as JSON: copies the string members named in names (n of
 * them) into outs[i] (outszs[i] bytes, NUL-terminated; "" when absent).
 * Returns 0, HN_EINVAL (not a JSON object, a member not a string or with
 * a NUL) or HN_ETOOBIG (a member longer than its buffer).
 */
int	 hn_json_fields(const char *buf, size_t len, const char *const *names,
	    char *const *outs, const size_t *outszs, size_t n);
/* The stats answer as a malloc'd JSON string (caller frees), or NULL. */
struct hn_stats;
char	*hn_json_stats(const struct hn_stats *);
/* {"type":"error","code":...,"message":...} (no newline). */
ssize_t	 hn_json_error(char *out, size_t outsz, const char *code,
	    const char *message);


/* ---- store.c: the SQLite session table (only file with sqlite3.h) ------ */
struct hn_store;

/* What a batch does to one session. */
enum hn_op_kind {
	HN_OP_JOIN = 1,		/* new live session; takes over a leaving one
				   of the same visitor on the same page */
	HN_OP_LEAVE,		/* session ended: counted for leave_grace */
	HN_OP_DROP,		/* session removed at once (shutdown) */
	HN_OP_BEAT,		/* a polling client's beat: creates or
				   refreshes an owner-less session that lives
				   stale_after past its last beat */
};
/* Session ids of polling clients: 'b' and 15 hex digits, so a beat can
 * never touch a stream's session. */
#define HN_BEAT_SID_PREFIX	'b'
struct hn_op {
	int	 kind;
	char	 sid[HN_SID_LEN + 1];
	char	 page[HN_PAGE_MAX + 1];		/* JOIN, BEAT */
	/* JOIN, BEAT ("~sid" if none); LEAVE, DROP too, or they make no
	 * room for their visitor's joins under max_sessions_per_visitor
	 * in the same batch */
	char	 visitor[HN_VISITOR_MAX + 2];
};

#define HN_STORE_SCHEMA	7	/* PRAGMA user_version this herenow writes */
#define HN_STORE_WRITER	0x1	/* registers an owner; may write */

/*
 * Opens (creating and migrating) the database at path.  With
 * HN_STORE_WRITER the process registers as an owner (random id, pid, host,
 * start time).  stale_after_ms/leave_grace_ms are used by the reaper.
 * Returns NULL with a message in err.
 */
struct hn_store	*hn_store_open(const char *path, int flags,
		    int64_t stale_after_ms, int64_t leave_grace_ms,
		    int64_t now, char *err, size_t errsz);
/* Closes; a writer first deletes its sessions and its owner row.  NULL ok. */
void		 hn_store_close(struct hn_store *);
const char	*hn_store_owner(const struct hn_store *);
/*
 * One write transaction: the ops in order, then the leaving sessions whose
 * grace ran out are deleted, and with beat the owner row is beaten and
 * silent owners' sessions are reaped.  The counts of every page touched are
 * recomputed and stamped with a new sequence number.  Returns the number of
 * pages touched (a page once per part of a large batch that touched it:
 * hn_store_set_part()), or HN_EDB (nothing changed, the batch may be
 * retried).
 */
int		 hn_store_apply(struct hn_store *, const struct hn_op *ops,
		    size_t n, bool beat, int64_t now);
/* From now on hn_store_apply() refuses a join or a beat's new session of
 * a visitor that has max live sessions already (0: no limit). */
void		 hn_store_set_limits(struct hn_store *, unsigned max);
/* How many ops of a large batch share one set of changes (0: the default,
 * some thousands; the tests make parts small to try them). */
void		 hn_store_set_part(struct hn_store *, size_t ops);
/* Whether the last hn_store_apply() refused its op i (and so left it
 * out); false after a failed one. */
bool		 hn_store_refused(const struct hn_store *, size_t i);
/* The visitor's live sessions other than sid's (NULL: all), or HN_EDB. */
int		 hn_store_visitor_live(struct hn_store *, const char *visitor,
		    const char *sid);
/* Milliseconds since the epoch when the first of our sessions in grace
 * expires (or a polling client's, which has no owner), or INT64_MAX.
 * Other owners' leavers are theirs to wake for. */
int64_t		 hn_store_next_expiry(struct hn_store *);
/* 1 when another connection committed since the last call, 0 if not,
 * HN_EDB. */
int		 hn_store_changed(struct hn_store *);
/*
 * Calls cb for every page whose counts changed since *seq (0: all pages),
 * then sets *seq to the newest sequence and *site to the site's readers.
 * Returns the number of pages reported or HN_EDB.
 */
typedef void	 hn_count_cb(void *arg, const char *page, long readers,
		    long tabs);
int		 hn_store_changes(struct hn_store *, uint64_t *seq,
		    long *site, hn_count_cb *cb, void *arg);
/* Current counts of one page (0 when unknown) and of the site. */
int		 hn_store_count(struct hn_store *, const char *page,
		    long *readers, long *tabs, long *site);
/* Runs a trivial write-free check of the database: 0 or HN_EDB. */
int		 hn_store_check(struct hn_store *);
/* The owner's view (stats, herenow top): read from the table. */
struct hn_page_stat {
	char	 page[HN_PAGE_MAX + 1];
	long	 readers, tabs, peak;
	int64_t	 peak_at;		/* 0: never */
};
struct hn_sample {
	int64_t	 t;			/* start of the minute, ms */
	long	 site;
	char	 top[1024];		/* JSON [["/x",N],...] of the top 5 */
};
struct hn_stats {
	int64_t			 now;
	long			 site, site_peak;
	int64_t			 site_peak_at;
	long			 owners;	/* alive: beat within stale_after */
	long			 sessions;
	int			 npages;
	struct hn_page_stat	*pages;
	int			 nsamples;
	struct hn_sample	*samples;
};
#define HN_STATS_LIMIT_MAX	200
#define HN_SAMPLE_KEEP_MS	(24LL * 3600 * 1000)
/* Fills st (freed with hn_stats_free): the limit busiest pages, samples
 * with t >= since.  0 or HN_EDB. */
int		 hn_store_stats(struct hn_store *, int limit, int64_t since,
		    int64_t now, struct hn_stats *);
void		 hn_stats_free(struct hn_stats *);
/* Replaces this writer's series (the sums over every live process are
 * what metrics shows); 0 or HN_EDB. */
int		 hn_store_put_series(struct hn_store *, const char **names,
		    const double *values, size_t n);
/* The series summed over live processes; *out malloc'd. */
struct hn_series;
int		 hn_store_series(struct hn_store *, struct hn_series **out,
		    size_t *n);
/* Sessions removed by grace expiry or reaping since the last call. */
uint64_t	 hn_store_reaped(struct hn_store *);
/* Records the site and its top pages for the minute of now and forgets
 * samples older than HN_SAMPLE_KEEP_MS.  0 or HN_EDB. */
int		 hn_store_sample(struct hn_store *, int64_t now);


/* ---- hub.c: pages, their subscribers, coalesced broadcast (pure) ------- */
struct hn_hub;
struct hn_hub_client;

/* One update of one page, encoded once: deliver() may hang transport
 * encodings on cache[] (built for the first reader that needs them, reused
 * for the rest); release() drops them when the broadcast is done. */
struct hn_bcast {
	const char	*page;
	const char	*json;		/* one count line with its newline */
	size_t		 len;
	void		*cache[8];
};
struct hn_hub_io {
	void	(*deliver)(void *arg, void *ctx, struct hn_bcast *);
	void	(*release)(void *arg, struct hn_bcast *);
	void	*arg;
};

/* Intervals in milliseconds; times passed in are monotonic milliseconds. */
struct hn_hub	*hn_hub_new(int64_t broadcast_interval_ms,
		    int64_t site_interval_ms, const struct hn_hub_io *io);
void		 hn_hub_free(struct hn_hub *);
/* A subscriber; ctx is the caller's (borrowed, handed back to deliver). */
struct hn_hub_client *hn_hub_client_new(struct hn_hub *, void *ctx);
/* Ends every subscription of c and frees it.  NULL ok. */
void		 hn_hub_client_free(struct hn_hub *, struct hn_hub_client *);
/* Subscribes c to page (joined or watched).  HN_ENOMEM, or HN_ETOOBIG
 * when the hub already holds max_pages pages. */
int		 hn_hub_subscribe(struct hn_hub *, struct hn_hub_client *,
		    const char *page, size_t max_pages);
/* Drops c's subscription to page. */
void		 hn_hub_unsubscribe(struct hn_hub *, struct hn_hub_client *,
		    const char *page);
/* c has been counted: from now on it gets updates, and at once the
 * current counts of each page it subscribes to. */
void		 hn_hub_ready(struct hn_hub *, struct hn_hub_client *,
		    int64_t now);
/* New counts of a page (ignored when nobody here subscribes to it). */
void		 hn_hub_update(struct hn_hub *, const char *page, long readers,
		    long tabs, int64_t now);
/* New site-wide readers. */
void		 hn_hub_site(struct hn_hub *, long site, int64_t now);
/* Sends what is due; returns when to call again (INT64_MAX: no need). */
int64_t		 hn_hub_tick(struct hn_hub *, int64_t now);
/* Number of pages with subscribers, and of subscriptions. */
size_t		 hn_hub_pages(const struct hn_hub *);

/* ---- loop.c: the event loop (fds and timers); loop_epoll.c its poller -- */
struct hn_loop;
#define HN_EV_READ	0x1
#define HN_EV_WRITE	0x2
#define HN_EV_ERROR	0x4	/* error or hang-up: read to find out */
typedef void	 hn_fd_cb(struct hn_loop *, int fd, int events, void *arg);
/* Returns the next time (monotonic ms) to run, or INT64_MAX for never. */
typedef int64_t	 hn_timer_cb(struct hn_loop *, int64_t now, void *arg);
#define HN_LOOP_TIMERS	8

/* setsize: the largest fd + 1 the loop will watch. */
struct hn_loop	*hn_loop_new(int setsize);
void		 hn_loop_free(struct hn_loop *);
/* Watches fd for mask (HN_EV_READ|HN_EV_WRITE); again to change the mask.
 * 0, HN_ETOOBIG (fd over setsize) or HN_EIO. */
int		 hn_loop_watch(struct hn_loop *, int fd, int mask, hn_fd_cb *,
		    void *arg);
void		 hn_loop_unwatch(struct hn_loop *, int fd);
void		 hn_loop_forget(struct hn_loop *, int fd);
/* A timer slot: returns its id, or HN_ETOOBIG.  The callback's return
 * value re-arms it. */
int		 hn_loop_timer(struct hn_loop *, int64_t due, hn_timer_cb *,
		    void *arg);
/* Moves timer id to due (earlier or later). */
void		 hn_loop_timer_set(struct hn_loop *, int id, int64_t due);
/* One round: waits at most until the next timer, with sigmask in force
 * while waiting (so signals interrupt only the wait), runs what is ready.
 * Returns HN_OK, or HN_EIO when interrupted by a signal. */
int		 hn_loop_once(struct hn_loop *, const void *sigmask);

/* loop_epoll.c: the poller behind the loop (only file with epoll.h). */
int		 hn_poll_create(void);
int		 hn_poll_set(int pfd, int fd, int mask, bool added);
void		 hn_poll_del(int pfd, int fd);
/* Waits; fills fds/events (n at most).  Returns the count, 0 on timeout,
 * HN_EIO on a signal (errno EINTR) or error. */
int		 hn_poll_wait(int pfd, int *fds, int *events, int n,
		    int timeout_ms, const void *sigmask);

/* ---- ws.c: WebSocket (RFC 6455), server side (pure) -------------------- */
#define HN_WS_OP_CONT		0x0
#define HN_WS_OP_TEXT		0x1
#define HN_WS_OP_BINARY		0x2
#define HN_WS_OP_CLOSE		0x8
#define HN_WS_OP_PING		0x9
#define HN_WS_OP_PONG		0xa
#define HN_WS_ACCEPT_LEN	28	/* base64 of a SHA-1 */
#define HN_WS_MESSAGE_MAX	4096	/* bytes of one client message */
#define HN_WS_FRAME_MAX		(HN_WS_MESSAGE_MAX + 14)

/* Close codes (RFC 6455 §7.4.1) that herenow sends. */
#define HN_WS_CLOSE_NORMAL	1000
#define HN_WS_CLOSE_GOING_AWAY	1001
#define HN_WS_CLOSE_PROTOCOL	1002
#define HN_WS_CLOSE_DATA	1003	/* binary data */
#define HN_WS_CLOSE_NO_STATUS	1005	/* never sent: a close without code */
#define HN_WS_CLOSE_UTF8	1007
#define HN_WS_CLOSE_POLICY	1008	/* bad or refused input */
#define HN_WS_CLOSE_TOO_BIG	1009
#define HN_WS_CLOSE_INTERNAL	1011

/*
 * Checks the request of an opening handshake (RFC 6455 §4.2.1), given the
 * header values (NULL when absent): method GET, Upgrade with the token
 * "websocket" and Connection with the token "upgrade" (case-insensitive,
 * comma-separated lists), Sec-WebSocket-Version 13, Sec-WebSocket-Key the
 * base64 of 16 bytes.  On success writes Sec-WebSocket-Accept (28 chars
 * and a NUL) to accept.  Returns 0, HN_EPROTO for a version other than 13
 * (answer 426 with "Sec-WebSocket-Version: 13"), or HN_EINVAL; *why gets a
 * static reason.
 */
int	 hn_ws_handshake(const char *method, const char *upgrade,
	    const char *connection, const char *version, const char *key,
	    char accept[HN_WS_ACCEPT_LEN + 1], const char **why);
/* Bytes of a server frame carrying len bytes of payload. */
size_t	 hn_ws_frame_len(size_t len);
/* One unmasked server frame with FIN set.  Bytes written, HN_ETOOBIG, or
 * HN_EINVAL (opcode CONT or unknown, control payload over 125 bytes). */
ssize_t	 hn_ws_encode(unsigned char *out, size_t outsz, int opcode,
	    const void *payload, size_t len);
/* A close frame with code and reason (cut to 123 bytes at a UTF-8
 * boundary).  Bytes written, HN_ETOOBIG, or HN_EINVAL for a code that may
 * not be sent (1000-1003, 1007-1011, 3000-4999 may). */
ssize_t	 hn_ws_encode_close(unsigned char *out, size_t outsz, uint16_t code,
	    const char *reason);

/* What the parser hands out. */
enum hn_ws_event_type {
	HN_WS_EV_NONE = 0,	/* a frame consumed, nothing to act on yet */
	HN_WS_EV_TEXT,		/* a whole text message, valid UTF-8 */
	HN_WS_EV_PING,
	HN_WS_EV_PONG,
	HN_WS_EV_CLOSE,		/* code: the peer's, or 1005 when none */
};
struct hn_ws_event {
	int			 type;
	const unsigned char	*data;	/* borrowed until the next call */
	size_t			 len;
	uint16_t		 code;
};
/* Reassembles fragmented messages; the buffer is allocated only while a
 * fragmented message is in progress. */
struct hn_ws_parser {
	unsigned char	*frag;		/* message so far, or NULL */
	size_t		 frag_len;
	size_t		 max_message;
	bool		 frag_done;	/* frag holds a message handed out:
					   freed on the next call */
	bool		 closed;	/* a close was received */
};
void	 hn_ws_parser_init(struct hn_ws_parser *, size_t max_message);
/* Frees the fragment buffer.  The parser may be reused after init. */
void	 hn_ws_parser_free(struct hn_ws_parser *);
/*
 * Parses one masked client frame at the start of buf (len bytes),
 * unmasking its payload in place.  Returns the frame's length (> 0) with
 * *ev filled (type NONE for a non-final fragment), 0 when buf does not hold
 * a whole frame yet (at most HN_WS_FRAME_MAX bytes are ever needed), or
 * HN_EPROTO with ev->code the close code to send (1002 protocol, 1003
 * binary, 1007 bad UTF-8, 1009 too big) and ev->data a static reason
 * (HN_ENOMEM with 1011 when the fragment buffer cannot be had).
 */
ssize_t	 hn_ws_parse(struct hn_ws_parser *, unsigned char *buf, size_t len,
	    struct hn_ws_event *ev);

/* ---- crypto.c: the hash library shim (only file with nettle) ----------- */
/* base64(SHA-1(key + RFC 6455 GUID)) into out (28 chars and a NUL). */
void	 hn_ws_accept_key(const char *key, char out[HN_WS_ACCEPT_LEN + 1]);
/* 1 when s is the base64 of exactly n bytes, else 0. */
int	 hn_base64_valid(const char *s, size_t n);

/* ---- json.c / tunnel.c: client messages (pure) ------------------------- */
enum hn_msg_type { HN_MSG_HELLO = 1, HN_MSG_PAGE, HN_MSG_WATCH };
/* A client message, its page keys normalised (DESIGN §6). */
struct hn_msg {
	int	 type;
	char	 page[HN_PAGE_MAX + 1];		/* hello (optional), page */
	char	 visitor[HN_VISITOR_MAX + 1];	/* hello (optional) */
	int	 nwatch;			/* hello (optional), watch */
	char	 watch[HN_WATCH_MAX][HN_PAGE_MAX + 1];
};
/*
 * Decodes one whole message (one WebSocket text message; trailing
 * whitespace allowed): {"type":"hello","page":"/x","visitor":"id"}
 * (page optional when "watch":[...] is given), {"type":"page","page":"/y"},
 * {"type":"watch","pages":["/a","/b"]}.  Returns 0, or HN_EINVAL with
 * *code one of "bad_json", "bad_message", "bad_page", "bad_visitor",
 * "bad_watch" and *why a static reason; HN_ETOOBIG over HN_WS_MESSAGE_MAX
 * (*code "too_big"); HN_ENOMEM.  On error type is 0, the other fields empty.
 */
int	 hn_json_msg(const char *buf, size_t len, struct hn_msg *,
	    const char **code, const char **why);
/*
 * json.c's half of hn_tunnel_next (tunnel.c stays clear of jansson): buf
 * starts with a value, no whitespace before it.  Returns the value's
 * length with the message decoded, 0 when buf ends before the value does,
 * or HN_EINVAL / HN_ENOMEM as hn_json_msg.  No size bound of its own.
 */
ssize_t	 hn_json_msg_prefix(const char *buf, size_t len, struct hn_msg *,
	    const char **code, const char **why);
/*
 * The mod_wstunnel stream: lighttpd hands over the payload bytes of the
 * client's messages with no boundaries, so messages are JSON values one
 * after another (whitespace, e.g. newlines, between them allowed).
 * Decodes the first one in buf: returns the bytes it took (> 0: leading
 * whitespace and the value), 0 when buf holds only part of a value (or
 * only whitespace), or HN_EINVAL / HN_ETOOBIG as hn_json_msg (no whole
 * value within the first HN_WS_MESSAGE_MAX bytes, whitespace before it
 * included: a buffer of HN_WS_MESSAGE_MAX bytes always suffices).
 */
ssize_t	 hn_tunnel_next(const char *buf, size_t len, struct hn_msg *,
	    const char **code, const char **why);

/* ---- metrics.c: counters of this process, summed over all in the table - */
enum hn_counter {
	HN_M_JOINS, HN_M_LEAVES, HN_M_REAPED, HN_M_MESSAGES, HN_M_SLOW,
	HN_M_DB_ERRORS, HN_M_COUNTERS_
};
#define HN_M_HIST_BUCKETS	10
/* Lock-free: bumped by any thread, read by the store thread. */
struct hn_metrics {
	_Atomic uint64_t	 c[HN_M_COUNTERS_];
	_Atomic uint64_t	 refused[32];		/* by reason, see metrics.c */
	_Atomic int64_t		 streams[3];		/* by transport (gauge) */
	_Atomic uint64_t	 batch[HN_M_HIST_BUCKETS + 1], batch_sum;
	_Atomic uint64_t	 commit[HN_M_HIST_BUCKETS + 1], commit_us;
	int64_t			 start_ms;
};
void	 hn_metrics_init(struct hn_metrics *, int64_t now);
void	 hn_metrics_count(struct hn_metrics *, enum hn_counter, uint64_t n);
/* A refused request or stream by its error code (NULL metrics ok). */
void	 hn_metrics_refused(struct hn_metrics *, const char *code);
void	 hn_metrics_batch(struct hn_metrics *, size_t ops, int64_t commit_us);
/* The process's series as "name{labels}" and value pairs, for the store
 * (callback per series). */
typedef void	 hn_series_cb(void *arg, const char *series, double value);
void	 hn_metrics_series(const struct hn_metrics *, hn_series_cb *,
	    void *arg);
/* Prometheus text exposition of summed series (name -> value) plus the
 * table's gauges, into a malloc'd string. */
struct hn_series {
	char	 name[160];
	double	 value;
};
char	*hn_metrics_format(const struct hn_series *, size_t n, long readers,
	    long sessions, long owners, double start_seconds);

#endif /* HN_H */
