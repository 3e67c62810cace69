/*
 * The event loop: file descriptors and a few timers, nothing else (redis
 * ae.c style).  One thread runs it; the poller is in loop_epoll.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "hn.h"

#define LOOP_BATCH	256

struct loop_fd {
	hn_fd_cb	*cb;
	void		*arg;
	int		 mask;	/* 0: not watched */
};

struct loop_timer {
	hn_timer_cb	*cb;
	void		*arg;
	int64_t		 due;	/* INT64_MAX: idle */
};

struct hn_loop {
	int			 pfd;
	int			 setsize;
	struct loop_fd		*fds;
	struct loop_timer	 timers[HN_LOOP_TIMERS];
	int			 ntimers;
};

struct hn_loop *
hn_loop_new(int setsize)
{
	struct hn_loop	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->fds = calloc(setsize, sizeof(*l->fds))) == NULL ||
	    (l->pfd = hn_poll_create()) < 0) {
		free(l->fds);
		free(l);
		return NULL;
	}
	l->setsize = setsize;
	return l;
}

void
hn_loop_free(struct hn_loop *l)
{
	if (l == NULL)
		return;
	close(l->pfd);
	free(l->fds);
	free(l);
}

int
hn_loop_watch(struct hn_loop *l, int fd, int mask, hn_fd_cb *cb, void *arg)
{
	struct loop_fd	*f;

	if (fd < 0 || fd >= l->setsize)
		return HN_ETOOBIG;
	f = &l->fds[fd];
	if (hn_poll_set(l->pfd, fd, mask, f->mask != 0) < 0)
		return HN_EIO;
	f->cb = cb;
	f->arg = arg;
	f->mask = mask | 0x100;		/* watched, even with mask 0 */
	return HN_OK;
}

void
hn_loop_unwatch(struct hn_loop *l, int fd)
{
	if (fd < 0 || fd >= l->setsize || l->fds[fd].mask == 0)
		return;
	hn_poll_del(l->pfd, fd);
	l->fds[fd].mask = 0;
	l->fds[fd].cb = NULL;
}

/*
 * For a socket about to be closed that no other descriptor shares (one we
 * accepted): close(2) takes it out of the poller, so the loop only
 * forgets it, and a leave costs one system call less.
 */
void
hn_loop_forget(struct hn_loop *l, int fd)
{
	if (fd < 0 || fd >= l->setsize)
		return;
	l->fds[fd].mask = 0;
	l->fds[fd].cb = NULL;
}

int
hn_loop_timer(struct hn_loop *l, int64_t due, hn_timer_cb *cb, void *arg)
{
	if (l->ntimers == HN_LOOP_TIMERS)
		return HN_ETOOBIG;
	l->timers[l->ntimers].cb = cb;
	l->timers[l->ntimers].arg = arg;
	l->timers[l->ntimers].due = due;
	return l->ntimers++;
}

void
hn_loop_timer_set(struct hn_loop *l, int id, int64_t due)
{
	if (id >= 0 && id < l->ntimers)
		l->timers[id].due = due;
}

static void
loop_run_timers(struct hn_loop *l)
{
	int64_t	 now = hn_mono_ms();
	int	 i;

	for (i = 0; i < l->ntimers; i++) {
		if (l->timers[i].due <= now) {
			l->timers[i].due = INT64_MAX;
			l->timers[i].due = l->timers[i].cb(l, now,
			    l->timers[i].arg);
		}
	}
}

int
hn_loop_once(struct hn_loop *l, const void *sigmask)
{
	int		 fds[LOOP_BATCH], evs[LOOP_BATCH];
	int64_t		 next = INT64_MAX, now;
	int		 i, n, timeout;
	struct loop_fd	*f;

	for (i = 0; i < l->ntimers; i++)
		if (l->timers[i].due < next)
			next = l->timers[i].due;
	if (next == INT64_MAX) {
		timeout = -1;
	} else {
		now = hn_mono_ms();
		timeout = next <= now ? 0 :
		    (next - now > 60000 ? 60000 : (int)(next - now));
	}
	n = hn_poll_wait(l->pfd, fds, evs, LOOP_BATCH, timeout, sigmask);
	if (n < 0)
		return errno == EINTR ? HN_EIO : HN_EIO;
	for (i = 0; i < n; i++) {
		f = &l->fds[fds[i]];
		/* A callback may have closed this fd for an earlier one. */
		if (f->mask == 0 || f->cb == NULL)
			continue;
		f->cb(l, fds[i], evs[i], f->arg);
	}
	loop_run_timers(l);
	return HN_OK;
}
