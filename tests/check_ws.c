/*
 * Check suite for ws.c and crypto.c: the RFC 6455 examples, the handshake's
 * checks, server frames, and the client frame parser fed at every split
 * point, one byte at a time, with each error it must close on, and garbage.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "check_main.h"

#define FIN		0x80
#define RFC_KEY		"dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/* The mask bit and a key of 0: the payload goes as is. */
#define ZERO_MASK	"\x80\x00\x00\x00\x00"
#define BIG		70000	/* max_message for the length tests */

/* A fixed-seed generator so every run sees the same "random" input. */
static uint32_t
rng_next(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* ---- a client, test side ------------------------------------------------ */

/*
 * Builds one client frame: b0 is the first byte (FIN, RSV, opcode) as is,
 * mask NULL sends it unmasked, lenform 16 or 64 forces that length form
 * (0: the shortest).  Returns its length; out must hold len + 14.
 */
static size_t
cframe(unsigned char *out, unsigned b0, const unsigned char *mask,
    const void *payload, size_t len, int lenform)
{
	const unsigned char	*src = payload;
	uint64_t		 l = len;
	size_t			 h = 0, i;
	int			 k;

	out[h++] = (unsigned char)b0;
	if (lenform == 0 && len <= 125)
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | len);
	else if (lenform != 64 && len <= 0xffff) {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | 126);
		out[h++] = (unsigned char)(len >> 8);
		out[h++] = (unsigned char)len;
	} else {
		out[h++] = (unsigned char)((mask ? 0x80 : 0) | 127);
		for (k = 7; k >= 0; k--)
			out[h++] = (unsigned char)(l >> (8 * k));
	}
	if (mask != NULL) {
		memcpy(out + h, mask, 4);
		h += 4;
	}
	for (i = 0; i < len; i++)
		out[h + i] = src[i] ^ (mask ? mask[i & 3] : 0);
	return h + len;
}

/* The same with a random mask. */
static size_t
cframe_rand(unsigned char *out, unsigned b0, const void *payload,
    size_t len, uint32_t *seed)
{
	unsigned char	 m[4];
	uint32_t	 r = rng_next(seed);

	memcpy(m, &r, 4);
	return cframe(out, b0, m, payload, len, 0);
}

/*
 * Reads a server frame as a client would, checking what the encoder
 * promises: FIN, no RSV, no mask, the shortest length form.  Returns the
 * header's length.
 */
static size_t
sframe_read(const unsigned char *f, size_t n, int *op, size_t *plen)
{
	size_t	 h, l;
	int	 i;

	ck_assert_uint_ge(n, 2);
	ck_assert_uint_eq(f[0] & 0xf0, FIN);
	ck_assert_uint_eq(f[1] & 0x80, 0);
	*op = f[0] & 0x0f;
	l = f[1] & 0x7f;
	h = 2;
	if (l == 126) {
		ck_assert_uint_ge(n, 4);
		l = (size_t)f[2] << 8 | f[3];
		ck_assert_uint_gt(l, 125);
		h = 4;
	} else if (l == 127) {
		ck_assert_uint_ge(n, 10);
		l = 0;
		for (i = 2; i < 10; i++)
			l = l << 8 | f[i];
		ck_assert_uint_gt(l, 0xffff);
		h = 10;
	}
	ck_assert_uint_eq(n, h + l);
	*plen = l;
	return h;
}

/* Appends the UTF-8 form of code point cp. */
static size_t
utf8_put(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Random valid UTF-8 of exactly len bytes. */
static void
utf8_random(unsigned char *out, size_t len, uint32_t *seed)
{
	unsigned char	 ch[4];
	size_t		 off = 0, n;
	uint32_t	 cp, r;

	while (off < len) {
		r = rng_next(seed);
		switch (r % 5) {
		case 0:
			cp = 0x80 + r / 5 % (0x800 - 0x80);
			break;
		case 1:
			cp = 0x800 + r / 5 % (0xd800 - 0x800);
			break;
		case 2:
			cp = 0xe000 + r / 5 % (0x10000 - 0xe000);
			break;
		case 3:
			cp = 0x10000 + r / 5 % (0x110000 - 0x10000);
			break;
		default:
			cp = r / 5 % 0x80;
			break;
		}
		n = utf8_put(ch, cp);
		if (n > len - off)
			n = utf8_put(ch, 'a');
		memcpy(out + off, ch, n);
		off += n;
	}
}

/* ---- a collector: what a caller of hn_ws_parse sees --------------------- */

#define LOG_MAX		512

struct evrec {
	ssize_t		 ret;		/* the frame's length, or the error */
	size_t		 end;		/* stream offset after the frame */
	int		 type;
	uint16_t	 code;
	size_t		 len;
	unsigned char	*data;		/* a copy; the reason on error */
};

struct evlog {
	struct evrec	 r[LOG_MAX];
	size_t		 n;
	size_t		 consumed;
	ssize_t		 err;		/* 0, or the error that stopped it */
	size_t		 calls;
};

static void
log_free(struct evlog *log)
{
	size_t	 i;

	for (i = 0; i < log->n; i++)
		free(log->r[i].data);
	log->n = 0;
}

static void
log_add(struct evlog *log, ssize_t ret, const struct hn_ws_event *ev)
{
	struct evrec	*e;

	ck_assert_uint_lt(log->n, LOG_MAX);
	e = &log->r[log->n++];
	e->ret = ret;
	e->end = log->consumed + (ret > 0 ? (size_t)ret : 0);
	e->type = ev->type;
	e->code = ev->code;
	e->len = ev->len;
	e->data = malloc(ev->len + 1);
	ck_assert_ptr_nonnull(e->data);
	if (ev->len > 0)
		memcpy(e->data, ev->data, ev->len);
	e->data[ev->len] = '\0';
}

/*
 * Feeds src (n bytes) to a fresh parser the way the event loop will: the
 * pending bytes grow chunk by chunk (cut at cuts[], ascending), after each
 * chunk the parser runs while it returns > 0, consumed bytes are dropped,
 * and the first error stops everything.  Every call gets an exact-size
 * heap copy of the pending bytes, so ASan catches a read past len.  With
 * ref (the log of the same bytes fed at once), a 0 must mean that the next
 * frame is not all there yet.
 */
static void
feed(struct evlog *log, size_t maxmsg, const unsigned char *src, size_t n,
    const size_t *cuts, size_t ncuts, const struct evlog *ref)
{
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		*copy;
	size_t			 ci, avail, pend;
	ssize_t			 r;

	memset(log, 0, sizeof(*log));
	hn_ws_parser_init(&p, maxmsg);
	for (ci = 0; ci <= ncuts && log->err == 0; ci++) {
		avail = ci < ncuts ? cuts[ci] : n;
		ck_assert_uint_ge(avail, log->consumed);
		ck_assert_uint_le(avail, n);
		for (;;) {
			pend = avail - log->consumed;
			copy = malloc(pend);
			if (pend > 0) {
				ck_assert_ptr_nonnull(copy);
				memcpy(copy, src + log->consumed, pend);
			}
			r = hn_ws_parse(&p, copy, pend, &ev);
			log->calls++;
			if (r > 0) {
				ck_assert_uint_le((size_t)r, pend);
				switch (ev.type) {
				case HN_WS_EV_TEXT:
					ck_assert(ev.data == p.frag ?
					    p.frag_done :
					    ev.data >= copy &&
					    ev.data + ev.len <= copy + r);
					break;
				case HN_WS_EV_PING:
				case HN_WS_EV_PONG:
				case HN_WS_EV_CLOSE:
					ck_assert(ev.data >= copy &&
					    ev.data + ev.len <= copy + r);
					break;
				default:
					ck_assert_int_eq(ev.type,
					    HN_WS_EV_NONE);
					ck_assert_uint_eq(ev.len, 0);
				}
				log_add(log, r, &ev);
				log->consumed += (size_t)r;
				free(copy);
				continue;
			}
			free(copy);
			if (r == 0) {
				if (ref != NULL && log->n < ref->n &&
				    ref->r[log->n].ret > 0)
					ck_assert_uint_lt(avail,
					    ref->r[log->n].end);
				break;
			}
			ck_assert(r == HN_EPROTO);
			ck_assert_ptr_nonnull(ev.data);
			ck_assert_uint_eq(strlen((const char *)ev.data),
			    ev.len);
			ck_assert_uint_gt(ev.len, 0);
			log_add(log, r, &ev);
			log->err = r;
			break;
		}
	}
	hn_ws_parser_free(&p);
	ck_assert_ptr_null(p.frag);
}

static void
log_same(const struct evlog *a, const struct evlog *b)
{
	size_t	 i;

	ck_assert_uint_eq(a->n, b->n);
	ck_assert_int_eq(a->err, b->err);
	ck_assert_uint_eq(a->consumed, b->consumed);
	for (i = 0; i < a->n; i++) {
		ck_assert_int_eq(a->r[i].ret, b->r[i].ret);
		ck_assert_uint_eq(a->r[i].end, b->r[i].end);
		ck_assert_int_eq(a->r[i].type, b->r[i].type);
		ck_assert_uint_eq(a->r[i].code, b->r[i].code);
		ck_assert_uint_eq(a->r[i].len, b->r[i].len);
		ck_assert_mem_eq(a->r[i].data, b->r[i].data, a->r[i].len);
	}
}

/* Feeds src one byte at a time and checks the result against ref. */
static void
feed_bytewise(size_t maxmsg, const unsigned char *src, size_t n,
    const struct evlog *ref)
{
	struct evlog	 log;
	size_t		*cuts, i;

	cuts = malloc((n + 1) * sizeof(*cuts));
	ck_assert_ptr_nonnull(cuts);
	for (i = 1; i < n; i++)
		cuts[i - 1] = i;
	feed(&log, maxmsg, src, n, cuts, n > 0 ? n - 1 : 0, ref);
	log_same(&log, ref);
	log_free(&log);
	free(cuts);
}

/*
 * src must fail with code: fed at once, one byte at a time, and as every
 * prefix, which must not fail while shorter than at bytes and must fail
 * the same way from then on (a check is made as soon as its bytes are in).
 */
static void
expect_error(size_t maxmsg, const unsigned char *src, size_t n,
    uint16_t code, size_t at)
{
	struct evlog	 ref, log;
	size_t		 k;

	feed(&ref, maxmsg, src, n, NULL, 0, NULL);
	ck_assert_int_eq(ref.err, HN_EPROTO);
	ck_assert_uint_eq(ref.r[ref.n - 1].code, code);
	feed_bytewise(maxmsg, src, n, &ref);
	for (k = 0; k <= n; k++) {
		feed(&log, maxmsg, src, k, NULL, 0, NULL);
		if (k < at)
			ck_assert_int_eq(log.err, 0);
		else {
			ck_assert_int_eq(log.err, HN_EPROTO);
			ck_assert_uint_eq(log.r[log.n - 1].code, code);
			ck_assert_uint_eq(log.consumed, ref.consumed);
		}
		log_free(&log);
	}
	log_free(&ref);
}

/* ---- crypto.c ----------------------------------------------------------- */

START_TEST(test_accept_key)
{
	char	 out[HN_WS_ACCEPT_LEN + 1];

	/* RFC 6455 §1.3 */
	hn_ws_accept_key(RFC_KEY, out);
	ck_assert_str_eq(out, RFC_ACCEPT);
	hn_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out);
	ck_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}
END_TEST

START_TEST(test_base64_valid)
{
	static const struct {
		const char	*s;
		size_t		 n;
		int		 ok;
	} t[] = {
		{ "", 0, 1 },
		{ "QQ==", 1, 1 },
		{ "QUI=", 2, 1 },
		{ "QUJD", 3, 1 },
		{ "QUJD", 2, 0 },
		{ "QUJD", 4, 0 },
		{ RFC_KEY, 16, 1 },
		{ RFC_KEY, 15, 0 },
		{ RFC_KEY, 17, 0 },
		{ "+/v7+/v7+/v7+/v7+/v7+w==", 16, 1 },
		{ "-_v7-_v7-_v7-_v7-_v7-w==", 16, 0 },	/* base64url */
		{ "dGhlIHNhbXBsZSBub25jZR==", 16, 0 },	/* pad bits set */
		{ "dGhlIHNhbXBsZSBub25jZQ=", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25jZQ===", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25jZQ=A", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25jZQ=\t", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25jZ Q=", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25jZ===", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25j====", 16, 0 },
		{ "dGhlIHNhbX sZSBub25jZQ==", 16, 0 },
		{ "dGhlIHNhbX\nsZSBub25jZQ==", 16, 0 },
		{ "dGhlIHNhbXBsZSBub25jZ!==", 16, 0 },
		{ "dGhl==NhbXBsZSBub25jZQ==", 16, 0 },
		{ "AAAAAAAAAAAAAAAAAAAA", 15, 1 },
		{ "AAAAAAAAAAAAAAAAAAAA", 16, 0 },
		{ "AAAAAAAAAAAAAAAAAAAA====", 16, 0 },
		{ "AAAAAAAAAAAAAAAAAAAAAAA=", 17, 1 },
		{ "AAAAAAAAAAAAAAAAAAAAAAA=", 16, 0 },
		{ "AAAAAAAAAAAAAAAAAAAAAAAA", 16, 0 },
		{ "========================", 16, 0 },
		{ "QQ==", 2, 0 },
		{ "QQ", 1, 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(hn_base64_valid(t[i].s, t[i].n) == t[i].ok,
		    "row %zu: \"%s\" as %zu bytes", i, t[i].s, t[i].n);
	ck_assert_int_eq(hn_base64_valid(NULL, 16), 0);
	ck_assert_int_eq(hn_base64_valid(RFC_KEY, SIZE_MAX), 0);
}
END_TEST

/* ---- the handshake ------------------------------------------------------ */

START_TEST(test_handshake)
{
	static const struct {
		const char	*method, *upgrade, *connection, *version,
				*key;
		int		 rc;
	} t[] = {
		{ "GET", "websocket", "Upgrade", "13", RFC_KEY, 0 },
		{ "GET", "WebSocket", "upgrade", "13", RFC_KEY, 0 },
		{ "GET", "WEBSOCKET", "UPGRADE", "13", RFC_KEY, 0 },
		{ "GET", "websocket", "keep-alive, Upgrade", "13", RFC_KEY,
		    0 },
		{ "GET", "websocket", "Upgrade,keep-alive", "13", RFC_KEY, 0 },
		{ "GET", "websocket", " \tUpgrade\t ", "13", RFC_KEY, 0 },
		{ "GET", "websocket", "keep-alive,,Upgrade,", "13", RFC_KEY,
		    0 },
		{ "GET", "h2c, websocket", "Upgrade", "13", RFC_KEY, 0 },
		{ "GET", "websocket", "Upgrade", " 13 ", RFC_KEY, 0 },
		{ "GET", "websocket", "Upgrade", "13", " " RFC_KEY " ", 0 },
		{ "GET", "websocket", "Upgrade", "13", "\t" RFC_KEY, 0 },

		{ NULL, "websocket", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "POST", "websocket", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "get", "websocket", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET ", "websocket", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", NULL, "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocketx", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "xwebsocket", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "web socket", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocket/13", "Upgrade", "13", RFC_KEY,
		    HN_EINVAL },
		{ "GET", "h2c", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", NULL, "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", "", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", "upgradex", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websockex", "Upgrade", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", "Upgradz, close", "13", RFC_KEY,
		    HN_EINVAL },
		{ "GET", "websocket", "keep-alive", "13", RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", "keep-alive upgrade", "13", RFC_KEY,
		    HN_EINVAL },
		{ "GET", "websocket", "upgrade-insecure-requests", "13",
		    RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", "Upgrade", NULL, RFC_KEY, HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "8", RFC_KEY, HN_EPROTO },
		{ "GET", "websocket", "Upgrade", "12", RFC_KEY, HN_EPROTO },
		{ "GET", "websocket", "Upgrade", "130", RFC_KEY, HN_EPROTO },
		{ "GET", "websocket", "Upgrade", "13, 8", RFC_KEY, HN_EPROTO },
		{ "GET", "websocket", "Upgrade", "", RFC_KEY, HN_EPROTO },
		{ "GET", "websocket", "Upgrade", "8", "bad", HN_EPROTO },
		{ "GET", "websocket", "Upgrade", "13", NULL, HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13", "", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "dGhlIHNhbXBsZSBub25jZQ=", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "dGhlIHNhbXBsZSBub25jZQ==A", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "dGhlIHNhbXBsZSBub25jZ!==", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "dGhlIHNhbX sZSBub25jZQ==", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "dGhlIHNhbXBsZSBub25jZR==", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "-_v7-_v7-_v7-_v7-_v7-w==", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "AAAAAAAAAAAAAAAAAAAA", HN_EINVAL },		/* 15 */
		{ "GET", "websocket", "Upgrade", "13",
		    "AAAAAAAAAAAAAAAAAAAA====", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    "AAAAAAAAAAAAAAAAAAAAAAA=", HN_EINVAL },		/* 17 */
		{ "GET", "websocket", "Upgrade", "13",
		    RFC_KEY ",", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    RFC_KEY "\r", HN_EINVAL },
		{ "GET", "websocket", "Upgrade", "13",
		    RFC_KEY ", " RFC_KEY, HN_EINVAL },
	};
	char		 accept[HN_WS_ACCEPT_LEN + 1];
	const char	*why;
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why = NULL;
		memset(accept, 'x', sizeof(accept));
		rc = hn_ws_handshake(t[i].method, t[i].upgrade,
		    t[i].connection, t[i].version, t[i].key, accept, &why);
		ck_assert_msg(rc == t[i].rc, "row %zu: %d, want %d (%s)", i,
		    rc, t[i].rc, why ? why : "");
		if (rc == 0)
			ck_assert_str_eq(accept, RFC_ACCEPT);
		else
			ck_assert_ptr_nonnull(why);
	}
}
END_TEST

/* ---- server frames ------------------------------------------------------ */

START_TEST(test_encode_rfc)
{
	static const unsigned char hello[] = {
		0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const unsigned char ping[] = {
		0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	unsigned char	 out[80000], pl[65536];
	ssize_t		 n;

	/* RFC 6455 §5.7: an unmasked text "Hello", an unmasked ping. */
	n = hn_ws_encode(out, sizeof(out), HN_WS_OP_TEXT, "Hello", 5);
	ck_assert_int_eq(n, sizeof(hello));
	ck_assert_mem_eq(out, hello, sizeof(hello));
	n = hn_ws_encode(out, sizeof(out), HN_WS_OP_PING, "Hello", 5);
	ck_assert_int_eq(n, sizeof(ping));
	ck_assert_mem_eq(out, ping, sizeof(ping));

	/* 256 bytes of binary in one frame: 0x82 0x7E 0x0100. */
	memset(pl, 0xa5, sizeof(pl));
	n = hn_ws_encode(out, sizeof(out), HN_WS_OP_BINARY, pl, 256);
	ck_assert_int_eq(n, 4 + 256);
	ck_assert_mem_eq(out, "\x82\x7e\x01\x00", 4);
	ck_assert_mem_eq(out + 4, pl, 256);
	/* 64 KiB: 0x82 0x7F 0x0000000000010000. */
	n = hn_ws_encode(out, sizeof(out), HN_WS_OP_BINARY, pl, 65536);
	ck_assert_int_eq(n, 10 + 65536);
	ck_assert_mem_eq(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00",
	    10);
	ck_assert_mem_eq(out + 10, pl, 65536);
}
END_TEST

START_TEST(test_encode_lengths)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 255, 256,
	    65535, 65536, 65537, 70000 };
	static const int ops[] = { HN_WS_OP_TEXT, HN_WS_OP_BINARY,
	    HN_WS_OP_PING, HN_WS_OP_PONG, HN_WS_OP_CLOSE };
	unsigned char	*out, *pl;
	size_t		 i, j, h, need, plen;
	ssize_t		 n;
	int		 op;

	out = malloc(BIG + 16);
	pl = malloc(BIG);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(pl);
	for (i = 0; i < BIG; i++)
		pl[i] = (unsigned char)('a' + i % 26);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		need = hn_ws_frame_len(lens[i]);
		ck_assert_uint_eq(need, lens[i] +
		    (lens[i] <= 125 ? 2 : lens[i] <= 65535 ? 4 : 10));
		for (j = 0; j < sizeof(ops) / sizeof(ops[0]); j++) {
			n = hn_ws_encode(out, need, ops[j], pl, lens[i]);
			if (ops[j] >= HN_WS_OP_CLOSE && lens[i] > 125) {
				ck_assert_int_eq(n, HN_EINVAL);
				continue;
			}
			ck_assert_int_eq(n, need);
			h = sframe_read(out, (size_t)n, &op, &plen);
			ck_assert_int_eq(op, ops[j]);
			ck_assert_uint_eq(plen, lens[i]);
			ck_assert_mem_eq(out + h, pl, plen);
			ck_assert_int_eq(hn_ws_encode(out, need - 1, ops[j],
			    pl, lens[i]), HN_ETOOBIG);
		}
	}
	/* Nothing but whole frames of known opcodes. */
	ck_assert_int_eq(hn_ws_encode(out, 100, HN_WS_OP_CONT, "a", 1),
	    HN_EINVAL);
	for (op = 3; op < 16; op++)
		if (op < 8 || op > 10)
			ck_assert_int_eq(hn_ws_encode(out, 100, op, "a", 1),
			    HN_EINVAL);
	ck_assert_int_eq(hn_ws_encode(out, 100, -1, "a", 1), HN_EINVAL);
	ck_assert_int_eq(hn_ws_encode(out, 100, HN_WS_OP_TEXT, NULL, 1),
	    HN_EINVAL);
	ck_assert_int_eq(hn_ws_encode(out, 2, HN_WS_OP_TEXT, NULL, 0), 2);
	ck_assert_int_eq(hn_ws_encode(out, 1, HN_WS_OP_TEXT, NULL, 0),
	    HN_ETOOBIG);
	ck_assert_int_eq(hn_ws_encode(NULL, 0, HN_WS_OP_TEXT, "", 0),
	    HN_ETOOBIG);
	ck_assert_uint_eq(hn_ws_frame_len(SIZE_MAX - 3), SIZE_MAX);
	ck_assert_int_eq(hn_ws_encode(out, SIZE_MAX, HN_WS_OP_TEXT, pl,
	    SIZE_MAX - 3), HN_ETOOBIG);

	/* In place: the payload already sits where the frame goes. */
	memcpy(out + 4, pl, 300);
	ck_assert_int_eq(hn_ws_encode(out, 304, HN_WS_OP_TEXT, out + 4, 300),
	    304);
	ck_assert_mem_eq(out + 4, pl, 300);
	memcpy(out, pl, 300);
	ck_assert_int_eq(hn_ws_encode(out, 304, HN_WS_OP_TEXT, out, 300),
	    304);
	ck_assert_mem_eq(out + 4, pl, 300);
	free(out);
	free(pl);
}
END_TEST

START_TEST(test_encode_close)
{
	static const uint16_t good[] = { 1000, 1001, 1002, 1003, 1007, 1008,
	    1009, 1010, 1011, 3000, 4000, 4999 };
	static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1012,
	    1015, 2999, 5000, 65535 };
	unsigned char	 out[200];
	char		 reason[300];
	size_t		 i, plen;
	ssize_t		 n;
	int		 op;

	n = hn_ws_encode_close(out, sizeof(out), 1000, NULL);
	ck_assert_int_eq(n, 4);
	ck_assert_mem_eq(out, "\x88\x02\x03\xe8", 4);
	n = hn_ws_encode_close(out, sizeof(out), 1009, "too big");
	ck_assert_int_eq(n, 11);
	ck_assert_mem_eq(out, "\x88\x09\x03\xf1too big", 11);
	ck_assert_int_eq(hn_ws_encode_close(out, 10, 1009, "too big"),
	    HN_ETOOBIG);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = hn_ws_encode_close(out, sizeof(out), good[i], "");
		ck_assert_int_eq(n, 4);
		ck_assert_uint_eq((unsigned)out[2] << 8 | out[3], good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), bad[i],
		    "x"), HN_EINVAL);

	/* 123 bytes fit, 124 are cut to 123. */
	memset(reason, 'r', sizeof(reason));
	reason[123] = '\0';
	ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), 1000, reason),
	    127);
	reason[123] = 'r';
	reason[200] = '\0';
	n = hn_ws_encode_close(out, sizeof(out), 1000, reason);
	ck_assert_int_eq(n, 127);
	sframe_read(out, (size_t)n, &op, &plen);
	ck_assert_uint_eq(plen, 125);

	/* A character across the cut is left out whole: é at 122-123,
	 * € at 121-123, U+1F600 at 120-123, and one that ends at 122. */
	memset(reason, 'r', sizeof(reason));
	memcpy(reason + 122, "\xc3\xa9", 2);
	reason[150] = '\0';
	ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), 1000, reason),
	    2 + 2 + 122);
	memset(reason, 'r', sizeof(reason));
	memcpy(reason + 121, "\xe2\x82\xac", 3);
	reason[150] = '\0';
	ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), 1000, reason),
	    2 + 2 + 121);
	memset(reason, 'r', sizeof(reason));
	memcpy(reason + 120, "\xf0\x9f\x98\x80", 4);
	reason[150] = '\0';
	ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), 1000, reason),
	    2 + 2 + 120);
	memset(reason, 'r', sizeof(reason));
	memcpy(reason + 119, "\xf0\x9f\x98\x80", 4);
	reason[150] = '\0';
	ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), 1000, reason),
	    2 + 2 + 123);
	ck_assert_mem_eq(out + 4 + 119, "\xf0\x9f\x98\x80", 4);
	/* Every cut of a string of 2-byte characters stays whole. */
	for (i = 0; i + 1 < 250; i += 2)
		memcpy(reason + i, "\xc3\xa9", 2);
	reason[250] = '\0';
	ck_assert_int_eq(hn_ws_encode_close(out, sizeof(out), 1000, reason),
	    2 + 2 + 122);
}
END_TEST

/* ---- the parser: RFC examples ------------------------------------------- */

START_TEST(test_parse_rfc)
{
	/* RFC 6455 §5.7 */
	static const unsigned char masked_hello[] = { 0x81, 0x85, 0x37, 0xfa,
	    0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const unsigned char unmasked_hello[] = { 0x81, 0x05, 0x48,
	    0x65, 0x6c, 0x6c, 0x6f };
	static const unsigned char frag_unmasked[] = { 0x01, 0x03, 0x48, 0x65,
	    0x6c, 0x80, 0x02, 0x6c, 0x6f };
	static const unsigned char unmasked_ping[] = { 0x89, 0x05, 0x48, 0x65,
	    0x6c, 0x6c, 0x6f };
	static const unsigned char masked_pong[] = { 0x8a, 0x85, 0x37, 0xfa,
	    0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const unsigned char m[4] = { 0x37, 0xfa, 0x21, 0x3d };
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		 buf[64];
	size_t			 n, n2;

	hn_ws_parser_init(&p, HN_WS_MESSAGE_MAX);
	memcpy(buf, masked_hello, sizeof(masked_hello));
	ck_assert_int_eq(hn_ws_parse(&p, buf, sizeof(masked_hello), &ev),
	    sizeof(masked_hello));
	ck_assert_int_eq(ev.type, HN_WS_EV_TEXT);
	ck_assert_uint_eq(ev.len, 5);
	ck_assert_ptr_eq(ev.data, buf + 6);	/* unmasked in place */
	ck_assert_mem_eq(ev.data, "Hello", 5);

	memcpy(buf, masked_pong, sizeof(masked_pong));
	ck_assert_int_eq(hn_ws_parse(&p, buf, sizeof(masked_pong), &ev),
	    sizeof(masked_pong));
	ck_assert_int_eq(ev.type, HN_WS_EV_PONG);
	ck_assert_mem_eq(ev.data, "Hello", 5);

	/* A client's ping is the RFC's ping, masked. */
	n = cframe(buf, FIN | HN_WS_OP_PING, m, "Hello", 5, 0);
	ck_assert_int_eq(hn_ws_parse(&p, buf, n, &ev), 11);
	ck_assert_int_eq(ev.type, HN_WS_EV_PING);
	ck_assert_uint_eq(ev.len, 5);
	ck_assert_mem_eq(ev.data, "Hello", 5);

	/* The fragmented "Hel" + "lo", masked: nothing, then the message. */
	n = cframe(buf, HN_WS_OP_TEXT, m, "Hel", 3, 0);
	n2 = cframe(buf + n, FIN | HN_WS_OP_CONT, m, "lo", 2, 0);
	ck_assert_int_eq(hn_ws_parse(&p, buf, n + n2, &ev), n);
	ck_assert_int_eq(ev.type, HN_WS_EV_NONE);
	ck_assert_ptr_nonnull(p.frag);
	ck_assert_int_eq(hn_ws_parse(&p, buf + n, n2, &ev), n2);
	ck_assert_int_eq(ev.type, HN_WS_EV_TEXT);
	ck_assert_ptr_eq(ev.data, p.frag);
	ck_assert_uint_eq(ev.len, 5);
	ck_assert_mem_eq(ev.data, "Hello", 5);
	hn_ws_parser_free(&p);

	/* The RFC's unmasked examples come from a server: a client that
	 * sends them breaks the protocol. */
	expect_error(HN_WS_MESSAGE_MAX, unmasked_hello,
	    sizeof(unmasked_hello), HN_WS_CLOSE_PROTOCOL, 2);
	expect_error(HN_WS_MESSAGE_MAX, frag_unmasked, sizeof(frag_unmasked),
	    HN_WS_CLOSE_PROTOCOL, 2);
	expect_error(HN_WS_MESSAGE_MAX, unmasked_ping, sizeof(unmasked_ping),
	    HN_WS_CLOSE_PROTOCOL, 2);
}
END_TEST

/* ---- the parser: splits ------------------------------------------------- */

/*
 * A fragmented text with a ping between its fragments and a character
 * split across two of them, then a pong, a 16-bit-length text, a close.
 */
static size_t
build_stream(unsigned char *out, uint32_t *seed)
{
	unsigned char	 big[200];
	size_t		 n = 0;

	n += cframe_rand(out + n, HN_WS_OP_TEXT, "Hel", 3, seed);
	n += cframe_rand(out + n, FIN | HN_WS_OP_PING, "ping!", 5, seed);
	n += cframe_rand(out + n, HN_WS_OP_CONT, "lo w\xf0\x9f", 6, seed);
	n += cframe_rand(out + n, HN_WS_OP_CONT, "", 0, seed);
	n += cframe_rand(out + n, FIN | HN_WS_OP_CONT, "\x98\x80rld", 5,
	    seed);
	n += cframe_rand(out + n, FIN | HN_WS_OP_PONG, "", 0, seed);
	memset(big, 'b', sizeof(big));
	memcpy(big + 100, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);
	n += cframe_rand(out + n, FIN | HN_WS_OP_TEXT, big, sizeof(big),
	    seed);
	n += cframe_rand(out + n, FIN | HN_WS_OP_CLOSE, "\x03\xe8" "bye", 5,
	    seed);
	return n;
}

START_TEST(test_parse_splits)
{
	static const struct {
		int		 type;
		const char	*data;
		size_t		 len;
		uint16_t	 code;
	} want[] = {
		{ HN_WS_EV_NONE, "", 0, 0 },
		{ HN_WS_EV_PING, "ping!", 5, 0 },
		{ HN_WS_EV_NONE, "", 0, 0 },
		{ HN_WS_EV_NONE, "", 0, 0 },
		{ HN_WS_EV_TEXT, "Hello w\xf0\x9f\x98\x80rld", 14, 0 },
		{ HN_WS_EV_PONG, "", 0, 0 },
		{ HN_WS_EV_TEXT, NULL, 200, 0 },
		{ HN_WS_EV_CLOSE, "bye", 3, 1000 },
	};
	struct evlog	 ref, log;
	unsigned char	 src[512];
	size_t		 n, i, j, cuts[2];
	uint32_t	 seed = 0x12345678;

	n = build_stream(src, &seed);
	feed(&ref, HN_WS_MESSAGE_MAX, src, n, NULL, 0, NULL);
	ck_assert_int_eq(ref.err, 0);
	ck_assert_uint_eq(ref.consumed, n);
	ck_assert_uint_eq(ref.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < ref.n; i++) {
		ck_assert_int_eq(ref.r[i].type, want[i].type);
		ck_assert_uint_eq(ref.r[i].len, want[i].len);
		ck_assert_uint_eq(ref.r[i].code, want[i].code);
		if (want[i].data != NULL)
			ck_assert_mem_eq(ref.r[i].data, want[i].data,
			    want[i].len);
	}
	ck_assert_mem_eq(ref.r[6].data + 100,
	    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);

	/* One byte at a time: 0 until each frame is whole. */
	feed_bytewise(HN_WS_MESSAGE_MAX, src, n, &ref);
	ck_assert_uint_le(ref.calls, 2 * ref.n + 1);

	/* Every split point, and every pair of them up to 16 apart (two
	 * cuts inside one header). */
	for (i = 0; i <= n; i++) {
		cuts[0] = i;
		feed(&log, HN_WS_MESSAGE_MAX, src, n, cuts, 1, &ref);
		log_same(&log, &ref);
		log_free(&log);
		for (j = i; j <= n && j <= i + 16; j++) {
			cuts[1] = j;
			feed(&log, HN_WS_MESSAGE_MAX, src, n, cuts, 2, &ref);
			log_same(&log, &ref);
			log_free(&log);
		}
	}
	log_free(&ref);
}
END_TEST

/* ---- the parser: lengths ------------------------------------------------ */

START_TEST(test_parse_lengths)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 255, 256, 1000,
	    65535, 65536, 65537, BIG };
	static const int forms[] = { 0, 16, 64 };
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		*pl, *f, *copy;
	size_t			 i, j, k, n, h;
	uint32_t		 seed = 7;
	unsigned char		 m[4] = { 1, 2, 3, 4 };

	pl = malloc(BIG);
	f = malloc(BIG + 14);
	ck_assert_ptr_nonnull(pl);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		utf8_random(pl, lens[i], &seed);
		for (j = 0; j < sizeof(forms) / sizeof(forms[0]); j++) {
			if (forms[j] == 16 && lens[i] > 0xffff)
				continue;
			n = cframe(f, FIN | HN_WS_OP_TEXT, m, pl, lens[i],
			    forms[j]);
			h = n - lens[i];
			ck_assert_uint_eq(h, forms[j] == 64 ? 14 :
			    forms[j] == 16 || lens[i] > 125 ?
			    (lens[i] > 0xffff ? 14 : 8) : 6);
			/* The header's prefixes and the last byte short. */
			for (k = 0; k <= n; k++) {
				if (k > h + 2 && k + 1 < n)
					continue;
				hn_ws_parser_init(&p, BIG);
				copy = malloc(k);
				if (k > 0)
					memcpy(copy, f, k);
				ck_assert_int_eq(hn_ws_parse(&p, copy, k, &ev),
				    k < n ? 0 : (ssize_t)n);
				if (k == n) {
					ck_assert_int_eq(ev.type,
					    HN_WS_EV_TEXT);
					ck_assert_uint_eq(ev.len, lens[i]);
					ck_assert_ptr_eq(ev.data, copy + h);
					ck_assert_mem_eq(ev.data, pl, lens[i]);
				}
				free(copy);
				hn_ws_parser_free(&p);
			}
			/* One byte over max_message: refused at its
			 * header. */
			if (lens[i] > 0) {
				hn_ws_parser_init(&p, lens[i] - 1);
				ck_assert_int_eq(hn_ws_parse(&p, f, h, &ev),
				    HN_EPROTO);
				ck_assert_uint_eq(ev.code,
				    HN_WS_CLOSE_TOO_BIG);
				hn_ws_parser_free(&p);
			}
		}
	}
	free(pl);
	free(f);
}
END_TEST

/* ---- the parser: errors ------------------------------------------------- */

#define ERR(bytes, code, at) \
	{ #bytes, (const unsigned char *)bytes, sizeof(bytes) - 1, code, at }

START_TEST(test_parse_errors)
{
	static const struct {
		const char		*name;
		const unsigned char	*in;
		size_t			 len;
		uint16_t		 code;
		size_t			 at;
	} t[] = {
		ERR("\xc1" ZERO_MASK "a", 1002, 1),		/* RSV1 */
		ERR("\xa1" ZERO_MASK "a", 1002, 1),		/* RSV2 */
		ERR("\x91" ZERO_MASK "a", 1002, 1),		/* RSV3 */
		ERR("\x89\x80\x00\x00\x00\x00\xc9\x80", 1002, 7),
		ERR("\x81\x05Hello", 1002, 2),			/* unmasked */
		ERR("\x81\x00", 1002, 2),
		ERR("\x8a\x00", 1002, 2),
		ERR("\x88\x00", 1002, 2),
		ERR("\x09" ZERO_MASK, 1002, 1),		/* fragmented ping */
		ERR("\x0a" ZERO_MASK, 1002, 1),
		ERR("\x08" ZERO_MASK, 1002, 1),
		ERR("\x89\xfe\x00\x7e", 1002, 2),	/* ping of 126 */
		ERR("\x8a\xff\x00\x00\x00\x00\x00\x00\x00\x7e", 1002, 2),
		ERR("\x88\xfe\x00\x7e", 1002, 2),
		ERR("\x80" ZERO_MASK, 1002, 1),		/* lone continuation */
		ERR("\x00" ZERO_MASK, 1002, 1),
		ERR("\x01\x81\x00\x00\x00\x00" "a" "\x81\x81", 1002, 8),
		ERR("\x01\x81\x00\x00\x00\x00" "a" "\x01\x81", 1002, 8),
		ERR("\x01\x81\x00\x00\x00\x00" "a" "\x82\x81", 1002, 8),
		ERR("\x01\x80\x00\x00\x00\x00" "\x89\x80\x00\x00\x00\x00"
		    "\x02\x81", 1002, 13),
		ERR("\x81\xff\x80\x00\x00\x00\x00\x00\x00\x01", 1002, 10),
		ERR("\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff", 1002, 10),
		ERR("\x81\xfe\x10\x01", 1009, 4),		/* 4097 */
		ERR("\x81\xff\x00\x00\x00\x00\x00\x00\x10\x01", 1009, 10),
		ERR("\x01\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 1009, 10),
		ERR("\x82" ZERO_MASK "a", 1003, 1),		/* binary */
		ERR("\x02" ZERO_MASK "a", 1003, 1),
		ERR("\x81\x81\x00\x00\x00\x00\xff", 1007, 7),
		ERR("\x81\x82\x00\x00\x00\x00\xc3\x28", 1007, 8),
		ERR("\x81\x81\x00\x00\x00\x00\xc3", 1007, 7),
		ERR("\x81\x82\x00\x00\x00\x00\xc0\x80", 1007, 8),
		ERR("\x81\x83\x00\x00\x00\x00\xed\xa0\x80", 1007, 9),
		ERR("\x81\x84\x00\x00\x00\x00\xf4\x90\x80\x80", 1007, 10),
		ERR("\x81\x82\x37\xfa\x21\x3d\xc8\x9f", 1007, 8), /* ff 65 */
		ERR("\x88\x81\x00\x00\x00\x00\x03", 1002, 7),	/* close 1 */
		ERR("\x88\x82\x00\x00\x00\x00\x03\xec", 1002, 8), /* 1004 */
		ERR("\x88\x82\x00\x00\x00\x00\x03\xed", 1002, 8), /* 1005 */
		ERR("\x88\x82\x00\x00\x00\x00\x03\xee", 1002, 8), /* 1006 */
		ERR("\x88\x82\x00\x00\x00\x00\x03\xf7", 1002, 8), /* 1015 */
		ERR("\x88\x83\x00\x00\x00\x00\x03\xe8\xff", 1007, 9),
		ERR("\x88\x84\x00\x00\x00\x00\x03\xe8\xe2\x82", 1007, 10),
		ERR("\x88\x80\x00\x00\x00\x00\x89\x80", 1002, 7),
		ERR("\x88\x82\x00\x00\x00\x00\x03\xe8\x88\x80", 1002, 9),
		ERR("\x88\x80\x00\x00\x00\x00\x81\x81\x00\x00\x00\x00" "a",
		    1002, 7),
	};
	static const uint16_t bad_codes[] = { 0, 1, 999, 1004, 1005, 1006,
	    1012, 1013, 1014, 1015, 1016, 2000, 2999, 5000, 65535 };
	struct evlog	 log;
	unsigned char	 in[5000], pl[4096];
	size_t		 i, n;
	uint16_t	 c;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect_error(HN_WS_MESSAGE_MAX, t[i].in, t[i].len, t[i].code,
		    t[i].at);

	/* Every unknown opcode, with or without FIN. */
	for (c = 0; c < 32; c++) {
		if ((c & 0xf) <= 2 || ((c & 0xf) >= 8 && (c & 0xf) <= 0xa))
			continue;
		in[0] = (unsigned char)((c & 0x10 ? FIN : 0) | (c & 0xf));
		memcpy(in + 1, ZERO_MASK, 5);
		expect_error(HN_WS_MESSAGE_MAX, in, 6, HN_WS_CLOSE_PROTOCOL,
		    1);
	}
	/* Every close code outside the ranges. */
	for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		pl[0] = (unsigned char)(bad_codes[i] >> 8);
		pl[1] = (unsigned char)bad_codes[i];
		n = cframe(in, FIN | HN_WS_OP_CLOSE,
		    (const unsigned char *)"\x11\x22\x33\x44", pl, 2, 0);
		expect_error(HN_WS_MESSAGE_MAX, in, n, HN_WS_CLOSE_PROTOCOL,
		    n);
	}
	/* Control frames of 126 bytes, fully there. */
	memset(pl, 'p', 126);
	n = cframe(in, FIN | HN_WS_OP_PING, (const unsigned char *)"abcd",
	    pl, 126, 0);
	expect_error(HN_WS_MESSAGE_MAX, in, n, HN_WS_CLOSE_PROTOCOL, 2);
	/* Fragments adding up to one byte over max_message: refused at the
	 * header of the one that goes over, payload or not. */
	memset(pl, 'f', sizeof(pl));
	n = cframe(in, HN_WS_OP_TEXT, (const unsigned char *)"abcd", pl,
	    4000, 0);
	n += cframe(in + n, HN_WS_OP_CONT, (const unsigned char *)"dcba",
	    pl, 96, 0);
	feed(&log, HN_WS_MESSAGE_MAX, in, n, NULL, 0, NULL);
	ck_assert_int_eq(log.err, 0);			/* 4096: fits */
	ck_assert_uint_eq(log.consumed, n);
	log_free(&log);
	n += cframe(in + n, FIN | HN_WS_OP_CONT,
	    (const unsigned char *)"dcba", pl, 1, 0);
	expect_error(HN_WS_MESSAGE_MAX, in, n, HN_WS_CLOSE_TOO_BIG, n - 5);
	/* A small max_message bounds single frames too; control frames
	 * keep their own 125. */
	n = cframe(in, FIN | HN_WS_OP_TEXT, (const unsigned char *)"abcd",
	    pl, 11, 0);
	expect_error(10, in, n, HN_WS_CLOSE_TOO_BIG, 2);
	/* Without a bound, a frame's length must still fit the return. */
	expect_error(SIZE_MAX, (const unsigned char *)
	    "\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10,
	    HN_WS_CLOSE_TOO_BIG, 10);
}
END_TEST

START_TEST(test_parse_close)
{
	static const uint16_t good[] = { 1000, 1001, 1002, 1003, 1007, 1008,
	    1009, 1010, 1011, 3000, 3999, 4000, 4999 };
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		 pl[125], f[200];
	size_t			 i, n;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		pl[0] = (unsigned char)(good[i] >> 8);
		pl[1] = (unsigned char)good[i];
		memcpy(pl + 2, "ciao \xc3\xa9", 7);
		n = cframe(f, FIN | HN_WS_OP_CLOSE,
		    (const unsigned char *)"\xde\xad\xbe\xef", pl, 9, 0);
		hn_ws_parser_init(&p, HN_WS_MESSAGE_MAX);
		ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
		ck_assert_int_eq(ev.type, HN_WS_EV_CLOSE);
		ck_assert_uint_eq(ev.code, good[i]);
		ck_assert_uint_eq(ev.len, 7);
		ck_assert_mem_eq(ev.data, "ciao \xc3\xa9", 7);
		ck_assert(p.closed);
		hn_ws_parser_free(&p);
	}
	/* No payload: 1005.  Code alone: no reason.  Full 125 bytes. */
	hn_ws_parser_init(&p, HN_WS_MESSAGE_MAX);
	n = cframe(f, FIN | HN_WS_OP_CLOSE, (const unsigned char *)"abcd",
	    "", 0, 0);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_int_eq(ev.type, HN_WS_EV_CLOSE);
	ck_assert_uint_eq(ev.code, HN_WS_CLOSE_NO_STATUS);
	ck_assert_uint_eq(ev.len, 0);
	/* And then nothing more. */
	n = cframe(f, FIN | HN_WS_OP_PONG, (const unsigned char *)"abcd",
	    "", 0, 0);
	ck_assert_int_eq(hn_ws_parse(&p, f, 0, &ev), 0);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), HN_EPROTO);
	ck_assert_uint_eq(ev.code, HN_WS_CLOSE_PROTOCOL);
	hn_ws_parser_free(&p);

	hn_ws_parser_init(&p, HN_WS_MESSAGE_MAX);
	n = cframe(f, FIN | HN_WS_OP_CLOSE, (const unsigned char *)"abcd",
	    "\x0f\xa0", 2, 0);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_uint_eq(ev.code, 4000);
	ck_assert_uint_eq(ev.len, 0);
	hn_ws_parser_free(&p);

	hn_ws_parser_init(&p, 10);
	memset(pl, 'r', sizeof(pl));
	pl[0] = 0x03;
	pl[1] = 0xe9;
	n = cframe(f, FIN | HN_WS_OP_CLOSE, (const unsigned char *)"abcd",
	    pl, 125, 0);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_uint_eq(ev.code, 1001);
	ck_assert_uint_eq(ev.len, 123);
	hn_ws_parser_free(&p);
}
END_TEST

/* ---- the parser: UTF-8 -------------------------------------------------- */

#define U8(s, ok)	{ (const unsigned char *)s, sizeof(s) - 1, ok }

START_TEST(test_parse_utf8)
{
	static const struct {
		const unsigned char	*s;
		size_t			 len;
		int			 ok;
	} t[] = {
		U8("", 1),
		U8("hello", 1),
		U8("\x00\x7f", 1),
		U8("\xc2\x80", 1),				/* U+0080 */
		U8("\xc3\xa9t\xc3\xa9", 1),
		U8("\xdf\xbf", 1),				/* U+07FF */
		U8("\xe0\xa0\x80", 1),				/* U+0800 */
		U8("\xe2\x82\xac", 1),				/* € */
		U8("\xed\x9f\xbf", 1),				/* U+D7FF */
		U8("\xee\x80\x80", 1),				/* U+E000 */
		U8("\xef\xbf\xbf", 1),				/* U+FFFF */
		U8("\xef\xbb\xbf", 1),				/* BOM */
		U8("\xf0\x90\x80\x80", 1),			/* U+10000 */
		U8("a\xf0\x9f\x98\x80z", 1),			/* U+1F600 */
		U8("\xf4\x8f\xbf\xbf", 1),			/* U+10FFFF */
		U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1),
		U8("\x80", 0),
		U8("\xbf", 0),
		U8("a\x80z", 0),
		U8("\xc0\x80", 0),				/* overlong */
		U8("\xc1\xbf", 0),
		U8("\xe0\x80\x80", 0),
		U8("\xe0\x9f\xbf", 0),
		U8("\xf0\x80\x80\x80", 0),
		U8("\xf0\x8f\xbf\xbf", 0),
		U8("\xed\xa0\x80", 0),				/* surrogates */
		U8("\xed\xbf\xbf", 0),
		U8("\xed\xa0\xbd\xed\xb8\x80", 0),
		U8("\xf4\x90\x80\x80", 0),			/* > U+10FFFF */
		U8("\xf5\x80\x80\x80", 0),
		U8("\xf8\x88\x80\x80\x80", 0),
		U8("\xfe", 0),
		U8("\xff", 0),
		U8("\xc3", 0),					/* truncated */
		U8("\xe2\x82", 0),
		U8("\xf0\x9f\x98", 0),
		U8("\xc3\x28", 0),
		U8("\xe2\x28\xa1", 0),
		U8("\xe2\x82\x28", 0),
		U8("\xf0\x9f\x98\x28", 0),
		U8("\xf0\x9f\x98\x80\x80", 0),
		U8("valid then \xff", 0),
	};
	struct evlog	 log;
	unsigned char	 in[200];
	size_t		 i, k, k2, n;
	uint32_t	 seed = 99;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		/* One frame. */
		n = cframe_rand(in, FIN | HN_WS_OP_TEXT, t[i].s, t[i].len,
		    &seed);
		feed(&log, HN_WS_MESSAGE_MAX, in, n, NULL, 0, NULL);
		if (t[i].ok) {
			ck_assert_msg(log.err == 0, "row %zu", i);
			ck_assert_int_eq(log.r[0].type, HN_WS_EV_TEXT);
			ck_assert_uint_eq(log.r[0].len, t[i].len);
			ck_assert_mem_eq(log.r[0].data, t[i].s, t[i].len);
		} else {
			ck_assert_msg(log.err == HN_EPROTO, "row %zu", i);
			ck_assert_uint_eq(log.r[log.n - 1].code,
			    HN_WS_CLOSE_UTF8);
		}
		log_free(&log);

		/* Two and three fragments cut anywhere, even inside a
		 * character: the verdict is the whole message's. */
		for (k = 0; k <= t[i].len; k++)
			for (k2 = k; k2 <= t[i].len; k2++) {
				n = cframe_rand(in, HN_WS_OP_TEXT, t[i].s, k,
				    &seed);
				n += cframe_rand(in + n, HN_WS_OP_CONT,
				    t[i].s + k, k2 - k, &seed);
				n += cframe_rand(in + n, FIN | HN_WS_OP_CONT,
				    t[i].s + k2, t[i].len - k2, &seed);
				feed(&log, HN_WS_MESSAGE_MAX, in, n, NULL, 0,
				    NULL);
				if (t[i].ok) {
					ck_assert_msg(log.err == 0,
					    "row %zu cut %zu %zu", i, k, k2);
					ck_assert_uint_eq(log.n, 3);
					ck_assert_int_eq(log.r[2].type,
					    HN_WS_EV_TEXT);
					ck_assert_uint_eq(log.r[2].len,
					    t[i].len);
					ck_assert_mem_eq(log.r[2].data,
					    t[i].s, t[i].len);
				} else {
					ck_assert_msg(log.err == HN_EPROTO,
					    "row %zu cut %zu %zu", i, k, k2);
					ck_assert_uint_eq(
					    log.r[log.n - 1].code,
					    HN_WS_CLOSE_UTF8);
				}
				log_free(&log);
			}
	}

	/* A 4-byte character split across two fragments, at each of its
	 * three inner boundaries, a ping in between. */
	for (k = 1; k < 4; k++) {
		n = cframe_rand(in, HN_WS_OP_TEXT, "\xf0\x9f\x98\x80", k,
		    &seed);
		n += cframe_rand(in + n, FIN | HN_WS_OP_PING, "p", 1, &seed);
		n += cframe_rand(in + n, FIN | HN_WS_OP_CONT,
		    &"\xf0\x9f\x98\x80"[k], 4 - k, &seed);
		feed(&log, HN_WS_MESSAGE_MAX, in, n, NULL, 0, NULL);
		ck_assert_int_eq(log.err, 0);
		ck_assert_uint_eq(log.n, 3);
		ck_assert_int_eq(log.r[1].type, HN_WS_EV_PING);
		ck_assert_int_eq(log.r[2].type, HN_WS_EV_TEXT);
		ck_assert_mem_eq(log.r[2].data, "\xf0\x9f\x98\x80", 4);
		log_free(&log);
	}
	/* A bad byte is refused with its fragment, not at the end. */
	n = cframe_rand(in, HN_WS_OP_TEXT, "ok \xc3\x28", 5, &seed);
	feed(&log, HN_WS_MESSAGE_MAX, in, n, NULL, 0, NULL);
	ck_assert_int_eq(log.err, HN_EPROTO);
	ck_assert_uint_eq(log.r[0].code, HN_WS_CLOSE_UTF8);
	log_free(&log);
}
END_TEST

/* ---- the parser: fragment buffer ---------------------------------------- */

START_TEST(test_parse_frag_buffer)
{
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		 f[64];
	size_t			 n;
	uint32_t		 seed = 5;

	/* Allocated with the first fragment, alive until the next call. */
	hn_ws_parser_init(&p, HN_WS_MESSAGE_MAX);
	ck_assert_ptr_null(p.frag);
	n = cframe_rand(f, HN_WS_OP_TEXT, "ab", 2, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n - 1, &ev), 0);
	ck_assert_ptr_null(p.frag);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_ptr_nonnull(p.frag);
	ck_assert_uint_eq(p.frag_len, 2);
	n = cframe_rand(f, FIN | HN_WS_OP_CONT, "cd", 2, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_int_eq(ev.type, HN_WS_EV_TEXT);
	ck_assert_ptr_eq(ev.data, p.frag);
	ck_assert_mem_eq(ev.data, "abcd", 4);
	ck_assert_int_eq(hn_ws_parse(&p, f, 0, &ev), 0);
	ck_assert_ptr_null(p.frag);
	ck_assert_uint_eq(p.frag_len, 0);

	/* A new fragmented message after one delivered: its first frame
	 * comes in the call that frees the old buffer. */
	n = cframe_rand(f, HN_WS_OP_TEXT, "x", 1, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	n = cframe_rand(f, FIN | HN_WS_OP_CONT, "y", 1, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_mem_eq(ev.data, "xy", 2);
	n = cframe_rand(f, HN_WS_OP_TEXT, "1", 1, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_ptr_nonnull(p.frag);
	ck_assert(!p.frag_done);
	n = cframe_rand(f, FIN | HN_WS_OP_CONT, "2", 1, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_mem_eq(ev.data, "12", 2);
	/* An unfragmented text afterwards points into its own buffer. */
	n = cframe_rand(f, FIN | HN_WS_OP_TEXT, "solo", 4, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_ptr_eq(ev.data, f + n - 4);
	ck_assert_mem_eq(f + n - 4, "solo", 4);
	ck_assert_ptr_null(p.frag);

	/* Freed mid-message (LeakSanitizer checks), and reusable. */
	n = cframe_rand(f, HN_WS_OP_TEXT, "half", 4, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	hn_ws_parser_free(&p);
	ck_assert_ptr_null(p.frag);
	hn_ws_parser_free(&p);
	hn_ws_parser_free(NULL);
	hn_ws_parser_init(&p, HN_WS_MESSAGE_MAX);
	n = cframe_rand(f, FIN | HN_WS_OP_CONT, "x", 1, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), HN_EPROTO);
	hn_ws_parser_free(&p);

	/* An empty first fragment and a message of exactly max_message. */
	hn_ws_parser_init(&p, 4);
	n = cframe_rand(f, HN_WS_OP_TEXT, "", 0, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_ptr_nonnull(p.frag);
	n = cframe_rand(f, HN_WS_OP_CONT, "abc", 3, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	n = cframe_rand(f, FIN | HN_WS_OP_CONT, "de", 2, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), HN_EPROTO);
	ck_assert_uint_eq(ev.code, HN_WS_CLOSE_TOO_BIG);
	n = cframe_rand(f, FIN | HN_WS_OP_CONT, "d", 1, &seed);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_int_eq(ev.type, HN_WS_EV_TEXT);
	ck_assert_mem_eq(ev.data, "abcd", 4);
	hn_ws_parser_free(&p);
}
END_TEST

/*
 * The fragment buffer cannot be had: 1011, and nothing changed, so the
 * call can be repeated.  (Under ASan a huge malloc must return NULL, not
 * abort: see __asan_default_options below.)
 */
START_TEST(test_parse_enomem)
{
	struct hn_ws_parser	 p;
	struct hn_ws_event	 ev;
	unsigned char		 f[16], orig[16];
	size_t			 n;

	hn_ws_parser_init(&p, (size_t)1 << 62);
	n = cframe(f, HN_WS_OP_TEXT, (const unsigned char *)"abcd", "xy", 2,
	    0);
	memcpy(orig, f, n);
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), HN_ENOMEM);
	ck_assert_uint_eq(ev.code, HN_WS_CLOSE_INTERNAL);
	ck_assert_ptr_nonnull(ev.data);
	ck_assert_ptr_null(p.frag);
	ck_assert_mem_eq(f, orig, n);
	p.max_message = HN_WS_MESSAGE_MAX;
	ck_assert_int_eq(hn_ws_parse(&p, f, n, &ev), n);
	ck_assert_mem_eq(p.frag, "xy", 2);
	hn_ws_parser_free(&p);
}
END_TEST

/* ---- round trips and garbage -------------------------------------------- */

/*
 * Server frames from the encoder, read back by the test's client, sent as
 * client frames under random masks (whole or fragmented, with control
 * frames between): the parser must hand back what went in.
 */
START_TEST(test_roundtrip)
{
	static const int ctl[] = { HN_WS_OP_PING, HN_WS_OP_PONG };
	struct evlog	 log;
	unsigned char	*pl, *sf, *in;
	size_t		 i, len, h, plen, n, off, piece, nfrag, ntext;
	ssize_t		 sn;
	uint32_t	 seed = 0xdecafbad, r;
	int		 op, c;

	pl = malloc(BIG);
	sf = malloc(BIG + 14);
	in = malloc(3 * BIG);
	ck_assert_ptr_nonnull(pl);
	ck_assert_ptr_nonnull(sf);
	ck_assert_ptr_nonnull(in);
	for (i = 0; i < 300; i++) {
		r = rng_next(&seed);
		if (i % 50 == 49)
			len = 65530 + r % 10;
		else if (i % 3 == 0)
			len = 120 + r % 10;
		else
			len = r % 600;
		utf8_random(pl, len, &seed);
		sn = hn_ws_encode(sf, BIG + 14, HN_WS_OP_TEXT, pl, len);
		ck_assert_int_eq(sn, hn_ws_frame_len(len));
		h = sframe_read(sf, (size_t)sn, &op, &plen);
		ck_assert_int_eq(op, HN_WS_OP_TEXT);
		ck_assert_uint_eq(plen, len);

		/* Whole, then in random fragments with pings and pongs. */
		n = cframe_rand(in, FIN | HN_WS_OP_TEXT, sf + h, plen, &seed);
		off = 0;
		nfrag = 0;
		do {
			piece = rng_next(&seed) % (plen / 3 + 2);
			if (piece > plen - off)
				piece = plen - off;
			n += cframe_rand(in + n, (off + piece == plen ? FIN :
			    0) | (nfrag == 0 ? HN_WS_OP_TEXT : HN_WS_OP_CONT),
			    sf + h + off, piece, &seed);
			off += piece;
			nfrag++;
			if (off < plen && rng_next(&seed) % 3 == 0) {
				c = ctl[rng_next(&seed) % 2];
				sn = hn_ws_encode(sf + h + plen, 200, c,
				    "beat", 4);
				ck_assert_int_eq(sn, 6);
				n += cframe_rand(in + n, FIN | (unsigned)c,
				    sf + h + plen + 2, 4, &seed);
			}
		} while (off < plen);

		feed(&log, BIG, in, n, NULL, 0, NULL);
		ck_assert_int_eq(log.err, 0);
		ck_assert_uint_eq(log.consumed, n);
		ntext = 0;
		for (off = 0; off < log.n; off++) {
			if (log.r[off].type == HN_WS_EV_TEXT) {
				ck_assert_uint_eq(log.r[off].len, len);
				ck_assert_mem_eq(log.r[off].data, pl, len);
				ntext++;
			} else if (log.r[off].type != HN_WS_EV_NONE) {
				ck_assert_uint_eq(log.r[off].len, 4);
				ck_assert_mem_eq(log.r[off].data, "beat", 4);
			}
		}
		ck_assert_uint_eq(ntext, 2);
		log_free(&log);
	}

	/* Close frames from the encoder read back with their code. */
	sn = hn_ws_encode_close(sf, 200, HN_WS_CLOSE_GOING_AWAY,
	    "bye \xc3\xa9");
	ck_assert_int_eq(sn, 2 + 2 + 6);
	h = sframe_read(sf, (size_t)sn, &op, &plen);
	ck_assert_int_eq(op, HN_WS_OP_CLOSE);
	n = cframe_rand(in, FIN | HN_WS_OP_CLOSE, sf + h, plen, &seed);
	feed(&log, HN_WS_MESSAGE_MAX, in, n, NULL, 0, NULL);
	ck_assert_int_eq(log.err, 0);
	ck_assert_int_eq(log.r[0].type, HN_WS_EV_CLOSE);
	ck_assert_uint_eq(log.r[0].code, HN_WS_CLOSE_GOING_AWAY);
	ck_assert_str_eq((const char *)log.r[0].data, "bye \xc3\xa9");
	log_free(&log);
	free(pl);
	free(sf);
	free(in);
}
END_TEST

/*
 * Random input with a fixed seed: random bytes, and streams of plausible
 * frames (mostly masked, known opcodes) with a few bytes broken.  Fed in
 * random chunks; nothing may crash or read past len (ASan), and the
 * outcome may not depend on the chunking.
 */
START_TEST(test_garbage)
{
	struct evlog	 ref, log;
	unsigned char	 src[2048], pl[300];
	size_t		 cuts[64], ncuts, n, plen, i, k;
	uint32_t	 seed = 0xfeedf00d, r;
	unsigned	 b0;

	for (i = 0; i < 3000; i++) {
		r = rng_next(&seed);
		n = 0;
		if (r % 4 == 0) {
			n = rng_next(&seed) % 300;
			for (k = 0; k < n; k++)
				src[k] = (unsigned char)rng_next(&seed);
		} else {
			while (n < 1500 && rng_next(&seed) % 8 != 0) {
				r = rng_next(&seed);
				b0 = r % 16 == 0 ? r >> 8 & 0xff :
				    (unsigned)((r % 3 ? FIN : 0) |
				    "\x00\x01\x01\x09\x0a\x08\x02\x03"[r >> 4
				    & 7]);
				plen = rng_next(&seed) % (r % 5 ? 20 : 300);
				if (b0 & 8 && plen > 125 && r % 7)
					plen = 125;
				if (r % 2)
					utf8_random(pl, plen, &seed);
				else
					for (k = 0; k < plen; k++)
						pl[k] = (unsigned char)
						    rng_next(&seed);
				if (r % 13 == 0)
					n += cframe(src + n, b0, NULL, pl,
					    plen, 0);
				else
					n += cframe_rand(src + n, b0, pl, plen,
					    &seed);
			}
			for (k = rng_next(&seed) % 4; k > 0 && n > 0; k--)
				src[rng_next(&seed) % n] =
				    (unsigned char)rng_next(&seed);
		}
		feed(&ref, i % 2 ? HN_WS_MESSAGE_MAX : 64, src, n, NULL, 0,
		    NULL);
		ncuts = 0;
		for (k = rng_next(&seed) % 64; k > 0 && n > 0; k--)
			cuts[ncuts++] = rng_next(&seed) % (n + 1);
		/* ascending */
		for (k = 1; k < ncuts; k++) {
			size_t	 j = k, v = cuts[k];

			while (j > 0 && cuts[j - 1] > v) {
				cuts[j] = cuts[j - 1];
				j--;
			}
			cuts[j] = v;
		}
		feed(&log, i % 2 ? HN_WS_MESSAGE_MAX : 64, src, n, cuts,
		    ncuts, &ref);
		log_same(&log, &ref);
		log_free(&log);
		if (i % 100 == 0)
			feed_bytewise(i % 2 ? HN_WS_MESSAGE_MAX : 64, src, n,
			    &ref);
		log_free(&ref);
	}
}
END_TEST

/* Read by AddressSanitizer, when linked in, at start. */
const char	*__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static Suite *
ws_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ws");

	tc = tcase_create("crypto");
	tcase_add_test(tc, test_accept_key);
	tcase_add_test(tc, test_base64_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("handshake");
	tcase_add_test(tc, test_handshake);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, test_encode_rfc);
	tcase_add_test(tc, test_encode_lengths);
	tcase_add_test(tc, test_encode_close);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_parse_rfc);
	tcase_add_test(tc, test_parse_splits);
	tcase_add_test(tc, test_parse_lengths);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_close);
	tcase_add_test(tc, test_parse_utf8);
	tcase_add_test(tc, test_parse_frag_buffer);
	tcase_add_test(tc, test_parse_enomem);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hn_check_run(ws_suite());
}
