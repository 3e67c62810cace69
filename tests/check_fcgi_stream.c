/*
 * Check suite for fcgi_stream.c: the record codec against hand-computed
 * bytes, against libfcgi itself in both directions over a real unix
 * socket, and fed one byte at a time, at every split point and garbage.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hn.h"
#include "check_main.h"

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

/* ---- a collector: what a caller of hn_fcgi_parse reconstructs ---------- */

#define COLLECT_MAX	1024	/* records; 4096 bytes hold at most 512 */

struct piece_rec {
	int		 type;
	uint16_t	 reqid;
	size_t		 len;
	size_t		 off;		/* into collect.data */
	bool		 done;
};

struct collect {
	struct hn_fcgi_parser	 p;
	unsigned char		*data;	/* all content, record after record */
	size_t			 datasz, datalen;
	struct piece_rec	 recs[COLLECT_MAX];
	size_t			 nrecs;
	int			 err;	/* first error returned, or 0 */
	size_t			 pieces;
};

static void
collect_init(struct collect *c, size_t datasz)
{
	memset(c, 0, sizeof(*c));
	hn_fcgi_parser_init(&c->p);
	c->data = malloc(datasz ? datasz : 1);
	ck_assert_ptr_nonnull(c->data);
	c->datasz = datasz;
}

static void
collect_free(struct collect *c)
{
	free(c->data);
	c->data = NULL;
}

/*
 * Feeds in/len the way the event loop does, checking the parser's promises
 * on every call: progress, pointers inside the consumed bytes, pieces of
 * one record contiguous.  The input is copied to an exact-size heap block
 * so AddressSanitizer catches a read past len.
 */
static void
collect_feed(struct collect *c, const unsigned char *src, size_t srclen)
{
	struct hn_fcgi_record	 rec;
	struct piece_rec	*r;
	unsigned char		*buf, *in;
	size_t			 len;
	ssize_t			 n;
	bool			 ready;

	if (c->err)
		return;
	buf = malloc(srclen ? srclen : 1);
	ck_assert_ptr_nonnull(buf);
	if (srclen)
		memcpy(buf, src, srclen);
	in = buf;
	len = srclen;
	while (len > 0) {
		n = hn_fcgi_parse(&c->p, in, len, &rec, &ready);
		if (n < 0) {
			ck_assert(!ready);
			c->err = (int)n;
			break;
		}
		ck_assert_msg(n > 0 || ready, "no progress");
		ck_assert_uint_le((size_t)n, len);
		if (ready) {
			c->pieces++;
			ck_assert_msg(rec.content >= in &&
			    rec.content + rec.len <= in + n,
			    "piece outside the consumed bytes");
			ck_assert_uint_le(rec.len, HN_FCGI_MAX_CONTENT);
			ck_assert(rec.len > 0 || rec.last);
			r = c->nrecs > 0 ? &c->recs[c->nrecs - 1] : NULL;
			if (r == NULL || r->done) {
				ck_assert_uint_lt(c->nrecs,
				    sizeof(c->recs) / sizeof(c->recs[0]));
				r = &c->recs[c->nrecs++];
				r->type = rec.type;
				r->reqid = rec.reqid;
				r->off = c->datalen;
				r->len = 0;
				r->done = false;
			} else {
				ck_assert_int_eq(r->type, rec.type);
				ck_assert_uint_eq(r->reqid, rec.reqid);
			}
			ck_assert_uint_le(c->datalen + rec.len, c->datasz);
			if (rec.len > 0)
				memcpy(c->data + c->datalen, rec.content,
				    rec.len);
			c->datalen += rec.len;
			r->len += rec.len;
			r->done = rec.last;
		}
		in += n;
		len -= (size_t)n;
	}
	free(buf);
}

/* Whole records only: the parser sits between records at the end. */
static void
collect_assert_idle(const struct collect *c)
{
	ck_assert_int_eq(c->err, 0);
	ck_assert_uint_eq(c->p.hdr_have, 0);
	ck_assert(!c->p.in_body);
	ck_assert(c->nrecs == 0 || c->recs[c->nrecs - 1].done);
}

/* ---- encoder ------------------------------------------------------------ */

START_TEST(t_encoded_len)
{
	ck_assert_uint_eq(hn_fcgi_encoded_len(0), 8);
	ck_assert_uint_eq(hn_fcgi_encoded_len(1), 16);
	ck_assert_uint_eq(hn_fcgi_encoded_len(7), 16);
	ck_assert_uint_eq(hn_fcgi_encoded_len(8), 16);
	ck_assert_uint_eq(hn_fcgi_encoded_len(9), 24);
	/* 65535 content + 1 padding + header */
	ck_assert_uint_eq(hn_fcgi_encoded_len(65535), 65544);
	ck_assert_uint_eq(hn_fcgi_encoded_len(65536), 65544 + 16);
	/* 3 full records + 3395 bytes padded by 5 */
	ck_assert_uint_eq(hn_fcgi_encoded_len(200000),
	    3 * 65544 + 8 + 3395 + 5);
	ck_assert_uint_eq(hn_fcgi_encoded_len(2 * 65535), 2 * 65544);
	/* Saturates rather than wrapping. */
	ck_assert_uint_eq(hn_fcgi_encoded_len(SIZE_MAX), SIZE_MAX);
	ck_assert_uint_ge(hn_fcgi_encoded_len(SIZE_MAX - 100), SIZE_MAX - 100);
}
END_TEST

START_TEST(t_header_exact)
{
	static const unsigned char want[] = {
		1, HN_FCGI_STDOUT, 0x01, 0x02, 0x00, 0x05, 0x03, 0x00,
		'h', 'e', 'l', 'l', 'o', 0, 0, 0,
	};
	unsigned char	 out[64];
	ssize_t		 n;

	memset(out, 0xaa, sizeof(out));
	n = hn_fcgi_encode(out, sizeof(out), HN_FCGI_STDOUT, 0x0102,
	    "hello", 5);
	ck_assert_int_eq(n, sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
	ck_assert_uint_eq(out[sizeof(want)], 0xaa);	/* nothing past */
}
END_TEST

START_TEST(t_empty_record)
{
	static const unsigned char want[] = {
		1, HN_FCGI_STDIN, 0x00, 0x07, 0, 0, 0, 0,
	};
	unsigned char	 out[8];

	ck_assert_int_eq(hn_fcgi_encode(out, sizeof(out), HN_FCGI_STDIN, 7,
	    NULL, 0), 8);
	ck_assert_mem_eq(out, want, sizeof(want));
	ck_assert_int_eq(hn_fcgi_encode(out, sizeof(out), HN_FCGI_STDIN, 7,
	    "x", 0), 8);
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(t_padding)
{
	unsigned char	 data[32], out[64];
	size_t		 len, pad, i;
	ssize_t		 n;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(0x30 + i);
	for (len = 0; len <= 24; len++) {
		memset(out, 0xaa, sizeof(out));
		n = hn_fcgi_encode(out, sizeof(out), HN_FCGI_STDOUT, 1,
		    data, len);
		pad = (8 - len % 8) % 8;
		ck_assert_int_eq(n, (ssize_t)(8 + len + pad));
		ck_assert_uint_eq((size_t)n, hn_fcgi_encoded_len(len));
		ck_assert_uint_eq(n % 8, 0);
		ck_assert_uint_eq(out[4], 0);
		ck_assert_uint_eq(out[5], len);
		ck_assert_uint_eq(out[6], pad);
		ck_assert_uint_eq(out[7], 0);
		ck_assert_mem_eq(out + 8, data, len);
		for (i = 0; i < pad; i++)
			ck_assert_uint_eq(out[8 + len + i], 0);
		ck_assert_uint_eq(out[n], 0xaa);
	}
}
END_TEST

START_TEST(t_reqids)
{
	static const uint16_t	 ids[] = { 1, 65535, 0x0100, 0x00ff };
	struct hn_fcgi_parser	 p;
	struct hn_fcgi_record	 rec;
	unsigned char		 out[32];
	size_t			 i;
	ssize_t			 n;
	bool			 ready;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		n = hn_fcgi_encode(out, sizeof(out), HN_FCGI_STDOUT, ids[i],
		    "ab", 2);
		ck_assert_int_eq(n, 16);
		ck_assert_uint_eq(out[2], ids[i] >> 8);
		ck_assert_uint_eq(out[3], ids[i] & 0xff);
		hn_fcgi_parser_init(&p);
		ck_assert_int_eq(hn_fcgi_parse(&p, out, (size_t)n, &rec,
		    &ready), 16);
		ck_assert(ready);
		ck_assert_uint_eq(rec.reqid, ids[i]);
		ck_assert_int_eq(rec.type, HN_FCGI_STDOUT);
		ck_assert_uint_eq(rec.len, 2);
		ck_assert(rec.last);
		ck_assert_mem_eq(rec.content, "ab", 2);
	}
}
END_TEST

/* Walks encoded records by hand: lengths, padding and content. */
static void
check_split(size_t len)
{
	unsigned char	*data, *out, *h;
	size_t		 sz, off = 0, got = 0, clen, plen, i;
	ssize_t		 n;
	int		 records = 0;

	data = malloc(len);
	sz = hn_fcgi_encoded_len(len);
	out = malloc(sz);
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(out);
	for (i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 16));
	n = hn_fcgi_encode(out, sz, HN_FCGI_STDIN, 0x1234, data, len);
	ck_assert_int_eq(n, (ssize_t)sz);
	while (off < sz) {
		h = out + off;
		ck_assert_uint_eq(h[0], 1);
		ck_assert_uint_eq(h[1], HN_FCGI_STDIN);
		ck_assert_uint_eq(h[2], 0x12);
		ck_assert_uint_eq(h[3], 0x34);
		clen = (size_t)h[4] << 8 | h[5];
		plen = h[6];
		ck_assert_uint_eq(h[7], 0);
		ck_assert_uint_gt(clen, 0);
		/* Every record but the last is full. */
		if (got + clen < len)
			ck_assert_uint_eq(clen, 65535);
		ck_assert_uint_eq((clen + plen) % 8, 0);
		ck_assert_uint_lt(plen, 8);
		ck_assert_mem_eq(h + 8, data + got, clen);
		for (i = 0; i < plen; i++)
			ck_assert_uint_eq(h[8 + clen + i], 0);
		got += clen;
		off += 8 + clen + plen;
		records++;
	}
	ck_assert_uint_eq(off, sz);
	ck_assert_uint_eq(got, len);
	ck_assert_int_eq(records, (int)((len + 65534) / 65535));
	free(data);
	free(out);
}

START_TEST(t_split_records)
{
	check_split(65535);
	check_split(65536);
	check_split(2 * 65535);
	check_split(2 * 65535 + 1);
	check_split(200000);
}
END_TEST

START_TEST(t_short_buffer)
{
	static const size_t	 lens[] = { 0, 1, 7, 8, 9, 65535, 65536,
	    200000 };
	unsigned char		*data, *out;
	size_t			 i, need, j;

	data = calloc(1, 200000);
	out = malloc(hn_fcgi_encoded_len(200000));
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(out);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		need = hn_fcgi_encoded_len(lens[i]);
		memset(out, 0xaa, need);
		ck_assert_int_eq(hn_fcgi_encode(out, need - 1, HN_FCGI_STDOUT,
		    1, data, lens[i]), HN_ETOOBIG);
		ck_assert_int_eq(hn_fcgi_encode(out, 0, HN_FCGI_STDOUT,
		    1, data, lens[i]), HN_ETOOBIG);
		/* Nothing half written on failure. */
		for (j = 0; j < need; j++)
			ck_assert_uint_eq(out[j], 0xaa);
		ck_assert_int_eq(hn_fcgi_encode(out, need, HN_FCGI_STDOUT,
		    1, data, lens[i]), (ssize_t)need);
	}
	ck_assert_int_eq(hn_fcgi_encode_end(out, 23, 1, 0), HN_ETOOBIG);
	ck_assert_int_eq(hn_fcgi_encode_end(out, 0, 1, 0), HN_ETOOBIG);
	free(data);
	free(out);
}
END_TEST

START_TEST(t_bad_args)
{
	unsigned char	 out[64];

	ck_assert_int_eq(hn_fcgi_encode(out, sizeof(out), 0, 1, "a", 1),
	    HN_EINVAL);
	ck_assert_int_eq(hn_fcgi_encode(out, sizeof(out), 256, 1, "a", 1),
	    HN_EINVAL);
	ck_assert_int_eq(hn_fcgi_encode(out, sizeof(out), HN_FCGI_STDOUT, 1,
	    NULL, 1), HN_EINVAL);
}
END_TEST

START_TEST(t_encode_end)
{
	static const unsigned char want[] = {
		1, HN_FCGI_STDOUT, 0xbe, 0xef, 0, 0, 0, 0,
		1, HN_FCGI_END_REQUEST, 0xbe, 0xef, 0, 8, 0, 0,
		0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0,
	};
	unsigned char	 out[32];

	memset(out, 0xaa, sizeof(out));
	ck_assert_int_eq(hn_fcgi_encode_end(out, sizeof(out), 0xbeef,
	    0x01020304), 24);
	ck_assert_mem_eq(out, want, sizeof(want));
	ck_assert_uint_eq(out[24], 0xaa);
	ck_assert_int_eq(hn_fcgi_encode_end(out, 24, 0xbeef, 0x01020304), 24);
}
END_TEST

/* ---- parser -------------------------------------------------------------- */

START_TEST(t_parse_basic)
{
	struct hn_fcgi_parser	 p;
	struct hn_fcgi_record	 rec;
	unsigned char		 buf[64];
	ssize_t			 n, m;
	bool			 ready;

	memset(&p, 0, sizeof(p));	/* zeroing is as good as init */
	n = hn_fcgi_encode(buf, sizeof(buf), HN_FCGI_STDIN, 3, "hello", 5);
	m = hn_fcgi_encode(buf + n, sizeof(buf) - n, HN_FCGI_ABORT_REQUEST, 3,
	    NULL, 0);
	ck_assert_int_eq(n + m, 24);

	/* Nothing to read: nothing consumed, nothing ready. */
	ready = true;
	ck_assert_int_eq(hn_fcgi_parse(&p, buf, 0, &rec, &ready), 0);
	ck_assert(!ready);

	/* Header, content and padding in one call; the next header waits. */
	ck_assert_int_eq(hn_fcgi_parse(&p, buf, 24, &rec, &ready), 16);
	ck_assert(ready);
	ck_assert_int_eq(rec.type, HN_FCGI_STDIN);
	ck_assert_uint_eq(rec.reqid, 3);
	ck_assert_uint_eq(rec.len, 5);
	ck_assert(rec.last);
	ck_assert_ptr_eq(rec.content, buf + 8);

	ck_assert_int_eq(hn_fcgi_parse(&p, buf + 16, 8, &rec, &ready), 8);
	ck_assert(ready);
	ck_assert_int_eq(rec.type, HN_FCGI_ABORT_REQUEST);
	ck_assert_uint_eq(rec.len, 0);
	ck_assert(rec.last);
	ck_assert_uint_eq(p.hdr_have, 0);
	ck_assert(!p.in_body);
}
END_TEST

/* A piece goes out as soon as content bytes exist, before the record ends. */
START_TEST(t_parse_partial)
{
	struct hn_fcgi_parser	 p;
	struct hn_fcgi_record	 rec;
	unsigned char		 buf[64];
	bool			 ready;

	hn_fcgi_parser_init(&p);
	ck_assert_int_eq(hn_fcgi_encode(buf, sizeof(buf), HN_FCGI_STDIN, 9,
	    "abcdefghij", 10), 24);
	ck_assert_int_eq(hn_fcgi_parse(&p, buf, 5, &rec, &ready), 5);
	ck_assert(!ready);
	ck_assert_int_eq(hn_fcgi_parse(&p, buf + 5, 6, &rec, &ready), 6);
	ck_assert(ready);
	ck_assert_uint_eq(rec.len, 3);
	ck_assert(!rec.last);
	ck_assert_mem_eq(rec.content, "abc", 3);
	/* The rest of the content and part of the padding. */
	ck_assert_int_eq(hn_fcgi_parse(&p, buf + 11, 9, &rec, &ready), 9);
	ck_assert(ready);
	ck_assert_uint_eq(rec.len, 7);
	ck_assert(rec.last);
	ck_assert_mem_eq(rec.content, "defghij", 7);
	ck_assert(p.in_body);
	/* Padding only: consumed, nothing ready. */
	ck_assert_int_eq(hn_fcgi_parse(&p, buf + 20, 4, &rec, &ready), 4);
	ck_assert(!ready);
	ck_assert(!p.in_body);
	ck_assert_uint_eq(p.hdr_have, 0);
}
END_TEST

/* An empty record with padding (legal, if odd) is one empty piece. */
START_TEST(t_parse_empty_padded)
{
	static const unsigned char in[] = {
		1, HN_FCGI_STDIN, 0, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0,
		1, HN_FCGI_STDIN, 0, 1, 0, 1, 0, 0, 'z',
	};
	struct collect	 c;
	size_t		 i;

	for (i = 0; i <= sizeof(in); i++) {
		collect_init(&c, 16);
		collect_feed(&c, in, i);
		collect_feed(&c, in + i, sizeof(in) - i);
		collect_assert_idle(&c);
		ck_assert_uint_eq(c.nrecs, 2);
		ck_assert_uint_eq(c.recs[0].len, 0);
		ck_assert_uint_eq(c.recs[1].len, 1);
		ck_assert_uint_eq(c.data[0], 'z');
		collect_free(&c);
	}
}
END_TEST

START_TEST(t_parse_bad_version)
{
	static const unsigned char v0[] = { 0, 6, 0, 1, 0, 0, 0, 0 };
	static const unsigned char v2[] = { 2, 6, 0, 1, 0, 0, 0, 0 };
	struct hn_fcgi_parser	 p;
	struct hn_fcgi_record	 rec;
	unsigned char		 buf[64];
	size_t			 i;
	ssize_t			 n, r = 0;
	bool			 ready;

	hn_fcgi_parser_init(&p);
	ck_assert_int_eq(hn_fcgi_parse(&p, v0, sizeof(v0), &rec, &ready),
	    HN_EPROTO);
	ck_assert(!ready);
	/* Sticky: a broken stream stays broken. */
	ck_assert_int_eq(hn_fcgi_parse(&p, buf, 1, &rec, &ready), HN_EPROTO);
	hn_fcgi_parser_init(&p);
	ck_assert_int_eq(hn_fcgi_parse(&p, v2, sizeof(v2), &rec, &ready),
	    HN_EPROTO);

	/* After a good record, one byte at a time. */
	n = hn_fcgi_encode(buf, sizeof(buf), HN_FCGI_STDIN, 1, "hi", 2);
	memcpy(buf + n, v2, sizeof(v2));
	hn_fcgi_parser_init(&p);
	for (i = 0; i < (size_t)n + sizeof(v2); i++) {
		r = hn_fcgi_parse(&p, buf + i, 1, &rec, &ready);
		if (r < 0)
			break;
		ck_assert_int_eq(r, 1);
	}
	ck_assert_int_eq(r, HN_EPROTO);
	ck_assert_uint_eq(i, (size_t)n);	/* at the version byte */
}
END_TEST

/* Records of every kind and size, encoded then parsed in random splits. */
START_TEST(t_parse_roundtrip)
{
	enum { NREC = 60 };
	static const size_t	 sizes[] = { 0, 1, 7, 8, 9, 100, 65535, 65536,
	    70001 };
	struct {
		int	 type;
		uint16_t reqid;
		size_t	 len;
	}			 want[NREC];
	struct collect		 c;
	unsigned char		*content, *wire;
	size_t			 total = 0, wlen = 0, wsz = 0, i, j, off,
				 step, nexp;
	uint32_t		 seed = 0x1badcafe;
	ssize_t			 n;
	int			 mode;

	for (i = 0; i < NREC; i++) {
		want[i].type = 1 + (int)(rng_next(&seed) % 11);
		want[i].reqid = (uint16_t)rng_next(&seed);
		want[i].len = sizes[rng_next(&seed) % 9];
		if (rng_next(&seed) % 2)
			want[i].len = rng_next(&seed) % 300;
		total += want[i].len;
		wsz += hn_fcgi_encoded_len(want[i].len);
	}
	content = malloc(total + 1);
	wire = malloc(wsz);
	ck_assert_ptr_nonnull(content);
	ck_assert_ptr_nonnull(wire);
	for (i = 0; i < total; i++)
		content[i] = (unsigned char)rng_next(&seed);
	for (i = 0, off = 0; i < NREC; i++) {
		n = hn_fcgi_encode(wire + wlen, wsz - wlen, want[i].type,
		    want[i].reqid, content + off, want[i].len);
		ck_assert_int_gt(n, 0);
		wlen += (size_t)n;
		off += want[i].len;
	}
	ck_assert_uint_eq(wlen, wsz);

	for (mode = 0; mode < 4; mode++) {
		collect_init(&c, total);
		for (off = 0; off < wlen; off += step) {
			switch (mode) {
			case 0:
				step = wlen;
				break;
			case 1:
				step = 1 + rng_next(&seed) % 16;
				break;
			case 2:
				step = 1 + rng_next(&seed) % 9000;
				break;
			default:
				step = 1 + rng_next(&seed) % 100000;
				break;
			}
			if (step > wlen - off)
				step = wlen - off;
			collect_feed(&c, wire + off, step);
		}
		collect_assert_idle(&c);
		ck_assert_uint_eq(c.datalen, total);
		ck_assert_mem_eq(c.data, content, total);
		/* Long payloads were split into 65535-byte records. */
		for (i = 0, j = 0; i < NREC; i++) {
			nexp = want[i].len == 0 ? 1 :
			    (want[i].len + 65534) / 65535;
			for (off = 0; off < nexp; off++, j++) {
				ck_assert_uint_lt(j, c.nrecs);
				ck_assert_int_eq(c.recs[j].type, want[i].type);
				ck_assert_uint_eq(c.recs[j].reqid,
				    want[i].reqid);
			}
		}
		ck_assert_uint_eq(j, c.nrecs);
		collect_free(&c);
	}
	free(content);
	free(wire);
}
END_TEST

/* Random bytes, and valid streams with random bytes flipped: no crash, no
 * read past the input (ASan), progress on every call. */
START_TEST(t_parse_garbage)
{
	enum { SZ = 4096 };
	struct collect	 c;
	unsigned char	 buf[SZ], src[600], *w;
	uint32_t	 seed = 12345;
	size_t		 i, off, step, len;
	ssize_t		 n;
	int		 round;

	for (round = 0; round < 2000; round++) {
		if (round % 2 == 0) {
			for (i = 0; i < SZ; i++)
				buf[i] = (unsigned char)rng_next(&seed);
			/* Keep the version byte right often enough to get
			 * past the first header. */
			buf[0] = 1;
		} else {
			for (i = 0; i < sizeof(src); i++)
				src[i] = (unsigned char)rng_next(&seed);
			for (off = 0; off < SZ; off += (size_t)n) {
				len = rng_next(&seed) % 600;
				if (hn_fcgi_encoded_len(len) > SZ - off)
					break;
				w = buf + off;
				n = hn_fcgi_encode(w, SZ - off,
				    1 + (int)(rng_next(&seed) % 11),
				    (uint16_t)rng_next(&seed), src, len);
				ck_assert_int_gt(n, 0);
			}
			len = off;
			for (i = 0; i < 1 + rng_next(&seed) % 4; i++)
				buf[rng_next(&seed) % len] =
				    (unsigned char)rng_next(&seed);
			memset(buf + len, 1, SZ - len);
		}
		collect_init(&c, SZ);
		for (off = 0; off < SZ; off += step) {
			step = 1 + rng_next(&seed) % 300;
			if (step > SZ - off)
				step = SZ - off;
			collect_feed(&c, buf + off, step);
		}
		ck_assert(c.err == 0 || c.err == HN_EPROTO);
		ck_assert_uint_le(c.datalen, SZ);
		collect_free(&c);
	}
}
END_TEST

/* ---- against libfcgi ---------------------------------------------------- */

#define REQ_ID		0x2a17
#define BODY_LEN	200000
#define RESP_CHUNKS	3
#define RESP_BODY_LEN	150000
#define RESP_HEAD	"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
#define RESP_MAX	(1 << 20)

/* Test-local FastCGI name-value pair encoder (lengths of 1 or 4 bytes). */
static size_t
nv_len(unsigned char *p, size_t n)
{
	if (n < 128) {
		p[0] = (unsigned char)n;
		return 1;
	}
	p[0] = (unsigned char)(0x80 | n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	return 4;
}

static size_t
nv_put(unsigned char *p, const char *name, const char *value)
{
	size_t	 nl = strlen(name), vl = strlen(value), off = 0;

	off += nv_len(p + off, nl);
	off += nv_len(p + off, vl);
	memcpy(p + off, name, nl);
	off += nl;
	memcpy(p + off, value, vl);
	return off + vl;
}

/*
 * The socket's temp dir is made and removed by an unchecked fixture: it runs
 * in the runner's process, so the dir goes away even when a forked test
 * dies halfway through an exchange.
 */
static char	 sock_dir[64];
static char	 sock_path[128];

static void
sock_setup(void)
{
	int	 n;

	strcpy(sock_dir, "/tmp/hn-fcgi-XXXXXX");
	if (mkdtemp(sock_dir) == NULL)
		ck_abort_msg("mkdtemp: %s", strerror(errno));
	n = snprintf(sock_path, sizeof(sock_path), "%s/sock", sock_dir);
	if (n <= 0 || (size_t)n >= sizeof(sock_path) ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		ck_abort_msg("socket path too long");
}

static void
sock_teardown(void)
{
	unlink(sock_path);
	rmdir(sock_dir);
}

struct conv {
	/* client side: what it writes and what it reads back */
	unsigned char	*req;
	size_t		 reqlen;
	unsigned char	*resp;
	size_t		 resplen;
	int		 client_err;
	/* what libfcgi saw */
	char		 long_value[301];
	char		 long_name[201];
	unsigned char	*body;
	unsigned char	*resp_body;
};

/* The "web server": connects, writes our request, reads until EOF. */
static void *
client_main(void *arg)
{
	struct conv		*cv = arg;
	struct sockaddr_un	 sun;
	size_t			 off;
	ssize_t			 n;
	int			 fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1) {
		cv->client_err = errno;
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sock_path);	/* checked to fit in sock_setup */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		cv->client_err = errno;
		close(fd);
		return NULL;
	}
	for (off = 0; off < cv->reqlen; off += (size_t)n) {
		n = write(fd, cv->req + off, cv->reqlen - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			cv->client_err = errno ? errno : EIO;
			close(fd);
			return NULL;
		}
	}
	for (;;) {
		if (cv->resplen == RESP_MAX) {
			cv->client_err = ENOSPC;
			break;
		}
		n = read(fd, cv->resp + cv->resplen, RESP_MAX - cv->resplen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			cv->client_err = errno;
			break;
		}
		if (n == 0)
			break;
		cv->resplen += (size_t)n;
	}
	close(fd);
	return NULL;
}

/* Appends one encoded record run to the request. */
static void
req_add(struct conv *cv, size_t sz, int type, const void *data, size_t len)
{
	ssize_t	 n;

	n = hn_fcgi_encode(cv->req + cv->reqlen, sz - cv->reqlen, type,
	    REQ_ID, data, len);
	ck_assert_int_eq(n, (ssize_t)hn_fcgi_encoded_len(len));
	cv->reqlen += (size_t)n;
}

/* Builds the request with our encoder: BEGIN, PARAMS (two records and the
 * empty one), STDIN (several records and the empty one). */
static void
req_build(struct conv *cv)
{
	unsigned char	 begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };	/* RESPONDER */
	unsigned char	 params[2048];
	size_t		 plen = 0, sz, i, cut;

	memset(cv->long_value, 'v', 300);
	cv->long_value[0] = '<';
	cv->long_value[299] = '>';
	cv->long_value[300] = '\0';
	for (i = 0; i < 200; i++)
		cv->long_name[i] = (char)('A' + i % 26);
	cv->long_name[200] = '\0';

	plen += nv_put(params + plen, "REQUEST_METHOD", "POST");
	plen += nv_put(params + plen, "SCRIPT_NAME", "/herenow/sse");
	plen += nv_put(params + plen, "QUERY_STRING", "page=%2Fpost%2Fx&v=ab");
	plen += nv_put(params + plen, "CONTENT_LENGTH", "200000");
	plen += nv_put(params + plen, "HTTP_X_EMPTY", "");
	cut = plen + 3;		/* split the next pair inside its lengths */
	plen += nv_put(params + plen, "HTTP_X_LONG", cv->long_value);
	plen += nv_put(params + plen, cv->long_name, "short");
	plen += nv_put(params + plen, "LAST", "1");
	ck_assert_uint_lt(plen, sizeof(params));

	cv->body = malloc(BODY_LEN);
	ck_assert_ptr_nonnull(cv->body);
	for (i = 0; i < BODY_LEN; i++)
		cv->body[i] = (unsigned char)(i % 251 ^ i >> 8);

	sz = hn_fcgi_encoded_len(8) + hn_fcgi_encoded_len(cut) +
	    hn_fcgi_encoded_len(plen - cut) + hn_fcgi_encoded_len(0) +
	    hn_fcgi_encoded_len(BODY_LEN) + hn_fcgi_encoded_len(0);
	cv->req = malloc(sz);
	ck_assert_ptr_nonnull(cv->req);
	req_add(cv, sz, HN_FCGI_BEGIN_REQUEST, begin, sizeof(begin));
	req_add(cv, sz, HN_FCGI_PARAMS, params, cut);
	req_add(cv, sz, HN_FCGI_PARAMS, params + cut, plen - cut);
	req_add(cv, sz, HN_FCGI_PARAMS, NULL, 0);
	req_add(cv, sz, HN_FCGI_STDIN, cv->body, BODY_LEN);
	req_add(cv, sz, HN_FCGI_STDIN, NULL, 0);
	ck_assert_uint_eq(cv->reqlen, sz);
}

/*
 * One whole exchange over a listening unix socket: libfcgi accepts our
 * request (checked here: params and body) and answers with FCGX_PutStr;
 * the client thread keeps the raw response bytes in cv->resp.
 */
static void
converse(struct conv *cv)
{
	FCGX_Request	 req;
	pthread_t	 th;
	unsigned char	*got;
	const char	*v;
	size_t		 glen, i, chunk;
	int		 lfd, n;

	memset(cv, 0, sizeof(*cv));
	unlink(sock_path);	/* left over by an earlier test */
	req_build(cv);
	cv->resp = malloc(RESP_MAX);
	ck_assert_ptr_nonnull(cv->resp);

	ck_assert_int_eq(FCGX_Init(), 0);
	lfd = FCGX_OpenSocket(sock_path, 5);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(FCGX_InitRequest(&req, lfd, 0), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, client_main, cv), 0);
	ck_assert_int_eq(FCGX_Accept_r(&req), 0);

	/* (a) libfcgi decoded our records. */
	ck_assert_int_eq(req.role, 1);
	ck_assert_int_eq(req.requestId, REQ_ID);
	ck_assert_str_eq(FCGX_GetParam("REQUEST_METHOD", req.envp), "POST");
	ck_assert_str_eq(FCGX_GetParam("SCRIPT_NAME", req.envp),
	    "/herenow/sse");
	ck_assert_str_eq(FCGX_GetParam("QUERY_STRING", req.envp),
	    "page=%2Fpost%2Fx&v=ab");
	ck_assert_str_eq(FCGX_GetParam("CONTENT_LENGTH", req.envp), "200000");
	ck_assert_str_eq(FCGX_GetParam("HTTP_X_EMPTY", req.envp), "");
	v = FCGX_GetParam("HTTP_X_LONG", req.envp);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, cv->long_value);
	ck_assert_str_eq(FCGX_GetParam(cv->long_name, req.envp), "short");
	ck_assert_str_eq(FCGX_GetParam("LAST", req.envp), "1");
	ck_assert_ptr_null(FCGX_GetParam("HTTP_X_ABSENT", req.envp));

	got = malloc(BODY_LEN + 1);
	ck_assert_ptr_nonnull(got);
	glen = 0;
	while (glen <= BODY_LEN) {
		n = FCGX_GetStr((char *)got + glen, (int)(BODY_LEN + 1 - glen),
		    req.in);
		if (n <= 0)
			break;
		glen += (size_t)n;
	}
	ck_assert_uint_eq(glen, BODY_LEN);
	ck_assert_mem_eq(got, cv->body, BODY_LEN);
	ck_assert(FCGX_HasSeenEOF(req.in) == EOF);
	free(got);

	/* (b) libfcgi answers; the client thread keeps the bytes. */
	cv->resp_body = malloc(RESP_BODY_LEN);
	ck_assert_ptr_nonnull(cv->resp_body);
	for (i = 0; i < RESP_BODY_LEN; i++)
		cv->resp_body[i] = (unsigned char)('a' + (i * 13 + i / 977) % 26);
	ck_assert_int_eq(FCGX_PutStr(RESP_HEAD, (int)strlen(RESP_HEAD),
	    req.out), (int)strlen(RESP_HEAD));
	chunk = RESP_BODY_LEN / RESP_CHUNKS;
	for (i = 0; i < RESP_BODY_LEN; i += chunk) {
		if (chunk > RESP_BODY_LEN - i)
			chunk = RESP_BODY_LEN - i;
		ck_assert_int_eq(FCGX_PutStr((char *)cv->resp_body + i,
		    (int)chunk, req.out), (int)chunk);
	}
	FCGX_Finish_r(&req);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(cv->client_err, 0);
	close(lfd);
	unlink(sock_path);
}

static void
conv_free(struct conv *cv)
{
	free(cv->req);
	free(cv->resp);
	free(cv->body);
	free(cv->resp_body);
}

START_TEST(t_libfcgi_reads_ours)
{
	struct conv	 cv;

	converse(&cv);	/* the checks of (a) are inside */
	ck_assert_uint_gt(cv.resplen, RESP_BODY_LEN);
	conv_free(&cv);
}
END_TEST

/*
 * What our parser must reconstruct from libfcgi's answer: the STDOUT
 * content, then the empty STDOUT record, then FCGI_END_REQUEST with
 * protocolStatus FCGI_REQUEST_COMPLETE, all with our request id.  libfcgi
 * may close an empty FCGI_STDERR stream too; it must carry nothing.
 */
static void
check_response(const struct conv *cv, const struct collect *c)
{
	const struct piece_rec	*r;
	size_t			 i, j, out = 0, hlen = strlen(RESP_HEAD);
	int			 stdout_ended = 0, end = 0, stdout_recs = 0;

	collect_assert_idle(c);
	for (i = 0; i < c->nrecs; i++) {
		r = &c->recs[i];
		ck_assert_uint_eq(r->reqid, REQ_ID);
		ck_assert_msg(!end, "record after FCGI_END_REQUEST");
		switch (r->type) {
		case HN_FCGI_STDOUT:
			ck_assert(!stdout_ended);
			if (r->len == 0) {
				stdout_ended = 1;
				break;
			}
			stdout_recs++;
			ck_assert_uint_le(out + r->len, hlen + RESP_BODY_LEN);
			out += r->len;
			break;
		case HN_FCGI_STDERR:
			ck_assert_uint_eq(r->len, 0);
			break;
		case HN_FCGI_END_REQUEST:
			ck_assert(stdout_ended);
			ck_assert_uint_eq(r->len, 8);
			/* appStatus 0, protocolStatus 0, reserved 0 */
			for (j = 0; j < 8; j++)
				ck_assert_uint_eq(c->data[r->off + j], 0);
			end = 1;
			break;
		default:
			ck_abort_msg("unexpected record type %d", r->type);
		}
	}
	ck_assert(end);
	ck_assert_uint_eq(c->recs[c->nrecs - 1].type, HN_FCGI_END_REQUEST);
	ck_assert_uint_gt(stdout_recs, 1);	/* libfcgi writes in records */
	ck_assert_uint_eq(out, hlen + RESP_BODY_LEN);
	/* STDOUT pieces sit first in c->data, in order. */
	ck_assert_mem_eq(c->data, RESP_HEAD, hlen);
	ck_assert_mem_eq(c->data + hlen, cv->resp_body, RESP_BODY_LEN);
}

START_TEST(t_ours_reads_libfcgi)
{
	struct conv	 cv;
	struct collect	 c;
	size_t		 i, k, off, step, limit;
	uint32_t	 seed = 777;

	converse(&cv);

	/* In one piece. */
	collect_init(&c, cv.resplen);
	collect_feed(&c, cv.resp, cv.resplen);
	check_response(&cv, &c);
	collect_free(&c);

	/* One byte at a time. */
	collect_init(&c, cv.resplen);
	for (i = 0; i < cv.resplen; i++)
		collect_feed(&c, cv.resp + i, 1);
	check_response(&cv, &c);
	collect_free(&c);

	/* Every split point of the first few hundred bytes. */
	limit = cv.resplen < 400 ? cv.resplen : 400;
	for (k = 0; k <= limit; k++) {
		collect_init(&c, cv.resplen);
		collect_feed(&c, cv.resp, k);
		collect_feed(&c, cv.resp + k, cv.resplen - k);
		check_response(&cv, &c);
		collect_free(&c);
	}

	/* And the tail: the records around the end of the stream. */
	for (k = cv.resplen - 64; k <= cv.resplen; k++) {
		collect_init(&c, cv.resplen);
		collect_feed(&c, cv.resp, k);
		collect_feed(&c, cv.resp + k, cv.resplen - k);
		check_response(&cv, &c);
		collect_free(&c);
	}

	/* Random splits, the way lighttpd's reads fall. */
	for (i = 0; i < 20; i++) {
		collect_init(&c, cv.resplen);
		for (off = 0; off < cv.resplen; off += step) {
			step = 1 + rng_next(&seed) % 20000;
			if (step > cv.resplen - off)
				step = cv.resplen - off;
			collect_feed(&c, cv.resp + off, step);
		}
		check_response(&cv, &c);
		collect_free(&c);
	}
	conv_free(&cv);
}
END_TEST

static Suite *
fcgi_stream_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("fcgi_stream");

	tc = tcase_create("encode");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_encoded_len);
	tcase_add_test(tc, t_header_exact);
	tcase_add_test(tc, t_empty_record);
	tcase_add_test(tc, t_padding);
	tcase_add_test(tc, t_reqids);
	tcase_add_test(tc, t_split_records);
	tcase_add_test(tc, t_short_buffer);
	tcase_add_test(tc, t_bad_args);
	tcase_add_test(tc, t_encode_end);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_parse_basic);
	tcase_add_test(tc, t_parse_partial);
	tcase_add_test(tc, t_parse_empty_padded);
	tcase_add_test(tc, t_parse_bad_version);
	tcase_add_test(tc, t_parse_roundtrip);
	tcase_add_test(tc, t_parse_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("libfcgi");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, sock_setup, sock_teardown);
	tcase_add_test(tc, t_libfcgi_reads_ours);
	tcase_add_test(tc, t_ours_reads_libfcgi);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return hn_check_run(fcgi_stream_suite());
}
