/*
 * Routing of a request to its endpoint, the same for the FastCGI
 * acceptors and for CGI: short answers are written into a reply, a
 * request that becomes a held stream is described in a hand-off.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"

static int
reply_error(struct hn_reply *rp, const char *status, const char *code,
    const char *message)
{
	snprintf(rp->status, sizeof(rp->status), "%s", status);
	rp->code = code;
	if (hn_json_error(rp->body, sizeof(rp->body), code, message) < 0)
		snprintf(rp->body, sizeof(rp->body), "{\"type\":\"error\"}");
	return HN_ROUTE_REPLY;
}

int
hn_route_endpoint(const char *uri, const char *prefix, char *out,
    size_t outsz)
{
	size_t	 n = strcspn(uri, "?"), plen = strlen(prefix);

	if (n < plen || strncmp(uri, prefix, plen) != 0 || n - plen >= outsz)
		return HN_EINVAL;
	memcpy(out, uri + plen, n - plen);
	out[n - plen] = '\0';
	return HN_OK;
}

/* Exact match against the space-separated allowlist; none allows all. */
static bool
origin_allowed(const char *list, const char *origin)
{
	size_t	 n, olen;

	if (list[0] == '\0')
		return true;
	if (origin == NULL)
		return false;
	olen = strlen(origin);
	while (*list != '\0') {
		list += strspn(list, " \t");
		n = strcspn(list, " \t");
		if (n == olen && n > 0 && strncmp(list, origin, n) == 0)
			return true;
		list += n;
	}
	return false;
}

/*
 * SSE, beat and leave: a browser sends Origin on every cross-origin
 * request (and on every POST), but not on a same-origin EventSource; so a
 * request without one is let through here, one from an origin not listed
 * is refused.  0, or rp filled with the 403.
 */
static int
route_origin(const struct hn_config *cfg, const struct hn_request *rq,
    struct hn_reply *rp)
{
	if (rq->origin == NULL || origin_allowed(cfg->origins, rq->origin))
		return HN_OK;
	reply_error(rp, "403 Forbidden", "origin_refused",
	    "this origin is not allowed");
	return HN_EINVAL;
}

/* The key the client's streams are counted under (max_streams_per_addr). */
static void
route_addr(const struct hn_config *cfg, const struct hn_request *rq,
    struct hn_handoff *h)
{
	if (hn_addr_client(rq->remote_addr, rq->forwarded_for,
	    cfg->trusted_proxies, h->addr, sizeof(h->addr)) < 0)
		h->addr[0] = '\0';
}

/* Reads and checks the query of sse and count into h.  Returns 0, or
 * fills rp with the 400 and returns HN_EINVAL. */
static int
parse_query(const char *qs, struct hn_reply *rp, struct hn_handoff *h,
    bool stream)
{
	char		 raw[HN_QUERY_MAX + 1];
	const char	*why = NULL;
	size_t		 qlen = strlen(qs), len;
	int		 rc;

	if (qlen > HN_QUERY_MAX) {
		reply_error(rp, "400 Bad Request", "query_too_long",
		    "the query is longer than 4096 bytes");
		return HN_EINVAL;
	}
	rc = hn_query_get(qs, qlen, "page", raw, HN_PAGE_RAW_MAX + 1, &len);
	if (rc == 1)
		rc = hn_page_normalize(raw, len, h->page, &why);
	if (rc < 0) {
		reply_error(rp, "400 Bad Request", "bad_page",
		    why != NULL ? why : "the page is not a valid path");
		return HN_EINVAL;
	}
	if (!stream) {
		if (h->page[0] != '\0')
			return HN_OK;
		reply_error(rp, "400 Bad Request", "missing_page",
		    "the page parameter is required");
		return HN_EINVAL;
	}
	rc = hn_query_get(qs, qlen, "visitor", raw, HN_VISITOR_MAX + 1, &len);
	if (rc < 0 || (rc == 1 && !hn_visitor_valid(raw, len))) {
		reply_error(rp, "400 Bad Request", "bad_visitor",
		    "visitor must be 1-64 of A-Z a-z 0-9 _ -");
		return HN_EINVAL;
	}
	if (rc == 1)
		memcpy(h->visitor, raw, len + 1);
	rc = hn_query_get(qs, qlen, "watch", raw, sizeof(raw), &len);
	if (rc == 1)
		rc = hn_watch_parse(raw, len, h->watch, &why);
	if (rc < 0) {
		reply_error(rp, "400 Bad Request", "bad_watch",
		    why != NULL ? why : "the watch list is not valid");
		return HN_EINVAL;
	}
	h->nwatch = rc;
	if (h->page[0] == '\0' && h->nwatch == 0) {
		reply_error(rp, "400 Bad Request", "missing_page",
		    "give a page, a watch list, or both");
		return HN_EINVAL;
	}
	return HN_OK;
}

/* The WebSocket opening handshake (RFC 6455 §4.2): refused before any
 * upgrade when the carrier cannot pass one on, the origin is not allowed
 * or the request is not a valid handshake. */
static int
route_ws(const struct hn_config *cfg, const struct hn_request *rq,
    struct hn_reply *rp, struct hn_handoff *h)
{
	const char	*why = NULL;
	int		 rc;

	if (!rq->can_upgrade)
		return reply_error(rp, "400 Bad Request", "upgrade_unavailable",
		    "this server passes no WebSocket on here: use wst or sse");
	if (!origin_allowed(cfg->origins, rq->origin))
		return reply_error(rp, "403 Forbidden", "origin_refused",
		    "this origin is not allowed");
	rc = hn_ws_handshake(rq->method, rq->upgrade, rq->connection,
	    rq->ws_version, rq->ws_key, h->accept, &why);
	if (rc == HN_EPROTO) {
		snprintf(rp->headers, sizeof(rp->headers),
		    "Sec-WebSocket-Version: 13\r\n");
		return reply_error(rp, "426 Upgrade Required", "bad_version",
		    why != NULL ? why : "WebSocket version 13 only");
	}
	if (rc < 0)
		return reply_error(rp, "400 Bad Request", "bad_handshake",
		    why != NULL ? why : "not a WebSocket handshake");
	h->transport = HN_TR_WS;
	route_addr(cfg, rq, h);
	return HN_ROUTE_STREAM;
}

/*
 * A beat or leave body: a form (navigator.sendBeacon with URLSearchParams)
 * or a JSON object (text/plain or application/json), whatever the
 * Content-Type says, since sendBeacon cannot always set it.
 */
static int
parse_beat(const struct hn_request *rq, struct hn_reply *rp,
    struct hn_op *op, bool *new_sid)
{
	char		 page[HN_PAGE_RAW_MAX + 1], sid[HN_SID_LEN + 2];
	char		 visitor[HN_VISITOR_MAX + 2];
	const char	*names[] = { "page", "visitor", "sid" };
	char *const	 outs[] = { page, visitor, sid };
	const size_t	 sizes[] = { sizeof(page), sizeof(visitor),
			    sizeof(sid) };
	const char	*why = NULL, *b = rq->body ? rq->body : "";
	size_t		 len = rq->body_len, i, l, lens[3];
	int		 rc = HN_OK;

	if (rq->body_too_big) {
		reply_error(rp, "413 Payload Too Large", "body_too_long",
		    "the body is longer than 4096 bytes");
		return HN_EINVAL;
	}
	for (i = 0; i < len && (b[i] == ' ' || b[i] == '\n' ||
	    b[i] == '\r' || b[i] == '\t'); i++)
		;
	if (i < len && b[i] == '{') {
		rc = hn_json_fields(b, len, names, outs, sizes, 3);
		if (rc < 0) {
			reply_error(rp, "400 Bad Request", "bad_body",
			    "the body is no JSON object of strings");
			return HN_EINVAL;
		}
		for (i = 0; i < 3; i++)
			lens[i] = strlen(outs[i]);
	} else {
		/* The decoded lengths, not strlen: a %00 must be refused
		 * as the same value in a query is, not cut the value. */
		for (i = 0; i < 3 && rc >= 0; i++)
			if ((rc = hn_query_get(b, len, names[i], outs[i],
			    sizes[i], &lens[i])) == 0) {
				outs[i][0] = '\0';
				lens[i] = 0;
			}
		if (rc < 0) {
			reply_error(rp, "400 Bad Request", "bad_body",
			    "the form is not valid");
			return HN_EINVAL;
		}
	}
	memset(op, 0, sizeof(*op));
	if (lens[0] == 0) {
		reply_error(rp, "400 Bad Request", "missing_page",
		    "the page field is required");
		return HN_EINVAL;
	}
	if (hn_page_normalize(page, lens[0], op->page, &why) < 0) {
		reply_error(rp, "400 Bad Request", "bad_page",
		    why != NULL ? why : "the page is not a valid path");
		return HN_EINVAL;
	}
	if (!hn_visitor_valid(visitor, lens[1])) {
		reply_error(rp, "400 Bad Request", "bad_visitor",
		    "visitor must be 1-64 of A-Z a-z 0-9 _ -");
		return HN_EINVAL;
	}
	memcpy(op->visitor, visitor, lens[1] + 1);
	/* Our own kind of id back, or a new one: a beat never reaches a
	 * stream's session. */
	l = lens[2];
	*new_sid = l != HN_SID_LEN || sid[0] != HN_BEAT_SID_PREFIX ||
	    strspn(sid + 1, "0123456789abcdef") != HN_SID_LEN - 1;
	if (*new_sid) {
		op->sid[0] = HN_BEAT_SID_PREFIX;
		if (hn_random_hex(op->sid + 1, HN_SID_LEN - 1) < 0) {
			reply_error(rp, "503 Service Unavailable", "busy",
			    "no random numbers");
			return HN_EINVAL;
		}
	} else {
		memcpy(op->sid, sid, HN_SID_LEN + 1);
	}
	return HN_OK;
}

/* POST beat: a polling client's heartbeat; answers the count, its session
 * id and when to beat again.  POST leave: its goodbye (sendBeacon). */
static int
route_beat(const struct hn_config *cfg, struct hn_store *reader,
    const struct hn_request *rq, struct hn_reply *rp, bool leave)
{
	struct hn_op	 op;
	long		 readers, tabs, site;
	bool		 new_sid;
	ssize_t		 n;
	int		 rc = HN_OK;

	if (strcmp(rq->method, "POST") != 0)
		return reply_error(rp, "405 Method Not Allowed",
		    "method_not_allowed", "use POST");
	if (route_origin(cfg, rq, rp) < 0)
		return HN_ROUTE_REPLY;
	if (parse_beat(rq, rp, &op, &new_sid) < 0)
		return HN_ROUTE_REPLY;
	if (leave) {
		if (new_sid)
			return reply_error(rp, "400 Bad Request", "bad_sid",
			    "leave needs the sid of a beat");
		op.kind = HN_OP_LEAVE;
		/* HN_EAGAIN: queued, applied when the table takes writes. */
		if (rq->commit == NULL ||
		    ((rc = rq->commit(rq->commit_arg, &op)) < 0 &&
		    rc != HN_EAGAIN))
			return reply_error(rp, "503 Service Unavailable",
			    "db_error", "the session table is not writable");
		snprintf(rp->status, sizeof(rp->status), "204 No Content");
		return HN_ROUTE_REPLY;
	}
	op.kind = HN_OP_BEAT;
	/* A beat that waits for a locked or full database is kept queued;
	 * the answer is the table as it is (read, which still works). */
	if (rq->commit != NULL &&
	    (rc = rq->commit(rq->commit_arg, &op)) == HN_ELIMIT)
		return reply_error(rp, "429 Too Many Requests",
		    "too_many_sessions", "this visitor already has "
		    "max_sessions_per_visitor sessions");
	if (rq->commit == NULL || (rc < 0 && rc != HN_EAGAIN) ||
	    hn_store_count(reader, op.page, &readers, &tabs, &site) < 0)
		return reply_error(rp, "503 Service Unavailable", "db_error",
		    "the session table is not writable");
	n = hn_json_count(rp->body, sizeof(rp->body), op.page, readers, tabs,
	    site, false);
	/* The count object, then the fields only a beat has. */
	if (n < 2 || (size_t)n + 64 > sizeof(rp->body))
		return reply_error(rp, "500 Internal Server Error", "internal",
		    "the answer does not fit");
	snprintf(rp->body + n - 1, sizeof(rp->body) - (size_t)n + 1,
	    ",\"sid\":\"%s\",\"next\":%lld}", op.sid,
	    (long long)(cfg->stale_after_ms / 3));
	snprintf(rp->status, sizeof(rp->status), "200 OK");
	snprintf(rp->cache, sizeof(rp->cache), "no-store");
	return HN_ROUTE_REPLY;
}

/* An SVG badge for pages without JavaScript: <img src=".../badge.svg">. */
static int
route_badge(struct hn_reply *rp, long readers)
{
	char	 label[48];
	int	 w;

	snprintf(label, sizeof(label), "%ld reading now", readers);
	/* Verdana 11px is about 7 px a character. */
	w = (int)strlen(label) * 7 + 12;
	snprintf(rp->body, sizeof(rp->body),
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"20\" role=\"img\" aria-label=\"%s\">"
	    "<title>%s</title>"
	    "<rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#444\"/>"
	    "<text x=\"%d\" y=\"14\" fill=\"#fff\" "
	    "font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" "
	    "text-anchor=\"middle\">%s</text></svg>", w, label, label, w,
	    w / 2, label);
	snprintf(rp->status, sizeof(rp->status), "200 OK");
	snprintf(rp->content_type, sizeof(rp->content_type), "image/svg+xml");
	snprintf(rp->cache, sizeof(rp->cache), "max-age=5");
	return HN_ROUTE_REPLY;
}

/* Compares in time that depends only on the given token's length, so a
 * timing cannot reveal how much of the admin token was right. */
static bool
token_equal(const char *want, const char *given)
{
	size_t		 lw = strlen(want), lg = strlen(given), i;
	unsigned char	 d = lw != lg;

	if (lw == 0)
		return false;
	for (i = 0; i < lg; i++)
		d |= (unsigned char)(want[i % lw] ^ given[i]);
	return d == 0;
}

/* The owner's endpoints want admin_token: off (404) without one, 401
 * without a token, 403 with another.  0 when it is right. */
static int
route_token(const struct hn_config *cfg, const struct hn_request *rq,
    struct hn_reply *rp)
{
	char		 token[sizeof(cfg->admin_token) + 1];
	const char	*qs = rq->query ? rq->query : "";
	size_t		 len;

	if (cfg->admin_token[0] == '\0') {
		reply_error(rp, "404 Not Found", "stats_off",
		    "no admin_token is configured");
		return HN_EINVAL;
	}
	token[0] = '\0';
	if (rq->authorization != NULL &&
	    strncasecmp(rq->authorization, "Bearer ", 7) == 0)
		snprintf(token, sizeof(token), "%s", rq->authorization + 7);
	else if (hn_query_get(qs, strlen(qs), "token", token, sizeof(token),
	    &len) != 1)
		token[0] = '\0';
	if (token[0] == '\0') {
		snprintf(rp->headers, sizeof(rp->headers),
		    "WWW-Authenticate: Bearer realm=\"herenow\"\r\n");
		reply_error(rp, "401 Unauthorized", "token_required",
		    "give the admin token as a bearer token");
		return HN_EINVAL;
	}
	if (!token_equal(cfg->admin_token, token)) {
		reply_error(rp, "403 Forbidden", "bad_token",
		    "that is not the admin token");
		return HN_EINVAL;
	}
	return HN_OK;
}

/* GET metrics: Prometheus text, the series of every live process summed,
 * and the table's gauges. */
static int
route_metrics(const struct hn_config *cfg, struct hn_store *reader,
    const struct hn_request *rq, struct hn_reply *rp)
{
	struct hn_series	*sv;
	struct hn_stats		 st;
	size_t			 n;

	if (route_token(cfg, rq, rp) < 0)
		return HN_ROUTE_REPLY;
	if (hn_store_series(reader, &sv, &n) < 0)
		return reply_error(rp, "503 Service Unavailable", "db_error",
		    "the session table cannot be read");
	if (hn_store_stats(reader, 1, INT64_MAX, hn_now_ms(), &st) < 0) {
		free(sv);
		return reply_error(rp, "503 Service Unavailable", "db_error",
		    "the session table cannot be read");
	}
	rp->big = hn_metrics_format(sv, n, st.site, st.sessions, st.owners,
	    (double)rq->start_ms / 1000);
	hn_stats_free(&st);
	free(sv);
	if (rp->big == NULL)
		return reply_error(rp, "500 Internal Server Error", "internal",
		    "out of memory");
	snprintf(rp->status, sizeof(rp->status), "200 OK");
	snprintf(rp->content_type, sizeof(rp->content_type),
	    "text/plain; version=0.0.4");
	snprintf(rp->cache, sizeof(rp->cache), "no-store");
	return HN_ROUTE_REPLY;
}

/* GET stats: the busiest pages, peaks and the last day's samples, for
 * the owner (admin_token as a bearer token or a token parameter). */
static int
route_stats(const struct hn_config *cfg, struct hn_store *reader,
    const struct hn_request *rq, struct hn_reply *rp)
{
	char		 num[32];
	const char	*qs = rq->query ? rq->query : "";
	struct hn_stats	 st;
	int64_t		 now = hn_now_ms(), since = now - HN_SAMPLE_KEEP_MS;
	long		 limit = 50;
	size_t		 len;

	if (route_token(cfg, rq, rp) < 0)
		return HN_ROUTE_REPLY;
	if (hn_query_get(qs, strlen(qs), "limit", num, sizeof(num), &len) == 1)
		limit = strtol(num, NULL, 10);
	if (limit < 1 || limit > HN_STATS_LIMIT_MAX)
		return reply_error(rp, "400 Bad Request", "bad_limit",
		    "limit is 1 to 200");
	if (hn_query_get(qs, strlen(qs), "since", num, sizeof(num), &len) == 1)
		since = strtoll(num, NULL, 10);
	if (hn_store_stats(reader, (int)limit, since, now, &st) < 0)
		return reply_error(rp, "503 Service Unavailable", "db_error",
		    "the session table cannot be read");
	rp->big = hn_json_stats(&st);
	hn_stats_free(&st);
	if (rp->big == NULL)
		return reply_error(rp, "500 Internal Server Error", "internal",
		    "out of memory");
	snprintf(rp->status, sizeof(rp->status), "200 OK");
	snprintf(rp->cache, sizeof(rp->cache), "no-store");
	return HN_ROUTE_REPLY;
}

/* GET health: liveness, whether the table answers and takes writes, how
 * many processes beat. */
static int
route_health(const struct hn_config *cfg, struct hn_store *reader,
    const struct hn_request *rq, struct hn_reply *rp)
{
	struct hn_stats	 st;
	bool		 ok, writable;

	ok = hn_store_stats(reader, 1, INT64_MAX, hn_now_ms(), &st) == HN_OK;
	writable = ok && (rq->writable >= 0 ? rq->writable == 1 :
	    access(cfg->db, W_OK) == 0);
	snprintf(rp->body, sizeof(rp->body), "{\"status\":\"%s\","
	    "\"db\":\"%s\",\"writable\":%s,\"owners\":%ld,"
	    "\"version\":\"%s\",\"pid\":%d}",
	    ok && writable ? "ok" : "degraded", ok ? "ok" : "error",
	    writable ? "true" : "false", ok ? st.owners : 0L, PACKAGE_VERSION,
	    (int)getpid());
	if (ok)
		hn_stats_free(&st);
	snprintf(rp->status, sizeof(rp->status), "%s",
	    ok ? "200 OK" : "503 Service Unavailable");
	snprintf(rp->cache, sizeof(rp->cache), "no-store");
	return HN_ROUTE_REPLY;
}

size_t
hn_request_body(struct hn_request *rq, const char *content_length, char *buf)
{
	long	 want = content_length != NULL ?
		    strtol(content_length, NULL, 10) : 0;

	rq->body = buf;
	rq->body_len = 0;
	if (want <= 0)
		return 0;
	if (want > HN_BODY_MAX) {
		rq->body_too_big = true;
		return 0;
	}
	return (size_t)want;
}

int
hn_route(const struct hn_config *cfg, struct hn_store *reader,
    const struct hn_request *rq, struct hn_reply *rp, struct hn_handoff *h)
{
	const char	*ep = rq->endpoint, *qs = rq->query ? rq->query : "";
	long		 readers, tabs, site;
	int		 rc;

	memset(rp, 0, sizeof(*rp));
	memset(h, 0, HN_HANDOFF_HEAD);
	if (strcmp(ep, "ws") == 0)
		return route_ws(cfg, rq, rp, h);
	if (strcmp(ep, "beat") == 0 || strcmp(ep, "leave") == 0)
		return route_beat(cfg, reader, rq, rp, ep[0] == 'l');
	if (strcmp(ep, "metrics") == 0 || strcmp(ep, "stats") == 0) {
		if (strcmp(rq->method, "GET") != 0)
			return reply_error(rp, "405 Method Not Allowed",
			    "method_not_allowed", "use GET");
		return ep[0] == 'm' ? route_metrics(cfg, reader, rq, rp) :
		    route_stats(cfg, reader, rq, rp);
	}
	if (strcmp(ep, "sse") != 0 && strcmp(ep, "count") != 0 &&
	    strcmp(ep, "health") != 0 && strcmp(ep, "badge.svg") != 0)
		return reply_error(rp, "404 Not Found", "not_found",
		    "no such endpoint");
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
		return reply_error(rp, "405 Method Not Allowed",
		    "method_not_allowed", "use GET");
	if (strcmp(ep, "health") == 0)
		return route_health(cfg, reader, rq, rp);
	if (strcmp(ep, "count") == 0 || strcmp(ep, "badge.svg") == 0) {
		char etag[80];
		if (parse_query(qs, rp, h, false) < 0)
			return HN_ROUTE_REPLY;
		if (hn_store_count(reader, h->page, &readers, &tabs, &site) < 0)
			return reply_error(rp, "503 Service Unavailable",
			    "db_error", "the session table cannot be read");
		if (ep[0] == 'b')
			return route_badge(rp, readers);
		/* The counts are the whole answer: they make the tag. */
		snprintf(etag, sizeof(etag), "W/\"%ld.%ld.%ld\"", readers,
		    tabs, site);
		snprintf(rp->headers, sizeof(rp->headers), "ETag: %s\r\n",
		    etag);
		snprintf(rp->cache, sizeof(rp->cache), "max-age=1");
		if (rq->if_none_match != NULL &&
		    strstr(rq->if_none_match, etag) != NULL) {
			snprintf(rp->status, sizeof(rp->status),
			    "304 Not Modified");
			return HN_ROUTE_REPLY;
		}
		if (hn_json_count(rp->body, sizeof(rp->body), h->page, readers,
		    tabs, site, false) < 0)
			return reply_error(rp, "500 Internal Server Error",
			    "internal", "the answer does not fit");
		snprintf(rp->status, sizeof(rp->status), "200 OK");
		return HN_ROUTE_REPLY;
	}
	if (strcmp(rq->method, "GET") != 0)
		return reply_error(rp, "405 Method Not Allowed",
		    "method_not_allowed", "use GET");
	if (route_origin(cfg, rq, rp) < 0 || parse_query(qs, rp, h, true) < 0)
		return HN_ROUTE_REPLY;
	/* Refused before the stream opens when the table says so already;
	 * the store thread checks again as it commits the join. */
	if (h->visitor[0] != '\0' && h->page[0] != '\0' &&
	    (rc = hn_store_visitor_live(reader, h->visitor, NULL)) >= 0 &&
	    (unsigned)rc >= cfg->max_sessions_per_visitor)
		return reply_error(rp, "429 Too Many Requests",
		    "too_many_sessions", "this visitor already has "
		    "max_sessions_per_visitor sessions");
	h->transport = HN_TR_SSE;
	route_addr(cfg, rq, h);
	return HN_ROUTE_STREAM;
}

size_t
hn_reply_format(const struct hn_reply *rp, char *out, size_t outsz)
{
	const char	*cache = rp->cache;
	int		 n;

	if (cache[0] == '\0')
		cache = strncmp(rp->status, "200", 3) == 0 ? "max-age=1" :
		    "no-store";
	if (rp->big != NULL)
		n = snprintf(out, outsz, "Status: %s\r\nContent-Type: %s\r\n"
		    "Cache-Control: %s\r\n%s\r\n", rp->status,
		    rp->content_type[0] ? rp->content_type : "application/json",
		    cache, rp->headers);
	else if (rp->body[0] == '\0')
		n = snprintf(out, outsz, "Status: %s\r\nCache-Control: %s\r\n"
		    "%s\r\n", rp->status, cache, rp->headers);
	else
		n = snprintf(out, outsz, "Status: %s\r\nContent-Type: %s\r\n"
		    "Cache-Control: %s\r\n%s\r\n%s\n", rp->status,
		    rp->content_type[0] ? rp->content_type : "application/json",
		    cache, rp->headers, rp->body);
	if (n < 0)
		return 0;
	return (size_t)n < outsz ? (size_t)n : outsz - 1;
}
