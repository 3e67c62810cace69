/*
 * Held streams: readers the event loop owns, over SSE, WebSocket (FastCGI
 * upgrade or CGI) or the mod_wstunnel payload stream.  Output is queued
 * shared buffers written without blocking; input is parsed as it comes and
 * turned into joins, moves and watches for the store thread.
 *
 * NOTES: a FastCGI stream's socket was read by libfcgi up to the end of
 * the request's parameters.  For SSE what follows (the end of FCGI_STDIN)
 * may have been read by libfcgi already, so a record that does not parse
 * is ignored there: only EOF matters.  A WebSocket over FastCGI (lighttpd
 * >= 1.4.74) gets no byte before our 101, so its records start clean.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app_int.h"

#define STREAM_READ_CHUNK	4096
#define STREAM_IN_MAX		(HN_WS_FRAME_MAX + STREAM_READ_CHUNK)
#define STREAM_SSE_RETRY_MS	2000
#define STREAM_EVENT_MAX	(HN_PAGE_MAX * 6 + 256)

static void	stream_on_io(struct hn_loop *, int, int, void *);
static void	stream_free(struct stream *);

/* ---- output buffers ---------------------------------------------------- */

static struct obuf *
obuf_new(size_t len)
{
	struct obuf	*b;

	if ((b = malloc(sizeof(*b) + len)) == NULL)
		return NULL;
	b->refs = 1;
	b->reqid = 0;
	b->len = len;
	return b;
}

static void
obuf_unref(struct obuf *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

/* payload as st's connection carries it: in FastCGI STDOUT records, or as
 * it is. */
static struct obuf *
obuf_for(const struct stream *st, const void *payload, size_t len)
{
	struct obuf	*b;
	ssize_t		 n;

	if (!st->fcgi) {
		if ((b = obuf_new(len)) != NULL)
			memcpy(b->data, payload, len);
		return b;
	}
	if ((b = obuf_new(hn_fcgi_encoded_len(len))) == NULL)
		return NULL;
	n = hn_fcgi_encode(b->data, b->len, HN_FCGI_STDOUT, st->reqid,
	    payload, len);
	if (n < 0) {
		free(b);
		return NULL;
	}
	b->len = (size_t)n;
	b->reqid = st->reqid;
	return b;
}

/* One count line (with its newline) in st's transport. */
static struct obuf *
obuf_count(const struct stream *st, const char *json, size_t len)
{
	unsigned char	 out[STREAM_EVENT_MAX + 16];
	ssize_t		 n;

	switch (st->transport) {
	case HN_TR_SSE:
		/* An SSE data line must not end in the newline. */
		n = hn_sse_event((char *)out, sizeof(out), "count", json,
		    len - 1);
		break;
	case HN_TR_WS:
		n = hn_ws_encode(out, sizeof(out), HN_WS_OP_TEXT, json, len);
		break;
	default:
		return obuf_for(st, json, len);
	}
	return n < 0 ? NULL : obuf_for(st, out, (size_t)n);
}

/* ---- writing ----------------------------------------------------------- */

/* Writes what is queued; returns 0, or HN_EIO when the reader is gone. */
static int
stream_flush(struct stream *st)
{
	struct qslot	*s;
	ssize_t		 n;

	while (st->qlen > 0) {
		s = &st->q[st->qhead];
		n = write(st->out_fd, s->buf->data + s->off,
		    s->buf->len - s->off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return HN_OK;
			return HN_EIO;
		}
		s->off += (size_t)n;
		st->qbytes -= (size_t)n;
		if (s->off < s->buf->len)
			return HN_OK;
		obuf_unref(s->buf);
		st->qhead = (st->qhead + 1) % APP_QUEUE_SLOTS;
		st->qlen--;
	}
	return HN_OK;
}

static void
stream_watch(struct stream *st)
{
	struct hn_loop	*l = st->app->loop;
	int		 in = st->transport == HN_TR_SSE && !st->fcgi &&
			    st->in_fd != st->out_fd ? 0 : HN_EV_READ;

	if (st->in_fd == st->out_fd) {
		hn_loop_watch(l, st->in_fd, in | (st->qlen > 0 ?
		    HN_EV_WRITE : 0), stream_on_io, st);
	} else {
		/* CGI: stdin and stdout are two pipes. */
		if (in)
			hn_loop_watch(l, st->in_fd, HN_EV_READ, stream_on_io,
			    st);
		hn_loop_watch(l, st->out_fd, st->qlen > 0 ? HN_EV_WRITE : 0,
		    stream_on_io, st);
	}
}

/*
 * Queues b for st and writes at once when nothing is waiting: the cost per
 * reader of a broadcast is one non-blocking write.  A reader whose queue
 * is full is dropped (DESIGN §4: slow readers never grow memory).
 */
static void
stream_send(struct stream *st, struct obuf *b)
{
	struct qslot	*s;
	bool		 was_empty = st->qlen == 0;

	if (st->closed || b == NULL)
		return;
	if (st->qlen == APP_QUEUE_SLOTS ||
	    st->qbytes + b->len > HN_STREAM_QUEUE_MAX) {
		log_debug("%s: slow reader %s dropped", __func__, st->sid);
		hn_metrics_count(&st->app->metrics, HN_M_SLOW, 1);
		stream_close(st, false, 0);
		return;
	}
	s = &st->q[(st->qhead + st->qlen) % APP_QUEUE_SLOTS];
	s->buf = b;
	s->off = 0;
	b->refs++;
	st->qlen++;
	st->qbytes += b->len;
	if (!was_empty)
		return;
	if (stream_flush(st) < 0) {
		stream_close(st, false, 0);
		return;
	}
	if (st->qlen > 0)
		stream_watch(st);
}

/* Sends payload (already in the transport's framing) once. */
static void
stream_send_raw(struct stream *st, const void *payload, size_t len)
{
	struct obuf	*b = obuf_for(st, payload, len);

	stream_send(st, b);
	obuf_unref(b);
}

static void
stream_send_ws(struct stream *st, int opcode, const void *payload,
    size_t len)
{
	unsigned char	 frame[HN_WS_FRAME_MAX];
	ssize_t		 n;

	if ((n = hn_ws_encode(frame, sizeof(frame), opcode, payload, len)) > 0)
		stream_send_raw(st, frame, (size_t)n);
}

/*
 * Refuses input on a stream: an error line the reader can show, then the
 * end (a WebSocket closes with 1008 and the code as its reason).
 */
static void
stream_error(struct stream *st, const char *code, const char *why)
{
	char	 json[512];
	ssize_t	 n;

	log_debug("%s: stream %s: %s: %s", __func__, st->sid, code, why);
	hn_metrics_refused(&st->app->metrics, code);
	if ((n = hn_json_error(json, sizeof(json), code, why)) > 0) {
		json[n++] = '\n';
		if (st->transport == HN_TR_WS)
			stream_send_ws(st, HN_WS_OP_TEXT, json, (size_t)n);
		else if (st->transport == HN_TR_TUNNEL)
			stream_send_raw(st, json, (size_t)n);
	}
	if (st->transport == HN_TR_WS && !st->closed) {
		unsigned char	 frame[160];
		if ((n = hn_ws_encode_close(frame, sizeof(frame),
		    HN_WS_CLOSE_POLICY, code)) > 0)
			stream_send_raw(st, frame, (size_t)n);
		st->close_sent = true;
	}
	stream_close(st, true, 0);
}

/* ---- the store thread's part ------------------------------------------- */

static struct sreq *
sreq_new(int npages)
{
	return calloc(1, sizeof(struct sreq) + npages *
	    sizeof(((struct sreq *)0)->pages[0]));
}

/* Asks the store thread to commit op (if any) and then to answer with the
 * counts of pages, after which st becomes ready for broadcasts. */
static void
stream_request(struct stream *st, int op, const char *page, char **pages,
    int npages)
{
	struct sreq	*r;
	int		 i;

	if ((r = sreq_new(npages)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	if (op == HN_OP_JOIN)
		hn_metrics_count(&st->app->metrics, HN_M_JOINS, 1);
	else if (op != 0)
		hn_metrics_count(&st->app->metrics, HN_M_LEAVES, 1);
	if (op != 0) {
		r->op.kind = op;
		memcpy(r->op.sid, st->sid, sizeof(r->op.sid));
		/* A leave's visitor too: max_sessions_per_visitor counts
		 * a page change's leave before its join. */
		snprintf(r->op.visitor, sizeof(r->op.visitor), "%s",
		    st->visitor);
		if (op == HN_OP_JOIN)
			snprintf(r->op.page, sizeof(r->op.page), "%s", page);
	}
	if (pages != NULL) {
		r->ack = st;
		r->npages = npages;
		for (i = 0; i < npages; i++)
			snprintf(r->pages[i], sizeof(r->pages[i]), "%s",
			    pages[i]);
		st->acks++;
	}
	app_store_enqueue(st->app, r);
}

static void
stream_bury(struct stream *st)
{
	st->next = st->app->dead;
	st->app->dead = st;
}

void
stream_reap(struct hn_app *app)
{
	struct stream	*st;

	while ((st = app->dead) != NULL) {
		app->dead = st->next;
		stream_free(st);
	}
}

void
stream_acked(struct stream *st, bool refused)
{
	st->acks--;
	if (st->closed) {
		if (st->acks == 0)
			stream_bury(st);
		return;
	}
	if (refused) {
		/* Nothing was stored: there is no session to leave. */
		st->joined = false;
		stream_error(st, "too_many_sessions", "this visitor already "
		    "has max_sessions_per_visitor sessions");
		return;
	}
	hn_hub_ready(st->app->hub, st->hc, hn_mono_ms());
}

/* ---- following pages ---------------------------------------------------- */

static int
stream_subscribe(struct stream *st, const char *page)
{
	int	 rc;

	rc = hn_hub_subscribe(st->app->hub, st->hc, page,
	    st->app->cfg.max_pages);
	if (rc == HN_ETOOBIG)
		stream_error(st, "too_many_pages",
		    "this process follows max_pages pages");
	else if (rc < 0)
		stream_error(st, "busy", "out of memory");
	return rc;
}

static bool
stream_watches(const struct stream *st, const char *page)
{
	int	 i;

	for (i = 0; i < st->nwatch; i++)
		if (strcmp(st->watch[i], page) == 0)
			return true;
	return false;
}

static void
stream_drop_watch(struct stream *st)
{
	int	 i;

	for (i = 0; i < st->nwatch; i++) {
		if (st->page == NULL || strcmp(st->watch[i], st->page) != 0)
			hn_hub_unsubscribe(st->app->hub, st->hc, st->watch[i]);
		free(st->watch[i]);
	}
	free(st->watch);
	st->watch = NULL;
	st->nwatch = 0;
}

/* Replaces the watch list; the counts of the new pages come at once. */
static int
stream_set_watch(struct stream *st, char (*pages)[HN_PAGE_MAX + 1], int n)
{
	int	 i;

	stream_drop_watch(st);
	if (n == 0)
		return HN_OK;
	if ((st->watch = calloc(n, sizeof(*st->watch))) == NULL) {
		stream_error(st, "busy", "out of memory");
		return HN_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if ((st->watch[i] = strdup(pages[i])) == NULL) {
			stream_error(st, "busy", "out of memory");
			return HN_ENOMEM;
		}
		st->nwatch++;
		if (stream_subscribe(st, pages[i]) < 0)
			return HN_ETOOBIG;
	}
	return HN_OK;
}

/* Makes page the one st reads: the previous one loses it at once (a
 * navigation, not a leave: no grace), the new one counts it. */
static int
stream_set_page(struct stream *st, const char *page)
{
	if (st->page != NULL && strcmp(st->page, page) == 0)
		return HN_OK;
	if (st->page != NULL) {
		if (st->joined)
			stream_request(st, HN_OP_DROP, NULL, NULL, 0);
		if (!stream_watches(st, st->page))
			hn_hub_unsubscribe(st->app->hub, st->hc, st->page);
		free(st->page);
		st->page = NULL;
		st->joined = false;
		/* A new session: the dropped one's id must not come back. */
		if (hn_random_hex(st->sid, HN_SID_LEN) < 0) {
			stream_error(st, "busy", "no random numbers");
			return HN_EIO;
		}
	}
	if ((st->page = strdup(page)) == NULL) {
		stream_error(st, "busy", "out of memory");
		return HN_ENOMEM;
	}
	if (stream_subscribe(st, page) < 0)
		return HN_ETOOBIG;
	return HN_OK;
}

/* Joins the stream's page and asks for the counts of every page it
 * follows now. */
static void
stream_commit(struct stream *st, bool join)
{
	char	**pages;
	int	  n = 0, i;

	if ((pages = calloc(st->nwatch + 1, sizeof(*pages))) == NULL) {
		stream_error(st, "busy", "out of memory");
		return;
	}
	if (st->page != NULL)
		pages[n++] = st->page;
	for (i = 0; i < st->nwatch; i++)
		pages[n++] = st->watch[i];
	if (join && st->page != NULL) {
		stream_request(st, HN_OP_JOIN, st->page, pages, n);
		st->joined = true;
	} else {
		stream_request(st, 0, NULL, pages, n);
	}
	free(pages);
}

/* A client message (WebSocket or tunnel). */
static void
stream_on_msg(struct stream *st, struct hn_msg *m)
{
	switch (m->type) {
	case HN_MSG_HELLO:
		if (st->hello) {
			stream_error(st, "bad_message", "hello was sent twice");
			return;
		}
		st->hello = true;
		if (m->visitor[0] != '\0') {
			free(st->visitor);
			if ((st->visitor = strdup(m->visitor)) == NULL) {
				stream_error(st, "busy", "out of memory");
				return;
			}
		}
		if (m->page[0] != '\0' && stream_set_page(st, m->page) < 0)
			return;
		if (stream_set_watch(st, m->watch, m->nwatch) < 0)
			return;
		stream_commit(st, true);
		break;
	case HN_MSG_PAGE:
		if (!st->hello) {
			stream_error(st, "bad_message", "say hello first");
			return;
		}
		if (st->page != NULL && strcmp(st->page, m->page) == 0)
			return;
		if (stream_set_page(st, m->page) < 0)
			return;
		stream_commit(st, true);
		break;
	case HN_MSG_WATCH:
		if (!st->hello) {
			stream_error(st, "bad_message", "say hello first");
			return;
		}
		if (stream_set_watch(st, m->watch, m->nwatch) < 0)
			return;
		stream_commit(st, false);
		break;
	}
}

/* ---- reading ------------------------------------------------------------- */

/* Keeps unparsed input (a frame or message in pieces), bounded. */
static int
stream_buffer(struct stream *st, const unsigned char *data, size_t len)
{
	if (st->in == NULL && (st->in = malloc(STREAM_IN_MAX)) == NULL)
		return HN_ENOMEM;
	if (len > STREAM_IN_MAX - st->in_len)
		return HN_ETOOBIG;
	memcpy(st->in + st->in_len, data, len);
	st->in_len += len;
	return HN_OK;
}

static void
stream_consume(struct stream *st, size_t n)
{
	memmove(st->in, st->in + n, st->in_len - n);
	st->in_len -= n;
}

static void
stream_ws_input(struct stream *st)
{
	struct hn_ws_event	 ev;
	struct hn_msg		 m;
	const char		*code, *why;
	unsigned char		 frame[160];
	ssize_t			 n;

	while (!st->closed && st->in_len > 0) {
		n = hn_ws_parse(&st->wp, st->in, st->in_len, &ev);
		if (n == 0)
			break;
		if (n < 0) {
			if ((n = hn_ws_encode_close(frame, sizeof(frame),
			    ev.code, (const char *)ev.data)) > 0)
				stream_send_raw(st, frame, (size_t)n);
			st->close_sent = true;
			stream_close(st, true, 0);
			return;
		}
		switch (ev.type) {
		case HN_WS_EV_TEXT:
			if (hn_json_msg((const char *)ev.data, ev.len, &m,
			    &code, &why) < 0)
				stream_error(st, code, why);
			else
				stream_on_msg(st, &m);
			break;
		case HN_WS_EV_PING:
			stream_send_ws(st, HN_WS_OP_PONG, ev.data, ev.len);
			break;
		case HN_WS_EV_PONG:
			st->pings_missed = 0;
			break;
		case HN_WS_EV_CLOSE:
			/* Echo the peer's code, then the end. */
			stream_close(st, true, ev.code == HN_WS_CLOSE_NO_STATUS ?
			    HN_WS_CLOSE_NORMAL : ev.code);
			return;
		}
		if (!st->closed)
			stream_consume(st, (size_t)n);
	}
}

static void
stream_tunnel_input(struct stream *st)
{
	struct hn_msg	 m;
	const char	*code, *why;
	ssize_t		 n;

	while (!st->closed && st->in_len > 0) {
		n = hn_tunnel_next((const char *)st->in, st->in_len, &m, &code,
		    &why);
		if (n == 0)
			break;
		if (n < 0) {
			stream_error(st, n == HN_ETOOBIG ? "too_big" : code,
			    n == HN_ETOOBIG ? "message over 4096 bytes" : why);
			return;
		}
		stream_on_msg(st, &m);
		if (!st->closed)
			stream_consume(st, (size_t)n);
	}
}

/* Bytes of the reader's side of the connection. */
static void
stream_input(struct stream *st, const unsigned char *data, size_t len)
{
	if (st->transport == HN_TR_SSE || len == 0)
		return;
	if (stream_buffer(st, data, len) < 0) {
		if (st->transport == HN_TR_WS) {
			unsigned char frame[64];
			ssize_t n = hn_ws_encode_close(frame, sizeof(frame),
			    HN_WS_CLOSE_TOO_BIG, "too much input");
			if (n > 0)
				stream_send_raw(st, frame, (size_t)n);
			st->close_sent = true;
			stream_close(st, true, 0);
		} else {
			stream_error(st, "too_big", "message too big");
		}
		return;
	}
	if (st->transport == HN_TR_WS)
		stream_ws_input(st);
	else
		stream_tunnel_input(st);
	if (!st->closed && st->in_len == 0) {
		free(st->in);
		st->in = NULL;
	}
}

/* FastCGI records from lighttpd: FCGI_STDIN carries the reader's bytes. */
static void
stream_fcgi_input(struct stream *st, const unsigned char *buf, size_t len)
{
	struct hn_fcgi_record	 rec;
	size_t			 off;
	ssize_t			 c;
	bool			 ready;

	for (off = 0; off < len && !st->closed && !st->fcgi_lost;
	    off += (size_t)c) {
		c = hn_fcgi_parse(&st->fp, buf + off, len - off, &rec, &ready);
		if (c < 0) {
			if (st->transport == HN_TR_SSE) {
				st->fcgi_lost = true;	/* see NOTES */
				return;
			}
			log_warnx("%s: stream %s: bad FastCGI record",
			    __func__, st->sid);
			stream_close(st, false, 0);
			return;
		}
		if (!ready)
			continue;
		if (rec.type == HN_FCGI_STDIN)
			stream_input(st, rec.content, rec.len);
		else if (rec.type == HN_FCGI_ABORT_REQUEST)
			stream_close(st, false, 0);
	}
}

/*
 * Reads what lighttpd sends.  EOF means the reader left: with
 * "tcp-fin-propagate" lighttpd passes the FIN on within milliseconds, and
 * a CGI's stdin ends when its WebSocket does.
 */
static void
stream_on_io(struct hn_loop *l, int fd, int events, void *arg)
{
	struct stream	*st = arg;
	unsigned char	 buf[STREAM_READ_CHUNK];
	ssize_t		 n;

	if (fd == st->out_fd && (events & HN_EV_WRITE)) {
		if (stream_flush(st) < 0) {
			stream_close(st, false, 0);
			return;
		}
		if (st->qlen == 0)
			stream_watch(st);
	}
	if (fd == st->out_fd && fd != st->in_fd && (events & HN_EV_ERROR)) {
		/* CGI: the reading end of stdout is gone. */
		stream_close(st, false, 0);
		return;
	}
	if (fd != st->in_fd || !(events & (HN_EV_READ | HN_EV_ERROR)))
		return;
	while (!st->closed) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0) {
			/* End the response properly so that lighttpd logs
			 * no backend error. */
			stream_close(st, true, HN_WS_CLOSE_NORMAL);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				stream_close(st, false, 0);
			return;
		}
		if (st->fcgi)
			stream_fcgi_input(st, buf, (size_t)n);
		else
			stream_input(st, buf, (size_t)n);
	}
}

/* ---- open and close ------------------------------------------------------ */

/* Answers a stream that cannot be held with a 503 and its JSON error.  The
 * connection is fresh, so the few hundred bytes fit its socket buffer. */
static void
stream_refuse(const struct hn_handoff *h, const char *code, const char *msg)
{
	char		 body[512], resp[768];
	unsigned char	 rec[1024];
	ssize_t		 n, m, e = 0;
	int		 len;

	if (h->transport == HN_TR_TUNNEL) {
		/* The WebSocket is open already: an error line. */
		if ((n = hn_json_error(body, sizeof(body), code, msg)) > 0) {
			body[n++] = '\n';
			if (write(h->out_fd, body, (size_t)n) < 0)
				log_debug("%s: write failed", __func__);
		}
		return;
	}
	if ((n = hn_json_error(body, sizeof(body), code, msg)) < 0)
		return;
	len = snprintf(resp, sizeof(resp), "Status: 503 Service Unavailable"
	    "\r\nContent-Type: application/json\r\nCache-Control: no-store"
	    "\r\n\r\n%s\n", body);
	if (len < 0 || (size_t)len >= sizeof(resp))
		return;
	if (!h->fcgi) {
		if (write(h->out_fd, resp, (size_t)len) < 0)
			log_debug("%s: write failed", __func__);
		return;
	}
	if ((m = hn_fcgi_encode(rec, sizeof(rec), HN_FCGI_STDOUT, h->reqid,
	    resp, (size_t)len)) < 0 ||
	    (e = hn_fcgi_encode_end(rec + m, sizeof(rec) - (size_t)m,
	    h->reqid, 0)) < 0)
		return;
	if (write(h->out_fd, rec, (size_t)(m + e)) < 0)
		log_debug("%s: write failed", __func__);
}

static int
stream_nonblock(int fd)
{
	int	 on = 1;

	/* One system call where F_GETFL and F_SETFL take two. */
	return ioctl(fd, FIONBIO, &on) < 0 ? HN_EIO : HN_OK;
}

/* The response head each transport starts with. */
static void
stream_head(struct stream *st, const struct hn_handoff *h)
{
	char	 head[512];
	int	 n = 0;

	switch (st->transport) {
	case HN_TR_SSE:
		n = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
		    "Content-Type: text/event-stream; charset=utf-8\r\n"
		    "Cache-Control: no-cache, no-transform\r\n"
		    "X-Accel-Buffering: no\r\n\r\n"
		    "retry: %d\n\n", STREAM_SSE_RETRY_MS);
		break;
	case HN_TR_WS:
		n = snprintf(head, sizeof(head),
		    "Status: 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n\r\n", h->accept);
		break;
	default:
		return;		/* lighttpd did the handshake */
	}
	if (n > 0 && (size_t)n < sizeof(head))
		stream_send_raw(st, head, (size_t)n);
}

void
stream_open(struct hn_app *app, const struct hn_handoff *h)
{
	struct stream	*st;
	int		 i;

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    hn_random_hex(st->sid, HN_SID_LEN) < 0 ||
	    (st->hc = hn_hub_client_new(app->hub, st)) == NULL ||
	    (h->transport != HN_TR_TUNNEL &&	/* accept4 made it so */
	    (stream_nonblock(h->in_fd) < 0 || (h->out_fd != h->in_fd &&
	    stream_nonblock(h->out_fd) < 0)))) {
		log_warn("%s: cannot take the stream over", __func__);
		if (st != NULL)
			hn_hub_client_free(app->hub, st->hc);
		free(st);
		stream_refuse(h, "busy", "cannot take the stream over");
		if (h->out_fd != h->in_fd)
			close(h->out_fd);
		close(h->in_fd);
		app_addr_release(app, h->slot);
		atomic_fetch_sub(&app->nstreams, 1);
		return;
	}
	st->app = app;
	st->slot = h->slot;
	st->in_fd = h->in_fd;
	st->out_fd = h->out_fd;
	st->reqid = h->reqid;
	st->transport = h->transport;
	st->fcgi = h->fcgi;
	app->metrics.streams[st->transport]++;
	hn_ws_parser_init(&st->wp, HN_WS_MESSAGE_MAX);
	st->next = app->streams;
	if (st->next != NULL)
		st->next->prev = st;
	app->streams = st;
	app->had_stream = true;
	stream_watch(st);
	if (h->visitor[0] != '\0')
		st->visitor = strdup(h->visitor);
	else if (asprintf(&st->visitor, "~%s", st->sid) < 0)
		st->visitor = NULL;
	if (st->visitor == NULL) {
		stream_close(st, false, 0);
		return;
	}
	if (st->transport != HN_TR_SSE) {
		stream_head(st, h);
		return;		/* the page comes with hello */
	}
	/* SSE: the query said it all.  A refusal before the head is sent
	 * is a 503, so the subscriptions come first. */
	st->hello = true;
	if (h->page[0] != '\0' &&
	    ((st->page = strdup(h->page)) == NULL ||
	    hn_hub_subscribe(app->hub, st->hc, st->page, app->cfg.max_pages)
	    < 0))
		goto refuse;
	if (h->nwatch > 0 &&
	    (st->watch = calloc(h->nwatch, sizeof(*st->watch))) == NULL)
		goto refuse;
	for (i = 0; i < h->nwatch; i++) {
		if ((st->watch[i] = strdup(h->watch[i])) == NULL)
			goto refuse;
		st->nwatch++;
		if (hn_hub_subscribe(app->hub, st->hc, st->watch[i],
		    app->cfg.max_pages) < 0)
			goto refuse;
	}
	stream_head(st, h);
	if (!st->closed)
		stream_commit(st, true);
	return;
refuse:
	stream_refuse(h, "too_many_pages", "this process follows max_pages "
	    "pages");
	stream_close(st, false, 0);
}

/*
 * Ends a stream: unsubscribes it, queues its leave (counted for
 * leave_grace), closes the connection.  With normal the response is ended
 * properly first: a WebSocket close frame with ws_code (unless one was
 * sent), what is queued, and FCGI_END_REQUEST.  The struct lives on while
 * the store thread still owes it an answer.
 */
void
stream_close(struct stream *st, bool normal, uint16_t ws_code)
{
	struct hn_app	*app = st->app;
	unsigned char	 end[64];
	ssize_t		 n;
	struct sreq	*r;

	if (st->closed)
		return;
	if (normal && st->transport == HN_TR_WS && !st->close_sent &&
	    ws_code != 0 && (n = hn_ws_encode_close(end, sizeof(end), ws_code,
	    NULL)) > 0) {
		st->close_sent = true;
		stream_send_raw(st, end, (size_t)n);
		if (st->closed)
			return;
	}
	st->closed = true;
	hn_hub_client_free(app->hub, st->hc);
	st->hc = NULL;
	st->app->metrics.streams[st->transport]--;
	if (st->joined && (r = sreq_new(0)) != NULL) {
		hn_metrics_count(&app->metrics, HN_M_LEAVES, 1);
		r->op.kind = HN_OP_LEAVE;
		memcpy(r->op.sid, st->sid, sizeof(r->op.sid));
		/* Its visitor: a reload (this leave and the new stream's
		 * join in one batch) makes room under
		 * max_sessions_per_visitor. */
		snprintf(r->op.visitor, sizeof(r->op.visitor), "%s",
		    st->visitor != NULL ? st->visitor : "");
		app_store_enqueue(app, r);
	}
	if (normal && stream_flush(st) == HN_OK && st->qlen == 0 && st->fcgi &&
	    (n = hn_fcgi_encode_end(end, sizeof(end), st->reqid, 0)) > 0) {
		if (write(st->out_fd, end, (size_t)n) < 0)
			log_debug("%s: end of %s: write failed", __func__,
			    st->sid);
	}
	if (st->out_fd == st->in_fd) {
		/* A socket accepted for this stream alone. */
		hn_loop_forget(app->loop, st->in_fd);
		close(st->in_fd);
	} else {
		/* CGI's pipes: the poller is told, whatever else holds
		 * them. */
		hn_loop_unwatch(app->loop, st->in_fd);
		close(st->in_fd);
		hn_loop_unwatch(app->loop, st->out_fd);
		close(st->out_fd);
	}
	st->in_fd = st->out_fd = -1;
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		app->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	app_addr_release(app, st->slot);
	st->slot = NULL;
	atomic_fetch_sub(&app->nstreams, 1);
	/* Callers up the stack may still look at st->closed: freed at the
	 * end of the loop's round. */
	if (st->acks == 0)
		stream_bury(st);
}

static void
stream_free(struct stream *st)
{
	int	 i;

	while (st->qlen > 0) {
		obuf_unref(st->q[st->qhead].buf);
		st->qhead = (st->qhead + 1) % APP_QUEUE_SLOTS;
		st->qlen--;
	}
	for (i = 0; i < st->nwatch; i++)
		free(st->watch[i]);
	free(st->watch);
	free(st->page);
	free(st->visitor);
	free(st->in);
	hn_ws_parser_free(&st->wp);
	free(st);
}

/* ---- broadcast and heartbeats ------------------------------------------- */

/* One encoding per transport and framing, built for the first reader that
 * needs it and shared by the rest. */
void
stream_deliver(void *arg, void *ctx, struct hn_bcast *bc)
{
	struct stream	*st = ctx;
	int		 slot = st->transport * 2 + (st->fcgi ? 1 : 0);
	struct obuf	*b = bc->cache[slot];

	hn_metrics_count(&st->app->metrics, HN_M_MESSAGES, 1);
	if (b == NULL || (st->fcgi && b->reqid != st->reqid)) {
		/* lighttpd numbers every request 1, so this is built once
		 * per broadcast; another id gets a buffer of its own. */
		if ((b = obuf_count(st, bc->json, bc->len)) == NULL)
			return;
		if (bc->cache[slot] == NULL) {
			bc->cache[slot] = b;
		} else {
			stream_send(st, b);
			obuf_unref(b);
			return;
		}
	}
	stream_send(st, b);
}

void
stream_release(void *arg, struct hn_bcast *bc)
{
	size_t	 i;

	for (i = 0; i < sizeof(bc->cache) / sizeof(bc->cache[0]); i++) {
		obuf_unref(bc->cache[i]);
		bc->cache[i] = NULL;
	}
}

/* Comment heartbeat for SSE streams: keeps lighttpd's max-write-idle and
 * proxies from closing a quiet stream, and finds readers who left. */
int64_t
stream_sse_ping(struct hn_loop *l, int64_t now, void *arg)
{
	struct hn_app	*app = arg;
	struct stream	*st, *next;
	struct obuf	*shared = NULL;

	for (st = app->streams; st != NULL; st = next) {
		next = st->next;
		if (st->transport != HN_TR_SSE)
			continue;
		if (st->fcgi && st->reqid == 1) {
			if (shared == NULL)
				shared = obuf_for(st, ": ping\n\n", 8);
			stream_send(st, shared);
		} else {
			stream_send_raw(st, ": ping\n\n", 8);
		}
	}
	obuf_unref(shared);
	return now + app->sse_ping_ms;
}

/* WebSocket ping: a reader that answered neither of the last two is gone
 * (a phone that lost its network sends no FIN).  Also the hello's
 * deadline, on the tunnel too. */
int64_t
stream_ws_ping(struct hn_loop *l, int64_t now, void *arg)
{
	struct hn_app	*app = arg;
	struct stream	*st, *next;

	for (st = app->streams; st != NULL; st = next) {
		next = st->next;
		if (st->transport == HN_TR_SSE || st->closed)
			continue;
		/* A WebSocket that never says hello holds a place for
		 * nothing: it gets one to two ws_ping periods. */
		if (!st->hello) {
			if (st->hello_due) {
				stream_error(st, "hello_timeout",
				    "no hello within ws_ping");
				continue;
			}
			st->hello_due = true;
		}
		if (st->transport != HN_TR_WS)
			continue;
		if (st->pings_missed >= 2) {
			log_debug("%s: %s missed two pings", __func__, st->sid);
			stream_close(st, true, HN_WS_CLOSE_GOING_AWAY);
			continue;
		}
		st->pings_missed++;
		stream_send_ws(st, HN_WS_OP_PING, NULL, 0);
	}
	return now + app->cfg.ws_ping_ms;
}

/* A mod_wstunnel connection: lighttpd has done the handshake; the first
 * message names the page. */
void
stream_on_tunnel(struct hn_loop *l, int fd, int events, void *arg)
{
	struct hn_app		*app = arg;
	struct hn_handoff	 h;
	int			 c;

	for (;;) {
		c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("%s: accept", __func__);
			return;
		}
		memset(&h, 0, HN_HANDOFF_HEAD);
		h.in_fd = h.out_fd = c;
		h.transport = HN_TR_TUNNEL;
		if (atomic_fetch_add(&app->nstreams, 1) >=
		    app->cfg.max_streams) {
			stream_refuse(&h, "too_many_streams",
			    "this process holds max_streams readers");
			atomic_fetch_sub(&app->nstreams, 1);
			close(c);
			continue;
		}
		stream_open(app, &h);
	}
}
