/*
 * libFuzzer target for hn_query_get, the parser of query strings and of
 * form bodies (beat, leave): checked against a model written here, with
 * every output size, and by encoding what it found into new queries that
 * must give it back (first occurrence wins, '&' alone separates).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "buf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_SENTINEL	((size_t)-1)


static int	model_hex(int);
static long	model_decode(const char *, size_t, char *);
static int	model_get(const char *, size_t, const char *, char *,
		    size_t *);
static void	buf_enc(struct fuzz_buf *, const char *, size_t, unsigned);
static void	check_get(const char *, size_t, const char *, size_t,
		    int, const char *, size_t);

static int
model_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Form decoding (%XX, '+' a space) of len bytes into out (len bytes
 * suffice); its length, or -1 on a bad escape. */
static long
model_decode(const char *s, size_t len, char *out)
{
	size_t	 i = 0;
	long	 n = 0;

	while (i < len) {
		if (s[i] == '%') {
			if (len - i < 3 ||
			    model_hex((unsigned char)s[i + 1]) < 0 ||
			    model_hex((unsigned char)s[i + 2]) < 0)
				return -1;
			out[n++] = (char)(model_hex((unsigned char)s[i + 1]) *
			    16 + model_hex((unsigned char)s[i + 2]));
			i += 3;
		} else {
			out[n++] = s[i] == '+' ? ' ' : s[i];
			i++;
		}
	}
	return n;
}

/*
 * What hn_query_get should say, found another way: every item between
 * '&'s, its name up to the first '=' decoded whole and compared with key
 * (a name with a bad escape is nobody's); the first match decides.
 * val: qlen + 1 bytes.  1 (val, *vlen), 0, or HN_EINVAL.
 */
static int
model_get(const char *q, size_t qlen, const char *key, char *val,
    size_t *vlen)
{
	char	*name;
	size_t	 start, end, eq, klen = strlen(key);
	long	 n;

	if ((name = malloc(qlen + 1)) == NULL)
		abort();
	for (start = 0; start < qlen; start = end + 1) {
		for (end = start; end < qlen && q[end] != '&'; end++)
			;
		for (eq = start; eq < end && q[eq] != '='; eq++)
			;
		n = model_decode(q + start, eq - start, name);
		if (n < 0 || (size_t)n != klen || memcmp(name, key, klen) != 0)
			continue;
		free(name);
		n = eq < end ? model_decode(q + eq + 1, end - eq - 1, val) : 0;
		if (n < 0)
			return HN_EINVAL;
		val[n] = '\0';
		*vlen = (size_t)n;
		return 1;
	}
	free(name);
	return 0;
}

/* Form encoding, varied by style: upper or lower hex, a space as '+' or
 * as %20, unreserved bytes plain or escaped too. */
static void
buf_enc(struct fuzz_buf *b, const char *s, size_t n, unsigned style)
{
	const char	*hex = style & 1 ? "0123456789abcdef" :
			    "0123456789ABCDEF";
	char		 e[3];
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == ' ' && (style & 2)) {
			buf_add(b, "+", 1);
		} else if (!(style & 4) && ((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '/')) {
			buf_add(b, (const char *)&c, 1);
		} else {
			e[0] = '%';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			buf_add(b, e, 3);
		}
	}
}

/*
 * One call with an output of exactly outsz bytes (NULL for 0, so that
 * any write is caught), against what the model found (want, val/vlen).
 */
static void
check_get(const char *q, size_t qlen, const char *key, size_t outsz,
    int want, const char *val, size_t vlen)
{
	char	*out = NULL;
	size_t	 olen = FUZZ_SENTINEL;
	int	 rc;

	if (outsz > 0 && (out = malloc(outsz)) == NULL)
		abort();
	if (out != NULL)
		memset(out, 'x', outsz);
	rc = hn_query_get(q, qlen, key, out, outsz, &olen);
	if (want == 1 && vlen + 1 > outsz)
		want = HN_ETOOBIG;
	if (rc != want)
		abort();
	if (rc == 1) {
		if (olen != vlen || memcmp(out, val, vlen) != 0 ||
		    out[vlen] != '\0')
			abort();
	} else {
		/* Untouched length; an emptied buffer, never a part. */
		if (olen != FUZZ_SENTINEL)
			abort();
		if (rc != 0 && out != NULL && out[0] != '\0')
			abort();
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*keys[] = { "page", "visitor", "watch", "sid",
				    "token", "limit", "since" };
	struct fuzz_buf		 b = { NULL, 0, 0 };
	char			*val, *got, *key = NULL;
	const char		*q, *nl, *k;
	size_t			 qlen, vlen = 0, glen, i;
	unsigned		 ctl, style;
	int			 want, rc;

	if (size < 1)
		return 0;
	/* Byte 0: the key (7: the input's first line, when not empty),
	 * the output size and the encoder's style. */
	ctl = data[0];
	q = (const char *)data + 1;
	qlen = size - 1;
	k = keys[(ctl & 7) % 7];
	if ((ctl & 7) == 7 && (nl = memchr(q, '\n', qlen)) != NULL &&
	    nl > q && memchr(q, '\0', (size_t)(nl - q)) == NULL) {
		if ((key = malloc((size_t)(nl - q) + 1)) == NULL)
			abort();
		memcpy(key, q, (size_t)(nl - q));
		key[nl - q] = '\0';
		k = key;
		qlen -= (size_t)(nl - q) + 1;
		q = nl + 1;
	}
	style = ctl >> 5;

	/* The model's answer, then the parser's with every kind of size. */
	if ((val = malloc(qlen + 1)) == NULL || (got = malloc(qlen + 4)) ==
	    NULL)
		abort();
	want = model_get(q, qlen, k, val, &vlen);
	check_get(q, qlen, k, qlen + 1, want, val, vlen);
	check_get(q, qlen, k, 0, want, val, vlen);
	check_get(q, qlen, k, (ctl >> 3) & 3 ? ((ctl >> 3) & 3) * 7 : 1, want,
	    val, vlen);
	if (want == 1) {
		check_get(q, qlen, k, vlen + 1, want, val, vlen);
		check_get(q, qlen, k, vlen, want, val, vlen);
	}

	/* The first occurrence wins: one more after it changes nothing. */
	buf_add(&b, q, qlen);
	buf_add(&b, "&", 1);
	buf_enc(&b, k, strlen(k), style);
	buf_add(&b, "=zzz", 4);
	rc = hn_query_get(b.p, b.len, k, got, qlen + 4, &glen);
	if (want == 0 ? rc != 1 || glen != 3 || strcmp(got, "zzz") != 0 :
	    rc != want || (rc == 1 && (glen != vlen ||
	    memcmp(got, val, vlen) != 0)))
		abort();

	/* What was found, encoded after another item, comes back. */
	if (want == 1) {
		b.len = 0;
		buf_add(&b, strcmp(k, "zz") == 0 ? "zy=1&" : "zz=1&", 5);
		buf_enc(&b, k, strlen(k), style);
		buf_add(&b, "=", 1);
		buf_enc(&b, val, vlen, style >> 1 | (style & 1) << 2);
		buf_add(&b, "&", 1);
		buf_enc(&b, k, strlen(k), style);
		buf_add(&b, "=2", 2);
		for (i = 0; i < 2; i++) {
			rc = hn_query_get(b.p, b.len, k, got, qlen + 1, &glen);
			if (rc != 1 || glen != vlen ||
			    memcmp(got, val, vlen) != 0 || got[vlen] != '\0')
				abort();
			/* Without the rest after it, too. */
			b.len = (size_t)(strrchr(b.p, '&') - b.p);
		}
	}
	free(b.p);
	free(val);
	free(got);
	free(key);
	return 0;
}
