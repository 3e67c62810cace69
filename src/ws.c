/*
 * WebSocket (RFC 6455), server side, as a pure codec: the opening
 * handshake's checks, server frames out, masked client frames in.  Bytes
 * in, bytes or events out; no descriptor, no clock.  SHA-1 and base64 live
 * in crypto.c.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

#define WS_FIN			0x80
#define WS_RSV			0x70
#define WS_OPCODE		0x0f
#define WS_MASK			0x80
#define WS_LEN7			0x7f
#define WS_LEN16		126	/* a 16-bit length follows */
#define WS_LEN64		127	/* a 64-bit length follows */
#define WS_CONTROL_MAX		125	/* payload of control frames */
#define WS_REASON_MAX		(WS_CONTROL_MAX - 2)
#define WS_HEADER_MAX		14	/* 2 + 8 length + 4 mask */
#define WS_KEY_LEN		24	/* base64 of 16 bytes */
#define WS_KEY_BYTES		16

static bool	ws_ows(char);
static bool	ws_has_token(const char *, const char *);
static const char *ws_trim(const char *, size_t *);
static bool	ws_close_code_ok(unsigned);
static bool	ws_utf8_valid(const unsigned char *, size_t, bool);
static size_t	ws_utf8_resync(const unsigned char *, size_t);
static ssize_t	ws_fail(struct hn_ws_event *, uint16_t, const char *);

/* ---- the opening handshake ---------------------------------------------- */

static bool
ws_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* s without the optional white space (RFC 7230 §3.2.3) around it. */
static const char *
ws_trim(const char *s, size_t *len)
{
	size_t	 n;

	while (ws_ows(*s))
		s++;
	n = strlen(s);
	while (n > 0 && ws_ows(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/*
 * True when the comma-separated list holds token, compared ASCII
 * case-insensitively (token is lower case): "keep-alive, Upgrade" holds
 * "upgrade", "upgradex" does not.  Empty elements are allowed (RFC 7230
 * §7).  No locale: strcasecmp's idea of case may differ.
 */
static bool
ws_has_token(const char *list, const char *token)
{
	const char	*s = list, *e;
	size_t		 tlen = strlen(token), n, i;
	char		 c;

	for (;;) {
		while (ws_ows(*s))
			s++;
		for (e = s; *e != '\0' && *e != ','; e++)
			;
		n = (size_t)(e - s);
		while (n > 0 && ws_ows(s[n - 1]))
			n--;
		if (n == tlen) {
			for (i = 0; i < n; i++) {
				c = s[i];
				if (c >= 'A' && c <= 'Z')
					c = (char)(c - 'A' + 'a');
				if (c != token[i])
					break;
			}
			if (i == n)
				return true;
		}
		if (*e == '\0')
			return false;
		s = e + 1;
	}
}

/*
 * NOTES
 * - The method is compared case-sensitively: HTTP methods are (RFC 7231
 *   §4.1), and lighttpd hands it over as the client sent it.
 * - Upgrade must hold "websocket" itself; "websocket/13" is another
 *   protocol token as far as RFC 7230 §6.7 goes, and no client sends it.
 * - The version is checked before the key, so a client speaking an older
 *   draft learns which version to use (426) even if its key is odd too.
 */
int
hn_ws_handshake(const char *method, const char *upgrade,
    const char *connection, const char *version, const char *key,
    char accept[HN_WS_ACCEPT_LEN + 1], const char **why)
{
	const char	*v;
	char		 k[WS_KEY_LEN + 1];
	size_t		 n;

	if (method == NULL || strcmp(method, "GET") != 0) {
		*why = "method is not GET";
		return HN_EINVAL;
	}
	if (upgrade == NULL || !ws_has_token(upgrade, "websocket")) {
		*why = "no Upgrade: websocket";
		return HN_EINVAL;
	}
	if (connection == NULL || !ws_has_token(connection, "upgrade")) {
		*why = "no Connection: Upgrade";
		return HN_EINVAL;
	}
	if (version == NULL) {
		*why = "no Sec-WebSocket-Version";
		return HN_EINVAL;
	}
	v = ws_trim(version, &n);
	if (n != 2 || memcmp(v, "13", 2) != 0) {
		*why = "Sec-WebSocket-Version is not 13";
		return HN_EPROTO;
	}
	if (key == NULL) {
		*why = "no Sec-WebSocket-Key";
		return HN_EINVAL;
	}
	v = ws_trim(key, &n);
	if (n != WS_KEY_LEN) {
		*why = "Sec-WebSocket-Key is not 24 characters";
		return HN_EINVAL;
	}
	memcpy(k, v, n);
	k[n] = '\0';
	if (!hn_base64_valid(k, WS_KEY_BYTES)) {
		*why = "Sec-WebSocket-Key is not the base64 of 16 bytes";
		return HN_EINVAL;
	}
	hn_ws_accept_key(k, accept);
	return HN_OK;
}

/* ---- server frames ------------------------------------------------------ */

size_t
hn_ws_frame_len(size_t len)
{
	size_t	 hlen;

	if (len <= WS_CONTROL_MAX)
		hlen = 2;
	else if (len <= 0xffff)
		hlen = 4;
	else
		hlen = 10;
	/* Saturate so that the caller's outsz check fails. */
	return len > SIZE_MAX - hlen ? SIZE_MAX : hlen + len;
}

/* payload may overlap out: a caller may build the payload in place. */
ssize_t
hn_ws_encode(unsigned char *out, size_t outsz, int opcode,
    const void *payload, size_t len)
{
	uint64_t	 l = len;
	size_t		 need, h = 0;
	int		 i;

	switch (opcode) {
	case HN_WS_OP_TEXT:
	case HN_WS_OP_BINARY:
		break;
	case HN_WS_OP_CLOSE:
	case HN_WS_OP_PING:
	case HN_WS_OP_PONG:
		if (len > WS_CONTROL_MAX)
			return HN_EINVAL;
		break;
	default:
		/* CONT with FIN set would end a message never begun. */
		return HN_EINVAL;
	}
	if (payload == NULL && len > 0)
		return HN_EINVAL;
	need = hn_ws_frame_len(len);
	if (need > outsz || need > SSIZE_MAX)
		return HN_ETOOBIG;

	/* The payload first: it may sit where the header goes. */
	if (len > 0)
		memmove(out + (need - len), payload, len);
	out[h++] = (unsigned char)(WS_FIN | opcode);
	if (len <= WS_CONTROL_MAX)
		out[h++] = (unsigned char)len;
	else if (len <= 0xffff) {
		out[h++] = WS_LEN16;
		out[h++] = (unsigned char)(len >> 8);
		out[h++] = (unsigned char)len;
	} else {
		out[h++] = WS_LEN64;
		for (i = 7; i >= 0; i--)
			out[h++] = (unsigned char)(l >> (8 * i));
	}
	return (ssize_t)need;
}

ssize_t
hn_ws_encode_close(unsigned char *out, size_t outsz, uint16_t code,
    const char *reason)
{
	unsigned char	 body[WS_CONTROL_MAX];
	size_t		 rlen;

	if (!ws_close_code_ok(code))
		return HN_EINVAL;
	rlen = reason == NULL ? 0 : strnlen(reason, WS_REASON_MAX + 1);
	if (rlen > WS_REASON_MAX) {
		/* reason[rlen] is the first byte left out: when it continues
		 * a character, leave out that whole character (at most 3
		 * bytes back; more is not UTF-8 anyway). */
		rlen = WS_REASON_MAX;
		while (rlen > WS_REASON_MAX - 3 &&
		    ((unsigned char)reason[rlen] & 0xc0) == 0x80)
			rlen--;
	}
	body[0] = (unsigned char)(code >> 8);
	body[1] = (unsigned char)code;
	if (rlen > 0)
		memcpy(body + 2, reason, rlen);
	return hn_ws_encode(out, outsz, HN_WS_OP_CLOSE, body, 2 + rlen);
}

/* ---- client frames ------------------------------------------------------ */

/* RFC 6455 §7.4: codes a peer may put in a close frame (1004-1006 and
 * 1015 are reserved, 1012-2999 not ours to accept unregistered). */
static bool
ws_close_code_ok(unsigned code)
{
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1011) ||
	    (code >= 3000 && code <= 4999);
}

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF.  With partial, a character cut short by the end of s passes
 * when its bytes so far can still begin a valid one: a fragment may end in
 * the middle of a character, and a bad one is caught without waiting for
 * the end of the message.
 */
static bool
ws_utf8_valid(const unsigned char *s, size_t n, bool partial)
{
	size_t		 i = 0, need, k;
	unsigned char	 c, lo, hi;

	while (i < n) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		/* The second byte's range rules out overlongs, surrogates
		 * and code points past U+10FFFF. */
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		for (k = 1; k <= need; k++) {
			if (i + k >= n)
				return partial;
			if (s[i + k] < lo || s[i + k] > hi)
				return false;
			lo = 0x80;
			hi = 0xbf;
		}
		i += need + 1;
	}
	return true;
}

/*
 * Where to resume checking a message whose first n bytes passed
 * ws_utf8_valid(.., true): a character starts there, and only the last
 * character (at most 3 bytes of it) may still be incomplete.  Checking
 * from there costs the new bytes, not the whole message again (a client
 * may send any number of empty continuation frames).
 */
static size_t
ws_utf8_resync(const unsigned char *s, size_t n)
{
	size_t	 i = n > 3 ? n - 3 : 0;

	while (i < n && (s[i] & 0xc0) == 0x80)
		i++;
	return i;
}

static ssize_t
ws_fail(struct hn_ws_event *ev, uint16_t code, const char *why)
{
	ev->type = HN_WS_EV_NONE;
	ev->code = code;
	ev->data = (const unsigned char *)why;
	ev->len = strlen(why);
	return HN_EPROTO;
}

void
hn_ws_parser_init(struct hn_ws_parser *p, size_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->max_message = max_message;
}

void
hn_ws_parser_free(struct hn_ws_parser *p)
{
	if (p == NULL)
		return;
	free(p->frag);
	p->frag = NULL;
	p->frag_len = 0;
	p->frag_done = false;
}

/*
 * NOTES
 * - Every check is made as soon as the bytes it needs are in buf, in the
 *   order they arrive: a binary frame fails with its first byte, an
 *   oversize one with its length, long before its payload could arrive
 *   (a client must not make us wait for, or hold, what we will refuse).
 *   So the outcome for a prefix that fails is the outcome for any longer
 *   input, however it is split.
 * - Nothing is changed (no unmasking, no allocation) before a frame is
 *   complete: a call that returns 0 may be repeated with more bytes.
 * - max_message bounds data frames and messages; control frames have
 *   their own bound of 125 bytes (§5.5) whatever max_message is.
 * - A length not in its shortest form (§5.2 "MUST") is accepted: it costs
 *   nothing, and refusing it protects nothing.
 * - Only text reaches the reassembly buffer (binary fails at once), so the
 *   message in progress needs no opcode.
 */
ssize_t
hn_ws_parse(struct hn_ws_parser *p, unsigned char *buf, size_t len,
    struct hn_ws_event *ev)
{
	const unsigned char	*mask;
	unsigned char		*pl;
	uint64_t		 plen;
	size_t			 hlen, i, start, room;
	unsigned		 code;
	int			 op;
	bool			 fin;

	memset(ev, 0, sizeof(*ev));
	/* The message handed out last time was valid until this call. */
	if (p->frag_done)
		hn_ws_parser_free(p);
	if (len < 1)
		return 0;

	if (p->closed)
		return ws_fail(ev, HN_WS_CLOSE_PROTOCOL, "frame after close");
	if (buf[0] & WS_RSV)
		return ws_fail(ev, HN_WS_CLOSE_PROTOCOL, "reserved bits set");
	fin = (buf[0] & WS_FIN) != 0;
	op = buf[0] & WS_OPCODE;
	switch (op) {
	case HN_WS_OP_CONT:
		if (p->frag == NULL)
			return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
			    "continuation without a message");
		break;
	case HN_WS_OP_TEXT:
	case HN_WS_OP_BINARY:
		if (p->frag != NULL)
			return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
			    "new message inside a fragmented one");
		if (op == HN_WS_OP_BINARY)
			return ws_fail(ev, HN_WS_CLOSE_DATA,
			    "binary messages are not accepted");
		break;
	case HN_WS_OP_CLOSE:
	case HN_WS_OP_PING:
	case HN_WS_OP_PONG:
		if (!fin)
			return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
			    "fragmented control frame");
		break;
	default:
		return ws_fail(ev, HN_WS_CLOSE_PROTOCOL, "unknown opcode");
	}

	if (len < 2)
		return 0;
	if (!(buf[1] & WS_MASK))
		return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
		    "client frame not masked");
	plen = buf[1] & WS_LEN7;
	hlen = 2;
	if (op >= HN_WS_OP_CLOSE && plen > WS_CONTROL_MAX)
		return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
		    "control frame over 125 bytes");
	if (plen == WS_LEN16) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		hlen = 4;
	} else if (plen == WS_LEN64) {
		if (len < 10)
			return 0;
		plen = 0;
		for (i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		if (plen >> 63)
			return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
			    "frame length with its top bit set");
		hlen = 10;
	}
	if (op < HN_WS_OP_CLOSE) {
		room = p->max_message > p->frag_len ?
		    p->max_message - p->frag_len : 0;
		if (plen > room)
			return ws_fail(ev, HN_WS_CLOSE_TOO_BIG,
			    "message too big");
	}
	hlen += 4;			/* the masking key */
	/* The frame's length must fit the return value. */
	if (plen > (uint64_t)(SSIZE_MAX - hlen))
		return ws_fail(ev, HN_WS_CLOSE_TOO_BIG, "message too big");
	if (len < hlen || len - hlen < plen)
		return 0;

	/* The first fragment: get the buffer before anything is changed,
	 * so that a failure leaves the input as it was. */
	if (op == HN_WS_OP_TEXT && !fin) {
		p->frag = malloc(p->max_message > 0 ? p->max_message : 1);
		if (p->frag == NULL) {
			ws_fail(ev, HN_WS_CLOSE_INTERNAL, "out of memory");
			return HN_ENOMEM;
		}
		p->frag_len = 0;
	}

	mask = buf + hlen - 4;
	pl = buf + hlen;
	for (i = 0; i < plen; i++)
		pl[i] ^= mask[i & 3];

	switch (op) {
	case HN_WS_OP_TEXT:
		if (fin) {
			if (!ws_utf8_valid(pl, plen, false))
				return ws_fail(ev, HN_WS_CLOSE_UTF8,
				    "text is not valid UTF-8");
			ev->type = HN_WS_EV_TEXT;
			ev->data = pl;
			ev->len = plen;
			break;
		}
		/* FALLTHROUGH */
	case HN_WS_OP_CONT:
		start = ws_utf8_resync(p->frag, p->frag_len);
		if (plen > 0)
			memcpy(p->frag + p->frag_len, pl, plen);
		p->frag_len += plen;
		if (!ws_utf8_valid(p->frag + start, p->frag_len - start, !fin))
			return ws_fail(ev, HN_WS_CLOSE_UTF8,
			    "text is not valid UTF-8");
		if (fin) {
			ev->type = HN_WS_EV_TEXT;
			ev->data = p->frag;
			ev->len = p->frag_len;
			p->frag_done = true;
		}
		break;
	case HN_WS_OP_PING:
	case HN_WS_OP_PONG:
		ev->type = op == HN_WS_OP_PING ? HN_WS_EV_PING : HN_WS_EV_PONG;
		ev->data = pl;
		ev->len = plen;
		break;
	case HN_WS_OP_CLOSE:
		if (plen == 1)
			return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
			    "close frame of one byte");
		if (plen == 0)
			code = HN_WS_CLOSE_NO_STATUS;
		else {
			code = (unsigned)pl[0] << 8 | pl[1];
			if (!ws_close_code_ok(code))
				return ws_fail(ev, HN_WS_CLOSE_PROTOCOL,
				    "invalid close code");
			if (!ws_utf8_valid(pl + 2, plen - 2, false))
				return ws_fail(ev, HN_WS_CLOSE_UTF8,
				    "close reason is not valid UTF-8");
		}
		p->closed = true;
		ev->type = HN_WS_EV_CLOSE;
		ev->code = (uint16_t)code;
		ev->data = plen > 2 ? pl + 2 : pl;
		ev->len = plen > 2 ? plen - 2 : 0;
		break;
	}
	return (ssize_t)(hlen + plen);
}
