/*
 * epoll backend of the event loop: the only file that includes
 * sys/epoll.h.  Level-triggered, so a callback that leaves bytes unread
 * is called again.
 */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hn.h"

#define POLL_BATCH	256

int
hn_poll_create(void)
{
	return epoll_create1(EPOLL_CLOEXEC);
}

int
hn_poll_set(int pfd, int fd, int mask, bool added)
{
	struct epoll_event	 ev = { 0 };

	ev.events = EPOLLRDHUP;
	if (mask & HN_EV_READ)
		ev.events |= EPOLLIN;
	if (mask & HN_EV_WRITE)
		ev.events |= EPOLLOUT;
	ev.data.fd = fd;
	if (epoll_ctl(pfd, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return HN_EIO;
	return HN_OK;
}

void
hn_poll_del(int pfd, int fd)
{
	epoll_ctl(pfd, EPOLL_CTL_DEL, fd, NULL);
}

int
hn_poll_wait(int pfd, int *fds, int *events, int n, int timeout_ms,
    const void *sigmask)
{
	struct epoll_event	 evs[POLL_BATCH];
	int			 i, got, m;

	if (n > POLL_BATCH)
		n = POLL_BATCH;
	got = epoll_pwait(pfd, evs, n, timeout_ms, (const sigset_t *)sigmask);
	if (got < 0)
		return HN_EIO;
	for (i = 0; i < got; i++) {
		m = 0;
		if (evs[i].events & EPOLLIN)
			m |= HN_EV_READ;
		if (evs[i].events & EPOLLOUT)
			m |= HN_EV_WRITE;
		if (evs[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			m |= HN_EV_ERROR;
		fds[i] = evs[i].data.fd;
		events[i] = m;
	}
	return got;
}
