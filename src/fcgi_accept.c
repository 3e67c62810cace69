/*
 * libfcgi glue: a few acceptor threads take requests with FCGX_Accept_r,
 * answer short ones (count, health, errors) at once, and hand a request
 * that becomes a held stream to the event loop, which owns its socket
 * from then on.  The only file that includes fcgiapp.h.
 *
 * NOTES: the hand-off frees libfcgi's streams and parameters with
 * FCGX_Free(req, 0), which does not close the connection, and forgets the
 * descriptor (ipcFd = -1).  lighttpd opens one connection per request (no
 * FCGI_KEEP_CONN), so the socket carries nothing else.
 *
 * Each thread accepts the connection itself and gives it to FCGX_Accept_r
 * as an open connection (ipcFd set, keepConnection so that the finish at
 * its start keeps it), which then only reads the request.  libfcgi's own
 * accept costs four system calls more per request (a record lock taken
 * and given back with fcntl, and a poll for the first bytes) and wants
 * the threads to take turns under a mutex: under bench/'s churn that was
 * a fifth of the acceptors' CPU.  Threads blocked in accept(2) on one
 * socket are woken one per connection.  A receive timeout stands in for
 * the poll, and does more: a connection that sends no request, or half a
 * one, within ACCEPT_READ_S is closed (libfcgi's poll only saw whether a
 * first byte came, and a thread then waited for the rest for good).
 * With FCGI_WEB_SERVER_ADDRS set (libfcgi's check of a TCP peer's
 * address) libfcgi accepts, as before.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"	/* _GNU_SOURCE: accept4, pthread_setname_np */
#endif

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"

#define ACCEPT_BACKLOG	1024
#define ACCEPT_READ_S	2	/* for the request, once accepted */

struct acceptor {
	struct hn_fcgi		*shared;
	struct hn_store		*reader;	/* this thread's connection */
	struct hn_handoff	*h;		/* this thread's, reused */
	pthread_t		 thread;
	bool			 started;
};

struct hn_fcgi {
	struct hn_app		*app;
	int			 lfd;
	bool			 own_accept;
	pthread_mutex_t		 mu;	/* libfcgi's accept: one at a time */
	int			 n;
	struct acceptor		*threads;
};

static void
send_reply(FCGX_Request *req, const struct hn_reply *rp)
{
	char	 out[2048];
	size_t	 n = hn_reply_format(rp, out, sizeof(out));

	FCGX_PutStr(out, (int)n, req->out);
	if (rp->big != NULL) {
		n = strlen(rp->big);
		FCGX_PutStr(rp->big, (int)n, req->out);
		if (n == 0 || rp->big[n - 1] != '\n')
			FCGX_PutStr("\n", 1, req->out);
	}
}

/* Reads a POST body of at most HN_BODY_MAX bytes into buf. */
static void
read_body(FCGX_Request *req, struct hn_request *rq, char *buf)
{
	size_t	 want;
	int	 n;

	want = hn_request_body(rq, FCGX_GetParam("CONTENT_LENGTH", req->envp),
	    buf);
	if (want > 0 && (n = FCGX_GetStr(buf, (int)want, req->in)) > 0)
		rq->body_len = (size_t)n;
}

/* Returns true when the request's connection was handed to the loop. */
static bool
handle(struct acceptor *a, FCGX_Request *req)
{
	struct hn_app		*app = a->shared->app;
	const struct hn_config	*cfg = hn_app_config(app);
	struct hn_request	 rq;
	struct hn_reply		 rp;
	struct hn_handoff	*h = a->h;
	const char		*uri;
	char			 ep[64], body[HN_BODY_MAX];
	bool			 taken = false;

	memset(&rq, 0, sizeof(rq));
	memset(&rp, 0, sizeof(rp));
	uri = FCGX_GetParam("REQUEST_URI", req->envp);
	rq.method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	if (uri == NULL || rq.method == NULL) {
		snprintf(rp.status, sizeof(rp.status), "400 Bad Request");
		hn_json_error(rp.body, sizeof(rp.body), "bad_request",
		    "no REQUEST_URI or REQUEST_METHOD");
		send_reply(req, &rp);
		return false;
	}
	if (hn_route_endpoint(uri, cfg->prefix, ep, sizeof(ep)) < 0)
		ep[0] = '\0';		/* not ours: a 404 */
	rq.endpoint = ep;
	rq.query = FCGX_GetParam("QUERY_STRING", req->envp);
	rq.remote_addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
	rq.forwarded_for = FCGX_GetParam("HTTP_X_FORWARDED_FOR", req->envp);
	rq.upgrade = FCGX_GetParam("HTTP_UPGRADE", req->envp);
	rq.connection = FCGX_GetParam("HTTP_CONNECTION", req->envp);
	rq.ws_key = FCGX_GetParam("HTTP_SEC_WEBSOCKET_KEY", req->envp);
	rq.ws_version = FCGX_GetParam("HTTP_SEC_WEBSOCKET_VERSION", req->envp);
	rq.origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);
	rq.if_none_match = FCGX_GetParam("HTTP_IF_NONE_MATCH", req->envp);
	rq.authorization = FCGX_GetParam("HTTP_AUTHORIZATION", req->envp);
	rq.writable = hn_app_db_ok(app);
	rq.start_ms = hn_app_metrics(app)->start_ms;
	rq.commit = hn_app_commit;
	rq.commit_arg = app;
	read_body(req, &rq, body);
	/* lighttpd 1.4.69 forwards HTTP_UPGRADE too but cannot tunnel: only
	 * the operator knows (DESIGN §3). */
	rq.can_upgrade = cfg->fastcgi_upgrade;
	if (hn_route(cfg, a->reader, &rq, &rp, h) == HN_ROUTE_STREAM) {
		h->in_fd = h->out_fd = req->ipcFd;
		h->reqid = (uint16_t)req->requestId;
		h->fcgi = true;
		switch (hn_app_handoff(app, h)) {
		case HN_OK:
			taken = true;
			break;
		case HN_ETOOBIG:
			snprintf(rp.status, sizeof(rp.status),
			    "503 Service Unavailable");
			rp.code = "too_many_streams";
			hn_json_error(rp.body, sizeof(rp.body), rp.code,
			    "this process holds max_streams readers");
			break;
		case HN_ELIMIT:
			snprintf(rp.status, sizeof(rp.status),
			    "429 Too Many Requests");
			rp.code = "too_many_from_addr";
			hn_json_error(rp.body, sizeof(rp.body), rp.code,
			    "this address holds max_streams_per_addr "
			    "streams already");
			break;
		default:
			snprintf(rp.status, sizeof(rp.status),
			    "503 Service Unavailable");
			rp.code = "busy";
			hn_json_error(rp.body, sizeof(rp.body), rp.code,
			    "out of memory");
		}
	}
	if (!taken) {
		hn_metrics_refused(hn_app_metrics(app), rp.code);
		send_reply(req, &rp);
	}
	free(rp.big);
	return taken;
}

/*
 * The next request, as FCGX_Accept_r returns it: 0, or < 0 when accepting
 * failed (our shutdown() among others).
 *
 * Our own accept: the request was initialised without a listening socket,
 * so when a connection brings no request within ACCEPT_READ_S (or a
 * broken one), libfcgi closes it and returns instead of accepting the
 * next one itself, where no read timeout would be set.  detached makes
 * that close a plain one: libfcgi would otherwise wait up to 2 s more for
 * the other side to hang up.
 */
static int
acceptor_next(struct hn_fcgi *f, FCGX_Request *req)
{
	struct timeval	 tv = { ACCEPT_READ_S, 0 };
	int		 fd, rc;

	if (!f->own_accept) {
		pthread_mutex_lock(&f->mu);
		rc = FCGX_Accept_r(req);
		pthread_mutex_unlock(&f->mu);
		return rc;
	}
	for (;;) {
		/* The last request's connection is closed or handed off. */
		do {
			fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED) &&
		    !hn_app_stopping());
		if (fd < 0)
			return errno > 0 ? -errno : -1;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			log_warn("%s: SO_RCVTIMEO", __func__);
		req->ipcFd = fd;
		req->keepConnection = 1;
		req->detached = 1;
		if (FCGX_Accept_r(req) == 0) {
			req->detached = 0;	/* a reply ends as libfcgi ends it */
			return 0;
		}
		log_debug("%s: a connection without a request in %d s: closed",
		    __func__, ACCEPT_READ_S);
	}
}

static void *
acceptor_main(void *arg)
{
	struct acceptor		*a = arg;
	FCGX_Request		 req;
	struct timespec		 pause = { 0, 50 * 1000000 };
	int			 rc;

	/* Named for top -H and bench/'s CPU by thread. */
	pthread_setname_np(pthread_self(), "hn-accept");
	if (FCGX_InitRequest(&req, a->shared->own_accept ? -1 :
	    a->shared->lfd, 0) != 0) {
		log_warnx("%s: FCGX_InitRequest failed", __func__);
		return NULL;
	}
	for (;;) {
		rc = acceptor_next(a->shared, &req);
		if (hn_app_stopping())
			break;
		if (rc < 0) {
			/* Not our shutdown(): a real error, so wait a little
			 * instead of spinning on it. */
			log_warnx("%s: FCGX_Accept_r: %d", __func__, rc);
			nanosleep(&pause, NULL);
			continue;
		}
		if (handle(a, &req)) {
			/* The loop owns the socket now. */
			FCGX_Free(&req, 0);
			req.ipcFd = -1;
		} else {
			/* Flush and close now: FCGX_Accept_r would do it only
			 * after this thread next wins the accept mutex. */
			FCGX_Finish_r(&req);
		}
	}
	return NULL;
}

struct hn_fcgi *
hn_fcgi_start(struct hn_app *app, int lfd, int n, char *err, size_t errsz)
{
	const struct hn_config	*cfg = hn_app_config(app);
	struct hn_fcgi		*f;
	struct acceptor		*a;
	int			 i;

	if (FCGX_Init() != 0) {
		snprintf(err, errsz, "FCGX_Init failed");
		return NULL;
	}
	/* FCGX_Init puts a handler of libfcgi's own on SIGPIPE over main's
	 * SIG_IGN: each write to a reader who has gone then costs a signal
	 * delivered and returned from (about 450 a second under bench/'s
	 * churn, counted with strace).  Ignored again, EPIPE alone says it. */
	signal(SIGPIPE, SIG_IGN);
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->threads = calloc(n, sizeof(*f->threads))) == NULL) {
		free(f);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	f->app = app;
	f->lfd = lfd;
	f->own_accept = getenv("FCGI_WEB_SERVER_ADDRS") == NULL;
	f->n = n;
	pthread_mutex_init(&f->mu, NULL);
	for (i = 0; i < n; i++) {
		a = &f->threads[i];
		a->shared = f;
		if ((a->h = malloc(sizeof(*a->h))) == NULL) {
			snprintf(err, errsz, "out of memory");
			goto fail;
		}
		a->reader = hn_store_open(cfg->db, 0, cfg->stale_after_ms,
		    cfg->leave_grace_ms, hn_now_ms(), err, errsz);
		if (a->reader == NULL)
			goto fail;
		if (pthread_create(&a->thread, NULL, acceptor_main, a) != 0) {
			snprintf(err, errsz, "cannot start an acceptor thread");
			goto fail;
		}
		a->started = true;
	}
	return f;
fail:
	hn_fcgi_stop(f);
	return NULL;
}

void
hn_fcgi_stop(struct hn_fcgi *f)
{
	int	 i;

	if (f == NULL)
		return;
	/* Wakes the thread blocked in accept(); it and the ones waiting for
	 * the mutex then fail to accept and see the stop flag.  A thread
	 * answering a short request finishes it first. */
	shutdown(f->lfd, SHUT_RDWR);
	for (i = 0; i < f->n; i++) {
		if (f->threads[i].started)
			pthread_join(f->threads[i].thread, NULL);
		hn_store_close(f->threads[i].reader);
		free(f->threads[i].h);
	}
	pthread_mutex_destroy(&f->mu);
	free(f->threads);
	free(f);
}

int
hn_fcgi_listen(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		spec += 5;
	return FCGX_OpenSocket(spec, ACCEPT_BACKLOG);
}
