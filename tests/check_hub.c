/*
 * Check suite for hub.c, the coalesced broadcast: a recording fake io sees
 * every delivery (who, when, which line, which broadcast) and holds the hub
 * to DESIGN §4 with a fake clock; a seeded random run against a model, and
 * two hubs fed the same updates, check that everyone ends on the last value.
 */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hn.h"
#include "check_main.h"

#define T0		1000000		/* fake monotonic "now" of the tests */
#define IVL		250		/* broadcast_interval, ms */
#define SITE_IVL	5000		/* site_interval, ms */
#define FIO_CLIENTS	4096		/* clients one fake io records */
#define NONE		(-999)		/* no such count in a check */

/* Check's ck_assert reports every passing check to the runner (a write
 * each); the fake io's checks run millions of times, so they report only
 * a failure. */
#define CHECK(c)	do {						\
	if (!(c))							\
		ck_abort_msg("check failed: %s", #c);			\
} while (0)
#define CHECK_MSG(c, ...) do {						\
	if (!(c))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

/* ---- the recording fake io ------------------------------------------- */

struct rec {
	int64_t		 t;
	long		 serial;	/* which broadcast it came in */
	bool		 snap;		/* sent by hn_hub_ready */
	char		*json;
	char		 page[HN_PAGE_MAX + 1];
	long		 readers, tabs, site;
};

struct fio;

struct fclient {
	struct fio		*io;
	struct hn_hub_client	*hc;
	int			 id;
	int			 mi;		/* index in the random model */
	bool			 alive;
	bool			 ready;
	bool			 drop_on_deliver;	/* a slow reader */
	struct rec		*recs;
	size_t			 nrecs, caprecs;
};

struct fio {
	struct hn_hub	*hub;
	int64_t		 interval, site_interval;
	int64_t		 now;
	bool		 in_ready;
	/* the broadcast under way: opened by its first delivery or by its
	 * release, closed by its release */
	bool		 open;
	struct hn_bcast	*cur;
	const char	*cur_json;
	char		 cur_copy[4096];
	size_t		 cur_len;
	size_t		 ndeliv;
	long		 serial;
	long		 releases;
	long		 deliveries;
	bool		 norec;		/* check lines but keep none */
	struct fclient	*clients[FIO_CLIENTS];
	size_t		 nclients;
	/* hooks for the random run's model */
	void		(*on_deliver)(struct fio *, struct fclient *,
			    const struct hn_bcast *, const struct rec *);
	void		(*on_release)(struct fio *, const struct hn_bcast *,
			    size_t ndeliv);
	void		*model;
};

static int	 marker;	/* what deliver hangs on cache[0] */

/* Reads a count line back with jansson. */
static void
parse_count(const char *json, size_t len, char *page, long *readers,
    long *tabs, long *site)
{
	json_error_t	 err;
	json_t		*o;
	const char	*type, *p;
	json_int_t	 r, t, s;

	o = json_loadb(json, len, 0, &err);
	CHECK_MSG(o != NULL, "bad json %.*s: %s", (int)len, json,
	    err.text);
	CHECK_MSG(json_unpack(o, "{s:s, s:s, s:I, s:I, s:I}",
	    "type", &type, "page", &p, "readers", &r, "tabs", &t,
	    "site", &s) == 0, "not a count line: %.*s", (int)len, json);
	CHECK(strcmp(type, "count") == 0);
	CHECK(strlen(p) <= HN_PAGE_MAX);
	strcpy(page, p);
	*readers = (long)r;
	*tabs = (long)t;
	*site = (long)s;
	json_decref(o);
}

static void
fio_deliver(void *arg, void *ctx, struct hn_bcast *b)
{
	struct fio	*io = arg;
	struct fclient	*fc = ctx;
	struct rec	 tmp, *r = &tmp;

	CHECK(fc != NULL);
	CHECK_MSG(fc->alive, "delivery to freed client %d", fc->id);
	CHECK_MSG(fc->ready, "delivery to client %d before ready",
	    fc->id);
	CHECK(b != NULL);
	CHECK(b->len > 1);
	CHECK(b->len < sizeof(io->cur_copy));
	CHECK(b->json[b->len - 1] == '\n');
	CHECK(strlen(b->json) == b->len);
	if (!io->open) {
		io->open = true;
		io->cur = b;
		io->cur_json = b->json;
		io->cur_len = b->len;
		memcpy(io->cur_copy, b->json, b->len);
		io->ndeliv = 0;
		io->serial++;
		CHECK(b->cache[0] == NULL);
		b->cache[0] = &marker;
	} else {
		/* one broadcast, one encoding, handed to everyone */
		CHECK(b == io->cur);
		CHECK(b->json == io->cur_json);
		CHECK(b->len == io->cur_len);
		CHECK(memcmp(b->json, io->cur_copy, b->len) == 0);
		CHECK(b->cache[0] == &marker);
	}
	io->ndeliv++;
	io->deliveries++;
	if (!io->norec) {
		if (fc->nrecs == fc->caprecs) {
			fc->caprecs = fc->caprecs ? fc->caprecs * 2 : 16;
			fc->recs = realloc(fc->recs,
			    fc->caprecs * sizeof(*fc->recs));
			CHECK(fc->recs != NULL);
		}
		r = &fc->recs[fc->nrecs++];
	}
	r->t = io->now;
	r->serial = io->serial;
	r->snap = io->in_ready;
	r->json = io->norec ? NULL : strndup(b->json, b->len);
	CHECK(io->norec || r->json != NULL);
	parse_count(b->json, b->len, r->page, &r->readers, &r->tabs,
	    &r->site);
	CHECK(strcmp(r->page, b->page) == 0);
	if (io->on_deliver != NULL)
		io->on_deliver(io, fc, b, r);
	if (fc->drop_on_deliver) {
		/* What app.c does with a reader whose queue is full: it ends
		 * the stream from inside the delivery. */
		fc->alive = false;
		hn_hub_client_free(io->hub, fc->hc);
		fc->hc = NULL;
	}
}

static void
fio_release(void *arg, struct hn_bcast *b)
{
	struct fio	*io = arg;

	CHECK(b != NULL);
	if (!io->open) {
		/* a broadcast nobody was ready for */
		CHECK(b->cache[0] == NULL);
		io->serial++;
		io->ndeliv = 0;
	} else {
		CHECK(b == io->cur);
		CHECK(b->cache[0] == &marker);
		b->cache[0] = NULL;
	}
	if (io->on_release != NULL)
		io->on_release(io, b, io->ndeliv);
	io->open = false;
	io->cur = NULL;
	io->releases++;
}

static struct fio *
fio_new(int64_t interval, int64_t site_interval)
{
	struct fio		*io;
	struct hn_hub_io	 hio;

	io = calloc(1, sizeof(*io));
	ck_assert_ptr_nonnull(io);
	io->interval = interval;
	io->site_interval = site_interval;
	io->now = T0;
	hio.deliver = fio_deliver;
	hio.release = fio_release;
	hio.arg = io;
	io->hub = hn_hub_new(interval, site_interval, &hio);
	ck_assert_ptr_nonnull(io->hub);
	return io;
}

static void
fc_clear(struct fclient *fc)
{
	size_t	 i;

	for (i = 0; i < fc->nrecs; i++)
		free(fc->recs[i].json);
	fc->nrecs = 0;
}

static struct fclient *
fc_new(struct fio *io)
{
	struct fclient	*fc;

	ck_assert_uint_lt(io->nclients, FIO_CLIENTS);
	fc = calloc(1, sizeof(*fc));
	ck_assert_ptr_nonnull(fc);
	fc->io = io;
	fc->id = (int)io->nclients;
	fc->alive = true;
	fc->hc = hn_hub_client_new(io->hub, fc);
	ck_assert_ptr_nonnull(fc->hc);
	io->clients[io->nclients++] = fc;
	return fc;
}

static void
fc_free(struct fclient *fc)
{
	ck_assert(fc->alive);
	fc->alive = false;
	hn_hub_client_free(fc->io->hub, fc->hc);
	fc->hc = NULL;
	ck_assert(!fc->io->open);
}

/* Frees every client, then the hub: ASan reports whatever is left. */
static void
fio_free(struct fio *io)
{
	size_t	 i;

	for (i = 0; i < io->nclients; i++) {
		if (io->clients[i]->alive)
			fc_free(io->clients[i]);
		fc_clear(io->clients[i]);
		free(io->clients[i]->recs);
		free(io->clients[i]);
	}
	ck_assert_uint_eq(hn_hub_pages(io->hub), 0);
	hn_hub_free(io->hub);
	free(io);
}

/* The hub calls, each leaving no broadcast without its release. */
static void
f_sub(struct fclient *fc, const char *page)
{
	CHECK(hn_hub_subscribe(fc->io->hub, fc->hc, page, 1000000) == HN_OK);
}

static void
f_unsub(struct fclient *fc, const char *page)
{
	hn_hub_unsubscribe(fc->io->hub, fc->hc, page);
}

static void
f_ready(struct fclient *fc, int64_t now)
{
	struct fio	*io = fc->io;

	io->now = now;
	fc->ready = true;
	io->in_ready = true;
	hn_hub_ready(io->hub, fc->hc, now);
	io->in_ready = false;
	CHECK(!io->open);
}

static void
f_update(struct fio *io, const char *page, long readers, long tabs,
    int64_t now)
{
	io->now = now;
	hn_hub_update(io->hub, page, readers, tabs, now);
	CHECK(!io->open);
}

static void
f_site(struct fio *io, long site, int64_t now)
{
	io->now = now;
	hn_hub_site(io->hub, site, now);
	CHECK(!io->open);
}

static int64_t
f_tick(struct fio *io, int64_t now)
{
	int64_t	 next;

	io->now = now;
	next = hn_hub_tick(io->hub, now);
	CHECK(!io->open);
	CHECK(next > now);
	return next;
}

/* Ticks at every due time up to and including until; returns the next. */
static int64_t
f_run(struct fio *io, int64_t next, int64_t until)
{
	while (next <= until)
		next = f_tick(io, next);
	return next;
}

/* The last line fc got for page, or NULL. */
static const struct rec *
last_for(const struct fclient *fc, const char *page)
{
	size_t	 i;

	for (i = fc->nrecs; i > 0; i--)
		if (strcmp(fc->recs[i - 1].page, page) == 0)
			return &fc->recs[i - 1];
	return NULL;
}

static size_t
count_for(const struct fclient *fc, const char *page)
{
	size_t	 i, n = 0;

	for (i = 0; i < fc->nrecs; i++)
		if (strcmp(fc->recs[i].page, page) == 0)
			n++;
	return n;
}

/* Checks a line; NONE skips a field. */
static void
rec_is(const struct rec *r, int64_t t, const char *page, long readers,
    long tabs, long site)
{
	ck_assert_ptr_nonnull(r);
	if (t != NONE)
		ck_assert_int_eq(r->t, t);
	ck_assert_str_eq(r->page, page);
	if (readers != NONE)
		ck_assert_int_eq(r->readers, readers);
	if (tabs != NONE)
		ck_assert_int_eq(r->tabs, tabs);
	if (site != NONE)
		ck_assert_int_eq(r->site, site);
}

/* The fixture: a hub with the default intervals. */
static struct fio	*F;

static void
setup(void)
{
	F = fio_new(IVL, SITE_IVL);
}

static void
teardown(void)
{
	fio_free(F);
	F = NULL;
}

/* ---- bookkeeping ----------------------------------------------------- */

START_TEST(test_new_free)
{
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);
	ck_assert_int_eq(f_tick(F, T0), INT64_MAX);
	hn_hub_client_free(F->hub, NULL);
	hn_hub_free(NULL);
	/* updates of pages nobody holds are forgotten at once */
	f_update(F, "/nobody", 3, 4, T0);
	f_site(F, 9, T0);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);
	ck_assert_int_eq(f_tick(F, T0 + 100000), INT64_MAX);
	ck_assert_int_eq(F->releases, 0);
}
END_TEST

START_TEST(test_subscribe_bookkeeping)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);

	f_sub(a, "/x");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 1);
	f_sub(a, "/x");			/* the same page twice: once */
	ck_assert_uint_eq(hn_hub_pages(F->hub), 1);
	f_sub(b, "/x");
	f_sub(a, "/y");
	f_sub(b, "/z");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 3);

	/* a holds /x once: one snapshot of it, one delivery per update */
	f_ready(a, T0);
	ck_assert_uint_eq(a->nrecs, 2);
	ck_assert_uint_eq(count_for(a, "/x"), 1);
	ck_assert_uint_eq(count_for(a, "/y"), 1);
	f_update(F, "/x", 1, 1, T0 + 1);
	ck_assert_uint_eq(count_for(a, "/x"), 2);

	/* one unsubscribe ends the subscription made twice */
	f_unsub(a, "/x");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 3);	/* b still holds it */
	f_update(F, "/x", 2, 2, T0 + 1000);
	ck_assert_uint_eq(count_for(a, "/x"), 2);
	f_unsub(a, "/x");				/* not held: nothing */
	f_unsub(a, "/never");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 3);
	f_unsub(b, "/x");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 2);

	/* the last subscriber gone, the page is gone */
	f_unsub(a, "/y");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 1);
	f_sub(a, "/z");
	ck_assert_uint_eq(hn_hub_pages(F->hub), 1);
	fc_free(b);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 1);
	fc_free(a);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);
}
END_TEST

START_TEST(test_page_forgotten)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);

	f_sub(a, "/x");
	f_ready(a, T0);
	f_update(F, "/x", 7, 8, T0);
	f_update(F, "/x", 9, 9, T0 + 10);	/* pending */
	fc_free(a);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);
	ck_assert_int_eq(f_tick(F, T0 + 20), INT64_MAX);

	/* a page held again starts afresh: no counts kept, no interval */
	f_sub(b, "/x");
	f_ready(b, T0 + 30);
	rec_is(last_for(b, "/x"), T0 + 30, "/x", 0, 0, 0);
	f_update(F, "/x", 7, 8, T0 + 40);
	rec_is(last_for(b, "/x"), T0 + 40, "/x", 7, 8, 0);
}
END_TEST

START_TEST(test_max_pages)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);

	ck_assert_int_eq(hn_hub_subscribe(F->hub, a->hc, "/1", 0),
	    HN_ETOOBIG);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);
	ck_assert_int_eq(hn_hub_subscribe(F->hub, a->hc, "/1", 2), HN_OK);
	ck_assert_int_eq(hn_hub_subscribe(F->hub, a->hc, "/2", 2), HN_OK);
	ck_assert_int_eq(hn_hub_subscribe(F->hub, a->hc, "/3", 2),
	    HN_ETOOBIG);
	ck_assert_int_eq(hn_hub_subscribe(F->hub, b->hc, "/3", 2),
	    HN_ETOOBIG);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 2);
	/* pages already held are not new pages */
	ck_assert_int_eq(hn_hub_subscribe(F->hub, a->hc, "/2", 2), HN_OK);
	ck_assert_int_eq(hn_hub_subscribe(F->hub, b->hc, "/1", 2), HN_OK);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 2);
	/* a refused page left nothing behind: a's pages are /1 and /2 */
	f_ready(a, T0);
	ck_assert_uint_eq(a->nrecs, 2);
	ck_assert_uint_eq(count_for(a, "/3"), 0);
	f_unsub(a, "/2");
	ck_assert_int_eq(hn_hub_subscribe(F->hub, b->hc, "/3", 2), HN_OK);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 2);
}
END_TEST

START_TEST(test_many_pages_one_client)
{
	struct fclient	*a = fc_new(F);
	char		 key[32];
	int		 i;

	/* enough pages to grow the table several times */
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "/p/%d", i);
		f_sub(a, key);
	}
	ck_assert_uint_eq(hn_hub_pages(F->hub), 5000);
	f_ready(a, T0);
	ck_assert_uint_eq(a->nrecs, 5000);
	for (i = 0; i < 5000; i += 7) {
		snprintf(key, sizeof(key), "/p/%d", i);
		f_update(F, key, i, i + 1, T0 + 1);
		rec_is(last_for(a, key), T0 + 1, key, i, i + 1, 0);
	}
	for (i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "/p/%d", i);
		f_unsub(a, key);
	}
	ck_assert_uint_eq(hn_hub_pages(F->hub), 2500);
}
END_TEST

/* ---- ready ----------------------------------------------------------- */

START_TEST(test_ready_snapshot)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F), *c = fc_new(F);
	long		 rel;

	f_sub(a, "/x");
	f_sub(b, "/x");
	f_sub(b, "/y");
	f_sub(c, "/y");
	f_ready(a, T0);
	f_ready(c, T0);
	f_site(F, 40, T0 + 1);
	f_update(F, "/x", 5, 6, T0 + 1);
	f_update(F, "/y", 1, 2, T0 + 1);
	ck_assert_int_eq(f_tick(F, T0 + 1), INT64_MAX);
	ck_assert_uint_eq(b->nrecs, 0);

	/* b counted: the current counts of each of its pages, at once, to
	 * b alone, each page its own broadcast */
	fc_clear(a);
	fc_clear(c);
	rel = F->releases;
	f_ready(b, T0 + 100);
	ck_assert_uint_eq(b->nrecs, 2);
	rec_is(last_for(b, "/x"), T0 + 100, "/x", 5, 6, 40);
	rec_is(last_for(b, "/y"), T0 + 100, "/y", 1, 2, 40);
	ck_assert(b->recs[0].snap && b->recs[1].snap);
	ck_assert_int_ne(b->recs[0].serial, b->recs[1].serial);
	ck_assert_int_eq(F->releases, rel + 2);
	ck_assert_uint_eq(a->nrecs, 0);
	ck_assert_uint_eq(c->nrecs, 0);
	ck_assert_int_eq(f_tick(F, T0 + 100), INT64_MAX);

	/* from now on b gets updates like everyone */
	f_update(F, "/x", 6, 6, T0 + 1000);
	rec_is(last_for(b, "/x"), T0 + 1000, "/x", 6, 6, 40);
	rec_is(last_for(a, "/x"), T0 + 1000, "/x", 6, 6, 40);
	ck_assert_int_eq(a->recs[0].serial, b->recs[2].serial);
}
END_TEST

START_TEST(test_ready_not_held_back)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next;

	f_sub(a, "/x");
	f_sub(b, "/x");
	f_ready(a, T0);
	fc_clear(a);
	f_update(F, "/x", 1, 1, T0);
	next = f_tick(F, T0);
	f_update(F, "/x", 2, 2, T0 + 10);
	next = f_tick(F, T0 + 10);
	ck_assert_int_eq(next, T0 + IVL);
	/* b is counted within the interval: it gets the latest counts now,
	 * not at the end of the interval */
	f_ready(b, T0 + 20);
	ck_assert_uint_eq(b->nrecs, 1);
	rec_is(&b->recs[0], T0 + 20, "/x", 2, 2, 0);
	ck_assert_uint_eq(a->nrecs, 1);
	/* and a still gets the coalesced update when it is due */
	next = f_run(F, next, T0 + 10000);
	ck_assert_int_eq(next, INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 2);
	rec_is(&a->recs[1], T0 + IVL, "/x", 2, 2, 0);
	rec_is(last_for(b, "/x"), NONE, "/x", 2, 2, 0);
}
END_TEST

START_TEST(test_not_ready_nothing)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next = INT64_MAX, t;
	long		 i;

	f_sub(a, "/x");
	f_sub(a, "/y");
	f_sub(b, "/y");
	for (i = 0, t = T0; i < 100; i++, t += 37) {
		next = f_run(F, next, t);
		f_update(F, i % 2 ? "/x" : "/y", i, i, t);
		if (i % 10 == 0)
			f_site(F, i, t);
		next = f_tick(F, t);
	}
	f_run(F, next, t + 100000);
	ck_assert_uint_eq(a->nrecs, 0);
	ck_assert_uint_eq(b->nrecs, 0);
	/* broadcasts went out (to nobody) all the same, released */
	ck_assert_int_gt(F->releases, 0);
	ck_assert_int_eq(F->deliveries, 0);

	f_ready(a, t + 200000);
	ck_assert_uint_eq(a->nrecs, 2);
	rec_is(last_for(a, "/x"), NONE, "/x", 99, 99, 90);
	rec_is(last_for(a, "/y"), NONE, "/y", 98, 98, 90);
	ck_assert_uint_eq(b->nrecs, 0);
}
END_TEST

/*
 * A reader counted while an update is pending gets a value the others have
 * not seen yet.  When the counts then go back to what the others hold, the
 * pending update must not simply be dropped: that reader would keep the
 * newer, wrong value for good.
 */
START_TEST(test_ready_then_back)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next;

	f_sub(a, "/x");
	f_sub(b, "/x");
	f_ready(a, T0);
	f_update(F, "/x", 5, 5, T0);
	next = f_tick(F, T0);
	f_update(F, "/x", 6, 6, T0 + 10);
	next = f_tick(F, T0 + 10);
	f_ready(b, T0 + 20);
	rec_is(last_for(b, "/x"), T0 + 20, "/x", 6, 6, 0);
	f_update(F, "/x", 5, 5, T0 + 30);
	next = f_tick(F, T0 + 30);
	f_run(F, next, T0 + 100000);
	rec_is(last_for(a, "/x"), NONE, "/x", 5, 5, 0);
	rec_is(last_for(b, "/x"), NONE, "/x", 5, 5, 0);
}
END_TEST

/* The same with site: b is counted while a site push waits. */
START_TEST(test_ready_then_site_back)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next;

	f_sub(a, "/x");
	f_sub(b, "/x");
	f_ready(a, T0);
	f_update(F, "/x", 5, 5, T0);
	f_site(F, 100, T0 + 1000);		/* first push: at once */
	next = f_tick(F, T0 + 1000);
	rec_is(last_for(a, "/x"), T0 + 1000, "/x", 5, 5, 100);
	f_site(F, 101, T0 + 1100);		/* waits for T0 + 6000 */
	next = f_tick(F, T0 + 1100);
	ck_assert_int_eq(next, T0 + 1000 + SITE_IVL);
	f_ready(b, T0 + 1200);
	rec_is(last_for(b, "/x"), T0 + 1200, "/x", 5, 5, 101);
	f_site(F, 100, T0 + 1300);
	next = f_tick(F, T0 + 1300);
	f_run(F, next, T0 + 100000);
	rec_is(last_for(a, "/x"), NONE, "/x", 5, 5, 100);
	rec_is(last_for(b, "/x"), NONE, "/x", 5, 5, 100);
}
END_TEST

/* ---- coalescing ------------------------------------------------------ */

START_TEST(test_coalesce)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next;
	long		 i, rel;

	f_sub(a, "/x");
	f_sub(b, "/x");
	f_ready(a, T0);
	f_ready(b, T0);
	fc_clear(a);
	fc_clear(b);
	rel = F->releases;

	/* a change after a quiet interval goes out at once */
	f_update(F, "/x", 1, 1, T0 + 1000);
	ck_assert_uint_eq(a->nrecs, 1);
	rec_is(&a->recs[0], T0 + 1000, "/x", 1, 1, 0);
	ck_assert_int_eq(f_tick(F, T0 + 1000), INT64_MAX);

	/* ten more within the interval: nothing until it ends */
	for (i = 0; i < 10; i++) {
		f_update(F, "/x", 2 + i, 3 + i, T0 + 1010 + i * 20);
		next = f_tick(F, T0 + 1010 + i * 20);
		ck_assert_int_eq(next, T0 + 1000 + IVL);
	}
	next = f_tick(F, T0 + 1000 + IVL - 1);
	ck_assert_int_eq(next, T0 + 1000 + IVL);
	ck_assert_uint_eq(a->nrecs, 1);
	/* then exactly one, on the latest value, to both */
	next = f_tick(F, T0 + 1000 + IVL);
	ck_assert_int_eq(next, INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 2);
	ck_assert_uint_eq(b->nrecs, 2);
	rec_is(&a->recs[1], T0 + 1000 + IVL, "/x", 11, 12, 0);
	rec_is(&b->recs[1], T0 + 1000 + IVL, "/x", 11, 12, 0);
	ck_assert_int_eq(a->recs[1].serial, b->recs[1].serial);
	ck_assert_int_eq(f_tick(F, T0 + 100000), INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 2);

	/* a late tick sends what is due, late: the interval then counts
	 * from that update */
	f_update(F, "/x", 20, 20, T0 + 1000 + IVL + 10);
	ck_assert_uint_eq(a->nrecs, 2);
	next = f_tick(F, T0 + 5000);
	ck_assert_int_eq(next, INT64_MAX);
	rec_is(&a->recs[2], T0 + 5000, "/x", 20, 20, 0);
	f_update(F, "/x", 21, 20, T0 + 5000 + IVL - 1);
	ck_assert_uint_eq(a->nrecs, 3);
	f_update(F, "/x", 22, 20, T0 + 5000 + IVL - 1);
	ck_assert_int_eq(f_tick(F, T0 + 5000 + IVL - 1), T0 + 5000 + IVL);
	ck_assert_int_eq(f_tick(F, T0 + 5000 + IVL), INT64_MAX);
	rec_is(&a->recs[3], T0 + 5000 + IVL, "/x", 22, 20, 0);

	/* exactly one interval after the last update: at once */
	f_update(F, "/x", 23, 20, T0 + 5000 + 2 * IVL);
	ck_assert_uint_eq(a->nrecs, 5);
	rec_is(&a->recs[4], T0 + 5000 + 2 * IVL, "/x", 23, 20, 0);
	/* five broadcasts, each released once */
	ck_assert_int_eq(F->releases, rel + 5);
	ck_assert_uint_eq(b->nrecs, 5);
}
END_TEST

START_TEST(test_no_change_no_update)
{
	struct fclient	*a = fc_new(F);

	f_sub(a, "/x");
	f_ready(a, T0);
	f_update(F, "/x", 1, 2, T0 + 1000);
	ck_assert_uint_eq(a->nrecs, 2);
	/* the same counts again are no change, in or after the interval */
	f_update(F, "/x", 1, 2, T0 + 1010);
	ck_assert_int_eq(f_tick(F, T0 + 1010), INT64_MAX);
	f_update(F, "/x", 1, 2, T0 + 5000);
	ck_assert_int_eq(f_tick(F, T0 + 5000), INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 2);
	/* tabs alone is a change */
	f_update(F, "/x", 1, 3, T0 + 6000);
	ck_assert_uint_eq(a->nrecs, 3);
	rec_is(&a->recs[2], T0 + 6000, "/x", 1, 3, 0);
}
END_TEST

START_TEST(test_cancel)
{
	struct fclient	*a = fc_new(F);
	int64_t		 next;

	f_sub(a, "/x");
	f_ready(a, T0);
	f_update(F, "/x", 5, 5, T0 + 1000);
	ck_assert_uint_eq(a->nrecs, 2);
	f_update(F, "/x", 6, 7, T0 + 1010);
	ck_assert_int_eq(f_tick(F, T0 + 1010), T0 + 1000 + IVL);
	f_update(F, "/x", 9, 9, T0 + 1020);
	/* back to what was sent: nothing is pending any more */
	f_update(F, "/x", 5, 5, T0 + 1030);
	ck_assert_int_eq(f_tick(F, T0 + 1030), INT64_MAX);
	ck_assert_int_eq(f_tick(F, T0 + 1000 + IVL), INT64_MAX);
	ck_assert_int_eq(f_tick(F, T0 + 100000), INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 2);

	/* the interval still counts from the last update sent */
	f_update(F, "/x", 6, 6, T0 + 1000 + IVL - 1);
	ck_assert_uint_eq(a->nrecs, 2);
	next = f_tick(F, T0 + 1000 + IVL - 1);
	ck_assert_int_eq(next, T0 + 1000 + IVL);
	f_run(F, next, T0 + 1000 + IVL);
	rec_is(&a->recs[2], T0 + 1000 + IVL, "/x", 6, 6, 0);
}
END_TEST

/* DESIGN §4 under a long burst: one update every 10 ms for 10 s. */
START_TEST(test_burst_rate)
{
	struct fclient	*a = fc_new(F);
	int64_t		 next = INT64_MAX, t = T0;
	size_t		 i;
	long		 v;

	f_sub(a, "/x");
	f_ready(a, T0 - 1000);
	fc_clear(a);
	for (v = 1; v <= 1000; v++) {
		t = T0 + (v - 1) * 10;
		next = f_run(F, next, t);
		f_update(F, "/x", v, v + 1, t);
		next = f_tick(F, t);
		if (v > 1)	/* the first went out at once */
			ck_assert_int_eq(next, T0 + (t - T0) / IVL * IVL + IVL);
	}
	next = f_run(F, next, t + 100000);
	ck_assert_int_eq(next, INT64_MAX);
	ck_assert_uint_le(a->nrecs, 41);
	ck_assert_uint_ge(a->nrecs, 40);	/* and not starved either */
	rec_is(&a->recs[0], T0, "/x", 1, 2, 0);
	for (i = 1; i < a->nrecs; i++)
		ck_assert_int_ge(a->recs[i].t - a->recs[i - 1].t, IVL);
	rec_is(&a->recs[a->nrecs - 1], NONE, "/x", 1000, 1001, 0);
	ck_assert_int_le(a->recs[a->nrecs - 1].t, t + IVL);
}
END_TEST

/* The same burst with ticks at random times, late or early. */
START_TEST(test_burst_irregular_ticks)
{
	struct fclient	*a = fc_new(F);
	int64_t		 t;
	unsigned	 seed = 7;
	size_t		 i;
	long		 v = 0;

	f_sub(a, "/x");
	f_ready(a, T0 - 1000);
	fc_clear(a);
	for (t = T0; t < T0 + 10000; t += 1 + rand_r(&seed) % 20) {
		if (rand_r(&seed) % 2)
			f_update(F, "/x", ++v, 1, t);
		if (rand_r(&seed) % 3 == 0)
			f_tick(F, t);
	}
	f_tick(F, t + IVL);
	ck_assert_uint_le(a->nrecs, 41);
	for (i = 1; i < a->nrecs; i++)
		ck_assert_int_ge(a->recs[i].t - a->recs[i - 1].t, IVL);
	rec_is(&a->recs[a->nrecs - 1], NONE, "/x", v, 1, 0);
	ck_assert_int_eq(f_tick(F, t + 100000), INT64_MAX);
}
END_TEST

START_TEST(test_pages_independent)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F), *ab = fc_new(F);
	int64_t		 next = INT64_MAX, t = T0;
	long		 v;

	f_sub(a, "/a");
	f_sub(b, "/b");
	f_sub(ab, "/a");
	f_sub(ab, "/b");
	f_ready(a, T0 - 1000);
	f_ready(b, T0 - 1000);
	f_ready(ab, T0 - 1000);
	fc_clear(a);
	fc_clear(b);
	fc_clear(ab);
	for (v = 1; v <= 100; v++) {
		t = T0 + (v - 1) * 10;
		next = f_run(F, next, t);
		f_update(F, "/a", v, v, t);
		if (t == T0 + 500)
			f_update(F, "/b", 1, 1, t);	/* at once */
		if (t == T0 + 600)
			f_update(F, "/b", 2, 2, t);	/* b's own interval */
		next = f_tick(F, t);
	}
	f_run(F, next, t + 100000);
	ck_assert_uint_eq(b->nrecs, 2);
	rec_is(&b->recs[0], T0 + 500, "/b", 1, 1, 0);
	rec_is(&b->recs[1], T0 + 500 + IVL, "/b", 2, 2, 0);
	ck_assert_uint_eq(count_for(ab, "/b"), 2);
	/* /a went on its own beat: T0, +250, +500, +750, +1000 */
	ck_assert_uint_eq(a->nrecs, 5);
	for (v = 0; v < 5; v++)
		ck_assert_int_eq(a->recs[v].t, T0 + v * IVL);
	rec_is(&a->recs[4], NONE, "/a", 100, 100, 0);
	ck_assert_uint_eq(count_for(ab, "/a"), 5);
}
END_TEST

/* ---- site ------------------------------------------------------------ */

START_TEST(test_site)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F), *c = fc_new(F);
	int64_t		 next;

	f_sub(a, "/a");
	f_sub(b, "/b");
	f_sub(c, "/c");
	f_ready(a, T0 - 1000);
	f_ready(b, T0 - 1000);
	f_ready(c, T0 - 1000);
	f_update(F, "/a", 1, 1, T0);
	f_update(F, "/b", 1, 1, T0);
	f_update(F, "/c", 1, 1, T0);
	ck_assert_int_eq(f_tick(F, T0), INT64_MAX);
	fc_clear(a);
	fc_clear(b);
	fc_clear(c);

	/* the first change of site goes out at the next tick */
	f_site(F, 10, T0 + 1000);
	ck_assert_int_eq(f_tick(F, T0 + 1000), INT64_MAX);
	rec_is(last_for(a, "/a"), T0 + 1000, "/a", 1, 1, 10);
	rec_is(last_for(b, "/b"), T0 + 1000, "/b", 1, 1, 10);
	rec_is(last_for(c, "/c"), T0 + 1000, "/c", 1, 1, 10);
	ck_assert_int_ne(a->recs[0].serial, b->recs[0].serial);

	/* the next ones wait for site_interval, then the latest goes */
	f_site(F, 11, T0 + 1100);
	ck_assert_int_eq(f_tick(F, T0 + 1100), T0 + 1000 + SITE_IVL);
	ck_assert_uint_eq(b->nrecs, 1);
	/* a page's own update carries the current site */
	f_update(F, "/a", 2, 2, T0 + 2000);
	rec_is(last_for(a, "/a"), T0 + 2000, "/a", 2, 2, 11);
	ck_assert_int_eq(f_tick(F, T0 + 2000), T0 + 1000 + SITE_IVL);
	f_site(F, 12, T0 + 3000);
	next = f_tick(F, T0 + 3000);
	ck_assert_int_eq(next, T0 + 1000 + SITE_IVL);
	f_update(F, "/a", 3, 3, T0 + 4000);
	rec_is(last_for(a, "/a"), T0 + 4000, "/a", 3, 3, 12);
	ck_assert_int_eq(f_tick(F, T0 + 1000 + SITE_IVL - 1),
	    T0 + 1000 + SITE_IVL);
	ck_assert_uint_eq(b->nrecs, 1);
	ck_assert_uint_eq(c->nrecs, 1);
	ck_assert_int_eq(f_tick(F, T0 + 1000 + SITE_IVL), INT64_MAX);
	rec_is(last_for(b, "/b"), T0 + 1000 + SITE_IVL, "/b", 1, 1, 12);
	rec_is(last_for(c, "/c"), T0 + 1000 + SITE_IVL, "/c", 1, 1, 12);
	ck_assert_uint_eq(b->nrecs, 2);
	/* /a was updated since: no duplicate */
	ck_assert_uint_eq(a->nrecs, 3);

	/* back and forth within the interval: whatever is latest at its
	 * end, and nothing for pages that already show it */
	f_site(F, 13, T0 + 6100);
	f_site(F, 12, T0 + 6200);
	ck_assert_int_eq(f_tick(F, T0 + 6200), T0 + 6000 + SITE_IVL);
	ck_assert_int_eq(f_tick(F, T0 + 6000 + SITE_IVL), INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 3);
	ck_assert_uint_eq(b->nrecs, 2);
	f_site(F, 12, T0 + 20000);		/* no change */
	ck_assert_int_eq(f_tick(F, T0 + 20000), INT64_MAX);
	ck_assert_uint_eq(b->nrecs, 2);
	f_site(F, 14, T0 + 20000);
	ck_assert_int_eq(f_tick(F, T0 + 20000), INT64_MAX);
	rec_is(last_for(b, "/b"), T0 + 20000, "/b", 1, 1, 14);
}
END_TEST

/* Site changes every 100 ms for a minute: pushes at most every
 * site_interval, each with the site of the moment, the last one last. */
START_TEST(test_site_rate)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next = INT64_MAX, t = T0;
	size_t		 i;
	long		 s;

	f_sub(a, "/a");
	f_sub(b, "/b");
	f_ready(a, T0 - 1000);
	f_ready(b, T0 - 1000);
	fc_clear(b);
	for (s = 1; s <= 600; s++) {
		t = T0 + (s - 1) * 100;
		f_site(F, s, t);
		next = f_run(F, next, t);
		if (s % 50 == 0)
			f_update(F, "/a", s, s, t);
		next = f_tick(F, t);
	}
	f_run(F, next, t + 100000);
	ck_assert_uint_le(b->nrecs, 13);
	ck_assert_uint_ge(b->nrecs, 12);
	for (i = 0; i < b->nrecs; i++) {
		/* the site of the moment: 1 at T0, 600 after the loop */
		ck_assert_int_eq(b->recs[i].site,
		    b->recs[i].t > t ? 600 : (b->recs[i].t - T0) / 100 + 1);
		if (i > 0)
			ck_assert_int_ge(b->recs[i].t - b->recs[i - 1].t,
			    SITE_IVL);
	}
	rec_is(&b->recs[b->nrecs - 1], NONE, "/b", 0, 0, 600);
	rec_is(last_for(a, "/a"), NONE, "/a", 600, 600, 600);
}
END_TEST

/*
 * A site push is an update of each page like any other: a page updated a
 * moment ago waits for the end of its interval (DESIGN §4: at most one
 * update per page per broadcast_interval).
 */
START_TEST(test_site_keeps_page_interval)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F);
	int64_t		 next;

	f_sub(a, "/a");
	f_sub(b, "/b");
	f_ready(a, T0 - 1000);
	f_ready(b, T0 - 1000);
	f_update(F, "/b", 1, 1, T0 - 500);
	fc_clear(a);
	fc_clear(b);
	f_update(F, "/a", 1, 1, T0);
	f_site(F, 7, T0 + 10);
	next = f_tick(F, T0 + 10);
	rec_is(last_for(b, "/b"), T0 + 10, "/b", 1, 1, 7);
	ck_assert_uint_eq(a->nrecs, 1);
	ck_assert_int_eq(next, T0 + IVL);
	ck_assert_int_eq(f_tick(F, T0 + IVL), INT64_MAX);
	ck_assert_uint_eq(a->nrecs, 2);
	rec_is(&a->recs[1], T0 + IVL, "/a", 1, 1, 7);
	ck_assert_uint_eq(b->nrecs, 1);
}
END_TEST

/* ---- readers dropped from inside a delivery -------------------------- */

START_TEST(test_drop_in_deliver)
{
	struct fclient	*a = fc_new(F), *b = fc_new(F), *c = fc_new(F);
	struct fclient	*d = fc_new(F), *e = fc_new(F);
	int64_t		 next;

	f_sub(a, "/x");
	f_sub(b, "/x");
	f_sub(c, "/x");
	f_sub(d, "/y");
	f_ready(a, T0);
	f_ready(b, T0);
	f_ready(c, T0);
	f_ready(d, T0);
	fc_clear(a);
	fc_clear(c);

	/* b's queue is full: it is dropped while /x goes out */
	b->drop_on_deliver = true;
	f_update(F, "/x", 1, 1, T0 + 1000);
	ck_assert(!b->alive);
	ck_assert_uint_eq(a->nrecs, 1);
	ck_assert_uint_eq(c->nrecs, 1);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 2);
	f_update(F, "/x", 2, 2, T0 + 2000);
	ck_assert_uint_eq(a->nrecs, 2);

	/* everyone on /x dropped: the page goes with the last of them */
	a->drop_on_deliver = c->drop_on_deliver = true;
	f_update(F, "/x", 3, 3, T0 + 3000);
	ck_assert(!a->alive && !c->alive);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 1);
	ck_assert_int_eq(f_tick(F, T0 + 3000), INT64_MAX);

	/* the same from a tick, with a pending update */
	f_update(F, "/y", 1, 1, T0 + 4000);
	f_update(F, "/y", 2, 2, T0 + 4010);
	d->drop_on_deliver = true;
	next = f_tick(F, T0 + 4010);
	ck_assert_int_eq(f_tick(F, next), INT64_MAX);
	ck_assert(!d->alive);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);

	/* and from ready: the rest of e's pages are not sent to it */
	f_sub(e, "/p");
	f_sub(e, "/q");
	f_sub(e, "/r");
	e->drop_on_deliver = true;
	f_ready(e, T0 + 5000);
	ck_assert(!e->alive);
	ck_assert_uint_eq(e->nrecs, 1);
	ck_assert_uint_eq(hn_hub_pages(F->hub), 0);
}
END_TEST

START_TEST(test_drop_in_site_push)
{
	struct fclient	*c[10];
	char		 key[16];
	int		 i;

	for (i = 0; i < 10; i++) {
		c[i] = fc_new(F);
		snprintf(key, sizeof(key), "/%d", i / 2);
		f_sub(c[i], key);
		f_ready(c[i], T0);
		c[i]->drop_on_deliver = i % 3 != 0;
	}
	f_site(F, 5, T0 + 1000);
	ck_assert_int_eq(f_tick(F, T0 + 1000), INT64_MAX);
	for (i = 0; i < 10; i++) {
		ck_assert_uint_eq(c[i]->nrecs, 2);
		ck_assert(c[i]->alive == (i % 3 == 0));
	}
	/* /0 (c0), /1 (c3), /3 (c6), /4 (c9) are still held */
	ck_assert_uint_eq(hn_hub_pages(F->hub), 4);
}
END_TEST

/* ---- page keys at the bound ------------------------------------------ */

START_TEST(test_long_keys)
{
	struct fclient	*a = fc_new(F);
	char		 cyr[HN_PAGE_MAX + 1], quo[HN_PAGE_MAX + 1];
	size_t		 n;

	/* A slug in Cyrillic as long as a key may be: every two bytes
	 * become six characters of \uXXXX in the line. */
	cyr[0] = '/';
	for (n = 1; n + 2 <= HN_PAGE_MAX; n += 2) {
		cyr[n] = (char)0xd0;
		cyr[n + 1] = (char)0xb6;
	}
	cyr[n] = '\0';
	memset(quo, '"', HN_PAGE_MAX);
	quo[0] = '/';
	quo[HN_PAGE_MAX] = '\0';
	f_sub(a, cyr);
	f_sub(a, quo);
	f_ready(a, T0);
	ck_assert_uint_eq(a->nrecs, 2);
	f_update(F, cyr, LONG_MAX, LONG_MAX, T0 + 1000);
	rec_is(last_for(a, cyr), T0 + 1000, cyr, LONG_MAX, LONG_MAX, 0);
	f_update(F, quo, 1, 1, T0 + 1000);
	f_site(F, LONG_MAX, T0 + 1000);
	f_tick(F, T0 + 10000);
	rec_is(last_for(a, quo), T0 + 10000, quo, 1, 1, LONG_MAX);
	rec_is(last_for(a, cyr), T0 + 10000, cyr, LONG_MAX, LONG_MAX,
	    LONG_MAX);
}
END_TEST

/* ---- many pages pending at once ------------------------------------- */

static void
count_deliver(void *arg, void *ctx, struct hn_bcast *b)
{
	(*(long *)arg)++;
}

static void
count_release(void *arg, struct hn_bcast *b)
{
}

static double
cpu_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * n pages with a reader each, every one pending, half of them due, the
 * due and the not yet due interleaved on the pending list: returns the CPU
 * milliseconds of the tick that sends the due half.
 */
static double
pending_tick_ms(int n)
{
	struct hn_hub_io	 io = { count_deliver, count_release, NULL };
	struct hn_hub		*h;
	struct hn_hub_client	**c;
	char			 key[32];
	double			 t;
	long			 sent = 0;
	int			 i;

	io.arg = &sent;
	h = hn_hub_new(IVL, SITE_IVL, &io);
	c = calloc(n, sizeof(*c));
	ck_assert(h != NULL && c != NULL);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "/p/%d", i);
		c[i] = hn_hub_client_new(h, NULL);
		CHECK(c[i] != NULL);
		CHECK(hn_hub_subscribe(h, c[i], key, n) == HN_OK);
		hn_hub_update(h, key, 1, 1, T0 + (i % 2) * 100);
	}
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "/p/%d", i);
		hn_hub_update(h, key, 2, 2, T0 + 150);
	}
	t = cpu_ms();
	ck_assert_int_eq(hn_hub_tick(h, T0 + IVL), T0 + 100 + IVL);
	t = cpu_ms() - t;
	ck_assert_int_eq(sent, 0);	/* nobody ready; still encoded */
	for (i = 0; i < n; i++)
		hn_hub_client_free(h, c[i]);
	ck_assert_uint_eq(hn_hub_pages(h), 0);
	hn_hub_free(h);
	free(c);
	return t;
}

/* Tens of thousands of pages pending at once: the tick sends what is due,
 * returns the next due time and leaves nothing behind.  (How long that
 * takes is the benchmark's business, not a test's.) */
START_TEST(test_pending_many)
{
	(void)pending_tick_ms(32000);
}
END_TEST

/* ---- many clients and pages, against a model ------------------------- */

#define R_CLIENTS	2000
#define R_PAGES		300
#define R_STEPS		100000

/* What each client got last for a page. */
struct seen {
	bool	 any;
	long	 readers, tabs, site;
};

struct model {
	struct fclient	*c[R_CLIENTS];
	bool		 sub[R_CLIENTS][R_PAGES];
	struct seen	 seen[R_CLIENTS][R_PAGES];
	size_t		 nsubs[R_PAGES];
	long		 readers[R_PAGES], tabs[R_PAGES];
	int64_t		 last_bcast[R_PAGES];
	long		 site;
	size_t		 npages;
	long		 snapshots, bcasts;
};

static int
model_page(const char *key)
{
	int	 i;

	CHECK(sscanf(key, "/p/%d", &i) == 1);
	CHECK(i >= 0 && i < R_PAGES);
	return i;
}

/* A page nobody holds is forgotten: counts and interval start afresh. */
static void
model_unsub(struct model *m, int ci, int p)
{
	if (!m->sub[ci][p])
		return;
	m->sub[ci][p] = false;
	m->seen[ci][p].any = false;
	if (--m->nsubs[p] == 0) {
		m->readers[p] = m->tabs[p] = 0;
		m->last_bcast[p] = INT64_MIN;
		m->npages--;
	}
}

static void
model_drop(struct model *m, int ci)
{
	int	 p;

	for (p = 0; p < R_PAGES; p++)
		model_unsub(m, ci, p);
}

static void
model_sub(struct model *m, int ci, int p)
{
	char	 key[32];

	snprintf(key, sizeof(key), "/p/%d", p);
	f_sub(m->c[ci], key);
	if (!m->sub[ci][p]) {
		m->sub[ci][p] = true;
		if (m->nsubs[p]++ == 0)
			m->npages++;
	}
}

static void
model_deliver(struct fio *io, struct fclient *fc, const struct hn_bcast *b,
    const struct rec *r)
{
	struct model	*m = io->model;
	int		 ci = fc->mi, p = model_page(b->page);

	CHECK(m->c[ci] == fc);
	CHECK_MSG(m->sub[ci][p], "client %d got %s, not held", ci,
	    b->page);
	/* what goes out is always what is current */
	CHECK_MSG(r->readers == m->readers[p] && r->tabs == m->tabs[p] &&
	    r->site == m->site, "%s went out as %ld %ld %ld, not %ld %ld %ld",
	    b->page, r->readers, r->tabs, r->site, m->readers[p], m->tabs[p],
	    m->site);
	m->seen[ci][p].any = true;
	m->seen[ci][p].readers = r->readers;
	m->seen[ci][p].tabs = r->tabs;
	m->seen[ci][p].site = r->site;
	if (fc->drop_on_deliver)
		model_drop(m, ci);
}

static void
model_release(struct fio *io, const struct hn_bcast *b, size_t ndeliv)
{
	struct model	*m = io->model;
	int		 p = model_page(b->page);

	if (io->in_ready) {
		CHECK(ndeliv <= 1);
		m->snapshots++;
		return;
	}
	m->bcasts++;
	if (m->nsubs[p] == 0)
		return;		/* its last reader dropped meanwhile */
	if (m->last_bcast[p] != INT64_MIN)
		CHECK_MSG(io->now - m->last_bcast[p] >= io->interval,
		    "%s: updates at %" PRId64 " and %" PRId64, b->page,
		    m->last_bcast[p], io->now);
	m->last_bcast[p] = io->now;
}

START_TEST(test_random)
{
	struct fio	*io = F;
	struct model	*m;
	struct fclient	*fc;
	int64_t		 now = T0, next = INT64_MAX;
	unsigned	 seed = 20240611, x;
	char		 key[32];
	long		 step, freed = 0, dropped = 0, checked = 0;
	long		 readers, tabs;
	int		 ci, p;

	m = calloc(1, sizeof(*m));
	ck_assert_ptr_nonnull(m);
	io->model = m;
	io->norec = true;
	io->on_deliver = model_deliver;
	io->on_release = model_release;
	for (p = 0; p < R_PAGES; p++)
		m->last_bcast[p] = INT64_MIN;

	for (step = 0; step < R_STEPS; step++) {
		ci = rand_r(&seed) % R_CLIENTS;
		p = rand_r(&seed) % R_PAGES;
		snprintf(key, sizeof(key), "/p/%d", p);
		if ((fc = m->c[ci]) != NULL && !fc->alive) {
			m->c[ci] = fc = NULL;	/* dropped in a delivery */
			dropped++;
		}
		if (fc == NULL) {
			if (io->nclients == FIO_CLIENTS)
				continue;
			m->c[ci] = fc = fc_new(io);
			fc->mi = ci;
			fc->drop_on_deliver = rand_r(&seed) % 50 == 0;
		}
		x = rand_r(&seed) % 1000;
		if (x < 150) {
			/* a new stream subscribes before it is counted; a
			 * counted one changing pages is counted again */
			model_sub(m, ci, p);
			if (fc->ready)
				f_ready(fc, now);
		} else if (x < 230) {
			f_unsub(fc, key);
			model_unsub(m, ci, p);
		} else if (x < 240) {
			fc_free(fc);
			model_drop(m, ci);
			m->c[ci] = NULL;
			freed++;
		} else if (x < 320) {
			f_ready(fc, now);
		} else if (x < 900) {
			/* few values, so counts often go back to what was
			 * sent */
			readers = rand_r(&seed) % 3;
			tabs = readers + rand_r(&seed) % 2;
			if (m->nsubs[p] > 0) {
				m->readers[p] = readers;
				m->tabs[p] = tabs;
			}
			f_update(io, key, readers, tabs, now);
		} else if (x < 920) {
			m->site = rand_r(&seed) % 4;
			f_site(io, m->site, now);
		} else {
			next = f_tick(io, now);
		}
		ck_assert(!io->open);
		ck_assert_uint_eq(hn_hub_pages(io->hub), m->npages);
		now += rand_r(&seed) % 4;
		if (next <= now)
			next = f_tick(io, now);
	}

	/* quiet: every counted reader ends on the current counts */
	for (ci = 0; ci < R_CLIENTS; ci++)
		if (m->c[ci] != NULL)
			m->c[ci]->drop_on_deliver = false;
	next = f_run(io, next, now + 2 * SITE_IVL);
	ck_assert_int_eq(next, INT64_MAX);
	for (ci = 0; ci < R_CLIENTS; ci++) {
		if ((fc = m->c[ci]) == NULL || !fc->alive || !fc->ready)
			continue;
		for (p = 0; p < R_PAGES; p++) {
			if (!m->sub[ci][p])
				continue;
			ck_assert_msg(m->seen[ci][p].any,
			    "client %d has nothing for /p/%d", ci, p);
			ck_assert_msg(m->seen[ci][p].readers == m->readers[p] &&
			    m->seen[ci][p].tabs == m->tabs[p] &&
			    m->seen[ci][p].site == m->site,
			    "client %d ends on %ld %ld %ld for /p/%d, "
			    "not %ld %ld %ld", ci, m->seen[ci][p].readers,
			    m->seen[ci][p].tabs, m->seen[ci][p].site, p,
			    m->readers[p], m->tabs[p], m->site);
			checked++;
		}
	}
	ck_assert_int_gt(checked, 1000);
	ck_assert_int_gt(freed, 100);
	ck_assert_int_gt(dropped, 10);
	ck_assert_int_gt(m->bcasts, 1000);
	ck_assert_int_gt(m->snapshots, 1000);
	free(m);
}
END_TEST

/* ---- two processes fed the same updates ------------------------------ */

START_TEST(test_two_processes)
{
	struct fio	*pa = fio_new(IVL, SITE_IVL);
	struct fio	*pb = fio_new(IVL, SITE_IVL);
	struct fclient	*a[3], *b[3];
	int64_t		 nb = INT64_MAX, t;
	unsigned	 seed = 99;
	long		 fin_r[4] = { 0 }, fin_t[4] = { 0 }, fin_s = 0;
	char		 key[16];
	int		 i, k;

	for (i = 0; i < 3; i++) {
		a[i] = fc_new(pa);
		b[i] = fc_new(pb);
		for (k = 0; k < 4; k++) {
			if ((i + k) % 2 == 0 || k == 3) {
				snprintf(key, sizeof(key), "/%d", k);
				f_sub(a[i], key);
				f_sub(b[i], key);
			}
		}
	}
	/*
	 * Process a ticks every 10 ms and hears of each change at once;
	 * process b hears of it 37 ms later (its poll) and ticks only when
	 * the hub asks.  Readers are counted at different moments.
	 */
	for (t = T0; t < T0 + 3000; t += 10) {
		if (t == T0 + 500)
			f_ready(a[0], t);
		if (t == T0 + 800)
			f_ready(b[0], t + 37);
		if (t == T0 + 1500) {
			f_ready(a[1], t);
			f_ready(a[2], t);
			f_ready(b[1], t + 37);
		}
		if (t == T0 + 2990)
			f_ready(b[2], t + 37);
		nb = f_run(pb, nb, t + 37);
		if (rand_r(&seed) % 3 == 0) {
			k = rand_r(&seed) % 4;
			fin_r[k] = rand_r(&seed) % 5;
			fin_t[k] = fin_r[k] + rand_r(&seed) % 3;
			snprintf(key, sizeof(key), "/%d", k);
			f_update(pa, key, fin_r[k], fin_t[k], t);
			f_update(pb, key, fin_r[k], fin_t[k], t + 37);
		}
		if (rand_r(&seed) % 40 == 0) {
			fin_s = rand_r(&seed) % 100;
			f_site(pa, fin_s, t);
			f_site(pb, fin_s, t + 37);
		}
		f_tick(pa, t);
		nb = f_tick(pb, t + 37);
	}
	f_tick(pa, t + 10000);
	ck_assert_int_eq(f_run(pb, nb, t + 10000), INT64_MAX);
	for (i = 0; i < 3; i++) {
		for (k = 0; k < 4; k++) {
			snprintf(key, sizeof(key), "/%d", k);
			if ((i + k) % 2 != 0 && k != 3) {
				ck_assert_uint_eq(count_for(a[i], key), 0);
				continue;
			}
			rec_is(last_for(a[i], key), NONE, key, fin_r[k],
			    fin_t[k], fin_s);
			rec_is(last_for(b[i], key), NONE, key, fin_r[k],
			    fin_t[k], fin_s);
			ck_assert_str_eq(last_for(a[i], key)->json,
			    last_for(b[i], key)->json);
		}
	}
	fio_free(pa);
	fio_free(pb);
}
END_TEST

static Suite *
hub_suite(void)
{
	Suite	*s = suite_create("hub");
	TCase	*tc;

	tc = tcase_create("bookkeeping");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_free);
	tcase_add_test(tc, test_subscribe_bookkeeping);
	tcase_add_test(tc, test_page_forgotten);
	tcase_add_test(tc, test_max_pages);
	tcase_add_test(tc, test_many_pages_one_client);
	suite_add_tcase(s, tc);

	tc = tcase_create("ready");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ready_snapshot);
	tcase_add_test(tc, test_ready_not_held_back);
	tcase_add_test(tc, test_not_ready_nothing);
	tcase_add_test(tc, test_ready_then_back);
	tcase_add_test(tc, test_ready_then_site_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("coalesce");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_coalesce);
	tcase_add_test(tc, test_no_change_no_update);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_burst_rate);
	tcase_add_test(tc, test_burst_irregular_ticks);
	tcase_add_test(tc, test_pages_independent);
	suite_add_tcase(s, tc);

	tc = tcase_create("site");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_site);
	tcase_add_test(tc, test_site_rate);
	tcase_add_test(tc, test_site_keeps_page_interval);
	suite_add_tcase(s, tc);

	tc = tcase_create("drop");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_drop_in_deliver);
	tcase_add_test(tc, test_drop_in_site_push);
	tcase_add_test(tc, test_long_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pending_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_two_processes);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return hn_check_run(hub_suite());
}
