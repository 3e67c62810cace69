/*
 * loadclient: the benchmark's load client (issue 7).  One process, one
 * epoll loop, non-blocking sockets: opens N readers of one page over SSE or
 * WebSocket and measures how long until every reader shows the exact count.
 * A measuring tool, not the product: counts are read with a small bounded
 * scanner, never a JSON library.  Loopback only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum tr { TR_SSE, TR_WST, TR_WS };
static const char *tr_name[] = { "sse", "wst", "ws" };

/* ST_CLOSED: closed by us (churn), not a failure. */
enum st { ST_IDLE, ST_CONNECTING, ST_HEADERS, ST_STREAM, ST_DEAD, ST_CLOSED };

/* HTTP chunked decoding (SSE over HTTP/1.1). */
enum ck { CK_SIZE, CK_EXT, CK_DATA, CK_DATA_CR, CK_DATA_LF };

#define HDR_MAX		2048	/* response headers */
#define LINE_MAX_	256	/* one JSON line; longer lines are skipped */
#define OUT_MAX		512	/* request, hello, pongs */
#define MAX_INFLIGHT	512	/* handshakes under way at once */

struct conn {
	int		 fd;
	uint8_t		 state;
	uint8_t		 chunked, ck;
	uint8_t		 line_over;	/* current line overflowed: skip it */
	uint8_t		 tracked;	/* must show g.target */
	/* WebSocket frame parser */
	uint8_t		 wh[14], whn, wop, wfin;
	uint8_t		 ctl[125], ctln;
	uint64_t	 wrem;		/* payload bytes left in frame */
	uint64_t	 ckrem;		/* bytes left in chunk */
	uint16_t	 hdrn, linen, outn, outoff;
	long		 readers;	/* last count seen, -1 none */
	int64_t		 t_start;	/* connect() called */
	int64_t		 t_open;	/* 200 / 101 received */
	int64_t		 t_n1;		/* first saw readers == N+1 */
	char		 hdr[HDR_MAX];
	char		 line[LINE_MAX_];
	char		 out[OUT_MAX];
};

static struct {
	enum tr		 tr;
	const char	*host, *path, *page, *vprefix, *origin;
	int		 port, n, srcs, fam;
	double		 ramp, deadline_s, quiet_ms;
	bool		 join, verbose, query, nohello;
	double		 churn_rate, churn_s;
	int		 npids;
	int		 pids[8];
	struct sockaddr_storage dst;
	socklen_t	 dstlen;
	int		 ep;
	struct conn	*c;		/* n + 1 readers, then churn */
	int		 cap;		/* of c */
	int		 total;		/* readers to open now */
	int		 started, inflight, dead;
	long		 target;	/* count every reader must show */
	int		 at_target;	/* tracked readers whose count == target */
	int		 ntracked;
	int64_t		 t0;
	int		 errs_shown;
} g;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
die(const char *m)
{
	fprintf(stderr, "loadclient: %s\n", m);
	exit(2);
}

static void
conn_err(struct conn *c, const char *why)
{
	if (g.errs_shown < 10) {
		fprintf(stderr, "loadclient: reader %d: %s%s%s\n",
		    (int)(c - g.c), why, errno ? ": " : "",
		    errno ? strerror(errno) : "");
		if (++g.errs_shown == 10)
			fprintf(stderr, "loadclient: (further errors not "
			    "shown)\n");
	}
}

static void
conn_kill(struct conn *c, const char *why)
{
	if (c->state == ST_DEAD)
		return;
	conn_err(c, why);
	if (c->state == ST_CONNECTING || c->state == ST_HEADERS)
		g.inflight--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = ST_DEAD;
	g.dead++;
}

/* A reader who leaves (churn): closes its socket, as a closed tab does. */
static void
conn_close(struct conn *c)
{
	if (c->state == ST_CONNECTING || c->state == ST_HEADERS)
		g.inflight--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = ST_CLOSED;
	if (c->tracked && c->readers == g.target)
		g.at_target--;
	if (c->tracked)
		g.ntracked--;
	c->tracked = 0;
}

static void
b64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		*out++ = t[v >> 18];
		*out++ = t[v >> 12 & 63];
		*out++ = t[v >> 6 & 63];
		*out++ = t[v & 63];
	}
	if (i < n) {
		uint32_t v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0);
		*out++ = t[v >> 18];
		*out++ = t[v >> 12 & 63];
		*out++ = i + 1 < n ? t[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* Appends a masked client frame to the output buffer. */
static int
ws_queue(struct conn *c, int op, const void *p, size_t n)
{
	uint8_t mask[4], *o;
	size_t i, hl = n < 126 ? 6 : 8;

	if (n > 0xffff || c->outn + hl + n > OUT_MAX)
		return -1;
	if (getrandom(mask, 4, 0) != 4)
		memset(mask, 0x5a, 4);
	o = (uint8_t *)c->out + c->outn;
	*o++ = 0x80 | op;
	if (n < 126)
		*o++ = 0x80 | n;
	else {
		*o++ = 0x80 | 126;
		*o++ = n >> 8;
		*o++ = n & 0xff;
	}
	memcpy(o, mask, 4);
	o += 4;
	for (i = 0; i < n; i++)
		o[i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
	c->outn += hl + n;
	return 0;
}

static void
conn_flush(struct conn *c)
{
	struct epoll_event ev;
	ssize_t w;

	while (c->outoff < c->outn) {
		w = write(c->fd, c->out + c->outoff, c->outn - c->outoff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			conn_kill(c, "write");
			return;
		}
		c->outoff += w;
	}
	if (c->outoff == c->outn)
		c->outoff = c->outn = 0;
	ev.events = EPOLLIN | (c->outn ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A count arrived for reader c. */
static void
got_readers(struct conn *c, long k)
{
	if (c->tracked) {
		if (c->readers == g.target)
			g.at_target--;
		if (k == g.target)
			g.at_target++;
	}
	if (k == g.n + 1 && c->t_n1 == 0)
		c->t_n1 = now_us();
	c->readers = k;
}

/* One complete line: the number after "readers":, if any. */
static void
line_done(struct conn *c)
{
	static const char key[] = "\"readers\":";
	char *p;
	long k = 0;
	int d = 0;

	if (c->line_over) {
		c->line_over = 0;
		c->linen = 0;
		return;
	}
	c->line[c->linen] = '\0';
	p = strstr(c->line, key);
	c->linen = 0;
	if (p == NULL)
		return;
	p += sizeof(key) - 1;
	while (*p == ' ')
		p++;
	while (*p >= '0' && *p <= '9' && d < 9) {
		k = k * 10 + (*p++ - '0');
		d++;
	}
	if (d > 0)
		got_readers(c, k);
}

static void
line_feed(struct conn *c, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			line_done(c);
			continue;
		}
		if (c->linen + 1 >= LINE_MAX_)
			c->line_over = 1;
		else
			c->line[c->linen++] = p[i];
	}
}

/* Body bytes of an SSE response, through the chunked decoder if needed. */
static void
sse_feed(struct conn *c, const char *p, size_t n)
{
	size_t i = 0, k;
	int h;

	if (!c->chunked) {
		line_feed(c, p, n);
		return;
	}
	while (i < n) {
		switch (c->ck) {
		case CK_SIZE:
			h = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' :
			    (p[i] | 32) >= 'a' && (p[i] | 32) <= 'f' ?
			    (p[i] | 32) - 'a' + 10 : -1;
			if (h >= 0) {
				if (c->ckrem > (UINT64_MAX >> 8)) {
					conn_kill(c, "chunk size");
					return;
				}
				c->ckrem = c->ckrem * 16 + h;
			} else if (p[i] == '\n')
				c->ck = c->ckrem ? CK_DATA : CK_DATA_CR;
			else
				c->ck = CK_EXT;
			i++;
			break;
		case CK_EXT:
			if (p[i++] == '\n')
				c->ck = c->ckrem ? CK_DATA : CK_DATA_CR;
			break;
		case CK_DATA:
			k = n - i < c->ckrem ? n - i : c->ckrem;
			line_feed(c, p + i, k);
			i += k;
			if ((c->ckrem -= k) == 0)
				c->ck = CK_DATA_CR;
			break;
		case CK_DATA_CR:
		case CK_DATA_LF:
			/* CRLF after the data, then the next size. */
			if (p[i++] == '\n') {
				c->ck = CK_SIZE;
				c->ckrem = 0;
			}
			break;
		}
	}
}

static void
ws_ctl_done(struct conn *c)
{
	if (c->wop == 9) {
		if (ws_queue(c, 10, c->ctl, c->ctln) < 0)
			conn_kill(c, "pong does not fit");
		else
			conn_flush(c);
	} else if (c->wop == 8)
		conn_kill(c, "server closed the WebSocket");
}

/* Server frames: unmasked; text payload goes to the line scanner. */
static void
ws_feed(struct conn *c, const uint8_t *p, size_t n)
{
	size_t i = 0, k, need;
	uint64_t len;
	int j;

	while (i < n && c->state == ST_STREAM) {
		if (c->wrem == 0 && c->whn < 2) {
			c->wh[c->whn++] = p[i++];
			if (c->whn < 2)
				continue;
		}
		if (c->whn >= 2 && c->whn != 255) {
			len = c->wh[1] & 127;
			need = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0);
			if (c->wh[1] & 0x80) {
				conn_kill(c, "masked server frame");
				return;
			}
			while (c->whn < need && i < n)
				c->wh[c->whn++] = p[i++];
			if (c->whn < need)
				return;
			if (len >= 126) {
				len = 0;
				for (j = 2; j < (int)need; j++)
					len = len << 8 | c->wh[j];
			}
			if ((c->wh[0] & 15) != 0)
				c->wop = c->wh[0] & 15;
			c->wfin = c->wh[0] >> 7;
			c->wrem = len;
			c->ctln = 0;
			c->whn = 255;	/* header done */
			if (c->wop >= 8 && len > 125) {
				conn_kill(c, "control frame too long");
				return;
			}
		}
		k = n - i < c->wrem ? n - i : c->wrem;
		if (c->wop >= 8) {
			memcpy(c->ctl + c->ctln, p + i, k);
			c->ctln += k;
		} else if (c->wop == 1)
			line_feed(c, (const char *)p + i, k);
		i += k;
		c->wrem -= k;
		if (c->wrem == 0) {
			c->whn = 0;
			if (c->wop >= 8)
				ws_ctl_done(c);
			else if (c->wfin && g.tr == TR_WS && c->linen)
				/* herenow frames whole lines itself. */
				line_done(c);
		}
	}
}

static void
open_done(struct conn *c)
{
	char hello[256];
	int n;

	c->state = ST_STREAM;
	c->t_open = now_us();
	g.inflight--;
	if (g.tr == TR_SSE || g.nohello)
		return;
	n = snprintf(hello, sizeof(hello),
	    "{\"type\":\"hello\",\"page\":\"%s\",\"visitor\":\"%s%d\"}",
	    g.page, g.vprefix, (int)(c - g.c));
	if (n < 0 || n >= (int)sizeof(hello) || ws_queue(c, 1, hello, n) < 0) {
		conn_kill(c, "hello does not fit");
		return;
	}
	conn_flush(c);
}

/* Response headers: status and transfer coding; the rest is body. */
static void
hdr_feed(struct conn *c, const char *p, size_t n)
{
	char *e, *h;
	size_t used, k;
	int want = g.tr == TR_SSE ? 200 : 101, code;

	k = HDR_MAX - 1 - c->hdrn;
	if (n < k)
		k = n;
	memcpy(c->hdr + c->hdrn, p, k);
	c->hdrn += k;
	c->hdr[c->hdrn] = '\0';
	if ((e = strstr(c->hdr, "\r\n\r\n")) == NULL) {
		if (c->hdrn >= HDR_MAX - 1)
			conn_kill(c, "response headers too long");
		return;
	}
	*e = '\0';
	used = (e + 4 - c->hdr) - (c->hdrn - k);
	code = strncmp(c->hdr, "HTTP/1.", 7) == 0 ? atoi(c->hdr + 9) : -1;
	if (code != want) {
		errno = 0;
		if (g.errs_shown < 10)
			fprintf(stderr, "loadclient: reader %d: status %d\n",
			    (int)(c - g.c), code);
		conn_kill(c, "unexpected response");
		return;
	}
	for (h = c->hdr; *h; h++)
		*h = *h >= 'A' && *h <= 'Z' ? *h | 32 : *h;
	if (g.tr == TR_SSE)
		c->chunked = strstr(c->hdr, "transfer-encoding: chunked") != 0;
	else if (strstr(c->hdr, "upgrade: websocket") == NULL) {
		errno = 0;
		conn_kill(c, "101 without upgrade: websocket");
		return;
	}
	open_done(c);
	if (c->state != ST_STREAM || used >= n)
		return;
	if (g.tr == TR_SSE)
		sse_feed(c, p + used, n - used);
	else
		ws_feed(c, (const uint8_t *)p + used, n - used);
}

static void
conn_read(struct conn *c)
{
	static char buf[65536];
	ssize_t r;
	int rounds;

	/* Bounded: level-triggered epoll brings us back for the rest. */
	for (rounds = 0; rounds < 4 && c->state != ST_DEAD; rounds++) {
		r = read(c->fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			conn_kill(c, r == 0 ? "server closed" : "read");
			return;
		}
		if (c->state == ST_HEADERS)
			hdr_feed(c, buf, r);
		else if (g.tr == TR_SSE)
			sse_feed(c, buf, r);
		else
			ws_feed(c, (const uint8_t *)buf, r);
		if ((size_t)r < sizeof(buf))
			return;
	}
}

static int
conn_start(struct conn *c)
{
	struct epoll_event ev;
	int i = c - g.c, one = 1, n;
	uint8_t key[16];
	char k64[32];

	c->readers = -1;
	c->tracked = 0;
	c->fd = socket(g.fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket (descriptor limit?)");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (g.fam == AF_INET && g.srcs > 1) {
		struct sockaddr_in s = { .sin_family = AF_INET };

		s.sin_addr.s_addr = htonl(0x7f000001 + i % g.srcs);
		/* Pick the port at connect: one port per 4-tuple. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&s, sizeof(s)) < 0)
			die("bind to source address");
	}
	if (g.tr == TR_SSE)
		n = snprintf(c->out, OUT_MAX, "GET %s?page=%s&visitor=%s%d "
		    "HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
		    "Cache-Control: no-cache\r\n\r\n", g.path, g.page,
		    g.vprefix, i, g.host, g.port);
	else {
		char q[256] = "";

		if (getrandom(key, sizeof(key), 0) != sizeof(key))
			die("getrandom");
		b64(key, sizeof(key), k64);
		if (g.query)
			snprintf(q, sizeof(q), "?page=%s&visitor=%s%d",
			    g.page, g.vprefix, i);
		n = snprintf(c->out, OUT_MAX, "GET %s%s HTTP/1.1\r\n"
		    "Host: %s:%d\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n",
		    g.path, q, g.host, g.port, k64, g.origin);
	}
	if (n < 0 || n >= OUT_MAX)
		die("request too long");
	c->outn = n;
	c->outoff = 0;
	c->t_start = now_us();
	g.inflight++;
	g.started++;
	c->state = ST_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&g.dst, g.dstlen) < 0 &&
	    errno != EINPROGRESS) {
		conn_kill(c, "connect");
		return -1;
	}
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl");
	return 0;
}

static void
conn_event(struct conn *c, uint32_t ev)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state == ST_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
		    err != 0) {
			errno = err;
			conn_kill(c, "connect");
			return;
		}
		c->state = ST_HEADERS;
	}
	if (ev & EPOLLIN)
		conn_read(c);
	if (c->state != ST_DEAD && (ev & EPOLLOUT))
		conn_flush(c);
	if (c->state != ST_DEAD && (ev & (EPOLLERR | EPOLLHUP)) &&
	    !(ev & EPOLLIN))
		conn_kill(c, "hangup");
}

/*
 * Runs the loop until every one of readers 0..n-1 shows g.target, starting
 * readers up to g.total on the way.  Returns 0, or -1 at the deadline.
 */
static int
run_until(int64_t deadline, int64_t not_before)
{
	struct epoll_event evs[256];
	int i, k, allowed;
	int64_t t;

	for (;;) {
		t = now_us();
		if (g.at_target == g.ntracked && g.started == g.total &&
		    t >= not_before)
			return 0;
		/* No retries: a reader that failed can never show the count. */
		if (t >= deadline || g.dead > 0)
			return -1;
		allowed = g.total;
		if (g.ramp > 0) {
			double a = g.ramp * (t - g.t0) / 1e6 + 1;
			allowed = a < g.total ? (int)a : g.total;
		}
		while (g.started < allowed && g.inflight < MAX_INFLIGHT) {
			conn_start(&g.c[g.started]);
			g.c[g.started - 1].tracked = 1;
			g.ntracked++;
		}
		k = epoll_wait(g.ep, evs, 256, 10);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < k; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report_missing(const char *scenario)
{
	int i, none = 0, other = 0, notopen = 0;

	for (i = 0; i < g.started; i++) {
		if (!g.c[i].tracked)
			continue;
		if (g.c[i].state != ST_STREAM)
			notopen++;
		else if (g.c[i].readers < 0)
			none++;
		else if (g.c[i].readers != g.target)
			other++;
	}
	fprintf(stderr, "loadclient: %s %s: %d of %d readers do not "
	    "show readers=%ld (%d not open, of which %d failed; %d open with "
	    "no count; %d with another count)\n", scenario,
	    g.dead ? "failed" : "timed out", g.ntracked - g.at_target,
	    g.ntracked, g.target, notopen, g.dead, none, other);
	for (i = 0; i < g.started && g.verbose; i++)
		if (g.c[i].tracked && g.c[i].readers != g.target)
			fprintf(stderr, "  reader %d: state %d readers %ld\n",
			    i, g.c[i].state, g.c[i].readers);
}

/*
 * A /proc stat file: the name (comm) into name, and CPU time (user +
 * system) in clock ticks, or -1.
 */
static long
stat_ticks(const char *path, char *name, size_t size)
{
	char		 buf[1024], *p, *q;
	unsigned long	 ut = 0, st = 0;
	long		 ticks = -1;
	FILE		*f;

	snprintf(name, size, "?");
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	/* Fields 14 and 15, counted after the ")" of comm. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%lu %lu", &ut, &st) == 2) {
		ticks = (long)(ut + st);
		if ((q = strchr(buf, '(')) != NULL && q < p) {
			*p = '\0';
			/* One word for the result line. */
			for (p = q + 1; *p != '\0'; p++)
				if (*p == ' ' || *p == '=')
					*p = '_';
			snprintf(name, size, "%s", q + 1);
		}
	}
	fclose(f);
	return ticks;
}

/* Each thread of pid: its name and CPU time so far (where it goes). */
static void
thread_sample(const char *phase, int pid, long tck)
{
	char		 path[64], tpath[64 + 256 + 8], name[32];
	struct dirent	*e;
	long		 ticks;
	DIR		*d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(tpath, sizeof(tpath), "%s/%s/stat", path, e->d_name);
		if ((ticks = stat_ticks(tpath, name, sizeof(name))) < 0)
			continue;
		printf("thread phase=%s pid=%d tid=%s name=%s cpu_s=%.2f\n",
		    phase, pid, e->d_name, name, (double)ticks / tck);
	}
	closedir(d);
}

/*
 * -m: what the server's processes use at each phase, read from /proc:
 * resident set and CPU time (user + system) so far, of each process and
 * each of its threads.
 */
static void
proc_sample(const char *phase)
{
	char path[64], buf[1024], name[32];
	long rss_kb, ticks, tck = sysconf(_SC_CLK_TCK);
	FILE *f;
	int i;

	for (i = 0; i < g.npids; i++) {
		rss_kb = -1;
		snprintf(path, sizeof(path), "/proc/%d/status", g.pids[i]);
		if ((f = fopen(path, "r")) != NULL) {
			while (fgets(buf, sizeof(buf), f) != NULL)
				if (strncmp(buf, "VmRSS:", 6) == 0)
					rss_kb = atol(buf + 6);
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%d/stat", g.pids[i]);
		if ((ticks = stat_ticks(path, name, sizeof(name))) < 0)
			ticks = 0;
		printf("proc phase=%s pid=%d rss_kb=%ld cpu_s=%.2f\n", phase,
		    g.pids[i], rss_kb, (double)ticks / tck);
		thread_sample(phase, g.pids[i], tck);
	}
	fflush(stdout);
}

/*
 * churn (-c RATE -C SECONDS): RATE times a second a new reader joins and
 * the oldest one leaves, so the number of readers stays the same; then
 * every reader still there must show that number.
 */
static int
churn(int64_t deadline)
{
	struct epoll_event evs[256];
	int64_t t0, t, next, t_last;
	int i, k, live_from = 0, ops = 0, total_ops, joins = 0, leaves = 0;
	long want;

	total_ops = (int)(g.churn_rate * g.churn_s);
	for (i = 0, want = 0; i < g.started; i++)
		want += g.c[i].state != ST_CLOSED && g.c[i].state != ST_DEAD;
	proc_sample("churn_start");
	t0 = now_us();
	for (;;) {
		t = now_us();
		if (g.dead > 0 || t >= deadline)
			return -1;
		next = t0 + (int64_t)(ops * 1e6 / g.churn_rate);
		while (ops < total_ops && t >= next) {
			if (g.started >= g.cap)
				die("churn: out of reader slots");
			while (live_from < g.started &&
			    g.c[live_from].state != ST_STREAM)
				live_from++;
			conn_start(&g.c[g.started]);
			joins++;
			if (live_from < g.started - 1) {
				conn_close(&g.c[live_from++]);
				leaves++;
			}
			ops++;
			next = t0 + (int64_t)(ops * 1e6 / g.churn_rate);
		}
		if (ops == total_ops)
			break;
		k = epoll_wait(g.ep, evs, 256, (int)((next - t) / 1000) + 1);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < k; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	t_last = now_us();
	proc_sample("churn_end");
	/* Every reader still open must now show the unchanged number. */
	want += joins - leaves;
	g.target = want;
	g.at_target = g.ntracked = 0;
	for (i = 0; i < g.started; i++) {
		g.c[i].tracked = g.c[i].state != ST_CLOSED &&
		    g.c[i].state != ST_DEAD;
		if (g.c[i].tracked) {
			g.ntracked++;
			if (g.c[i].readers == g.target)
				g.at_target++;
		}
	}
	g.total = g.started;
	g.ramp = 0;
	if (g.ntracked != want)
		die("churn: reader bookkeeping is wrong");
	if (run_until(deadline, 0) < 0)
		return -1;
	t = now_us();
	proc_sample("churn_settled");
	printf("churn n=%ld rate=%.0f seconds=%.0f joins=%d leaves=%d "
	    "run_ms=%.1f settle_ms=%.1f\n", want, g.churn_rate, g.churn_s,
	    joins, leaves, (t_last - t0) / 1e3, (t - t_last) / 1e3);
	fflush(stdout);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadclient -p PORT [-h 127.0.0.1] -n N "
	    "-t sse|wst|ws [-P /page] [-S SOURCES]\n"
	    "\t[-r RAMP_PER_S] [-d SECONDS] [-u PATH] [-V VISITOR_PREFIX] "
	    "[-j [-w QUIET_MS]] [-q] [-H]\n"
	    "\t[-c CHURN_PER_S -C SECONDS] [-m PID,...] [-v]\n");
	exit(2);
}

static void
set_dst(void)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&g.dst;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&g.dst;

	memset(&g.dst, 0, sizeof(g.dst));
	if (inet_pton(AF_INET, g.host, &a->sin_addr) == 1) {
		if ((ntohl(a->sin_addr.s_addr) >> 24) != 127)
			die("-h must be a loopback address (127.0.0.0/8, ::1)");
		a->sin_family = g.fam = AF_INET;
		a->sin_port = htons(g.port);
		g.dstlen = sizeof(*a);
	} else if (inet_pton(AF_INET6, g.host, &a6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			die("-h must be a loopback address (127.0.0.0/8, ::1)");
		a6->sin6_family = g.fam = AF_INET6;
		a6->sin6_port = htons(g.port);
		g.dstlen = sizeof(*a6);
		g.srcs = 1;
	} else
		die("-h must be a numeric loopback address");
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	int64_t deadline, *d;
	char obuf[128];
	int o, i, got;

	g.host = "127.0.0.1";
	g.page = "/bench";
	g.vprefix = "v";
	g.srcs = 1;
	g.deadline_s = 60;
	g.quiet_ms = 1000;
	g.tr = -1;
	while ((o = getopt(argc, argv, "p:h:n:t:P:S:r:d:u:V:w:jvqHc:C:m:")) !=
	    -1) {
		switch (o) {
		case 'p': g.port = atoi(optarg); break;
		case 'h': g.host = optarg; break;
		case 'n': g.n = atoi(optarg); break;
		case 'P': g.page = optarg; break;
		case 'S': g.srcs = atoi(optarg); break;
		case 'r': g.ramp = atof(optarg); break;
		case 'd': g.deadline_s = atof(optarg); break;
		case 'u': g.path = optarg; break;
		case 'V': g.vprefix = optarg; break;
		case 'w': g.quiet_ms = atof(optarg); break;
		case 'j': g.join = true; break;
		case 'v': g.verbose = true; break;
		case 'q': g.query = true; break;
		case 'H': g.nohello = true; break;
		case 'c': g.churn_rate = atof(optarg); break;
		case 'C': g.churn_s = atof(optarg); break;
		case 'm': {
			char *e, *q = optarg;

			while (*q && g.npids < 8) {
				g.pids[g.npids++] = (int)strtol(q, &e, 10);
				if (e == q || g.pids[g.npids - 1] <= 0)
					usage();
				q = *e == ',' ? e + 1 : e;
				if (*e && *e != ',')
					usage();
			}
			break;
		}
		case 't':
			for (i = 0; i < 3; i++)
				if (strcmp(optarg, tr_name[i]) == 0)
					g.tr = i;
			if ((int)g.tr < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (g.port <= 0 || g.port > 65535 || g.n <= 0 || g.n > 1000000 ||
	    (int)g.tr < 0 || g.srcs < 1 || g.srcs > 254 ||
	    g.deadline_s <= 0 || g.quiet_ms < 0 || g.churn_rate < 0 ||
	    g.churn_rate > 100000 || g.churn_s < 0 || g.churn_s > 3600 ||
	    (g.churn_rate > 0) != (g.churn_s > 0) || strlen(g.page) > 128 ||
	    strlen(g.vprefix) > 32 || strpbrk(g.page, " \"\\&?#%") != NULL)
		usage();
	if (g.path == NULL)
		g.path = g.tr == TR_SSE ? "/herenow/sse" :
		    g.tr == TR_WST ? "/herenow/wst" : "/herenow/ws";
	if (strlen(g.path) > 128 || strlen(g.host) > 64)
		usage();
	set_dst();
	snprintf(obuf, sizeof(obuf), g.fam == AF_INET6 ?
	    "http://[%s]:%d" : "http://%s:%d", g.host, g.port);
	g.origin = obuf;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)g.n + 64)
			fprintf(stderr, "loadclient: descriptor limit %lu is "
			    "below n + 64\n", (unsigned long)rl.rlim_cur);
	}
	g.cap = g.n + 1 + (int)(g.churn_rate * g.churn_s) + 1;
	if ((g.c = calloc(g.cap, sizeof(*g.c))) == NULL)
		die("out of memory");
	for (i = 0; i < g.cap; i++) {
		g.c[i].fd = -1;
		g.c[i].readers = -1;
	}
	if ((g.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");

	/* (1) connect: all N open and every one shows readers == N. */
	proc_sample("idle");
	g.t0 = now_us();
	deadline = g.t0 + (int64_t)(g.deadline_s * 1e6);
	g.total = g.n;
	g.target = g.n;
	if (run_until(deadline, 0) < 0) {
		report_missing("connect");
		return 1;
	}
	{
		int64_t t = now_us(), last = 0;

		for (i = 0; i < g.n; i++)
			if (g.c[i].t_open > last)
				last = g.c[i].t_open;
		printf("connect n=%d transport=%s all_ms=%.1f "
		    "last_open_ms=%.1f settle_ms=%.1f\n", g.n, tr_name[g.tr],
		    (t - g.t0) / 1e3, (last - g.t0) / 1e3, (t - last) / 1e3);
		fflush(stdout);
		proc_sample("held");
	}

	/* (2) broadcast: one more reader joins; delay until all N see N+1. */
	if (g.join) {
		struct conn *x = &g.c[g.n];

		/*
		 * Keep reading for a quiet while first: herenow coalesces
		 * updates per broadcast_interval, and a join right after an
		 * update waits for the interval's end (DESIGN §4).
		 */
		if (run_until(deadline, now_us() +
		    (int64_t)(g.quiet_ms * 1e3)) < 0) {
			report_missing("connect (quiet wait)");
			return 1;
		}
		g.target = g.n + 1;
		g.at_target = 0;
		for (i = 0; i < g.n; i++)
			g.c[i].t_n1 = 0;
		g.total = g.n + 1;
		g.ramp = 0;
		/* The CPU the servers spend on this one join and its update
		 * to every reader: lighttpd's bounds the broadcast's delay
		 * from below, since one thread of it relays every event. */
		if (g.npids > 0)
			proc_sample("join");
		conn_start(x);
		if (run_until(deadline, 0) < 0) {
			report_missing("broadcast");
			return 1;
		}
		if (g.npids > 0)
			proc_sample("broadcast");
		if ((d = malloc(g.n * sizeof(*d))) == NULL)
			die("out of memory");
		for (i = got = 0; i < g.n; i++)
			d[got++] = g.c[i].t_n1 - x->t_start;
		qsort(d, got, sizeof(*d), cmp_i64);
		printf("broadcast n=%d transport=%s p50_ms=%.1f p99_ms=%.1f "
		    "max_ms=%.1f min_ms=%.1f join_open_ms=%.1f\n", g.n,
		    tr_name[g.tr], d[(got * 50 + 99) / 100 - 1] / 1e3,
		    d[(got * 99 + 99) / 100 - 1] / 1e3, d[got - 1] / 1e3,
		    d[0] / 1e3, x->t_open ? (x->t_open - x->t_start) / 1e3 :
		    -1.0);
		if (g.verbose)
			for (i = 1; i <= 10; i++)
				fprintf(stderr, "  p%d0 %.1f ms\n", i,
				    d[(got * i * 10 + 99) / 100 - 1] / 1e3);
		free(d);
	}

	/* (3) churn: joins and leaves at a steady rate. */
	if (g.churn_rate > 0 && churn(deadline) < 0) {
		report_missing("churn");
		return 1;
	}
	for (i = 0; i < g.started; i++)
		if (g.c[i].fd >= 0)
			close(g.c[i].fd);
	free(g.c);
	close(g.ep);
	return 0;
}
