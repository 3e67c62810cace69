/*
 * FastCGI 1.0 records for held streams: a pure codec.  The event loop
 * encodes FCGI_STDOUT records into its own queues and writes them without
 * blocking, and parses what lighttpd sends on a held connection (FCGI_STDIN
 * pieces, later raw WebSocket bytes split anywhere).  No I/O here.
 */

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "hn.h"

#define FCGI_VERSION_1		1
#define FCGI_REQUEST_COMPLETE	0
#define FCGI_END_BODY_LEN	8

/* Padding that brings n bytes of content to a multiple of 8 (the spec's
 * recommendation, and what libfcgi itself does). */
static size_t
fcgi_pad(size_t n)
{
	return (8 - (n & 7)) & 7;
}

static void
fcgi_header(unsigned char *h, int type, uint16_t reqid, size_t clen,
    size_t plen)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(reqid >> 8);
	h[3] = (unsigned char)reqid;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)plen;
	h[7] = 0;
}

size_t
hn_fcgi_encoded_len(size_t len)
{
	size_t	 full, rest, n;

	if (len == 0)
		return HN_FCGI_HEADER_LEN;
	full = len / HN_FCGI_MAX_CONTENT;
	rest = len % HN_FCGI_MAX_CONTENT;
	/*
	 * Every full record costs 65535 + 1 padding + 8 header bytes: the
	 * overhead is under 1/7000 of len, so this only overflows for len
	 * near SIZE_MAX; saturate so the caller's outsz check fails.
	 */
	if (full > (SIZE_MAX - 2 * HN_FCGI_HEADER_LEN - HN_FCGI_MAX_CONTENT) /
	    (HN_FCGI_MAX_CONTENT + 1 + HN_FCGI_HEADER_LEN))
		return SIZE_MAX;
	n = full * (HN_FCGI_MAX_CONTENT + 1 + HN_FCGI_HEADER_LEN);
	if (rest > 0)
		n += HN_FCGI_HEADER_LEN + rest + fcgi_pad(rest);
	return n;
}

ssize_t
hn_fcgi_encode(unsigned char *out, size_t outsz, int type, uint16_t reqid,
    const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 need, off = 0, clen, plen;

	if (type < 1 || type > 255 || (data == NULL && len > 0))
		return HN_EINVAL;
	need = hn_fcgi_encoded_len(len);
	/* Check everything up front: on failure nothing is half written. */
	if (need > outsz || need > SSIZE_MAX)
		return HN_ETOOBIG;

	do {
		clen = len > HN_FCGI_MAX_CONTENT ? HN_FCGI_MAX_CONTENT : len;
		plen = fcgi_pad(clen);
		fcgi_header(out + off, type, reqid, clen, plen);
		off += HN_FCGI_HEADER_LEN;
		if (clen > 0)
			memcpy(out + off, p, clen);
		off += clen;
		memset(out + off, 0, plen);
		off += plen;
		p += clen;
		len -= clen;
	} while (len > 0);
	return (ssize_t)off;
}

ssize_t
hn_fcgi_encode_end(unsigned char *out, size_t outsz, uint16_t reqid,
    uint32_t app_status)
{
	unsigned char	*b;
	size_t		 need;

	need = 2 * HN_FCGI_HEADER_LEN + FCGI_END_BODY_LEN;
	if (outsz < need)
		return HN_ETOOBIG;
	fcgi_header(out, HN_FCGI_STDOUT, reqid, 0, 0);
	fcgi_header(out + HN_FCGI_HEADER_LEN, HN_FCGI_END_REQUEST, reqid,
	    FCGI_END_BODY_LEN, 0);
	b = out + 2 * HN_FCGI_HEADER_LEN;
	b[0] = (unsigned char)(app_status >> 24);
	b[1] = (unsigned char)(app_status >> 16);
	b[2] = (unsigned char)(app_status >> 8);
	b[3] = (unsigned char)app_status;
	b[4] = FCGI_REQUEST_COMPLETE;
	b[5] = b[6] = b[7] = 0;
	return (ssize_t)need;
}

void
hn_fcgi_parser_init(struct hn_fcgi_parser *p)
{
	memset(p, 0, sizeof(*p));
}

/*
 * NOTES
 * - A parser that met a bad version is left with hdr_have at
 *   HN_FCGI_HEADER_LEN (a complete header is otherwise consumed at once),
 *   so every later call fails too: a byte stream of records has no way to
 *   resynchronise.
 * - The record type is not checked: which types matter (STDIN, ABORT) is
 *   the caller's business, and the spec wants unknown ones answered, not
 *   treated as a broken stream.
 * - At most one piece per call keeps the borrowed pointer simple; padding
 *   that follows a finished record in the same input is skipped in the same
 *   call, the next header is left for the next call.
 */
ssize_t
hn_fcgi_parse(struct hn_fcgi_parser *p, const unsigned char *in, size_t len,
    struct hn_fcgi_record *rec, bool *ready)
{
	size_t	 off = 0, n;

	*ready = false;
	if (p->hdr_have >= HN_FCGI_HEADER_LEN)
		return HN_EPROTO;
	if (len > SSIZE_MAX)		/* the count must fit the return */
		len = SSIZE_MAX;

	while (off < len && !*ready) {
		if (!p->in_body) {
			n = HN_FCGI_HEADER_LEN - p->hdr_have;
			if (n > len - off)
				n = len - off;
			memcpy(p->hdr + p->hdr_have, in + off, n);
			p->hdr_have += n;
			off += n;
			/* Refuse as soon as the version byte is seen. */
			if (p->hdr[0] != FCGI_VERSION_1) {
				p->hdr_have = HN_FCGI_HEADER_LEN;
				return HN_EPROTO;
			}
			if (p->hdr_have < HN_FCGI_HEADER_LEN)
				break;
			p->type = p->hdr[1];
			p->reqid = (uint16_t)(p->hdr[2] << 8 | p->hdr[3]);
			p->content_left = (size_t)p->hdr[4] << 8 | p->hdr[5];
			p->padding_left = p->hdr[6];
			p->hdr_have = 0;
			p->in_body = true;
			if (p->content_left == 0) {
				/* An empty record is news of its own: it ends
				 * a stream (PARAMS, STDIN, STDOUT). */
				rec->type = p->type;
				rec->reqid = p->reqid;
				rec->content = in + off;
				rec->len = 0;
				rec->last = true;
				*ready = true;
			}
		} else if (p->content_left > 0) {
			n = p->content_left;
			if (n > len - off)
				n = len - off;
			rec->type = p->type;
			rec->reqid = p->reqid;
			rec->content = in + off;
			rec->len = n;
			p->content_left -= n;
			rec->last = p->content_left == 0;
			off += n;
			*ready = true;
		}
		/* Padding left over from this record or an earlier call. */
		if (p->in_body && p->content_left == 0) {
			n = p->padding_left;
			if (n > len - off)
				n = len - off;
			p->padding_left -= n;
			off += n;
			if (p->padding_left == 0)
				p->in_body = false;
		}
	}
	return (ssize_t)off;
}
