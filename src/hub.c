/*
 * The hub: which held streams read or watch which page, the last counts of
 * each, and the coalesced broadcast (DESIGN §4).  Pure: no I/O, no clock;
 * the caller passes monotonic milliseconds and gets deliveries through
 * callbacks.  Only pages that someone here subscribes to are kept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

/* A count line with the longest key: jansson writes non-ASCII as \uXXXX
 * (six characters for two bytes, twelve for four) and control characters
 * as \u00XX, so six characters a byte; then the rest of the object and
 * three longs. */
#define HUB_JSON_MAX	(6 * HN_PAGE_MAX + 128)

struct hub_sub {
	struct hub_page		*page;
	struct hn_hub_client	*client;
	struct hub_sub		*prev, *next;	/* on the page */
	struct hub_sub		*cnext;		/* on the client */
};

struct hub_page {
	struct hub_page	*hnext;			/* hash chain */
	struct hub_page	*pnext, **pprev;	/* pending list */
	bool		 pending;
	struct hub_sub	*subs;
	size_t		 nsubs;
	long		 readers, tabs;
	long		 sent_readers, sent_tabs, sent_site;
	int64_t		 last_sent;		/* start of the last update */
	uint32_t	 hash;
	char		 key[];
};

struct hn_hub_client {
	void			*ctx;
	struct hub_sub		*subs;
	bool			 ready;
	struct hn_hub_client	*dnext;		/* freed while busy */
};

struct hn_hub {
	struct hn_hub_io	 io;
	int64_t			 interval;
	int64_t			 site_interval;
	struct hub_page		**buckets;
	size_t			 nbuckets;	/* a power of two */
	size_t			 npages;
	struct hub_page		*pending;
	long			 site;
	bool			 site_dirty;
	int64_t			 last_site_push;
	int			 busy;		/* in a call that delivers */
	struct hn_hub_client	*dead;		/* freed meanwhile */
};

static uint32_t
hub_hash(const char *s)
{
	uint32_t	 h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct hn_hub *
hn_hub_new(int64_t broadcast_interval_ms, int64_t site_interval_ms,
    const struct hn_hub_io *io)
{
	struct hn_hub	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->nbuckets = 64;
	if ((h->buckets = calloc(h->nbuckets, sizeof(*h->buckets))) == NULL) {
		free(h);
		return NULL;
	}
	h->io = *io;
	h->interval = broadcast_interval_ms;
	h->site_interval = site_interval_ms;
	h->last_site_push = INT64_MIN / 2;
	return h;
}

static struct hub_page *
hub_find(struct hn_hub *h, const char *key, uint32_t hash)
{
	struct hub_page	*p;

	for (p = h->buckets[hash & (h->nbuckets - 1)]; p != NULL; p = p->hnext)
		if (p->hash == hash && strcmp(p->key, key) == 0)
			return p;
	return NULL;
}

/* Doubles the table when it is fuller than one page a bucket. */
static void
hub_grow(struct hn_hub *h)
{
	struct hub_page	**nb, *p, *next;
	size_t		  i, n = h->nbuckets * 2;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;		/* longer chains, still correct */
	for (i = 0; i < h->nbuckets; i++) {
		for (p = h->buckets[i]; p != NULL; p = next) {
			next = p->hnext;
			p->hnext = nb[p->hash & (n - 1)];
			nb[p->hash & (n - 1)] = p;
		}
	}
	free(h->buckets);
	h->buckets = nb;
	h->nbuckets = n;
}

/* The pending list is doubly linked: with many pages pending, a tick must
 * not walk the list for each page it sends. */
static void
hub_pending_add(struct hn_hub *h, struct hub_page *p)
{
	if (p->pending)
		return;
	p->pnext = h->pending;
	if (p->pnext != NULL)
		p->pnext->pprev = &p->pnext;
	p->pprev = &h->pending;
	h->pending = p;
	p->pending = true;
}

static void
hub_pending_remove(struct hn_hub *h, struct hub_page *p)
{
	if (!p->pending)
		return;
	*p->pprev = p->pnext;
	if (p->pnext != NULL)
		p->pnext->pprev = p->pprev;
	p->pending = false;
	p->pnext = NULL;
	p->pprev = NULL;
}

static void
hub_page_free(struct hn_hub *h, struct hub_page *p)
{
	struct hub_page	**pp;

	hub_pending_remove(h, p);
	for (pp = &h->buckets[p->hash & (h->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	}
	h->npages--;
	free(p);
}

/* Encodes the page's current counts once and hands them to every ready
 * subscriber, or to only when it is not NULL. */
static void
hub_send(struct hn_hub *h, struct hub_page *p, struct hn_hub_client *only)
{
	char		 json[HUB_JSON_MAX];
	struct hn_bcast	 b;
	struct hub_sub	*s;
	ssize_t		 n;

	n = hn_json_count(json, sizeof(json), p->key, p->readers, p->tabs,
	    h->site, true);
	if (n < 0)
		return;
	memset(&b, 0, sizeof(b));
	b.page = p->key;
	b.json = json;
	b.len = (size_t)n;
	if (only != NULL) {
		if (only->ready)
			h->io.deliver(h->io.arg, only->ctx, &b);
	} else {
		for (s = p->subs; s != NULL; s = s->next)
			if (s->client->ready)
				h->io.deliver(h->io.arg, s->client->ctx, &b);
	}
	if (h->io.release != NULL)
		h->io.release(h->io.arg, &b);
}

static void
hub_broadcast(struct hn_hub *h, struct hub_page *p, int64_t now)
{
	hub_pending_remove(h, p);
	if (p->readers == p->sent_readers && p->tabs == p->sent_tabs &&
	    h->site == p->sent_site)
		return;
	p->sent_readers = p->readers;
	p->sent_tabs = p->tabs;
	p->sent_site = h->site;
	p->last_sent = now;
	hub_send(h, p, NULL);
}

void
hn_hub_free(struct hn_hub *h)
{
	struct hub_page	*p, *next;
	size_t		 i;

	if (h == NULL)
		return;
	/* Clients own their subscriptions and must have been freed. */
	for (i = 0; i < h->nbuckets; i++) {
		for (p = h->buckets[i]; p != NULL; p = next) {
			next = p->hnext;
			free(p);
		}
	}
	free(h->buckets);
	free(h);
}

/*
 * deliver() may end a reader (app.c drops a slow one from inside it) and
 * so free its client while the hub walks the subscriptions and pages that
 * client holds.  Calls that deliver are bracketed by hub_enter/hub_leave:
 * a client freed in between only stops receiving, and is really freed,
 * with the pages it leaves empty, when the outermost call returns.
 */
static void
hub_enter(struct hn_hub *h)
{
	h->busy++;
}

static void
hub_leave(struct hn_hub *h)
{
	struct hn_hub_client	*c;

	if (--h->busy > 0)
		return;
	while ((c = h->dead) != NULL) {
		h->dead = c->dnext;
		hn_hub_client_free(h, c);
	}
}

struct hn_hub_client *
hn_hub_client_new(struct hn_hub *h, void *ctx)
{
	struct hn_hub_client	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ctx = ctx;
	return c;
}

static void
hub_sub_unlink(struct hn_hub *h, struct hub_sub *s)
{
	struct hub_page	*p = s->page;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		p->subs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (--p->nsubs == 0)
		hub_page_free(h, p);
}

void
hn_hub_client_free(struct hn_hub *h, struct hn_hub_client *c)
{
	struct hub_sub	*s, *next;

	if (c == NULL)
		return;
	if (h->busy > 0) {
		c->ready = false;
		c->ctx = NULL;
		c->dnext = h->dead;
		h->dead = c;
		return;
	}
	for (s = c->subs; s != NULL; s = next) {
		next = s->cnext;
		hub_sub_unlink(h, s);
		free(s);
	}
	free(c);
}

int
hn_hub_subscribe(struct hn_hub *h, struct hn_hub_client *c, const char *key,
    size_t max_pages)
{
	struct hub_page	*p;
	struct hub_sub	*s;
	uint32_t	 hash = hub_hash(key);
	size_t		 len;

	if ((p = hub_find(h, key, hash)) == NULL) {
		if (h->npages >= max_pages)
			return HN_ETOOBIG;
		len = strlen(key);
		if ((p = calloc(1, sizeof(*p) + len + 1)) == NULL)
			return HN_ENOMEM;
		memcpy(p->key, key, len + 1);
		p->hash = hash;
		p->sent_readers = p->sent_tabs = p->sent_site = -1;
		p->last_sent = INT64_MIN / 2;
		if (h->npages >= h->nbuckets)
			hub_grow(h);
		p->hnext = h->buckets[hash & (h->nbuckets - 1)];
		h->buckets[hash & (h->nbuckets - 1)] = p;
		h->npages++;
	} else {
		for (s = c->subs; s != NULL; s = s->cnext)
			if (s->page == p)
				return HN_OK;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		if (p->nsubs == 0)
			hub_page_free(h, p);
		return HN_ENOMEM;
	}
	s->page = p;
	s->client = c;
	s->next = p->subs;
	if (p->subs != NULL)
		p->subs->prev = s;
	p->subs = s;
	p->nsubs++;
	s->cnext = c->subs;
	c->subs = s;
	return HN_OK;
}

void
hn_hub_unsubscribe(struct hn_hub *h, struct hn_hub_client *c,
    const char *key)
{
	struct hub_sub	**sp, *s;

	for (sp = &c->subs; (s = *sp) != NULL; sp = &s->cnext) {
		if (strcmp(s->page->key, key) == 0) {
			*sp = s->cnext;
			hub_sub_unlink(h, s);
			free(s);
			return;
		}
	}
}

void
hn_hub_ready(struct hn_hub *h, struct hn_hub_client *c, int64_t now)
{
	struct hub_sub	*s;
	struct hub_page	*p;

	c->ready = true;
	hub_enter(h);
	for (s = c->subs; s != NULL; s = s->cnext) {
		p = s->page;
		/* c now holds counts the other readers have not got yet
		 * (an update or a site push is pending): the page must not
		 * count as sent, or counts going back to what the others
		 * hold would cancel the update and leave c on the newer
		 * ones for good. */
		if (p->readers != p->sent_readers ||
		    p->tabs != p->sent_tabs || h->site != p->sent_site)
			p->sent_site = -1;
		hub_send(h, p, c);
	}
	hub_leave(h);
}

void
hn_hub_update(struct hn_hub *h, const char *key, long readers, long tabs,
    int64_t now)
{
	struct hub_page	*p;

	if ((p = hub_find(h, key, hub_hash(key))) == NULL)
		return;
	p->readers = readers;
	p->tabs = tabs;
	if (readers == p->sent_readers && tabs == p->sent_tabs &&
	    h->site == p->sent_site) {
		hub_pending_remove(h, p);	/* back where we were */
		return;
	}
	if (now - p->last_sent >= h->interval) {
		hub_enter(h);
		hub_broadcast(h, p, now);
		hub_leave(h);
	} else {
		hub_pending_add(h, p);
	}
}

void
hn_hub_site(struct hn_hub *h, long site, int64_t now)
{
	if (site == h->site)
		return;
	h->site = site;
	h->site_dirty = true;
}

int64_t
hn_hub_tick(struct hn_hub *h, int64_t now)
{
	struct hub_page	*p, *next;
	int64_t		 due, next_due = INT64_MAX;
	size_t		 i;

	hub_enter(h);
	for (p = h->pending; p != NULL; p = next) {
		next = p->pnext;
		due = p->last_sent + h->interval;
		if (due <= now)
			hub_broadcast(h, p, now);
		else if (due < next_due)
			next_due = due;
	}
	if (h->site_dirty) {
		due = h->last_site_push + h->site_interval;
		if (due <= now) {
			/* Pages whose own counts went out since already carry
			 * the new site; the rest get it now, unless their own
			 * update is pending anyway, or at the end of their
			 * interval (one update per page per interval). */
			for (i = 0; i < h->nbuckets; i++) {
				for (p = h->buckets[i]; p != NULL;
				    p = p->hnext) {
					if (p->pending ||
					    p->sent_site == h->site)
						continue;
					due = p->last_sent + h->interval;
					if (due <= now) {
						hub_broadcast(h, p, now);
						continue;
					}
					hub_pending_add(h, p);
					if (due < next_due)
						next_due = due;
				}
			}
			h->site_dirty = false;
			h->last_site_push = now;
		} else if (due < next_due) {
			next_due = due;
		}
	}
	hub_leave(h);
	return next_due;
}

size_t
hn_hub_pages(const struct hn_hub *h)
{
	return h->npages;
}
