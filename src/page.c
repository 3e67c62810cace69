/*
 * Page keys, visitor ids and query strings (DESIGN §2, §6).  Pure code:
 * pointer and length in, caller's buffer out; no allocation, no globals.
 * Everything a reader sends passes through here before it is counted.
 */
#include <string.h>

#include "hn.h"

static int	hexval(unsigned char);
static int	utf8_check(const unsigned char *, size_t, const char **);
static int	query_name_is(const char *, size_t, const char *);
static int	query_decode(const char *, size_t, char *, size_t, size_t *);

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF, no truncated sequences; and no C0 or C1 control or DEL, which would
 * end up in logs and JSON of every reader of the page.
 */
static int
utf8_check(const unsigned char *s, size_t len, const char **why)
{
	size_t		 i, n, k;
	unsigned char	 c, lo, hi;

	for (i = 0; i < len; i += n) {
		c = s[i];
		if (c < 0x20 || c == 0x7f) {
			*why = "control character in page";
			return HN_EINVAL;
		}
		if (c < 0x80) {
			n = 1;
			continue;
		}
		/* The second byte's range rules out overlongs, surrogates
		 * and code points past U+10FFFF. */
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			*why = "invalid UTF-8 in page";
			return HN_EINVAL;
		}
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi) {
			*why = "invalid UTF-8 in page";
			return HN_EINVAL;
		}
		/* U+0080-U+009F: the C1 controls (NEL among them). */
		if (c == 0xc2 && s[i + 1] <= 0x9f) {
			*why = "control character in page";
			return HN_EINVAL;
		}
		for (k = 2; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80) {
				*why = "invalid UTF-8 in page";
				return HN_EINVAL;
			}
	}
	return 0;
}

int
hn_page_normalize(const char *in, size_t len, char *out, const char **why)
{
	/* Decoding never lengthens, so the raw bound bounds the buffers;
	 * the result is only measured at the end because ".." may shorten
	 * a path that was long on the way. */
	unsigned char	 dec[HN_PAGE_RAW_MAX];
	char		 path[HN_PAGE_RAW_MAX + 1];
	const char	*dummy, *q;
	size_t		 i, n, o, seg;
	int		 h1, h2, rc;

	if (why == NULL)
		why = &dummy;
	if (len > HN_PAGE_RAW_MAX) {
		*why = "page too long";
		return HN_ETOOBIG;
	}
	if (len > 0) {
		if ((q = memchr(in, '?', len)) != NULL)
			len = q - in;
		if ((q = memchr(in, '#', len)) != NULL)
			len = q - in;
	}
	if (len == 0 || in[0] != '/') {
		*why = "page must start with /";
		return HN_EINVAL;
	}

	for (i = n = 0; i < len; i++) {
		if (in[i] != '%') {
			dec[n++] = in[i];
			continue;
		}
		if (len - i < 3 ||
		    (h1 = hexval(in[i + 1])) < 0 ||
		    (h2 = hexval(in[i + 2])) < 0) {
			*why = "bad percent escape in page";
			return HN_EINVAL;
		}
		dec[n++] = h1 << 4 | h2;
		i += 2;
	}
	if ((rc = utf8_check(dec, n, why)) != 0)
		return rc;

	/*
	 * One pass over the segments: empty ones ("//", the trailing "/")
	 * and "." vanish, ".." removes the last kept segment or nothing at
	 * the root.  path holds "/seg/seg" without a trailing slash.
	 */
	o = 0;
	for (i = 0; i < n; i = seg) {
		while (i < n && dec[i] == '/')
			i++;
		for (seg = i; seg < n && dec[seg] != '/'; seg++)
			;
		if (seg == i)
			continue;
		if (seg - i == 1 && dec[i] == '.')
			continue;
		if (seg - i == 2 && dec[i] == '.' && dec[i + 1] == '.') {
			while (o > 0 && path[--o] != '/')
				;
			continue;
		}
		path[o++] = '/';
		memcpy(path + o, dec + i, seg - i);
		o += seg - i;
	}
	if (o == 0)
		path[o++] = '/';
	if (o > HN_PAGE_MAX) {
		*why = "page too long after normalisation";
		return HN_ETOOBIG;
	}
	memcpy(out, path, o);
	out[o] = '\0';
	return (int)o;
}

int
hn_visitor_valid(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (len == 0 || len > HN_VISITOR_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * 1 when the form-encoded name (len bytes) decodes to key exactly.  A name
 * with a bad escape matches nothing: it is someone else's parameter and
 * not ours to refuse.
 */
static int
query_name_is(const char *name, size_t len, const char *key)
{
	size_t	 i, k;
	int	 c, h1, h2;

	for (i = k = 0; i < len; i++, k++) {
		c = (unsigned char)name[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3 ||
			    (h1 = hexval(name[i + 1])) < 0 ||
			    (h2 = hexval(name[i + 2])) < 0)
				return 0;
			c = h1 << 4 | h2;
			i += 2;
		}
		/* key's NUL ends the comparison: a decoded %00 never
		 * matches, and neither does a longer name. */
		if (key[k] == '\0' || (unsigned char)key[k] != c)
			return 0;
	}
	return key[k] == '\0';
}

/*
 * Decodes a form value into out.  Runs to the end even when out is full so
 * that a bad escape is reported as such rather than as a long value.
 */
static int
query_decode(const char *v, size_t len, char *out, size_t outsz,
    size_t *outlen)
{
	size_t	 i, n;
	int	 c, h1, h2;

	for (i = n = 0; i < len; i++, n++) {
		c = (unsigned char)v[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3 ||
			    (h1 = hexval(v[i + 1])) < 0 ||
			    (h2 = hexval(v[i + 2])) < 0) {
				if (outsz > 0)
					out[0] = '\0';
				return HN_EINVAL;
			}
			c = h1 << 4 | h2;
			i += 2;
		}
		if (n + 1 < outsz)
			out[n] = c;
	}
	if (n + 1 > outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return HN_ETOOBIG;
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
	return 1;
}

int
hn_query_get(const char *query, size_t qlen, const char *key, char *out,
    size_t outsz, size_t *outlen)
{
	const char	*item, *end, *eq;
	size_t		 left, ilen, nlen;

	for (item = query, left = qlen; left > 0; ) {
		end = memchr(item, '&', left);
		ilen = end != NULL ? (size_t)(end - item) : left;
		eq = memchr(item, '=', ilen);
		nlen = eq != NULL ? (size_t)(eq - item) : ilen;
		if (query_name_is(item, nlen, key)) {
			if (eq == NULL)		/* "key" alone: empty value */
				return query_decode(NULL, 0, out, outsz,
				    outlen);
			return query_decode(eq + 1, ilen - nlen - 1, out,
			    outsz, outlen);
		}
		if (end == NULL)
			break;
		item = end + 1;
		left -= ilen + 1;
	}
	return 0;
}

int
hn_watch_parse(const char *in, size_t len, char pages[][HN_PAGE_MAX + 1],
    const char **why)
{
	char		 key[HN_PAGE_MAX + 1];
	const char	*item, *end, *dummy;
	size_t		 left, ilen;
	int		 n, i, rc;

	if (why == NULL)
		why = &dummy;
	n = 0;
	for (item = in, left = len; left > 0; ) {
		end = memchr(item, ',', left);
		ilen = end != NULL ? (size_t)(end - item) : left;
		if (ilen > 0) {
			if ((rc = hn_page_normalize(item, ilen, key, why)) < 0)
				return rc;
			for (i = 0; i < n; i++)
				if (strcmp(pages[i], key) == 0)
					break;
			if (i == n) {
				if (n == HN_WATCH_MAX) {
					*why = "too many watched pages";
					return HN_ETOOBIG;
				}
				memcpy(pages[n++], key, (size_t)rc + 1);
			}
		}
		if (end == NULL)
			break;
		item = end + 1;
		left -= ilen + 1;
	}
	return n;
}
