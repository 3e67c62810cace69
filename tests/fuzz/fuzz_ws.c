/*
 * libFuzzer target for ws.c: the input is a client byte stream fed in
 * chunks through a growing buffer exactly as the event loop does (append,
 * parse while > 0, drop what was consumed, stop on error), and must give
 * what the same bytes parsed at once give.  Its lines are then tried as
 * the handshake's header values, and the input as a close reason.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What one parse call gave, in a form two runs can compare. */
struct fuzz_ev {
	ssize_t		 ret;
	int		 type;
	uint16_t	 code;
	size_t		 len;
	uint32_t	 hash;
};

struct fuzz_run {
	struct fuzz_ev	*ev;
	size_t		 n, cap;
	size_t		 consumed;
};

static uint32_t
fuzz_rng(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static uint32_t
fuzz_hash(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* Checks one call's promises and records it. */
static void
fuzz_check(struct fuzz_run *run, const struct hn_ws_parser *p,
    const unsigned char *buf, size_t have, ssize_t r,
    const struct hn_ws_event *ev)
{
	struct fuzz_ev	*e;
	size_t		 need;

	if (r == 0) {
		/* Never waits for more than one frame can hold. */
		need = (p->max_message > 125 ? p->max_message : 125) + 14;
		if (have >= need)
			abort();
		return;
	}
	if (r > 0) {
		if ((size_t)r > have)
			abort();
		switch (ev->type) {
		case HN_WS_EV_NONE:
			if (ev->len != 0)
				abort();
			break;
		case HN_WS_EV_TEXT:
			if (ev->data == p->frag) {
				if (!p->frag_done || ev->len != p->frag_len ||
				    ev->len > p->max_message)
					abort();
				break;
			}
			/* FALLTHROUGH */
		case HN_WS_EV_PING:
		case HN_WS_EV_PONG:
		case HN_WS_EV_CLOSE:
			if (ev->data < buf || ev->data + ev->len > buf + r)
				abort();
			break;
		default:
			abort();
		}
	} else {
		if (r != HN_EPROTO || ev->data == NULL ||
		    strlen((const char *)ev->data) != ev->len ||
		    (ev->code != HN_WS_CLOSE_PROTOCOL &&
		    ev->code != HN_WS_CLOSE_DATA &&
		    ev->code != HN_WS_CLOSE_UTF8 &&
		    ev->code != HN_WS_CLOSE_TOO_BIG))
			abort();
	}
	if (run->n == run->cap) {
		run->cap = run->cap ? 2 * run->cap : 16;
		run->ev = realloc(run->ev, run->cap * sizeof(*run->ev));
		if (run->ev == NULL)
			abort();
	}
	e = &run->ev[run->n++];
	e->ret = r;
	e->type = ev->type;
	e->code = ev->code;
	e->len = ev->len;
	e->hash = r > 0 ? fuzz_hash(ev->data, ev->len) : 0;
}

/*
 * The event loop's way: the buffer grows by a chunk (realloc'd to its
 * exact size, so ASan sees a read past len), then hn_ws_parse runs while
 * it returns > 0, and what it consumed is dropped.  chunk 0: all at once.
 */
static void
fuzz_feed(struct fuzz_run *run, size_t max_message, const uint8_t *in,
    size_t len, uint32_t seed, bool chunked)
{
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		*buf = NULL, *nb;
	size_t			 off = 0, have = 0, step;
	ssize_t			 r = 0;

	hn_ws_parser_init(&p, max_message);
	while (off < len && r >= 0) {
		step = len - off;
		if (chunked && fuzz_rng(&seed) % 8 != 0)
			step = 1 + fuzz_rng(&seed) % 64;
		if (step > len - off)
			step = len - off;
		if ((nb = realloc(buf, have + step)) == NULL)
			abort();
		buf = nb;
		memcpy(buf + have, in + off, step);
		have += step;
		off += step;
		while ((r = hn_ws_parse(&p, buf, have, &ev)) > 0) {
			fuzz_check(run, &p, buf, have, r, &ev);
			run->consumed += (size_t)r;
			memmove(buf, buf + r, have - (size_t)r);
			have -= (size_t)r;
			if (have > 0) {
				if ((nb = realloc(buf, have)) == NULL)
					abort();
				buf = nb;
			}
		}
		fuzz_check(run, &p, buf, have, r, &ev);
	}
	free(buf);
	hn_ws_parser_free(&p);
	if (p.frag != NULL)
		abort();
}

/* Up to five lines of the input, each a header value; "-" is absent. */
static void
fuzz_handshake(const uint8_t *data, size_t size)
{
	char		*f[5] = { NULL, NULL, NULL, NULL, NULL };
	char		 accept[HN_WS_ACCEPT_LEN + 1];
	const char	*why = NULL, *s, *e, *end = (const char *)data + size;
	size_t		 i;
	int		 rc;

	s = (const char *)data;
	for (i = 0; i < 5 && s <= end; i++) {
		e = memchr(s, '\n', (size_t)(end - s));
		if (e == NULL)
			e = end;
		if (!(e - s == 1 && *s == '-')) {
			if ((f[i] = malloc((size_t)(e - s) + 1)) == NULL)
				abort();
			memcpy(f[i], s, (size_t)(e - s));
			f[i][e - s] = '\0';
		}
		s = e + 1;
	}
	memset(accept, 0, sizeof(accept));
	rc = hn_ws_handshake(f[0], f[1], f[2], f[3], f[4], accept, &why);
	if (rc == 0) {
		if (strcmp(f[0], "GET") != 0 || strlen(accept) !=
		    HN_WS_ACCEPT_LEN || !hn_base64_valid(accept, 20))
			abort();
	} else if ((rc != HN_EINVAL && rc != HN_EPROTO) || why == NULL)
		abort();
	for (i = 0; i < 5; i++)
		free(f[i]);
}

/* The input as a close reason and as a frame's payload. */
static void
fuzz_encode(const uint8_t *data, size_t size)
{
	unsigned char	 out[256], *big;
	char		*reason;
	size_t		 rlen;
	ssize_t		 n;

	if ((reason = malloc(size + 1)) == NULL)
		abort();
	memcpy(reason, data, size);
	reason[size] = '\0';
	rlen = strlen(reason);
	n = hn_ws_encode_close(out, sizeof(out), 1000, reason);
	if (n < 4 || n > 127 || out[0] != 0x88 || out[1] != n - 2 ||
	    memcmp(out + 4, reason, (size_t)n - 4) != 0)
		abort();
	/* Cut only when too long, and never inside a character (of
	 * UTF-8: a run of continuation bytes is cut 3 bytes back). */
	if ((size_t)n - 4 < rlen && (rlen <= 123 || n - 4 < 120 ||
	    (((unsigned char)reason[n - 4] & 0xc0) == 0x80 && n - 4 != 120)))
		abort();
	free(reason);

	if ((big = malloc(hn_ws_frame_len(size))) == NULL)
		abort();
	n = hn_ws_encode(big, hn_ws_frame_len(size), HN_WS_OP_BINARY, data,
	    size);
	if (n < 0 || (size_t)n != hn_ws_frame_len(size) ||
	    memcmp(big + n - size, data, size) != 0)
		abort();
	free(big);
}

/* Two runs agree when they hand out the same frames and the same end;
 * the chunked one has more 0s (frames not whole yet), which are skipped. */
static void
fuzz_same(const struct fuzz_run *a, const struct fuzz_run *b)
{
	size_t	 i = 0, j = 0;

	if (a->consumed != b->consumed)
		abort();
	for (;;) {
		while (i < a->n && a->ev[i].ret == 0)
			i++;
		while (j < b->n && b->ev[j].ret == 0)
			j++;
		if (i == a->n || j == b->n)
			break;
		if (a->ev[i].ret != b->ev[j].ret ||
		    a->ev[i].type != b->ev[j].type ||
		    a->ev[i].code != b->ev[j].code ||
		    a->ev[i].len != b->ev[j].len ||
		    a->ev[i].hash != b->ev[j].hash)
			abort();
		i++;
		j++;
	}
	if (i != a->n || j != b->n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run	 whole = { 0 }, parts = { 0 };
	size_t		 max_message;
	uint32_t	 seed;

	if (size < 2)
		return 0;
	fuzz_handshake(data, size);
	fuzz_encode(data, size);

	/* Byte 0 seeds the chunk sizes, byte 1 picks max_message. */
	seed = 0x9e3779b9u ^ ((uint32_t)data[0] * 0x01010101u);
	max_message = data[1] & 1 ? HN_WS_MESSAGE_MAX : data[1] >> 1;
	data += 2;
	size -= 2;
	fuzz_feed(&whole, max_message, data, size, seed, false);
	fuzz_feed(&parts, max_message, data, size, seed, true);
	fuzz_same(&whole, &parts);
	free(whole.ev);
	free(parts.ev);
	return 0;
}
