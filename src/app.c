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
#ifdef HAVE_CONFIG_H
#include "config.h"		/* _GNU_SOURCE: pthread_setname_np */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app_int.h"

static volatile sig_atomic_t	 app_stop_flag;

static void	 app_timespec_at(struct timespec *, int64_t);

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

int
hn_app_listen_tunnel(struct hn_app *app, int lfd)
{
	int	 flags;

	if ((flags = fcntl(lfd, F_GETFL)) < 0 ||
	    fcntl(lfd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    hn_loop_watch(app->loop, lfd, HN_EV_READ, stream_on_tunnel, app)
	    < 0)
		return HN_EIO;
	app->tunnel_fd = lfd;
	return HN_OK;
}

void
hn_app_exit_when_idle(struct hn_app *app)
{
	app->exit_when_idle = true;
	/* lighttpd notices a CGI's reader who left only when it writes to
	 * it: a comment every second ends such a process within two. */
	if (app->sse_ping_ms > 1000) {
		app->sse_ping_ms = 1000;
		hn_loop_timer_set(app->loop, app->sse_timer,
		    hn_mono_ms() + app->sse_ping_ms);
	}
}

void
app_store_enqueue(struct hn_app *app, struct sreq *r)
{
	bool	 was_empty;

	pthread_mutex_lock(&app->store_mu);
	was_empty = app->sq_head == NULL;
	*app->sq_tail = r;
	app->sq_tail = &r->next;
	/* The store thread waits for the first request only; the rest of a
	 * tick's batch needs no wake-up. */
	if (was_empty)
		pthread_cond_signal(&app->store_cv);
	pthread_mutex_unlock(&app->store_mu);
}

/* Drops one reference; the last one frees. */
static void
sync_unref(struct sync_wait *w)
{
	bool	 last;

	pthread_mutex_lock(&w->mu);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
	}
}

static void
sync_done(struct sync_wait *w, int rc)
{
	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->rc = rc;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	sync_unref(w);
}

struct hn_metrics *
hn_app_metrics(struct hn_app *app)
{
	return &app->metrics;
}

/* Collects this process's series for the table. */
struct series_buf {
	const char	*names[128];
	char		 store[128][160];
	double		 values[128];
	size_t		 n;
};

static void
series_add(void *arg, const char *name, double value)
{
	struct series_buf	*b = arg;

	if (b->n == 128)
		return;
	snprintf(b->store[b->n], sizeof(b->store[b->n]), "%s", name);
	b->names[b->n] = b->store[b->n];
	b->values[b->n++] = value;
}

int
hn_app_db_ok(struct hn_app *app)
{
	return atomic_load(&app->db_ok) ? 1 : 0;
}

/*
 * How long an acceptor waits for its op to be committed.  While the
 * database refuses writes (another process holds the lock, the disk is
 * full) the op stays queued and is applied when writes work again; the
 * acceptor goes back to answering requests instead of waiting with it, so
 * four beats cannot stop a process from serving.
 */
#define APP_COMMIT_WAIT_MS	1000

int
hn_app_commit(void *arg, const struct hn_op *op)
{
	struct hn_app		*app = arg;
	struct sync_wait	*w;
	struct sreq		*r;
	struct timespec		 ts;
	int			 rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return HN_EDB;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(r);
		return HN_EDB;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->refs = 2;
	r->op = *op;
	r->wait = w;
	app_store_enqueue(app, r);
	app_timespec_at(&ts, hn_now_ms() + APP_COMMIT_WAIT_MS);
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
			break;
	rc = w->done ? w->rc : HN_EAGAIN;
	pthread_mutex_unlock(&w->mu);
	sync_unref(w);
	return rc;
}

/* ---- held streams by client address ------------------------------------ */

static size_t
addr_bucket(const char *key)
{
	const unsigned char	*c = (const unsigned char *)key;
	uint32_t		 h = 2166136261u;

	while (*c != '\0')
		h = (h ^ *c++) * 16777619u;
	return h % APP_ADDR_BUCKETS;
}

/* Takes a place for one more stream of key: HN_ELIMIT when it holds
 * max_streams_per_addr already. */
static int
app_addr_take(struct hn_app *app, const char *key, struct addr_slot **out)
{
	struct addr_slot	**pp, *a;
	size_t			 len = strlen(key);
	int			 rc = HN_OK;

	*out = NULL;
	if (len == 0)
		return HN_OK;
	pthread_mutex_lock(&app->addr_mu);
	for (pp = &app->addr_tab[addr_bucket(key)]; (a = *pp) != NULL;
	    pp = &a->next)
		if (strcmp(a->key, key) == 0)
			break;
	if (a == NULL) {
		if ((a = calloc(1, sizeof(*a) + len + 1)) == NULL)
			rc = HN_ENOMEM;
		else {
			memcpy(a->key, key, len + 1);
			*pp = a;
		}
	}
	if (a != NULL) {
		if (a->count >= app->cfg.max_streams_per_addr)
			rc = HN_ELIMIT;
		else {
			a->count++;
			*out = a;
		}
	}
	pthread_mutex_unlock(&app->addr_mu);
	return rc;
}

void
app_addr_release(struct hn_app *app, struct addr_slot *slot)
{
	struct addr_slot	**pp;

	if (slot == NULL)
		return;
	pthread_mutex_lock(&app->addr_mu);
	if (--slot->count == 0) {
		for (pp = &app->addr_tab[addr_bucket(slot->key)]; *pp != NULL;
		    pp = &(*pp)->next)
			if (*pp == slot) {
				*pp = slot->next;
				free(slot);
				break;
			}
	}
	pthread_mutex_unlock(&app->addr_mu);
}

/* ---- hand-off from the acceptors --------------------------------------- */

int
hn_app_handoff(struct hn_app *app, const struct hn_handoff *h)
{
	struct hand_node	*n;
	struct addr_slot	*slot;
	uint64_t		 one = 1;
	int			 rc;

	if (atomic_fetch_add(&app->nstreams, 1) >= app->cfg.max_streams) {
		atomic_fetch_sub(&app->nstreams, 1);
		return HN_ETOOBIG;
	}
	if ((rc = app_addr_take(app, h->addr, &slot)) < 0) {
		atomic_fetch_sub(&app->nstreams, 1);
		return rc;
	}
	if ((n = malloc(offsetof(struct hand_node, h) + HN_HANDOFF_SIZE(h)))
	    == NULL) {
		app_addr_release(app, slot);
		atomic_fetch_sub(&app->nstreams, 1);
		return HN_ENOMEM;
	}
	memcpy(&n->h, h, HN_HANDOFF_SIZE(h));
	n->h.slot = slot;
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
			if (n->h.out_fd != n->h.in_fd)
				close(n->h.out_fd);
			close(n->h.in_fd);
			app_addr_release(app, n->h.slot);
			atomic_fetch_sub(&app->nstreams, 1);
		} else {
			stream_open(app, &n->h);
		}
		free(n);
	}
}

/* ---- counts from the store thread ---------------------------------- */

static int64_t
app_hub_timer(struct hn_loop *l, int64_t now, void *arg)
{
	struct hn_app	*app = arg;

	return hn_hub_tick(app->hub, now);
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
		case RES_REFUSED:
			stream_acked(r->stream, r->kind == RES_REFUSED);
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

/* Whether page is among the n counts from changed on. */
static bool
res_has(const struct sres *changed, int n, const char *page)
{
	for (; changed != NULL && n > 0; changed = changed->next, n--)
		if (strcmp(changed->page, page) == 0)
			return true;
	return false;
}

#define RES_SCAN_MAX	64	/* changed counts searched by app_answer */

/*
 * The counts of the pages a stream asked for, then its acknowledgement.
 * A page among this round's changed counts (the first nchanged from
 * changed) is not read again: its count is ahead of the answer in the
 * same list.  Under churn that is every join's page.  The list is
 * searched only while it is short (RES_SCAN_MAX): a walk of a long one
 * would cost more than the read.
 */
static void
app_answer(struct hn_app *app, struct res_list *rl, struct sreq *r,
    bool refused, const struct sres *changed, int nchanged)
{
	long	 readers, tabs, site;
	int	 i;

	if (refused) {
		res_add(rl, RES_REFUSED, NULL, 0, 0, r->ack);
		return;
	}
	if (nchanged > RES_SCAN_MAX)
		nchanged = 0;
	for (i = 0; i < r->npages; i++)
		if (!res_has(changed, nchanged, r->pages[i]) &&
		    hn_store_count(app->store, r->pages[i], &readers, &tabs,
		    &site) == HN_OK)
			res_add(rl, RES_COUNT, r->pages[i], readers, tabs,
			    NULL);
	res_add(rl, RES_ACK, NULL, 0, 0, r->ack);
}

static void
app_timespec_at(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}

/*
 * Group commit's tick: at most one write transaction per STORE_TICK_MS.
 * A change after a quiet tick is committed at once; under churn what
 * arrives within the tick joins one batch, so the cost of a transaction
 * (the recount, the site count, reading the changes back) is paid at most
 * 20 times a second however many readers come and go.  Measured with 4,000
 * readers and 1,000 joins and leaves a second (bench/): 10 ms ticks cost
 * herenow 25 % of a core, 50 ms ticks 18 %; a join waits at most one tick
 * for its commit, within the 250 ms broadcast_interval that follows it.
 */
#define STORE_TICK_MS	50
/* Ops a round's array may keep between rounds when it needed far fewer. */
#define STORE_OPS_KEEP	1024

/*
 * Owns the SQLite write connection: commits what the loop queued in one
 * transaction (group commit: whatever arrives during a commit or within
 * its tick goes in the next), beats and reaps, and watches other
 * processes' commits.
 */
static void *
store_main(void *arg)
{
	struct hn_app	*app = arg;
	struct sreq	*reqs, *r, *next;
	struct hn_op	*ops = NULL;
	size_t		 nops, cap = 0, k;
	struct res_list	 rl;
	struct timespec	 ts;
	int64_t		 now, next_beat = 0, expiry = INT64_MAX, wake;
	int64_t		 next_sample = 0;
	int64_t		 last_err_log = 0, last_commit = 0;
	uint64_t	 seq = 0, one = 1;
	long		 site = 0;
	bool		 quit = false, wrote, failed, put_series = false;
	bool		 unread = false;
	const struct sres *changed;	/* this round's counts */
	int		 nchanged;

	/* Named for top -H and bench/'s CPU by thread. */
	pthread_setname_np(pthread_self(), "hn-store");
	while (!quit) {
		pthread_mutex_lock(&app->store_mu);
		now = hn_now_ms();
		wake = now + app->cfg.poll_interval_ms;
		if (next_beat < wake)
			wake = next_beat;
		if (expiry < wake)
			wake = expiry;
		if (next_sample < wake)
			wake = next_sample;
		app_timespec_at(&ts, wake);
		while (app->sq_head == NULL && !app->store_quit &&
		    hn_now_ms() < wake)
			if (pthread_cond_timedwait(&app->store_cv,
			    &app->store_mu, &ts) == ETIMEDOUT)
				break;
		/* Within the tick of the last commit: let the batch grow. */
		app_timespec_at(&ts, last_commit + STORE_TICK_MS);
		while (app->sq_head != NULL && !app->store_quit &&
		    hn_now_ms() < last_commit + STORE_TICK_MS)
			if (pthread_cond_timedwait(&app->store_cv,
			    &app->store_mu, &ts) == ETIMEDOUT)
				break;
		reqs = app->sq_head;
		app->sq_head = NULL;
		app->sq_tail = &app->sq_head;
		quit = app->store_quit;
		if (quit) {
			/* Left for hn_app_free: our sessions go with us. */
			app->sq_head = reqs;
			for (r = reqs; r != NULL; r = r->next)
				app->sq_tail = &r->next;
			pthread_mutex_unlock(&app->store_mu);
			break;
		}
		pthread_mutex_unlock(&app->store_mu);

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
			int64_t t0 = hn_mono_us();

			last_commit = now;
			if (hn_store_apply(app->store, ops, nops, beat, now)
			    < 0) {
				failed = true;
				atomic_store(&app->db_ok, false);
				hn_metrics_count(&app->metrics,
				    HN_M_DB_ERRORS, 1);
				if (now - last_err_log > 60000) {
					log_warnx("%s: the session table is "
					    "not writable; retrying", __func__);
					last_err_log = now;
				}
			} else {
				wrote = true;
				atomic_store(&app->db_ok, true);
				hn_metrics_batch(&app->metrics, nops,
				    hn_mono_us() - t0);
				hn_metrics_count(&app->metrics, HN_M_REAPED,
				    hn_store_reaped(app->store));
				if (beat) {
					next_beat = now +
					    app->cfg.heartbeat_ms;
					put_series = true;
				}
				expiry = hn_store_next_expiry(app->store);
			}
		}
		/* After a rush the tick's array of ops is let go, not kept at
		 * its size for good (an op is 344 bytes). */
		if (cap > STORE_OPS_KEEP && nops < cap / 8) {
			free(ops);
			ops = NULL;
			cap = 0;
		}
		rl.head = NULL;
		rl.tail = &rl.head;
		changed = NULL;
		nchanged = 0;
		if (failed) {
			/*
			 * New streams are not kept waiting for a database that
			 * refuses writes (another process's lock, a full
			 * disk): they get their pages' counts as the table
			 * has them now, and their joins stay queued.
			 */
			struct sreq **rp = &reqs;

			while ((r = *rp) != NULL) {
				if (r->ack != NULL) {
					app_answer(app, &rl, r, false, NULL,
					    0);
					r->ack = NULL;
				}
				if (r->op.kind == 0 && r->wait == NULL) {
					*rp = r->next;
					free(r);
				} else
					rp = &r->next;
			}
			/* Keep the batch for the next round, in order. */
			if (reqs != NULL) {
				pthread_mutex_lock(&app->store_mu);
				for (r = reqs; r->next != NULL; r = r->next)
					;
				r->next = app->sq_head;
				app->sq_head = reqs;
				if (r->next == NULL)
					app->sq_tail = &r->next;
				pthread_mutex_unlock(&app->store_mu);
				reqs = NULL;
			}
			if (next_beat <= now)
				next_beat = now + app->cfg.poll_interval_ms;
			if (expiry <= now)
				expiry = now + app->cfg.poll_interval_ms;
		}

		if (put_series) {
			struct series_buf *sb = calloc(1, sizeof(*sb));
			if (sb != NULL) {
				hn_metrics_series(&app->metrics, series_add,
				    sb);
				hn_store_put_series(app->store, sb->names,
				    sb->values, sb->n);
				free(sb);
			}
			put_series = false;
		}
		/* Any process may write the minute's sample: it is keyed by
		 * the minute, so several writers agree. */
		if (now >= next_sample) {
			if (hn_store_sample(app->store, now) == HN_OK)
				next_sample = now - now % 60000 + 60000;
			else
				next_sample = now + app->cfg.poll_interval_ms;
		}
		/*
		 * Other processes' commits are read for our readers.  A
		 * process that holds none (the tunnel process of a site read
		 * over SSE, a FastCGI process between readers) leaves them
		 * until it has one, then reads all of them at once: they are
		 * read by sequence number, O(changed pages) either way.
		 */
		if (!wrote && hn_store_changed(app->store) == 1)
			unread = true;
		if (wrote || (unread && atomic_load(&app->nstreams) > 0)) {
			struct res_list pages = { NULL, &pages.head };
			if (hn_store_changes(app->store, &seq, &site,
			    res_count_cb, &pages) >= 0) {
				const struct sres *c;

				unread = false;
				res_add(&rl, RES_SITE, NULL, site, 0, NULL);
				changed = pages.head;
				for (c = changed; c != NULL; c = c->next)
					nchanged++;
				*rl.tail = pages.head;
				if (pages.head != NULL)
					rl.tail = pages.tail;
			}
		}
		/* In the order the ops were gathered: op k is the k-th
		 * request with one. */
		k = 0;
		for (r = reqs; r != NULL; r = next) {
			bool refused = false;

			next = r->next;
			if (r->op.kind != 0)
				refused = hn_store_refused(app->store, k++);
			if (r->wait != NULL)
				sync_done(r->wait, refused ? HN_ELIMIT : HN_OK);
			if (r->ack != NULL)
				app_answer(app, &rl, r, refused, changed,
				    nchanged);
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
	app->hand_efd = app->res_efd = app->tunnel_fd = -1;
	atomic_init(&app->db_ok, true);
	hn_metrics_init(&app->metrics, hn_now_ms());
	app->hand_tail = &app->hand_head;
	app->sq_tail = &app->sq_head;
	app->res_tail = &app->res_head;
	pthread_mutex_init(&app->addr_mu, NULL);
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
	hn_store_set_limits(app->store, cfg->max_sessions_per_visitor);
	io.deliver = stream_deliver;
	io.release = stream_release;
	io.arg = app;
	if ((app->hub = hn_hub_new(cfg->broadcast_interval_ms,
	    cfg->site_interval_ms, &io)) == NULL ||
	    (app->loop = hn_loop_new(setsize)) == NULL) {
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
	app->sse_ping_ms = cfg->sse_heartbeat_ms;
	app->sse_timer = hn_loop_timer(app->loop, hn_mono_ms() +
	    app->sse_ping_ms, stream_sse_ping, app);
	hn_loop_timer(app->loop, hn_mono_ms() + cfg->ws_ping_ms,
	    stream_ws_ping, app);
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

	while (!hn_app_stopping()) {
		hn_loop_once(app->loop, &app->waitmask);
		stream_reap(app);
		if (app->exit_when_idle && app->had_stream &&
		    app->streams == NULL)
			break;
	}
	log_debug("%s: stopping", __func__);
	while (app->streams != NULL)
		stream_close(app->streams, true, HN_WS_CLOSE_GOING_AWAY);
	stream_reap(app);
	if (app->exit_when_idle) {
		/*
		 * CGI: the reader has left (EOF, or lighttpd's SIGTERM), not
		 * the server.  Its session stays counted for leave_grace, so
		 * that a reload changes nothing: live until the store thread
		 * has committed the leave and reaped it after the grace.
		 */
		int64_t ms = app->cfg.leave_grace_ms +
		    2 * app->cfg.poll_interval_ms;
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
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
		if (q->ack != NULL)
			stream_acked(q->ack, false);
		if (q->wait != NULL)
			sync_done(q->wait, HN_EDB);
		free(q);
	}
	for (r = app->res_head; r != NULL; r = next) {
		next = r->next;
		if (r->kind == RES_ACK || r->kind == RES_REFUSED)
			stream_acked(r->stream, false);
		free(r);
	}
	stream_reap(app);
	if (app->tunnel_fd >= 0)
		close(app->tunnel_fd);
	hn_hub_free(app->hub);
	hn_loop_free(app->loop);
	if (app->hand_efd >= 0)
		close(app->hand_efd);
	if (app->res_efd >= 0)
		close(app->res_efd);
	free(app);
}
