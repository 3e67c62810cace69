/*
 * The application: the event loop that owns every held stream, the store
 * thread that owns the SQLite write connection, and the queues between
 * them and the FastCGI acceptor threads (DESIGN §4).
 *
 * Threads: acceptors (fcgi_accept.c) hand streams in through hand_q; the
 * loop (the main thread) writes to readers and sends joins and leaves to
 * the store thread through store_q; the store thread commits them in
 * batches, polls data_version and sends changed counts back through res_q.
 * Each queue is a mutex-protected list with an eventfd or a condition
 * variable to wake its consumer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

#define APP_READ_CHUNK		4096
#define APP_QUEUE_SLOTS		32	/* buffers queued for one stream */
#define APP_SSE_RETRY_MS	2000

static volatile sig_atomic_t	 app_stop_flag;

/* An encoded output buffer shared by every reader it goes to; only the
 * loop thread touches the reference count. */
struct obuf {
	int		 refs;
	uint16_t	 reqid;
	size_t		 len;
	unsigned char	 data[];
};

struct qslot {
	struct obuf	*buf;
	size_t		 off;
};

struct stream {
	struct stream		*prev, *next;	/* app->streams */
	struct hn_app		*app;
	int			 fd;
	uint16_t		 reqid;
	bool			 joined;	/* has a session row */
	bool			 awaiting_ack;	/* the store thread holds us */
	bool			 closed;
	char			 sid[HN_SID_LEN + 1];
	struct hn_hub_client	*hc;
	struct qslot		 q[APP_QUEUE_SLOTS];
	int			 qhead, qlen;
	size_t			 qbytes;
	/* Read by the store thread while awaiting_ack; never changed. */
	int			 npages;
	char			 (*pages)[HN_PAGE_MAX + 1];
};

/* loop -> store thread */
struct sreq {
	struct sreq	*next;
	struct hn_op	 op;		/* kind 0: nothing to write */
	struct stream	*ack;		/* answer with its pages' counts */
};

/* store thread -> loop */
enum { RES_SITE, RES_COUNT, RES_ACK };
struct sres {
	struct sres	*next;
	int		 kind;
	long		 readers, tabs;
	struct stream	*stream;
	char		 page[];
};

struct hn_app {
	struct hn_config	 cfg;
	struct hn_loop		*loop;
	struct hn_hub		*hub;
	struct stream		*streams;
	atomic_uint		 nstreams;
	sigset_t		 waitmask;	/* in force while the loop waits */
	int			 hub_timer;
	struct obuf		*ping;

	/* acceptors -> loop */
	pthread_mutex_t		 hand_mu;
	struct hand_node	*hand_head, **hand_tail;
	int			 hand_efd;

	/* loop -> store thread */
	pthread_t		 store_thread;
	bool			 store_started;
	pthread_mutex_t		 store_mu;
	pthread_cond_t		 store_cv;
	struct sreq		*sq_head, **sq_tail;
	bool			 store_quit;
	struct hn_store		*store;

	/* store thread -> loop */
	pthread_mutex_t		 res_mu;
	struct sres		*res_head, **res_tail;
	int			 res_efd;
};

struct hand_node {
	struct hand_node	*next;
	struct hn_handoff	 h;
};

static void	stream_close(struct hn_app *, struct stream *, bool);

bool
hn_app_stopping(void)
{
	return app_stop_flag != 0;
}

static void
app_on_signal(int sig)
{
	app_stop_flag = 1;
}

const struct hn_config *
hn_app_config(const struct hn_app *app)
{
	return &app->cfg;
}

/* ---- output buffers -------------------------------------------------- */

/* Wraps payload in FastCGI STDOUT records for reqid. */
static struct obuf *
obuf_fcgi(uint16_t reqid, const void *payload, size_t len)
{
	struct obuf	*b;
	size_t		 need = hn_fcgi_encoded_len(len);
	ssize_t		 n;

	if ((b = malloc(sizeof(*b) + need)) == NULL)
		return NULL;
	n = hn_fcgi_encode(b->data, need, HN_FCGI_STDOUT, reqid, payload, len);
	if (n < 0) {
		free(b);
		return NULL;
	}
	b->refs = 1;
	b->reqid = reqid;
	b->len = (size_t)n;
	return b;
}

static struct obuf *
obuf_sse_count(uint16_t reqid, const char *json, size_t len)
{
	char	 ev[HN_PAGE_MAX * 6 + 256];
	ssize_t	 n;

	/* The hub's line ends in a newline; an SSE data line must not. */
	if (len > 0 && json[len - 1] == '\n')
		len--;
	if ((n = hn_sse_event(ev, sizeof(ev), "count", json, len)) < 0)
		return NULL;
	return obuf_fcgi(reqid, ev, (size_t)n);
}

static void
obuf_unref(struct obuf *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

/* ---- streams ----------------------------------------------------------- */

/* Writes what is queued; returns 0, or HN_EIO when the reader is gone. */
static int
stream_flush(struct stream *st)
{
	struct qslot	*s;
	ssize_t		 n;

	while (st->qlen > 0) {
		s = &st->q[st->qhead];
		n = write(st->fd, s->buf->data + s->off, s->buf->len - s->off);
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

static void stream_on_io(struct hn_loop *, int, int, void *);

/*
 * Queues b for st and writes at once when nothing is waiting: the cost per
 * reader of a broadcast is one non-blocking write.  A reader whose queue
 * is full is dropped (DESIGN §4: slow readers never grow memory).
 */
static void
stream_send(struct hn_app *app, struct stream *st, struct obuf *b)
{
	struct qslot	*s;
	bool		 was_empty = st->qlen == 0;

	if (st->closed)
		return;
	if (st->qlen == APP_QUEUE_SLOTS ||
	    st->qbytes + b->len > HN_STREAM_QUEUE_MAX) {
		log_debug("%s: slow reader %s dropped", __func__, st->sid);
		stream_close(app, st, false);
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
		stream_close(app, st, false);
		return;
	}
	if (st->qlen > 0)
		hn_loop_watch(app->loop, st->fd, HN_EV_READ | HN_EV_WRITE,
		    stream_on_io, st);
}

static void
stream_free(struct stream *st)
{
	while (st->qlen > 0) {
		obuf_unref(st->q[st->qhead].buf);
		st->qhead = (st->qhead + 1) % APP_QUEUE_SLOTS;
		st->qlen--;
	}
	free(st->pages);
	free(st);
}

static void
store_enqueue(struct hn_app *app, struct sreq *r)
{
	pthread_mutex_lock(&app->store_mu);
	*app->sq_tail = r;
	app->sq_tail = &r->next;
	pthread_cond_signal(&app->store_cv);
	pthread_mutex_unlock(&app->store_mu);
}

/*
 * Ends a stream: unsubscribes it, queues its leave (counted for
 * leave_grace), closes the connection.  With normal, the response is
 * ended properly first (shutdown).  The struct lives on while the store
 * thread still has to answer for it.
 */
static void
stream_close(struct hn_app *app, struct stream *st, bool normal)
{
	unsigned char	 end[64];
	ssize_t		 n;
	struct sreq	*r;

	if (st->closed)
		return;
	st->closed = true;
	hn_hub_client_free(app->hub, st->hc);
	st->hc = NULL;
	if (st->joined && (r = calloc(1, sizeof(*r))) != NULL) {
		r->op.kind = HN_OP_LEAVE;
		memcpy(r->op.sid, st->sid, sizeof(r->op.sid));
		store_enqueue(app, r);
	}
	if (normal && stream_flush(st) == HN_OK && st->qlen == 0 &&
	    (n = hn_fcgi_encode_end(end, sizeof(end), st->reqid, 0)) > 0) {
		if (write(st->fd, end, (size_t)n) < 0)
			log_debug("%s: end of %s: write failed", __func__,
			    st->sid);
	}
	hn_loop_unwatch(app->loop, st->fd);
	close(st->fd);
	st->fd = -1;
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		app->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	atomic_fetch_sub(&app->nstreams, 1);
	if (!st->awaiting_ack)
		stream_free(st);
}

/*
 * Reads what lighttpd sends on a held stream.  For SSE nothing is
 * expected but the end of FCGI_STDIN; EOF means the reader left (with
 * "tcp-fin-propagate" lighttpd passes the FIN within milliseconds).
 */
static void
stream_on_io(struct hn_loop *l, int fd, int events, void *arg)
{
	struct stream		*st = arg;
	struct hn_app		*app = st->app;
	unsigned char		 buf[APP_READ_CHUNK];
	ssize_t			 n;

	if (events & HN_EV_WRITE) {
		if (stream_flush(st) < 0) {
			stream_close(app, st, false);
			return;
		}
		if (st->qlen == 0)
			hn_loop_watch(l, fd, HN_EV_READ, stream_on_io, st);
	}
	if (!(events & (HN_EV_READ | HN_EV_ERROR)))
		return;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0) {
			/* lighttpd passed the reader's FIN on: end the
			 * response properly so it logs no backend error. */
			stream_close(app, st, true);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				stream_close(app, st, false);
			return;
		}
		/* What follows the request is the end of FCGI_STDIN; its
		 * bytes may have been read by libfcgi already, so they are
		 * not parsed here. */
	}
}

/* Answers a stream that cannot be held with a 503 and its JSON error.  The
 * connection is fresh, so the few hundred bytes fit its socket buffer. */
static void
stream_refuse(int fd, uint16_t reqid, const char *code, const char *msg)
{
	char		 body[512], resp[768];
	unsigned char	 rec[1024];
	ssize_t		 n, m, e;
	int		 len;

	if ((n = hn_json_error(body, sizeof(body), code, msg)) < 0)
		return;
	len = snprintf(resp, sizeof(resp), "Status: 503 Service Unavailable"
	    "\r\nContent-Type: application/json\r\nCache-Control: no-store"
	    "\r\n\r\n%s\n", body);
	if (len < 0 || (size_t)len >= sizeof(resp))
		return;
	if ((m = hn_fcgi_encode(rec, sizeof(rec), HN_FCGI_STDOUT, reqid, resp,
	    (size_t)len)) < 0 ||
	    (e = hn_fcgi_encode_end(rec + m, sizeof(rec) - (size_t)m, reqid,
	    0)) < 0)
		return;
	if (write(fd, rec, (size_t)(m + e)) < 0)
		log_debug("%s: write: failed", __func__);
}

/* Takes over a connection handed in by an acceptor: SSE headers, hub
 * subscriptions, and the join sent to the store thread. */
static void
stream_open(struct hn_app *app, const struct hn_handoff *h)
{
	static const char hdr[] =
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache, no-transform\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "\r\n";
	char		 head[256];
	struct stream	*st;
	struct sreq	*r = NULL;
	struct obuf	*b;
	const char	*code = "busy", *msg = "cannot take the stream over";
	ssize_t		 n;
	int		 i, flags, rc;

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (r = calloc(1, sizeof(*r))) == NULL ||
	    (st->pages = calloc(h->nwatch + 1, sizeof(*st->pages))) == NULL ||
	    hn_random_hex(st->sid, HN_SID_LEN) < 0 ||
	    (st->hc = hn_hub_client_new(app->hub, st)) == NULL)
		goto fail;
	st->app = app;
	st->fd = h->fd;
	st->reqid = h->reqid;
	if ((flags = fcntl(st->fd, F_GETFL)) < 0 ||
	    fcntl(st->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto fail;
	if (h->page[0] != '\0')
		memcpy(st->pages[st->npages++], h->page, HN_PAGE_MAX + 1);
	for (i = 0; i < h->nwatch; i++)
		memcpy(st->pages[st->npages++], h->watch[i], HN_PAGE_MAX + 1);
	for (i = 0; i < st->npages; i++) {
		if ((rc = hn_hub_subscribe(app->hub, st->hc, st->pages[i],
		    app->cfg.max_pages)) < 0) {
			if (rc == HN_ETOOBIG) {
				code = "too_many_pages";
				msg = "this process follows max_pages pages";
			}
			goto fail;
		}
	}
	if (hn_loop_watch(app->loop, st->fd, HN_EV_READ, stream_on_io, st) < 0)
		goto fail;
	st->next = app->streams;
	if (st->next != NULL)
		st->next->prev = st;
	app->streams = st;

	memcpy(head, hdr, sizeof(hdr) - 1);
	n = hn_sse_retry(head + sizeof(hdr) - 1, sizeof(head) - sizeof(hdr),
	    APP_SSE_RETRY_MS);
	if (n > 0 && (b = obuf_fcgi(st->reqid, head,
	    sizeof(hdr) - 1 + (size_t)n)) != NULL) {
		stream_send(app, st, b);
		obuf_unref(b);
	}
	if (st->closed) {
		free(r);
		return;
	}
	if (h->page[0] != '\0') {
		r->op.kind = HN_OP_JOIN;
		memcpy(r->op.sid, st->sid, sizeof(r->op.sid));
		memcpy(r->op.page, h->page, sizeof(r->op.page));
		if (h->visitor[0] != '\0')
			snprintf(r->op.visitor, sizeof(r->op.visitor), "%s",
			    h->visitor);
		else
			snprintf(r->op.visitor, sizeof(r->op.visitor), "~%s",
			    st->sid);
		st->joined = true;
	}
	r->ack = st;
	st->awaiting_ack = true;
	store_enqueue(app, r);
	return;
fail:
	log_warnx("%s: stream refused: %s", __func__, msg);
	if (st != NULL) {
		if (st->fd > 0)
			hn_loop_unwatch(app->loop, st->fd);
		hn_hub_client_free(app->hub, st->hc);
		free(st->pages);
		free(st);
	}
	free(r);
	stream_refuse(h->fd, h->reqid, code, msg);
	close(h->fd);
	atomic_fetch_sub(&app->nstreams, 1);
}

int
hn_app_handoff(struct hn_app *app, const struct hn_handoff *h)
{
	struct hand_node	*n;
	uint64_t		 one = 1;

	if (atomic_fetch_add(&app->nstreams, 1) >= app->cfg.max_streams) {
		atomic_fetch_sub(&app->nstreams, 1);
		return HN_ETOOBIG;
	}
	if ((n = malloc(sizeof(*n))) == NULL) {
		atomic_fetch_sub(&app->nstreams, 1);
		return HN_ENOMEM;
	}
	memcpy(&n->h, h, sizeof(*h));
	n->next = NULL;
	pthread_mutex_lock(&app->hand_mu);
	*app->hand_tail = n;
	app->hand_tail = &n->next;
	pthread_mutex_unlock(&app->hand_mu);
	if (write(app->hand_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	return HN_OK;
}

static void
app_on_handoff(struct hn_loop *l, int fd, int events, void *arg)
{
	struct hn_app		*app = arg;
	struct hand_node	*n, *next;
	uint64_t		 v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	pthread_mutex_lock(&app->hand_mu);
	n = app->hand_head;
	app->hand_head = NULL;
	app->hand_tail = &app->hand_head;
	pthread_mutex_unlock(&app->hand_mu);
	for (; n != NULL; n = next) {
		next = n->next;
		if (hn_app_stopping()) {
			close(n->h.fd);
			atomic_fetch_sub(&app->nstreams, 1);
		} else {
			stream_open(app, &n->h);
		}
		free(n);
	}
}

/* ---- broadcast ------------------------------------------------------- */

static void
app_deliver(void *arg, void *ctx, struct hn_bcast *bc)
{
	struct hn_app	*app = arg;
	struct stream	*st = ctx;
	struct obuf	*b = bc->cache[0];

	if (b == NULL || b->reqid != st->reqid) {
		/* lighttpd numbers every request 1, so this is built once
		 * per broadcast; another id gets a buffer of its own. */
		if ((b = obuf_sse_count(st->reqid, bc->json, bc->len)) == NULL)
			return;
		if (bc->cache[0] == NULL) {
			bc->cache[0] = b;
		} else {
			stream_send(app, st, b);
			obuf_unref(b);
			return;
		}
	}
	stream_send(app, st, b);
}

static void
app_release(void *arg, struct hn_bcast *bc)
{
	obuf_unref(bc->cache[0]);
	bc->cache[0] = NULL;
}

static int64_t
app_hub_timer(struct hn_loop *l, int64_t now, void *arg)
{
	struct hn_app	*app = arg;

	return hn_hub_tick(app->hub, now);
}

/* Comment heartbeat for every stream: keeps lighttpd's max-write-idle and
 * proxies from closing a quiet stream, and finds readers who left. */
static int64_t
app_ping_timer(struct hn_loop *l, int64_t now, void *arg)
{
	struct hn_app	*app = arg;
	struct stream	*st, *next;

	for (st = app->streams; st != NULL; st = next) {
		next = st->next;
		if (st->reqid == app->ping->reqid) {
			stream_send(app, st, app->ping);
		} else {
			struct obuf *b = obuf_fcgi(st->reqid, ": ping\n\n", 8);
			if (b != NULL) {
				stream_send(app, st, b);
				obuf_unref(b);
			}
		}
	}
	return now + app->cfg.sse_heartbeat_ms;
}

/* Counts from the store thread, in its order: site, pages, answers. */
static void
app_on_results(struct hn_loop *l, int fd, int events, void *arg)
{
	struct hn_app	*app = arg;
	struct sres	*r, *next;
	int64_t		 now = hn_mono_ms();
	uint64_t	 v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	pthread_mutex_lock(&app->res_mu);
	r = app->res_head;
	app->res_head = NULL;
	app->res_tail = &app->res_head;
	pthread_mutex_unlock(&app->res_mu);
	for (; r != NULL; r = next) {
		next = r->next;
		switch (r->kind) {
		case RES_SITE:
			hn_hub_site(app->hub, r->readers, now);
			break;
		case RES_COUNT:
			hn_hub_update(app->hub, r->page, r->readers, r->tabs,
			    now);
			break;
		case RES_ACK:
			r->stream->awaiting_ack = false;
			if (r->stream->closed)
				stream_free(r->stream);
			else
				hn_hub_ready(app->hub, r->stream->hc, now);
			break;
		}
		free(r);
	}
	hn_loop_timer_set(app->loop, app->hub_timer, hn_hub_tick(app->hub, now));
}

/* ---- the store thread -------------------------------------------------- */

struct res_list {
	struct sres	*head, **tail;
};

static void
res_add(struct res_list *rl, int kind, const char *page, long readers,
    long tabs, struct stream *st)
{
	struct sres	*r;
	size_t		 len = page != NULL ? strlen(page) : 0;

	if ((r = calloc(1, sizeof(*r) + len + 1)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	r->kind = kind;
	r->readers = readers;
	r->tabs = tabs;
	r->stream = st;
	if (page != NULL)
		memcpy(r->page, page, len + 1);
	*rl->tail = r;
	rl->tail = &r->next;
}

static void
res_count_cb(void *arg, const char *page, long readers, long tabs)
{
	res_add(arg, RES_COUNT, page, readers, tabs, NULL);
}

static void
app_timespec_at(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}

/*
 * Owns the SQLite write connection: commits what the loop queued in one
 * transaction (group commit: whatever arrives during a commit goes in the
 * next), beats and reaps, and watches other processes' commits.
 */
static void *
store_main(void *arg)
{
	struct hn_app	*app = arg;
	struct sreq	*reqs, *r, *next;
	struct hn_op	*ops = NULL;
	size_t		 nops, cap = 0;
	struct res_list	 rl;
	struct timespec	 ts;
	int64_t		 now, next_beat = 0, expiry = INT64_MAX, wake;
	int64_t		 last_err_log = 0;
	uint64_t	 seq = 0, one = 1;
	long		 site = 0, r_, t_, s_;
	bool		 quit = false, wrote, failed;
	int		 i;

	while (!quit) {
		pthread_mutex_lock(&app->store_mu);
		now = hn_now_ms();
		wake = now + app->cfg.poll_interval_ms;
		if (next_beat < wake)
			wake = next_beat;
		if (expiry < wake)
			wake = expiry;
		app_timespec_at(&ts, wake);
		while (app->sq_head == NULL && !app->store_quit &&
		    hn_now_ms() < wake)
			if (pthread_cond_timedwait(&app->store_cv,
			    &app->store_mu, &ts) == ETIMEDOUT)
				break;
		reqs = app->sq_head;
		app->sq_head = NULL;
		app->sq_tail = &app->sq_head;
		quit = app->store_quit;
		pthread_mutex_unlock(&app->store_mu);
		if (quit)
			break;

		now = hn_now_ms();
		nops = 0;
		for (r = reqs; r != NULL; r = r->next) {
			if (r->op.kind == 0)
				continue;
			if (nops == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct hn_op *o = reallocarray(ops, ncap,
				    sizeof(*ops));
				if (o == NULL)
					break;
				ops = o;
				cap = ncap;
			}
			ops[nops++] = r->op;
		}
		wrote = failed = false;
		if (nops > 0 || now >= next_beat || now >= expiry) {
			bool beat = now >= next_beat;
			if (hn_store_apply(app->store, ops, nops, beat, now)
			    < 0) {
				failed = true;
				if (now - last_err_log > 60000) {
					log_warnx("%s: the session table is "
					    "not writable; retrying", __func__);
					last_err_log = now;
				}
			} else {
				wrote = true;
				if (beat)
					next_beat = now +
					    app->cfg.heartbeat_ms;
				expiry = hn_store_next_expiry(app->store);
			}
		}
		if (failed) {
			/* Keep the batch for the next round, in order. */
			pthread_mutex_lock(&app->store_mu);
			for (r = reqs; r->next != NULL; r = r->next)
				;
			r->next = app->sq_head;
			app->sq_head = reqs;
			if (r->next == NULL)
				app->sq_tail = &r->next;
			pthread_mutex_unlock(&app->store_mu);
			reqs = NULL;
			if (next_beat <= now)
				next_beat = now + app->cfg.poll_interval_ms;
			if (expiry <= now)
				expiry = now + app->cfg.poll_interval_ms;
		}

		rl.head = NULL;
		rl.tail = &rl.head;
		if (wrote || hn_store_changed(app->store) == 1) {
			struct res_list pages = { NULL, &pages.head };
			if (hn_store_changes(app->store, &seq, &site,
			    res_count_cb, &pages) >= 0) {
				res_add(&rl, RES_SITE, NULL, site, 0, NULL);
				*rl.tail = pages.head;
				if (pages.head != NULL)
					rl.tail = pages.tail;
			}
		}
		for (r = reqs; r != NULL; r = next) {
			next = r->next;
			if (r->ack != NULL) {
				for (i = 0; i < r->ack->npages; i++) {
					if (hn_store_count(app->store,
					    r->ack->pages[i], &r_, &t_, &s_)
					    == HN_OK)
						res_add(&rl, RES_COUNT,
						    r->ack->pages[i], r_, t_,
						    NULL);
				}
				res_add(&rl, RES_ACK, NULL, 0, 0, r->ack);
			}
			free(r);
		}
		if (rl.head != NULL) {
			pthread_mutex_lock(&app->res_mu);
			*app->res_tail = rl.head;
			app->res_tail = rl.tail;
			pthread_mutex_unlock(&app->res_mu);
			if (write(app->res_efd, &one, sizeof(one)) < 0 &&
			    errno != EAGAIN)
				log_warn("%s: eventfd", __func__);
		}
	}
	free(ops);
	/* Our sessions go with us (DESIGN §4, SIGTERM). */
	hn_store_close(app->store);
	app->store = NULL;
	return NULL;
}

/* ---- life cycle -------------------------------------------------------- */

struct hn_app *
hn_app_new(const struct hn_config *cfg, char *err, size_t errsz)
{
	struct hn_app		*app;
	struct hn_hub_io	 io;
	struct rlimit		 rl;
	int			 setsize = 65536;

	if ((app = calloc(1, sizeof(*app))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	app->cfg = *cfg;
	app->hand_efd = app->res_efd = -1;
	app->hand_tail = &app->hand_head;
	app->sq_tail = &app->sq_head;
	app->res_tail = &app->res_head;
	pthread_mutex_init(&app->hand_mu, NULL);
	pthread_mutex_init(&app->store_mu, NULL);
	pthread_cond_init(&app->store_cv, NULL);
	pthread_mutex_init(&app->res_mu, NULL);

	/* Held streams are file descriptors: take the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576)
			setsize = (int)rl.rlim_cur;
	}
	app->store = hn_store_open(cfg->db, HN_STORE_WRITER,
	    cfg->stale_after_ms, cfg->leave_grace_ms, hn_now_ms(), err, errsz);
	if (app->store == NULL)
		goto fail;
	io.deliver = app_deliver;
	io.release = app_release;
	io.arg = app;
	if ((app->hub = hn_hub_new(cfg->broadcast_interval_ms,
	    cfg->site_interval_ms, &io)) == NULL ||
	    (app->loop = hn_loop_new(setsize)) == NULL ||
	    (app->ping = obuf_fcgi(1, ": ping\n\n", 8)) == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	if ((app->hand_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (app->res_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    hn_loop_watch(app->loop, app->hand_efd, HN_EV_READ,
	    app_on_handoff, app) < 0 ||
	    hn_loop_watch(app->loop, app->res_efd, HN_EV_READ,
	    app_on_results, app) < 0) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		goto fail;
	}
	app->hub_timer = hn_loop_timer(app->loop, INT64_MAX, app_hub_timer,
	    app);
	hn_loop_timer(app->loop, hn_mono_ms() + cfg->sse_heartbeat_ms,
	    app_ping_timer, app);
	if (pthread_create(&app->store_thread, NULL, store_main, app) != 0) {
		snprintf(err, errsz, "cannot start the store thread");
		goto fail;
	}
	app->store_started = true;
	return app;
fail:
	hn_app_free(app);
	return NULL;
}

int
hn_app_run(struct hn_app *app)
{
	struct sigaction	 sa;
	sigset_t		 block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = app_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* The signals are blocked in every thread (main blocks them before
	 * any thread starts) and let in only while the loop waits. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &app->waitmask);
	sigdelset(&app->waitmask, SIGTERM);
	sigdelset(&app->waitmask, SIGINT);
	sigdelset(&app->waitmask, SIGHUP);

	while (!hn_app_stopping())
		hn_loop_once(app->loop, &app->waitmask);
	log_info("%s: stopping", __func__);
	while (app->streams != NULL)
		stream_close(app, app->streams, true);
	return 0;
}

void
hn_app_free(struct hn_app *app)
{
	struct sres	*r, *next;
	struct sreq	*q, *qnext;

	if (app == NULL)
		return;
	if (app->store_started) {
		pthread_mutex_lock(&app->store_mu);
		app->store_quit = true;
		pthread_cond_signal(&app->store_cv);
		pthread_mutex_unlock(&app->store_mu);
		pthread_join(app->store_thread, NULL);
	} else {
		hn_store_close(app->store);
	}
	/* What the store thread left when it quit: its sessions went with
	 * its owner row already. */
	for (q = app->sq_head; q != NULL; q = qnext) {
		qnext = q->next;
		if (q->ack != NULL && q->ack->closed)
			stream_free(q->ack);
		free(q);
	}
	for (r = app->res_head; r != NULL; r = next) {
		next = r->next;
		if (r->kind == RES_ACK && r->stream->closed)
			stream_free(r->stream);
		free(r);
	}
	obuf_unref(app->ping);
	hn_hub_free(app->hub);
	hn_loop_free(app->loop);
	if (app->hand_efd >= 0)
		close(app->hand_efd);
	if (app->res_efd >= 0)
		close(app->res_efd);
	free(app);
}
