/*
 * The "bare floor" peer of the benchmark (issue 7): the least a program
 * behind lighttpd does to hold reader streams and push one count to all of
 * them.  herenow's broadcast is measured against this, with lighttpd and
 * its configuration the same, so what is left is herenow's own.
 *
 *	floor		FastCGI (fastcgi.server "bin-path"): SSE streams
 *	floor --tunnel	mod_wstunnel (wstunnel.server "bin-path"): WebSocket
 *
 * SSE: one acceptor thread (main) answers the request and queues the
 * stream; one broadcaster thread owns every held stream from then on,
 * formats each event once and writes it to each stream (one write(2)
 * apiece).  No database, no poller: a reader who left shows up as a failed
 * write.  The tunnel is one thread (see its NOTES further down).
 *
 *	gcc -std=gnu11 -O2 -Wall -Wextra -o floor floor.c -lfcgi -lpthread
 *
 * NOTES
 * - The count is the number of held streams (queued ones included), not
 *   of distinct visitors: the load client uses one visitor per stream.
 * - Held sockets are non-blocking: lighttpd (server.stream-response-body
 *   = 2) stops reading us while its client does not read, and a reader
 *   that far behind is dropped instead of stalling every other reader.
 * - A dropped stream is freed with FCGX_Free(r, 0) and a plain close():
 *   FCGX_Finish_r would first write to the dead socket again and, on a
 *   live one, shutdown() and wait up to 2 s for lighttpd to hang up.
 * - Leaves are seen late.  lighttpd 1.4.69 keeps a stream whose client
 *   closed until a write to that client fails (the first write after the
 *   FIN still succeeds), and only then closes our socket; so our write
 *   fails two or three writes after the leave: under churn within ~0.75 s,
 *   else at the heartbeats.  Noticing sooner means polling every held
 *   socket, which herenow does and this floor on purpose does not.
 * - SSE comment heartbeat after 25 s without a write: idle streams get
 *   dropped by proxies, and it reaps readers who left while nothing
 *   changed.
 */

#define _GNU_SOURCE		/* accept4 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <fcgiapp.h>

#define FLOOR_MAX_STREAMS	20000	/* held streams; above: 503 */
#define FLOOR_MAX_QUERY		1024	/* bytes of QUERY_STRING; above: 414 */
#define FLOOR_INTERVAL_NS	(250 * 1000000LL)	/* DESIGN §4 */
#define FLOOR_HEARTBEAT_NS	(25 * 1000000000LL)
#define FLOOR_EVENT_MAX		192
#define FLOOR_INPUT_MAX		4096	/* bytes read from a tunnel at once */
#define FLOOR_EPOLL_EVENTS	256

static const char sse_headers[] =
    "Status: 200\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "\r\n";
static const char sse_ping[] = ": ping\n\n";

struct floor {
	pthread_mutex_t	  mtx;
	pthread_cond_t	  cond;		/* a stream was queued */
	/* Under mtx. */
	int		  count;	/* held + queued streams */
	int		  nqueued;
	FCGX_Request	**queued;	/* accepted, headers not yet sent */
	/* The broadcaster's own. */
	int		  nheld;
	FCGX_Request	**held;
	FCGX_Request	**fresh;	/* queued ones taken over */
};

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
wait_until(struct floor *f, int64_t when)
{
	struct timespec	 ts;

	ts.tv_sec = when / 1000000000LL;
	ts.tv_nsec = when % 1000000000LL;
	pthread_cond_timedwait(&f->cond, &f->mtx, &ts);
}

/* Short answer for a request that is not held; frees it. */
static void
respond(FCGX_Request *r, const char *status, const char *body)
{
	FCGX_FPrintF(r->out, "Status: %s\r\nContent-Type: text/plain\r\n\r\n"
	    "%s\n", status, body);
	FCGX_Finish_r(r);
	free(r);
}

/* The reader left or stopped reading: see NOTES. */
static void
stream_drop(FCGX_Request *r)
{
	int	 fd = r->ipcFd;

	FCGX_Free(r, 0);
	close(fd);
	free(r);
}

/* One FastCGI record, one write(2). */
static int
stream_put(FCGX_Request *r, const char *buf, int len)
{
	if (FCGX_PutStr(buf, len, r->out) != len ||
	    FCGX_FFlush(r->out) != 0)
		return -1;
	return 0;
}

/*
 * Writes buf to streams v[0..*n-1], dropping those that fail (the array
 * is compacted).  Returns how many were dropped.
 */
static int
put_all(FCGX_Request **v, int *n, const char *buf, int len)
{
	int	 i = 0, lost = 0;

	while (i < *n) {
		if (stream_put(v[i], buf, len) == 0) {
			i++;
			continue;
		}
		stream_drop(v[i]);
		v[i] = v[--*n];
		lost++;
	}
	return lost;
}

/* The count as an SSE event, or as a line for the tunnel (DESIGN §6). */
static int
format_count(char *buf, size_t size, int n, int sse)
{
	int	 len;

	len = snprintf(buf, size, "%s{\"type\":\"count\",\"page\":\"/bench\","
	    "\"readers\":%d,\"tabs\":%d,\"site\":%d}\n%s",
	    sse ? "event: count\ndata: " : "", n, n, n, sse ? "\n" : "");
	if (len < 0 || (size_t)len >= size)
		abort();	/* FLOOR_EVENT_MAX is far above any count */
	return len;
}

/*
 * Coalesced like DESIGN §4: a change after a quiet interval goes out at
 * once, later ones become one update at the end of the interval (measured
 * from the start of the previous update), always ending on the latest
 * count.  A queued stream gets its headers and the current count at once,
 * whether or not the others are due.
 */
static void *
broadcaster(void *arg)
{
	struct floor	*f = arg;
	char		 ev[FLOOR_EVENT_MAX];
	int64_t		 t, last_start, last_write;
	int		 n, nfresh, len, lost, sent = -1;

	last_write = now_ns();
	last_start = last_write - FLOOR_INTERVAL_NS;
	for (;;) {
		pthread_mutex_lock(&f->mtx);
		for (;;) {
			t = now_ns();
			if (f->nqueued > 0)
				break;
			if (f->count != sent) {
				if (t >= last_start + FLOOR_INTERVAL_NS)
					break;
				wait_until(f, last_start + FLOOR_INTERVAL_NS);
			} else {
				if (t >= last_write + FLOOR_HEARTBEAT_NS)
					break;
				wait_until(f, last_write + FLOOR_HEARTBEAT_NS);
			}
		}
		nfresh = f->nqueued;
		memcpy(f->fresh, f->queued, nfresh * sizeof(*f->fresh));
		f->nqueued = 0;
		n = f->count;
		pthread_mutex_unlock(&f->mtx);

		lost = 0;
		if (n != sent && t >= last_start + FLOOR_INTERVAL_NS) {
			/*
			 * An update for everyone.  The new ones first: their
			 * response waits for it, the others only for a count.
			 */
			len = format_count(ev, sizeof(ev), n, 1);
			last_start = t;
			sent = n;
			lost = put_all(f->fresh, &nfresh, ev, len);
			lost += put_all(f->held, &f->nheld, ev, len);
			last_write = t;
		} else if (nfresh > 0) {
			len = format_count(ev, sizeof(ev), n, 1);
			lost = put_all(f->fresh, &nfresh, ev, len);
		} else {
			lost = put_all(f->held, &f->nheld, sse_ping,
			    sizeof(sse_ping) - 1);
			last_write = t;
		}
		memcpy(f->held + f->nheld, f->fresh, nfresh * sizeof(*f->held));
		f->nheld += nfresh;
		if (lost > 0) {
			/* A leave is a change too: the loop above sends it. */
			pthread_mutex_lock(&f->mtx);
			f->count -= lost;
			pthread_mutex_unlock(&f->mtx);
		}
	}
	return NULL;
}

/* Does the query hold parameter name (with '=')? */
static int
has_param(const char *q, const char *name)
{
	size_t	 len = strlen(name);

	while (q != NULL && *q != '\0') {
		if (strncmp(q, name, len) == 0)
			return 1;
		if ((q = strchr(q, '&')) != NULL)
			q++;
	}
	return 0;
}

/* Answers r, or queues it for the broadcaster; r is ours either way. */
static void
route(struct floor *f, FCGX_Request *r)
{
	const char	*method, *uri, *query;
	size_t		 pathlen;
	int		 fl, full;

	method = FCGX_GetParam("REQUEST_METHOD", r->envp);
	uri = FCGX_GetParam("REQUEST_URI", r->envp);
	query = FCGX_GetParam("QUERY_STRING", r->envp);
	if (uri == NULL)
		uri = "";
	if (query == NULL)
		query = "";
	pathlen = strcspn(uri, "?");
	if (pathlen != strlen("/herenow/sse") ||
	    strncmp(uri, "/herenow/sse", pathlen) != 0) {
		respond(r, "404 Not Found", "not found");
		return;
	}
	if (method == NULL || strcmp(method, "GET") != 0) {
		respond(r, "405 Method Not Allowed", "GET only");
		return;
	}
	if (strlen(query) > FLOOR_MAX_QUERY) {
		respond(r, "414 URI Too Long", "query too long");
		return;
	}
	if (!has_param(query, "page=") || !has_param(query, "visitor=")) {
		respond(r, "400 Bad Request", "page and visitor required");
		return;
	}
	/* Only this thread adds streams, so the count cannot pass it. */
	pthread_mutex_lock(&f->mtx);
	full = f->count >= FLOOR_MAX_STREAMS;
	pthread_mutex_unlock(&f->mtx);
	if (full) {
		respond(r, "503 Service Unavailable", "too many streams");
		return;
	}
	if ((fl = fcntl(r->ipcFd, F_GETFL)) == -1 ||
	    fcntl(r->ipcFd, F_SETFL, fl | O_NONBLOCK) == -1) {
		respond(r, "500 Internal Server Error", "fcntl");
		return;
	}
	/*
	 * A held stream is only written: its 8 KB reader and the stderr
	 * writer go now (FCGX_Free, which ends it, takes NULL streams).
	 */
	FCGX_FreeStream(&r->in);
	FCGX_FreeStream(&r->err);
	/* Buffered only: the broadcaster sends it with the first count. */
	FCGX_PutStr(sse_headers, sizeof(sse_headers) - 1, r->out);

	pthread_mutex_lock(&f->mtx);
	f->queued[f->nqueued++] = r;
	f->count++;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->mtx);
}

/* ---- floor --tunnel: behind mod_wstunnel --------------------------------- */

/*
 * NOTES
 * - wstunnel.server with "bin-path" hands us a listening socket on fd 0,
 *   as fastcgi.server does, and connects once per WebSocket; it answers
 *   the client's handshake (101) once we have accepted.  On that
 *   connection come the payload bytes of the client's messages; what we
 *   write, lighttpd frames as text messages by its own reads.  No URL,
 *   header or address arrives.
 * - A reader counts from its first bytes, the hello, as in herenow (which
 *   learns the page from it).  The hello is read and ignored: the page
 *   written is "/bench", as over SSE.
 * - One thread and one epoll set with the listening socket and every
 *   connection, for input only: the hello, and the end.  lighttpd reads
 *   its client all the time (it has to unframe it), so a reader who leaves
 *   shows up at once as EOF here; unlike SSE, no write is needed to see it.
 *   Count lines are not polled for: one write(2) per connection, and one
 *   that cannot take the whole line at once is dropped (a partial line
 *   would break the next one).
 * - No heartbeat: lighttpd pings the client (wstunnel.ping-interval), and
 *   a line the client did not ask for would be a message to parse.
 */

enum tunnel_state { TUNNEL_FREE, TUNNEL_HELLO, TUNNEL_FRESH, TUNNEL_HELD };

struct tunnel_conn {
	enum tunnel_state state;
	int		  pos;		/* index in fresh or held */
};

struct tunnel {
	int		    ep;
	int		    lfd;
	int		    nconn;	/* conn[] covers descriptors < nconn */
	struct tunnel_conn *conn;
	int		    nfresh;	/* said hello, no count written yet */
	int		   *fresh;
	int		    nheld;
	int		   *held;
};

/* Closes fd (which takes it out of the epoll set) and forgets it. */
static void
tunnel_drop(struct tunnel *t, int fd)
{
	struct tunnel_conn	*c = &t->conn[fd];
	int			*v, *n;

	if (c->state == TUNNEL_FRESH || c->state == TUNNEL_HELD) {
		v = c->state == TUNNEL_FRESH ? t->fresh : t->held;
		n = c->state == TUNNEL_FRESH ? &t->nfresh : &t->nheld;
		v[c->pos] = v[--*n];
		t->conn[v[c->pos]].pos = c->pos;
	}
	c->state = TUNNEL_FREE;
	close(fd);
}

static void
tunnel_accept(struct tunnel *t)
{
	struct epoll_event	 ev;
	int			 fd;

	for (;;) {
		fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			fprintf(stderr, "floor: accept: %s\n",
			    strerror(errno));
			/* Out of descriptors or memory: the level-triggered
			 * listener wakes us at once again, so a pause keeps
			 * that from spinning, as in SSE mode. */
			usleep(100 * 1000);
			return;
		}
		if (fd >= t->nconn ||
		    t->nfresh + t->nheld >= FLOOR_MAX_STREAMS) {
			close(fd);
			continue;
		}
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			fprintf(stderr, "floor: epoll_ctl: %s\n",
			    strerror(errno));
			close(fd);
			continue;
		}
		t->conn[fd].state = TUNNEL_HELLO;
	}
}

/* The hello, later messages (ignored), or the end. */
static void
tunnel_input(struct tunnel *t, int fd)
{
	char		 buf[FLOOR_INPUT_MAX];
	ssize_t		 n;

	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tunnel_drop(t, fd);
		return;
	}
	if (t->conn[fd].state == TUNNEL_HELLO) {
		t->conn[fd].state = TUNNEL_FRESH;
		t->conn[fd].pos = t->nfresh;
		t->fresh[t->nfresh++] = fd;
	}
}

/* Writes line to every connection of v (fresh or held), dropping those
 * that do not take it whole. */
static void
tunnel_put_all(struct tunnel *t, int *v, int *n, const char *line, int len)
{
	int	 i = 0;

	while (i < *n) {
		if (write(v[i], line, len) == len)
			i++;
		else
			tunnel_drop(t, v[i]);	/* moves the last one to i */
	}
}

/* Milliseconds from now until deadline, rounded up; 0 if past. */
static int
ms_until(int64_t deadline, int64_t now)
{
	if (deadline <= now)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

static int
tunnel_main(void)
{
	struct tunnel		 t;
	struct epoll_event	 ev[FLOOR_EPOLL_EVENTS];
	struct rlimit		 rl;
	char			 line[FLOOR_EVENT_MAX];
	socklen_t		 optlen = sizeof(int);
	int64_t			 now, last_start;
	int			 i, n, nev, len, timeout, fl, listening = 0;
	int			 sent = -1;

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &optlen) == -1 || !listening) {
		fprintf(stderr, "floor: fd 0 is not a listening socket; start "
		    "me from lighttpd's wstunnel.server \"bin-path\"\n");
		return 2;
	}
	memset(&t, 0, sizeof(t));
	t.lfd = 0;
	/* Every descriptor we can have gets a slot; lighttpd sets the limit
	 * (server.max-fds). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur > 1 << 20)
		rl.rlim_cur = 1 << 20;
	t.nconn = (int)rl.rlim_cur;
	if ((fl = fcntl(t.lfd, F_GETFL)) == -1 ||
	    fcntl(t.lfd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (t.ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, "floor: %s\n", strerror(errno));
		return 1;
	}
	if ((t.conn = calloc(t.nconn, sizeof(*t.conn))) == NULL ||
	    (t.fresh = calloc(FLOOR_MAX_STREAMS, sizeof(*t.fresh))) == NULL ||
	    (t.held = calloc(FLOOR_MAX_STREAMS, sizeof(*t.held))) == NULL) {
		fprintf(stderr, "floor: out of memory\n");
		return 1;
	}
	ev[0].events = EPOLLIN;
	ev[0].data.fd = t.lfd;
	if (epoll_ctl(t.ep, EPOLL_CTL_ADD, t.lfd, &ev[0]) == -1) {
		fprintf(stderr, "floor: epoll_ctl: %s\n", strerror(errno));
		return 1;
	}

	/* Coalesced exactly as the SSE broadcaster above. */
	last_start = now_ns() - FLOOR_INTERVAL_NS;
	for (;;) {
		now = now_ns();
		n = t.nfresh + t.nheld;
		if (t.nfresh > 0)
			timeout = 0;
		else if (n != sent)
			timeout = ms_until(last_start + FLOOR_INTERVAL_NS, now);
		else
			timeout = -1;
		nev = epoll_wait(t.ep, ev, FLOOR_EPOLL_EVENTS, timeout);
		if (nev == -1 && errno != EINTR) {
			fprintf(stderr, "floor: epoll_wait: %s\n",
			    strerror(errno));
			return 1;
		}
		for (i = 0; i < nev; i++) {
			if (ev[i].data.fd == t.lfd)
				tunnel_accept(&t);
			else if (t.conn[ev[i].data.fd].state != TUNNEL_FREE)
				tunnel_input(&t, ev[i].data.fd);
		}

		now = now_ns();
		n = t.nfresh + t.nheld;
		if (n != sent && now >= last_start + FLOOR_INTERVAL_NS) {
			len = format_count(line, sizeof(line), n, 0);
			last_start = now;
			sent = n;
			tunnel_put_all(&t, t.fresh, &t.nfresh, line, len);
			tunnel_put_all(&t, t.held, &t.nheld, line, len);
		} else if (t.nfresh > 0) {
			len = format_count(line, sizeof(line), n, 0);
			tunnel_put_all(&t, t.fresh, &t.nfresh, line, len);
		}
		for (i = 0; i < t.nfresh; i++) {
			t.conn[t.fresh[i]].state = TUNNEL_HELD;
			t.conn[t.fresh[i]].pos = t.nheld;
			t.held[t.nheld++] = t.fresh[i];
		}
		t.nfresh = 0;
	}
}

int
main(int argc, char **argv)
{
	struct floor		*f;
	FCGX_Request		*r;
	pthread_condattr_t	 ca;
	pthread_t		 tid;
	int			 rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && strcmp(argv[1], "--tunnel") == 0)
		return tunnel_main();
	if (argc != 1) {
		fprintf(stderr, "usage: floor [--tunnel]\n");
		return 2;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "floor: FCGX_Init failed\n");
		return 1;
	}
	/*
	 * FCGX_Init catches SIGTERM to end FCGX_Accept_r "gracefully", which
	 * never happens while the acceptor is blocked in accept(2): lighttpd's
	 * SIGTERM at shutdown must end us, and held streams need no goodbye.
	 */
	signal(SIGTERM, SIG_DFL);
	if (FCGX_IsCGI()) {
		fprintf(stderr, "floor: fd 0 is not a listening socket; start "
		    "me from lighttpd's fastcgi.server \"bin-path\"\n");
		return 2;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->queued = calloc(FLOOR_MAX_STREAMS, sizeof(*f->queued))) ==
	    NULL ||
	    (f->held = calloc(FLOOR_MAX_STREAMS, sizeof(*f->held))) == NULL ||
	    (f->fresh = calloc(FLOOR_MAX_STREAMS, sizeof(*f->fresh))) == NULL) {
		fprintf(stderr, "floor: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&f->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	if ((rc = pthread_create(&tid, NULL, broadcaster, f)) != 0) {
		fprintf(stderr, "floor: pthread_create: %s\n", strerror(rc));
		return 1;
	}

	for (;;) {
		if ((r = malloc(sizeof(*r))) == NULL) {
			fprintf(stderr, "floor: out of memory\n");
			sleep(1);
			continue;
		}
		FCGX_InitRequest(r, 0, 0);
		if ((rc = FCGX_Accept_r(r)) < 0) {
			free(r);
			/* Out of descriptors or memory passes; the rest not. */
			if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM ||
			    rc == -ENOBUFS) {
				fprintf(stderr, "floor: accept: %s\n",
				    strerror(-rc));
				usleep(100 * 1000);
				continue;
			}
			fprintf(stderr, "floor: accept: %s\n", rc < -9000 ?
			    "libfcgi error" : strerror(-rc));
			return 1;
		}
		route(f, r);
	}
}
