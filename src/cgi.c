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
	printf("Status: %s\r\nContent-Type: application/json\r\n"
	    "Cache-Control: %s\r\n%s\r\n%s\n", rp->status,
	    strncmp(rp->status, "200", 3) == 0 ? "max-age=1" : "no-store",
	    rp->headers, rp->body);
	fflush(stdout);
}

int
hn_cgi_run(const struct hn_config *cfg)
{
	struct hn_request	 rq;
	struct hn_reply		 rp;
	struct hn_handoff	*h;
	struct hn_store		*reader;
	struct hn_app		*app;
	const char		*pi;
	char			 err[512];
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
	rq.upgrade = getenv("HTTP_UPGRADE");
	rq.connection = getenv("HTTP_CONNECTION");
	rq.ws_key = getenv("HTTP_SEC_WEBSOCKET_KEY");
	rq.ws_version = getenv("HTTP_SEC_WEBSOCKET_VERSION");
	rq.origin = getenv("HTTP_ORIGIN");
	/* mod_cgi hands a CGI an upgrade only with cgi.upgrade enabled. */
	rq.can_upgrade = true;

	if ((h = malloc(sizeof(*h))) == NULL)
		return 1;
	reader = hn_store_open(cfg->db, 0, cfg->stale_after_ms,
	    cfg->leave_grace_ms, hn_now_ms(), err, sizeof(err));
	if (reader == NULL) {
		log_warnx("%s: %s", __func__, err);
		snprintf(rp.status, sizeof(rp.status),
		    "503 Service Unavailable");
		hn_json_error(rp.body, sizeof(rp.body), "db_error",
		    "the session table cannot be opened");
		cgi_reply(&rp);
		free(h);
		return 1;
	}
	rc = hn_route(cfg, reader, &rq, &rp, h);
	hn_store_close(reader);
	if (rc == HN_ROUTE_REPLY) {
		cgi_reply(&rp);
		free(h);
		return 0;
	}
	h->in_fd = STDIN_FILENO;
	h->out_fd = STDOUT_FILENO;
	h->fcgi = false;
	if ((app = hn_app_new(cfg, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", __func__, err);
		snprintf(rp.status, sizeof(rp.status),
		    "503 Service Unavailable");
		hn_json_error(rp.body, sizeof(rp.body), "db_error",
		    "the session table cannot be opened");
		cgi_reply(&rp);
		free(h);
		return 1;
	}
	hn_app_exit_when_idle(app);
	rc = hn_app_handoff(app, h);
	free(h);
	if (rc == HN_OK)
		hn_app_run(app);
	hn_app_free(app);
	return 0;
}
