/*
 * libFuzzer target for route.c: the input is a request as the front ends
 * hand it to hn_route (query strings of sse and count, form and JSON
 * bodies of beat and leave, the WebSocket handshake, the owner's token),
 * answered from an empty in-memory store.  Every answer's promises are
 * checked, and what a request was understood to say, sent again in
 * canonical form (a query, a form, JSON), must be understood alike.
 *
 * The input: lines "<letter> <value>" up to an empty line, then the body.
 *   m method (GET)   e endpoint (sse)   q query   r REMOTE_ADDR
 *   x X-Forwarded-For   o Origin   u Upgrade   c Connection   v Sec-WebSocket-Version
 *   k Sec-WebSocket-Key   a Authorization   i If-None-Match
 *   p a REQUEST_URI for hn_route_endpoint
 *   f flags: U can upgrade, B body too big, X commits fail, W writable,
 *     w not writable, T an admin token, an origin allowlist and
 *     trusted proxies
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "buf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_TOKEN	"s3cret-token"
#define FUZZ_ORIGINS	"https://blog.example http://localhost:8080"
#define FUZZ_PROXIES	"127.0.0.1 10.0.0.0/8 ::1 fd00::/8"
#define FUZZ_ROOM	4096	/* a formatted reply always fits */


/* The request as read from the input; strings are heap copies. */
struct fuzz_req {
	char	*f[128];		/* by letter */
	char	*body;
	size_t	 body_len;
	bool	 upgrade, too_big, fail, owner;
	int	 writable;
};

/* What the commit callback saw. */
struct fuzz_commit {
	int		 calls;
	bool		 fail;
	struct hn_op	 op;
};

/* One routed request and its answer. */
struct fuzz_answer {
	int			 rc;
	int			 status;
	struct hn_reply		 rp;
	struct hn_handoff	 h;
	struct fuzz_commit	 cm;
};

static struct hn_store	*fuzz_store;
static struct hn_config	 fuzz_cfg[2];

static void	buf_form(struct fuzz_buf *, const char *);
static void	buf_json(struct fuzz_buf *, const char *);
static void	raw_key(struct fuzz_buf *, const char *, bool);
static int	fuzz_commit(void *, const struct hn_op *);
static void	fuzz_setup(void);
static void	req_read(struct fuzz_req *, const char *, size_t);
static void	req_free(struct fuzz_req *);
static const char *req_get(const struct fuzz_req *, int, const char *);
static void	route(const struct fuzz_req *, const char *, const char *,
		    const char *, size_t, const char *,
		    struct fuzz_answer *);
static void	check_key(const char *);
static void	check_error(const struct fuzz_answer *);
static void	check_format(const struct hn_reply *, size_t);
static void	check_answer(const struct fuzz_req *, const char *,
		    struct fuzz_answer *);
static void	check_stream(const struct fuzz_req *, const char *,
		    const struct hn_handoff *);
static void	check_query_again(const struct fuzz_req *, const char *,
		    const struct fuzz_answer *);
static void	check_body_again(const struct fuzz_req *, const char *,
		    const struct fuzz_answer *);
static void	check_form_as_query(const struct fuzz_req *,
		    const struct fuzz_answer *);
static void	check_endpoint(const char *, const char *, size_t);

/* s form-encoded: everything but [A-Za-z0-9_.~-] as %XX. */
static void
buf_form(struct fuzz_buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 e[3];
	unsigned char		 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			buf_add(b, (const char *)&c, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		buf_add(b, e, 3);
	}
}

/* s as a JSON string (it is valid UTF-8 without NUL: a page key). */
static void
buf_json(struct fuzz_buf *b, const char *s)
{
	char	 e[8];

	buf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			e[0] = '\\';
			e[1] = *s;
			buf_add(b, e, 2);
		} else if ((unsigned char)*s < 0x20) {
			snprintf(e, sizeof(e), "\\u%04x", (unsigned char)*s);
			buf_add(b, e, 6);
		} else
			buf_add(b, s, 1);
	}
	buf_add(b, "\"", 1);
}

/*
 * A normalised key as a raw key that normalises to it again: its '%',
 * '?' and '#' (and ',' in a watch list) escaped, since the raw key is
 * percent-decoded once and cut at '?' and '#'.
 */
static void
raw_key(struct fuzz_buf *b, const char *key, bool comma)
{
	for (; *key != '\0'; key++) {
		if (*key == '%')
			buf_add(b, "%25", 3);
		else if (*key == '?')
			buf_add(b, "%3F", 3);
		else if (*key == '#')
			buf_add(b, "%23", 3);
		else if (*key == ',' && comma)
			buf_add(b, "%2C", 3);
		else
			buf_add(b, key, 1);
	}
}

static int
fuzz_commit(void *arg, const struct hn_op *op)
{
	struct fuzz_commit	*cm = arg;

	cm->calls++;
	memcpy(&cm->op, op, sizeof(*op));
	return cm->fail ? HN_EDB : HN_OK;
}

/* The store (empty, in memory) and the two configurations, once. */
static void
fuzz_setup(void)
{
	char	 err[256];

	if (fuzz_store != NULL)
		return;
	fuzz_store = hn_store_open(":memory:", 0, 30000, 3000, 0, err,
	    sizeof(err));
	if (fuzz_store == NULL) {
		fprintf(stderr, "fuzz_route: %s\n", err);
		abort();
	}
	hn_config_defaults(&fuzz_cfg[0]);
	hn_config_defaults(&fuzz_cfg[1]);
	snprintf(fuzz_cfg[1].admin_token, sizeof(fuzz_cfg[1].admin_token),
	    "%s", FUZZ_TOKEN);
	snprintf(fuzz_cfg[1].origins, sizeof(fuzz_cfg[1].origins), "%s",
	    FUZZ_ORIGINS);
	snprintf(fuzz_cfg[1].trusted_proxies,
	    sizeof(fuzz_cfg[1].trusted_proxies), "%s", FUZZ_PROXIES);
}

static void
req_read(struct fuzz_req *rq, const char *in, size_t len)
{
	const char	*end = in + len, *nl, *v, *flags;
	size_t		 n;
	int		 letter;

	memset(rq, 0, sizeof(*rq));
	rq->writable = -1;
	while (in < end && *in != '\n') {
		if ((nl = memchr(in, '\n', (size_t)(end - in))) == NULL)
			nl = end;
		letter = (unsigned char)in[0] & 127;
		v = in + 1;
		if (v < nl && *v == ' ')
			v++;
		n = (size_t)(nl - v);
		free(rq->f[letter]);
		if ((rq->f[letter] = malloc(n + 1)) == NULL)
			abort();
		memcpy(rq->f[letter], v, n);
		rq->f[letter][n] = '\0';
		in = nl < end ? nl + 1 : end;
	}
	if (in < end)
		in++;
	rq->body_len = (size_t)(end - in);
	if ((rq->body = malloc(rq->body_len > 0 ? rq->body_len : 1)) == NULL)
		abort();
	memcpy(rq->body, in, rq->body_len);
	if ((flags = rq->f['f']) != NULL) {
		rq->upgrade = strchr(flags, 'U') != NULL;
		rq->too_big = strchr(flags, 'B') != NULL;
		rq->fail = strchr(flags, 'X') != NULL;
		rq->owner = strchr(flags, 'T') != NULL;
		if (strchr(flags, 'W') != NULL)
			rq->writable = 1;
		else if (strchr(flags, 'w') != NULL)
			rq->writable = 0;
	}
	/* What the front ends do with a body over the bound. */
	if (rq->body_len > HN_BODY_MAX)
		rq->too_big = true;
}

static void
req_free(struct fuzz_req *rq)
{
	size_t	 i;

	for (i = 0; i < sizeof(rq->f) / sizeof(rq->f[0]); i++)
		free(rq->f[i]);
	free(rq->body);
}

static const char *
req_get(const struct fuzz_req *rq, int letter, const char *dflt)
{
	return rq->f[letter] != NULL ? rq->f[letter] : dflt;
}

/* Routes rq, its endpoint, method, query and body replaced when given. */
static void
route(const struct fuzz_req *rq, const char *ep, const char *method,
    const char *query, size_t body_len, const char *body,
    struct fuzz_answer *a)
{
	struct hn_request	 r;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.endpoint = ep;
	r.query = query;
	r.remote_addr = rq->f['r'];
	r.forwarded_for = rq->f['x'];
	r.upgrade = rq->f['u'];
	r.connection = rq->f['c'];
	r.ws_key = rq->f['k'];
	r.ws_version = rq->f['v'];
	r.origin = rq->f['o'];
	r.if_none_match = rq->f['i'];
	r.authorization = rq->f['a'];
	r.writable = rq->writable;
	r.start_ms = 1;
	r.body = body;
	r.body_len = body_len;
	r.body_too_big = rq->too_big || body_len > HN_BODY_MAX;
	r.can_upgrade = rq->upgrade;
	r.commit = fuzz_commit;
	r.commit_arg = &a->cm;
	memset(a, 0, sizeof(*a));
	a->cm.fail = rq->fail;
	/* Garbage where the router must write, so that a field it leaves
	 * unterminated shows. */
	memset(&a->rp, 0x7f, sizeof(a->rp));
	memset(&a->h, 0x7f, sizeof(a->h));
	a->rc = hn_route(&fuzz_cfg[rq->owner], fuzz_store, &r, &a->rp, &a->h);
	a->status = atoi(a->rp.status);
}

/* A normalised key (DESIGN §2) that normalises to itself when written
 * back as a raw key. */
static void
check_key(const char *k)
{
	struct fuzz_buf	 b = { NULL, 0, 0 };
	char		 again[HN_PAGE_MAX + 1];
	size_t		 n = strnlen(k, HN_PAGE_MAX + 1);
	int		 rc;

	if (n < 1 || n > HN_PAGE_MAX || k[0] != '/' ||
	    strstr(k, "//") != NULL || strstr(k, "/./") != NULL ||
	    strstr(k, "/../") != NULL || (n > 1 && k[n - 1] == '/') ||
	    (n >= 2 && strcmp(k + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(k + n - 3, "/..") == 0))
		abort();
	raw_key(&b, k, true);
	rc = hn_page_normalize(b.p, b.len, again, NULL);
	if (rc != (int)n || strcmp(again, k) != 0)
		abort();
	free(b.p);
}

/* A refusal: a code, the JSON error line with it, nothing committed but
 * the commit that failed. */
static void
check_error(const struct fuzz_answer *a)
{
	static const char *const names[3] = { "type", "code", "message" };
	static const size_t	 sz[3] = { 8, 64, 512 };
	char			 t[8], c[64], m[512];
	char *const		 outs[3] = { t, c, m };

	if (a->rp.code == NULL || a->rp.body[0] == '\0' ||
	    hn_json_fields(a->rp.body, strlen(a->rp.body), names, outs, sz,
	    3) != HN_OK || strcmp(t, "error") != 0 ||
	    strcmp(c, a->rp.code) != 0 || m[0] == '\0')
		abort();
	if (a->cm.calls != 0 && !(a->cm.calls == 1 && a->cm.fail &&
	    a->status == 503 && strcmp(a->rp.code, "db_error") == 0))
		abort();
}

/* The CGI head: whole in a big buffer, a terminated prefix of it in a
 * small one. */
static void
check_format(const struct hn_reply *rp, size_t small)
{
	char	 full[FUZZ_ROOM], *part;
	size_t	 n, m;

	n = hn_reply_format(rp, full, sizeof(full));
	if (n == 0 || n >= sizeof(full) - 1 || strlen(full) != n ||
	    strncmp(full, "Status: ", 8) != 0 ||
	    strstr(full, "\r\n\r\n") == NULL)
		abort();
	small = small % (n + 1) + 1;
	if ((part = malloc(small)) == NULL)
		abort();
	m = hn_reply_format(rp, part, small);
	if (m >= small || part[m] != '\0' || memcmp(part, full, m) != 0)
		abort();
	free(part);
}

/* A held stream's hand-off. */
static void
check_stream(const struct fuzz_req *rq, const char *ep,
    const struct hn_handoff *h)
{
	char		 accept[HN_WS_ACCEPT_LEN + 1], key[64];
	char		 plain[HN_ADDR_KEY_MAX], probe[HN_ADDR_KEY_MAX];
	const char	*k;
	size_t		 n;
	int		 i, j;

	if (strcmp(ep, "ws") == 0) {
		if (h->transport != HN_TR_WS || rq->f['k'] == NULL ||
		    !rq->upgrade)
			abort();
		/* The key's value, without the white space around it. */
		k = rq->f['k'] + strspn(rq->f['k'], " \t");
		for (n = strlen(k); n > 0 && (k[n - 1] == ' ' ||
		    k[n - 1] == '\t'); n--)
			;
		if (n >= sizeof(key))
			abort();
		memcpy(key, k, n);
		key[n] = '\0';
		hn_ws_accept_key(key, accept);
		if (strcmp(accept, h->accept) != 0)
			abort();
		return;
	}
	if (strcmp(ep, "sse") != 0 || h->transport != HN_TR_SSE)
		abort();
	if (memchr(h->page, '\0', sizeof(h->page)) == NULL ||
	    memchr(h->visitor, '\0', sizeof(h->visitor)) == NULL ||
	    memchr(h->addr, '\0', sizeof(h->addr)) == NULL ||
	    h->nwatch < 0 || h->nwatch > HN_WATCH_MAX ||
	    (h->page[0] == '\0' && h->nwatch == 0))
		abort();
	if (h->page[0] != '\0')
		check_key(h->page);
	if (h->visitor[0] != '\0' &&
	    !hn_visitor_valid(h->visitor, strlen(h->visitor)))
		abort();
	/* X-Forwarded-For counts only from a trusted proxy. */
	if (hn_addr_client(rq->f['r'], NULL, NULL, plain, sizeof(plain)) < 0)
		plain[0] = '\0';
	if (strcmp(h->addr, plain) != 0 && (!rq->owner ||
	    rq->f['x'] == NULL || hn_addr_client(rq->f['r'], "192.0.2.1",
	    FUZZ_PROXIES, probe, sizeof(probe)) < 0 ||
	    strcmp(probe, "192.0.2.1") != 0))
		abort();
	for (i = 0; i < h->nwatch; i++) {
		check_key(h->watch[i]);
		for (j = 0; j < i; j++)
			if (strcmp(h->watch[i], h->watch[j]) == 0)
				abort();
	}
}

/* Every answer's promises, whatever was asked. */
static void
check_answer(const struct fuzz_req *rq, const char *ep,
    struct fuzz_answer *a)
{
	static const char *const names[3] = { "type", "page", "sid" };
	static const size_t	 sz[3] = { 8, HN_PAGE_MAX + 1, 32 };
	char			 t[8], p[HN_PAGE_MAX + 1], s[32];
	char *const		 outs[3] = { t, p, s };
	const struct hn_op	*op = &a->cm.op;
	const struct hn_reply	*rp = &a->rp;
	bool			 post;

	post = strcmp(ep, "beat") == 0 || strcmp(ep, "leave") == 0;
	if (a->cm.calls > 1 || (a->cm.calls == 1 && !post))
		abort();
	if (a->cm.calls == 1) {
		if (op->kind != (ep[0] == 'b' ? HN_OP_BEAT : HN_OP_LEAVE) ||
		    memchr(op->sid, '\0', sizeof(op->sid)) == NULL ||
		    strlen(op->sid) != HN_SID_LEN ||
		    op->sid[0] != HN_BEAT_SID_PREFIX ||
		    strspn(op->sid + 1, "0123456789abcdef") !=
		    HN_SID_LEN - 1 ||
		    memchr(op->visitor, '\0', sizeof(op->visitor)) == NULL ||
		    !hn_visitor_valid(op->visitor, strlen(op->visitor)) ||
		    memchr(op->page, '\0', sizeof(op->page)) == NULL)
			abort();
		check_key(op->page);
	}
	if (a->rc == HN_ROUTE_STREAM) {
		if (a->cm.calls != 0)
			abort();
		check_stream(rq, ep, &a->h);
		return;
	}
	if (a->rc != HN_ROUTE_REPLY)
		abort();
	if (memchr(rp->status, '\0', sizeof(rp->status)) == NULL ||
	    memchr(rp->content_type, '\0', sizeof(rp->content_type)) == NULL ||
	    memchr(rp->cache, '\0', sizeof(rp->cache)) == NULL ||
	    memchr(rp->headers, '\0', sizeof(rp->headers)) == NULL ||
	    memchr(rp->body, '\0', sizeof(rp->body)) == NULL)
		abort();
	if (a->status < 200 || a->status > 599 || rp->status[3] != ' ' ||
	    strspn(rp->status, "0123456789") != 3)
		abort();
	if (rp->headers[0] != '\0' &&
	    strcmp(rp->headers + strlen(rp->headers) - 2, "\r\n") != 0)
		abort();
	if (strcmp(ep, "health") == 0 && rp->code == NULL) {
		/* Its own answer, degraded or not. */
		if ((a->status != 200 && a->status != 503) ||
		    strncmp(rp->body, "{\"status\":\"", 11) != 0)
			abort();
	} else if (a->status >= 400)
		check_error(a);
	else if (rp->code != NULL)
		abort();
	switch (a->status) {
	case 204:
		if (strcmp(ep, "leave") != 0 || a->cm.calls != 1 ||
		    rp->body[0] != '\0')
			abort();
		break;
	case 304:
		if (strcmp(ep, "count") != 0 || rp->body[0] != '\0')
			abort();
		break;
	case 200:
		if (strcmp(ep, "badge.svg") == 0) {
			if (strcmp(rp->content_type, "image/svg+xml") != 0 ||
			    strncmp(rp->body, "<svg", 4) != 0)
				abort();
			break;
		}
		if (strcmp(ep, "stats") == 0 || strcmp(ep, "metrics") == 0) {
			if (rp->big == NULL || !rq->owner)
				abort();
			break;
		}
		if (strcmp(ep, "health") == 0)
			break;
		if (strcmp(ep, "count") != 0 && strcmp(ep, "beat") != 0)
			abort();
		if (hn_json_fields(rp->body, strlen(rp->body), names, outs, sz,
		    3) != HN_OK || strcmp(t, "count") != 0)
			abort();
		check_key(p);
		if (ep[0] == 'b' && (a->cm.calls != 1 ||
		    strcmp(p, op->page) != 0 || strcmp(s, op->sid) != 0))
			abort();
		break;
	}
	check_format(rp, rq->body_len * 31 + strlen(rp->body));
	free(rp->big);
	a->rp.big = NULL;
}

/*
 * What sse and count understood, as a canonical query (raw keys escaped
 * as raw_key does, then form-encoded), is understood the same again.
 */
static void
check_query_again(const struct fuzz_req *rq, const char *ep,
    const struct fuzz_answer *a)
{
	struct fuzz_buf		 q = { NULL, 0, 0 }, w = { NULL, 0, 0 };
	struct fuzz_answer	*b;
	int			 i;

	buf_add(&q, "", 0);
	if (a->h.page[0] != '\0') {
		raw_key(&w, a->h.page, false);
		buf_add(&q, "page=", 5);
		buf_form(&q, w.p);
	}
	if (a->rc == HN_ROUTE_STREAM && a->h.visitor[0] != '\0') {
		buf_add(&q, "&visitor=", 9);
		buf_add(&q, a->h.visitor, strlen(a->h.visitor));
	}
	if (a->rc == HN_ROUTE_STREAM && a->h.nwatch > 0) {
		w.len = 0;
		for (i = 0; i < a->h.nwatch; i++) {
			if (i > 0)
				buf_add(&w, ",", 1);
			raw_key(&w, a->h.watch[i], true);
		}
		buf_add(&q, "&watch=", 7);
		buf_form(&q, w.p);
	}
	if (q.len <= HN_QUERY_MAX) {
		if ((b = malloc(sizeof(*b))) == NULL)
			abort();
		route(rq, ep, "GET", q.p, 0, NULL, b);
		check_answer(rq, ep, b);
		if (b->rc != a->rc || b->status != a->status ||
		    strcmp(b->h.page, a->h.page) != 0 ||
		    strcmp(b->h.visitor, a->h.visitor) != 0 ||
		    b->h.nwatch != a->h.nwatch)
			abort();
		for (i = 0; i < a->h.nwatch; i++)
			if (strcmp(b->h.watch[i], a->h.watch[i]) != 0)
				abort();
		free(b);
	}
	free(q.p);
	free(w.p);
}

/*
 * What beat and leave committed, sent back as a form and as JSON, is
 * committed alike (the sid was a beat's, so it is kept).
 */
static void
check_body_again(const struct fuzz_req *rq, const char *ep,
    const struct fuzz_answer *a)
{
	struct fuzz_buf		 body = { NULL, 0, 0 }, w = { NULL, 0, 0 };
	struct fuzz_answer	*b;
	const struct hn_op	*op = &a->cm.op;
	int			 json;

	if ((b = malloc(sizeof(*b))) == NULL)
		abort();
	raw_key(&w, op->page, false);
	for (json = 0; json < 2; json++) {
		body.len = 0;
		if (json) {
			buf_add(&body, "{\"sid\":", 7);
			buf_json(&body, op->sid);
			buf_add(&body, ",\"page\":", 8);
			buf_json(&body, w.p);
			buf_add(&body, ",\"visitor\":", 11);
			buf_json(&body, op->visitor);
			buf_add(&body, "}", 1);
		} else {
			buf_add(&body, "visitor=", 8);
			buf_form(&body, op->visitor);
			buf_add(&body, "&page=", 6);
			buf_form(&body, w.p);
			buf_add(&body, "&sid=", 5);
			buf_form(&body, op->sid);
		}
		route(rq, ep, "POST", "", body.len, body.p, b);
		check_answer(rq, ep, b);
		if (b->cm.calls != 1 || b->cm.op.kind != op->kind ||
		    strcmp(b->cm.op.page, op->page) != 0 ||
		    strcmp(b->cm.op.visitor, op->visitor) != 0 ||
		    strcmp(b->cm.op.sid, op->sid) != 0)
			abort();
	}
	free(b);
	free(body.p);
	free(w.p);
}

/*
 * A form body and a query are the same encoding of the same fields: a
 * form that beat took, given to count and sse as their query, names the
 * same page and visitor there (sse may still refuse its watch list).
 */
static void
check_form_as_query(const struct fuzz_req *rq, const struct fuzz_answer *a)
{
	struct fuzz_answer	*b;
	char			*q;
	size_t			 i;

	for (i = 0; i < rq->body_len && (rq->body[i] == ' ' ||
	    rq->body[i] == '\t' || rq->body[i] == '\r' ||
	    rq->body[i] == '\n'); i++)
		;
	if ((i < rq->body_len && rq->body[i] == '{') ||
	    rq->body_len > HN_QUERY_MAX ||
	    memchr(rq->body, '\0', rq->body_len) != NULL)
		return;
	if ((q = malloc(rq->body_len + 1)) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		abort();
	memcpy(q, rq->body, rq->body_len);
	q[rq->body_len] = '\0';
	route(rq, "count", "GET", q, 0, NULL, b);
	check_answer(rq, "count", b);
	if ((b->status != 200 && b->status != 304) ||
	    strcmp(b->h.page, a->cm.op.page) != 0)
		abort();
	route(rq, "sse", "GET", q, 0, NULL, b);
	check_answer(rq, "sse", b);
	if (b->rc == HN_ROUTE_STREAM ? strcmp(b->h.page, a->cm.op.page) != 0 ||
	    strcmp(b->h.visitor, a->cm.op.visitor) != 0 :
	    strcmp(b->rp.code, "bad_watch") != 0)
		abort();
	free(b);
	free(q);
}

/* The endpoint of a REQUEST_URI, against what it must be. */
static void
check_endpoint(const char *uri, const char *prefix, size_t outsz)
{
	char	*out;
	size_t	 n = strcspn(uri, "?"), plen = strlen(prefix);
	int	 rc;
	bool	 ok;

	if ((out = malloc(outsz)) == NULL)
		abort();
	ok = n >= plen && strncmp(uri, prefix, plen) == 0 && n - plen < outsz;
	rc = hn_route_endpoint(uri, prefix, out, outsz);
	if (rc != (ok ? HN_OK : HN_EINVAL) || (ok && (strlen(out) != n - plen ||
	    memcmp(out, uri + plen, n - plen) != 0)))
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 epsz[3] = { 1, 8, 128 };
	struct fuzz_req		 rq;
	struct fuzz_answer	*a, *b;
	const char		*ep, *method, *qs;
	size_t			 n;

	fuzz_setup();
	req_read(&rq, (const char *)data, size);
	ep = req_get(&rq, 'e', "sse");
	method = req_get(&rq, 'm', "GET");
	qs = req_get(&rq, 'q', "");
	if ((a = malloc(sizeof(*a))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		abort();

	route(&rq, ep, method, rq.f['q'], rq.body_len, rq.body, a);
	check_answer(&rq, ep, a);

	/* The same request routed again gives the same answer, but where
	 * the clock or a new random sid comes in. */
	if (strcmp(ep, "sse") == 0 || strcmp(ep, "count") == 0 ||
	    strcmp(ep, "ws") == 0 || strcmp(ep, "badge.svg") == 0) {
		route(&rq, ep, method, rq.f['q'], rq.body_len, rq.body, b);
		check_answer(&rq, ep, b);
		if (b->rc != a->rc || b->status != a->status ||
		    strcmp(b->rp.body, a->rp.body) != 0 ||
		    strcmp(b->rp.headers, a->rp.headers) != 0 ||
		    (a->rc == HN_ROUTE_STREAM &&
		    memcmp(&a->h, &b->h, sizeof(a->h)) != 0))
			abort();
	}

	if ((a->rc == HN_ROUTE_STREAM && strcmp(ep, "sse") == 0) ||
	    (a->status == 200 && strcmp(ep, "count") == 0))
		check_query_again(&rq, ep, a);
	if (a->cm.calls == 1) {
		check_body_again(&rq, ep, a);
		check_form_as_query(&rq, a);
	}

	/* A count's ETag, sent back, answers 304. */
	if (a->status == 200 && strcmp(ep, "count") == 0 &&
	    strncmp(a->rp.headers, "ETag: ", 6) == 0 &&
	    (n = strcspn(a->rp.headers + 6, "\r")) > 0) {
		free(rq.f['i']);
		if ((rq.f['i'] = strndup(a->rp.headers + 6, n)) == NULL)
			abort();
		route(&rq, ep, method, qs, 0, NULL, b);
		check_answer(&rq, ep, b);
		if (b->status != 304)
			abort();
	}

	if (rq.f['p'] != NULL)
		check_endpoint(rq.f['p'], fuzz_cfg[rq.owner].prefix,
		    epsz[size % 3]);
	free(a);
	free(b);
	req_free(&rq);
	return 0;
}
