/*
 * CGI front end: one request per process, on the hosts that run nothing
 * else (shared hosting) and for WebSocket through mod_cgi's
 * cgi.upgrade.  Short answers are printed and the process ends; a stream
 * runs the same event loop and store thread as FastCGI, with the reader
 * on stdin and stdout, until the reader leaves (EOF, or SIGTERM from
 * lighttpd).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

static void
cgi_reply(const struct hn_reply *rp)
{
	char	 out[2048];
	size_t	 n = hn_reply_format(rp, out, sizeof(out));

	fwrite(out, 1, n, stdout);
	if (rp->big != NULL)
		printf("%s%s", rp->big, *rp->big != '\0' &&
		    rp->big[strlen(rp->big) - 1] == '\n' ? "" : "\n");
	fflush(stdout);
}

/* Beats and leaves of a CGI process go straight to the table through a
 * writer of its own: the session has no owner, so it outlives us. */
struct cgi_writer {
	const struct hn_config	*cfg;
	struct hn_store		*store;
};

static int
cgi_commit(void *arg, const struct hn_op *op)
{
	struct cgi_writer	*w = arg;
	char			 err[256];

	if (w->store == NULL && (w->store = hn_store_open(w->cfg->db,
	    HN_STORE_WRITER, w->cfg->stale_after_ms, w->cfg->leave_grace_ms,
	    hn_now_ms(), err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", __func__, err);
		return HN_EDB;
	}
	hn_store_set_limits(w->store, w->cfg->max_sessions_per_visitor);
	if (hn_store_apply(w->store, op, 1, false, hn_now_ms()) < 0)
		return HN_EDB;
	return hn_store_refused(w->store, 0) ? HN_ELIMIT : HN_OK;
}

/* Reads a POST body of at most HN_BODY_MAX bytes from stdin. */
static void
cgi_body(struct hn_request *rq, char *buf)
{
	size_t		 want, got = 0;
	ssize_t		 n;

	want = hn_request_body(rq, getenv("CONTENT_LENGTH"), buf);
	while (got < want &&
	    (n = read(STDIN_FILENO, buf + got, want - got)) > 0)
		got += (size_t)n;
	rq->body_len = got;
}

int
hn_cgi_run(const struct hn_config *cfg)
{
	struct hn_request	 rq;
	struct hn_reply		 rp;
	struct hn_handoff	*h;
	struct hn_store		*reader;
	struct hn_app		*app;
	struct cgi_writer	 w = { cfg, NULL };
	const char		*pi;
	char			 err[512], body[HN_BODY_MAX];
	int			 rc;

	memset(&rq, 0, sizeof(rq));
	memset(&rp, 0, sizeof(rp));
	rq.method = getenv("REQUEST_METHOD");
	if (rq.method == NULL)
		rq.method = "GET";
	/* /cgi-bin/herenow.cgi/sse?page=...: the endpoint is PATH_INFO. */
	pi = getenv("PATH_INFO");
	rq.endpoint = pi != NULL ? pi + strspn(pi, "/") : "";
	rq.query = getenv("QUERY_STRING");
	rq.remote_addr = getenv("REMOTE_ADDR");
	rq.forwarded_for = getenv("HTTP_X_FORWARDED_FOR");
	rq.upgrade = getenv("HTTP_UPGRADE");
	rq.connection = getenv("HTTP_CONNECTION");
	rq.ws_key = getenv("HTTP_SEC_WEBSOCKET_KEY");
	rq.ws_version = getenv("HTTP_SEC_WEBSOCKET_VERSION");
	rq.origin = getenv("HTTP_ORIGIN");
	rq.if_none_match = getenv("HTTP_IF_NONE_MATCH");
	rq.authorization = getenv("HTTP_AUTHORIZATION");
	rq.writable = -1;
	rq.commit = cgi_commit;
	rq.commit_arg = &w;
	cgi_body(&rq, body);
	/* mod_cgi hands a CGI an upgrade only with cgi.upgrade enabled. */
	rq.can_upgrade = true;

	if ((h = malloc(sizeof(*h))) == NULL)
		return 1;
	reader = hn_store_open(cfg->db, 0, cfg->stale_after_ms,
	    cfg->leave_grace_ms, hn_now_ms(), err, sizeof(err));
	if (reader == NULL)
		goto fail;
	rc = hn_route(cfg, reader, &rq, &rp, h);
	hn_store_close(reader);
	hn_store_close(w.store);
	if (rc == HN_ROUTE_REPLY) {
		cgi_reply(&rp);
		free(rp.big);
		free(h);
		return 0;
	}
	h->in_fd = STDIN_FILENO;
	h->out_fd = STDOUT_FILENO;
	h->fcgi = false;
	if ((app = hn_app_new(cfg, err, sizeof(err))) == NULL)
		goto fail;
	hn_app_exit_when_idle(app);
	rc = hn_app_handoff(app, h);
	free(h);
	if (rc == HN_OK)
		hn_app_run(app);
	hn_app_free(app);
	return 0;
fail:
	log_warnx("%s: %s", __func__, err);
	snprintf(rp.status, sizeof(rp.status), "503 Service Unavailable");
	hn_json_error(rp.body, sizeof(rp.body), "db_error",
	    "the session table cannot be opened");
	rp.headers[0] = '\0';
	cgi_reply(&rp);
	free(h);
	return 1;
}
