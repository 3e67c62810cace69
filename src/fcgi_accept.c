/*
 * libfcgi glue: a few acceptor threads take requests with FCGX_Accept_r,
 * answer short ones (count, health, errors) at once, and hand a request
 * that becomes a held stream to the event loop, which owns its socket
 * from then on.  The only file that includes fcgiapp.h.
 *
 * NOTES: the hand-off frees libfcgi's streams and parameters with
 * FCGX_Free(req, 0), which does not close the connection, and forgets the
 * descriptor (ipcFd = -1) so that the next FCGX_Accept_r accepts a new
 * one.  lighttpd opens one connection per request (no FCGI_KEEP_CONN), so
 * the socket carries nothing else.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "app.h"

#define ACCEPT_BACKLOG	1024

struct acceptor {
	struct hn_fcgi		*shared;
	struct hn_store		*reader;	/* this thread's connection */
	pthread_t		 thread;
	bool			 started;
};

struct hn_fcgi {
	struct hn_app		*app;
	int			 lfd;
	pthread_mutex_t		 mu;	/* one thread in accept() at a time */
	int			 n;
	struct acceptor		*threads;
};

static void
reply(FCGX_Request *req, const char *status, const char *extra,
    const char *body)
{
	FCGX_FPrintF(req->out, "Status: %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: %s\r\n"
	    "%s\r\n%s\n", status,
	    strncmp(status, "200", 3) == 0 ? "max-age=1" : "no-store",
	    extra != NULL ? extra : "", body);
}

static void
reply_error(FCGX_Request *req, const char *status, const char *code,
    const char *message)
{
	char	 body[512];

	if (hn_json_error(body, sizeof(body), code, message) < 0)
		snprintf(body, sizeof(body), "{\"type\":\"error\"}");
	reply(req, status, NULL, body);
}

/* Reads and checks the query of sse and count into h.  Returns 0, or
 * answers 400 itself and returns HN_EINVAL. */
static int
parse_query(FCGX_Request *req, const char *qs, struct hn_handoff *h,
    bool stream)
{
	char		 raw[HN_QUERY_MAX + 1];
	const char	*why = NULL;
	size_t		 qlen = strlen(qs), len;
	int		 rc;

	if (qlen > HN_QUERY_MAX) {
		reply_error(req, "400 Bad Request", "query_too_long",
		    "the query is longer than 4096 bytes");
		return HN_EINVAL;
	}
	rc = hn_query_get(qs, qlen, "page", raw, HN_PAGE_RAW_MAX + 1, &len);
	if (rc == 1)
		rc = hn_page_normalize(raw, len, h->page, &why);
	if (rc < 0) {
		reply_error(req, "400 Bad Request", "bad_page",
		    why != NULL ? why : "the page is not a valid path");
		return HN_EINVAL;
	}
	if (!stream)
		goto check_page;
	rc = hn_query_get(qs, qlen, "visitor", raw, HN_VISITOR_MAX + 1, &len);
	if (rc < 0 || (rc == 1 && !hn_visitor_valid(raw, len))) {
		reply_error(req, "400 Bad Request", "bad_visitor",
		    "visitor must be 1-64 of A-Z a-z 0-9 _ -");
		return HN_EINVAL;
	}
	if (rc == 1)
		memcpy(h->visitor, raw, len + 1);
	rc = hn_query_get(qs, qlen, "watch", raw, sizeof(raw), &len);
	if (rc == 1)
		rc = hn_watch_parse(raw, len, h->watch, &why);
	if (rc < 0) {
		reply_error(req, "400 Bad Request", "bad_watch",
		    why != NULL ? why : "the watch list is not valid");
		return HN_EINVAL;
	}
	h->nwatch = rc;
	if (h->page[0] == '\0' && h->nwatch == 0) {
		reply_error(req, "400 Bad Request", "missing_page",
		    "give a page, a watch list, or both");
		return HN_EINVAL;
	}
	return HN_OK;
check_page:
	if (h->page[0] == '\0') {
		reply_error(req, "400 Bad Request", "missing_page",
		    "the page parameter is required");
		return HN_EINVAL;
	}
	return HN_OK;
}

/* Returns true when the request's connection was handed to the loop. */
static bool
handle(struct acceptor *a, FCGX_Request *req)
{
	struct hn_app		*app = a->shared->app;
	const struct hn_config	*cfg = hn_app_config(app);
	struct hn_handoff	*h;
	const char		*uri, *method, *qs, *addr, *ep;
	char			 path[1024], body[1024];
	size_t			 plen = strlen(cfg->prefix), n;
	long			 readers, tabs, site;
	bool			 taken = false;

	uri = FCGX_GetParam("REQUEST_URI", req->envp);
	method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	qs = FCGX_GetParam("QUERY_STRING", req->envp);
	addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
	if (qs == NULL)
		qs = "";
	if (uri == NULL || method == NULL) {
		reply_error(req, "400 Bad Request", "bad_request",
		    "no REQUEST_URI or REQUEST_METHOD");
		return false;
	}
	n = strcspn(uri, "?");
	if (n >= sizeof(path)) {
		reply_error(req, "414 URI Too Long", "uri_too_long",
		    "the path is too long");
		return false;
	}
	memcpy(path, uri, n);
	path[n] = '\0';
	if (strncmp(path, cfg->prefix, plen) != 0) {
		reply_error(req, "404 Not Found", "not_found",
		    "no such endpoint");
		return false;
	}
	ep = path + plen;
	if (strcmp(ep, "sse") != 0 && strcmp(ep, "count") != 0 &&
	    strcmp(ep, "health") != 0) {
		reply_error(req, "404 Not Found", "not_found",
		    "no such endpoint");
		return false;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply_error(req, "405 Method Not Allowed", "method_not_allowed",
		    "use GET");
		return false;
	}
	if (strcmp(ep, "health") == 0) {
		bool ok = hn_store_check(a->reader) == HN_OK;
		snprintf(body, sizeof(body), "{\"status\":\"%s\",\"db\":\"%s\","
		    "\"version\":\"%s\",\"pid\":%d}", ok ? "ok" : "degraded",
		    ok ? "ok" : "error", PACKAGE_VERSION, (int)getpid());
		reply(req, ok ? "200 OK" : "503 Service Unavailable", NULL,
		    body);
		return false;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		reply_error(req, "503 Service Unavailable", "busy",
		    "out of memory");
		return false;
	}
	if (strcmp(ep, "count") == 0) {
		if (parse_query(req, qs, h, false) == HN_OK) {
			if (hn_store_count(a->reader, h->page, &readers, &tabs,
			    &site) < 0 || hn_json_count(body, sizeof(body),
			    h->page, readers, tabs, site, false) < 0)
				reply_error(req, "503 Service Unavailable",
				    "db_error", "the session table cannot be "
				    "read");
			else
				reply(req, "200 OK", NULL, body);
		}
		free(h);
		return false;
	}
	/* sse */
	if (parse_query(req, qs, h, true) == HN_OK) {
		h->fd = req->ipcFd;
		h->reqid = (uint16_t)req->requestId;
		snprintf(h->addr, sizeof(h->addr), "%s", addr ? addr : "");
		switch (hn_app_handoff(app, h)) {
		case HN_OK:
			taken = true;
			break;
		case HN_ETOOBIG:
			reply_error(req, "503 Service Unavailable",
			    "too_many_streams", "this process holds "
			    "max_streams readers");
			break;
		default:
			reply_error(req, "503 Service Unavailable", "busy",
			    "out of memory");
		}
	}
	free(h);
	return taken;
}

static void *
acceptor_main(void *arg)
{
	struct acceptor		*a = arg;
	FCGX_Request		 req;
	struct timespec		 pause = { 0, 50 * 1000000 };
	int			 rc;

	if (FCGX_InitRequest(&req, a->shared->lfd, 0) != 0) {
		log_warnx("%s: FCGX_InitRequest failed", __func__);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&a->shared->mu);
		rc = FCGX_Accept_r(&req);
		pthread_mutex_unlock(&a->shared->mu);
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
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->threads = calloc(n, sizeof(*f->threads))) == NULL) {
		free(f);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	f->app = app;
	f->lfd = lfd;
	f->n = n;
	pthread_mutex_init(&f->mu, NULL);
	for (i = 0; i < n; i++) {
		a = &f->threads[i];
		a->shared = f;
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
