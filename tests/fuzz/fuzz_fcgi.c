/*
 * libFuzzer target for the FastCGI record parser: the input after its first
 * byte is fed in pieces whose sizes follow a generator seeded by that byte,
 * and the parser's promises are checked on every call.  Then the same bytes
 * go through the encoder and must parse back unchanged.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint32_t
fuzz_rng(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/*
 * Feeds in/len to p in pieces, the way the event loop does.  Each piece is
 * copied to its own heap block so a read past it is caught by ASan.
 * Returns the content bytes handed out (also appended to out when not
 * NULL), or -1 after HN_EPROTO.
 */
static long
fuzz_feed(struct hn_fcgi_parser *p, const uint8_t *in, size_t len,
    uint32_t *seed, uint8_t *out, size_t *records)
{
	struct hn_fcgi_record	 rec;
	uint8_t			*piece, *cur;
	size_t			 off, step, left;
	ssize_t			 n;
	long			 total = 0;
	bool			 ready, mid = false;
	int			 type = 0;
	uint16_t		 reqid = 0;

	for (off = 0; off < len; off += step) {
		/* Mostly small pieces, now and then the whole rest. */
		step = fuzz_rng(seed) % 8 == 0 ? len - off :
		    1 + fuzz_rng(seed) % 64;
		if (step > len - off)
			step = len - off;
		if ((piece = malloc(step)) == NULL)
			abort();
		memcpy(piece, in + off, step);
		cur = piece;
		left = step;
		while (left > 0) {
			n = hn_fcgi_parse(p, cur, left, &rec, &ready);
			if (n == HN_EPROTO) {
				if (ready)
					abort();
				free(piece);
				return -1;
			}
			if (n < 0 || (size_t)n > left || (n == 0 && !ready))
				abort();
			if (ready) {
				if (rec.content < cur ||
				    rec.content + rec.len > cur + n ||
				    rec.len > HN_FCGI_MAX_CONTENT ||
				    (rec.len == 0 && !rec.last))
					abort();
				/* Pieces of one record agree on its head. */
				if (mid && (rec.type != type ||
				    rec.reqid != reqid))
					abort();
				type = rec.type;
				reqid = rec.reqid;
				mid = !rec.last;
				if (rec.last)
					(*records)++;
				if (out != NULL && rec.len > 0)
					memcpy(out + total, rec.content,
					    rec.len);
				total += (long)rec.len;
			}
			cur += n;
			left -= (size_t)n;
		}
		free(piece);
	}
	return total;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hn_fcgi_parser	 p;
	uint8_t			*wire, *back;
	size_t			 wlen, records = 0;
	uint32_t		 seed;
	ssize_t			 n;
	long			 got;
	int			 type;

	if (size < 1)
		return 0;
	seed = 0x9e3779b9u ^ ((uint32_t)data[0] * 0x01010101u);
	type = 1 + data[0] % 11;
	data++;
	size--;

	/* The input as a record stream: anything goes, nothing may break. */
	hn_fcgi_parser_init(&p);
	got = fuzz_feed(&p, data, size, &seed, NULL, &records);
	if (got > (long)size)
		abort();

	/* The input as content: encode, parse back, compare. */
	wlen = hn_fcgi_encoded_len(size);
	if ((wire = malloc(wlen)) == NULL || (back = malloc(size + 1)) == NULL)
		abort();
	n = hn_fcgi_encode(wire, wlen, type, (uint16_t)seed, data, size);
	if (n < 0 || (size_t)n != wlen ||
	    hn_fcgi_encode(wire, wlen - 1, type, 1, data, size) != HN_ETOOBIG)
		abort();
	hn_fcgi_parser_init(&p);
	records = 0;
	got = fuzz_feed(&p, wire, wlen, &seed, back, &records);
	if (got != (long)size || memcmp(back, data, size) != 0 ||
	    records != (size == 0 ? 1 : (size + 65534) / 65535) ||
	    p.hdr_have != 0 || p.in_body)
		abort();
	free(wire);
	free(back);
	return 0;
}
