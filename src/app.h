/*
 * The application: what main, the FastCGI acceptors and the event loop
 * share.  Only app.c knows the struct's layout.
 */
#ifndef HN_APP_H
#define HN_APP_H

#include "hn.h"

struct hn_app;

/* How a held stream speaks to its reader. */
enum hn_transport {
	HN_TR_SSE = 0,		/* text/event-stream */
	HN_TR_WS,		/* WebSocket frames (FastCGI upgrade or CGI) */
	HN_TR_TUNNEL,		/* mod_wstunnel payload: JSON lines */
	HN_TR_COUNT_
};

/* A request that becomes a held stream, handed from an acceptor thread (or
 * the CGI front end) to the event loop, which takes ownership of the fds. */
struct hn_handoff {
	int		 in_fd, out_fd;	/* the same socket, or CGI's 0 and 1 */
	uint16_t	 reqid;
	uint8_t		 transport;
	bool		 fcgi;		/* FastCGI records both ways */
	char		 accept[HN_WS_ACCEPT_LEN + 1];	/* WS: for the 101 */
	char		 page[HN_PAGE_MAX + 1];		/* SSE; "" for none */
	char		 visitor[HN_VISITOR_MAX + 1];	/* "" for anonymous */
	char		 addr[HN_ADDR_KEY_MAX];	/* hn_addr_client(); "" none */
	struct addr_slot *slot;		/* its count, once taken */
	int		 nwatch;
	char		 watch[HN_WATCH_MAX][HN_PAGE_MAX + 1];	/* keep last */
};
/*
 * A hand-off is 13 kB with every watch slot, almost all of it unused: it
 * is cleared, copied and queued only up to the slots in use (under churn
 * the whole struct, copied twice a join, was most of an acceptor's
 * memory traffic).
 */
#define HN_HANDOFF_HEAD		offsetof(struct hn_handoff, watch)
#define HN_HANDOFF_SIZE(h)	(HN_HANDOFF_HEAD + \
				    (size_t)(h)->nwatch * sizeof((h)->watch[0]))

/* app.c */
/* Opens the store, starts the store thread and builds the loop.
 * Returns NULL with a message in err. */
struct hn_app	*hn_app_new(const struct hn_config *, char *err, size_t errsz);
/* Runs the loop until SIGTERM/SIGINT, then closes every stream normally,
 * deletes this process's sessions and returns. */
int		 hn_app_run(struct hn_app *);
void		 hn_app_free(struct hn_app *);
const struct hn_config *hn_app_config(const struct hn_app *);
/* Called by an acceptor thread: queues h for the loop (copies it). 0, or
 * HN_ETOOBIG when the process holds max_streams already (the caller then
 * answers 503 and keeps the fd). */
int		 hn_app_handoff(struct hn_app *, const struct hn_handoff *);
/* The loop accepts mod_wstunnel connections on the listening socket lfd
 * (takes ownership).  0 or HN_EIO. */
int		 hn_app_listen_tunnel(struct hn_app *, int lfd);
/* CGI: hn_app_run returns once the last stream has ended. */
void		 hn_app_exit_when_idle(struct hn_app *);
/* From an acceptor thread: has the store thread commit op and waits until
 * it is in the table.  0, HN_EDB (the process is stopping), or HN_EAGAIN
 * after a second without a commit (the op stays queued and is applied when
 * the database takes writes again). */
int		 hn_app_commit(void *app, const struct hn_op *);
/* 1 when the store thread's last commit went through, else 0. */
int		 hn_app_db_ok(struct hn_app *);
/* This process's counters (any thread may bump them). */
struct hn_metrics *hn_app_metrics(struct hn_app *);
/* Set by the signal handlers. */
bool		 hn_app_stopping(void);

/* route.c: what a request asks for, whichever front end read it */
struct hn_request {
	const char	*method;
	const char	*endpoint;	/* "sse", "count", ...: after the prefix */
	const char	*query;
	const char	*remote_addr;
	const char	*forwarded_for;	/* X-Forwarded-For */
	const char	*upgrade, *connection, *ws_key, *ws_version, *origin;
	const char	*if_none_match;
	const char	*authorization;	/* "Bearer TOKEN" */
	int		 writable;	/* the store thread's last commit: 1 ok,
					   0 failed, -1 unknown (CGI) */
	int64_t		 start_ms;	/* of the answering process, 0: CGI */
	const char	*body;		/* POST: at most HN_BODY_MAX bytes */
	size_t		 body_len;
	bool		 body_too_big;
	bool		 can_upgrade;	/* the carrier passes a WebSocket on */
	/* Commits one op (beat, leave) and returns once it is in the
	 * table: 0, HN_EDB, or HN_EAGAIN (queued, not yet in the table). */
	int		(*commit)(void *arg, const struct hn_op *);
	void		*commit_arg;
};
#define HN_BODY_MAX	4096
struct hn_reply {
	char		 status[48];	/* "400 Bad Request" */
	char		 content_type[32];	/* "": application/json */
	char		 cache[32];	/* Cache-Control; "": by status */
	char		 headers[128];	/* extra lines, each ending in CRLF */
	char		 body[1536];	/* "" for none (204, 304) */
	char		*big;		/* malloc'd body instead, or NULL */
	const char	*code;		/* the error code of a refusal */
};
enum { HN_ROUTE_REPLY, HN_ROUTE_STREAM };
/*
 * Answers a request: HN_ROUTE_REPLY with rp filled (count, health, every
 * error), or HN_ROUTE_STREAM with h filled but for its fds and reqid (sse,
 * ws).  reader: a store connection of the calling thread.
 */
/* Points rq's body at buf, empty, and returns how many bytes of it to
 * read: CONTENT_LENGTH, or 0 when there is none or it is over
 * HN_BODY_MAX (then body_too_big is set and nothing is to be read). */
size_t		 hn_request_body(struct hn_request *, const char *content_length,
		    char *buf);
int		 hn_route(const struct hn_config *, struct hn_store *reader,
		    const struct hn_request *, struct hn_reply *,
		    struct hn_handoff *);
/* "METHOD /path?query" style: the endpoint of a REQUEST_URI under prefix,
 * into out; 0, or HN_EINVAL when the path is not under the prefix. */
int		 hn_route_endpoint(const char *uri, const char *prefix,
		    char *out, size_t outsz);

/* Writes rp as a CGI response head and its small body into out; returns
 * its length (every part is bounded).  rp->big, if any, follows it. */
size_t		 hn_reply_format(const struct hn_reply *, char *out,
		    size_t outsz);

/* top.c: herenow top, until interrupted or once. */
int		 hn_top_run(const struct hn_config *, bool once);

/* cgi.c: one request on stdin/stdout (shared hosting, cgi.upgrade) */
int		 hn_cgi_run(const struct hn_config *);

/* fcgi_accept.c: libfcgi acceptor threads (the only file with fcgiapp.h) */
struct hn_fcgi;
/* Starts n acceptor threads on the listening socket lfd.  NULL with a
 * message in err. */
struct hn_fcgi	*hn_fcgi_start(struct hn_app *, int lfd, int n, char *err,
		    size_t errsz);
/* Stops accepting (shuts lfd down), joins the threads, frees.  NULL ok. */
void		 hn_fcgi_stop(struct hn_fcgi *);
/* Opens a listening socket for "unix:PATH" or "HOST:PORT". -1 on error. */
int		 hn_fcgi_listen(const char *spec);

#endif /* HN_APP_H */
