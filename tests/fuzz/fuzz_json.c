/*
 * libFuzzer target for json.c's POST bodies and answers: the input as a
 * beat or leave body for hn_json_fields (its fields written back as JSON
 * must read the same), and as the strings of a count and an error line,
 * which must read back through hn_json_fields unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "buf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_NAMES	4
#define FUZZ_STR_MAX	300


struct fuzz_fields {
	char	*out[FUZZ_NAMES];
	size_t	 sz[FUZZ_NAMES];
};

static const char *const fuzz_names[FUZZ_NAMES] = {
	"page", "visitor", "sid", "type"
};

static void	buf_str(struct fuzz_buf *, const char *, unsigned);
static int	utf8_valid(const char *);
static int	fields_get(struct fuzz_fields *, const char *, size_t, size_t,
		    const size_t *);
static void	fields_free(struct fuzz_fields *, size_t);
static void	check_body(const char *, size_t, unsigned);
static void	check_count(const char *, const uint8_t *, size_t);
static void	check_error(const char *, const char *);

/* s as a JSON string, escaped in one of a few ways that all mean s. */
static void
buf_str(struct fuzz_buf *b, const char *s, unsigned style)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 e[6];
	unsigned char		 c;

	buf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\' || (c == '/' && (style & 1))) {
			e[0] = '\\';
			e[1] = (char)c;
			buf_add(b, e, 2);
		} else if (c < 0x20 || (c < 0x80 && (style & 2))) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			buf_add(b, e, 6);
		} else
			buf_add(b, (const char *)&c, 1);
	}
	buf_add(b, "\"", 1);
}

/* RFC 3629 UTF-8, as jansson takes it: no overlong form, no surrogate,
 * nothing past U+10FFFF. */
static int
utf8_valid(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	int			 n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* hn_json_fields into exactly sized heap buffers (ASan sees a write past
 * one), with its promises checked: every buffer stays terminated. */
static int
fields_get(struct fuzz_fields *f, const char *buf, size_t len, size_t n,
    const size_t *sz)
{
	size_t	 i;
	int	 rc;

	for (i = 0; i < n; i++) {
		f->sz[i] = sz[i];
		if ((f->out[i] = malloc(sz[i])) == NULL)
			abort();
		memset(f->out[i], 'x', sz[i]);
	}
	rc = hn_json_fields(buf, len, fuzz_names, f->out, f->sz, n);
	if (rc != HN_OK && rc != HN_EINVAL && rc != HN_ETOOBIG)
		abort();
	for (i = 0; i < n; i++)
		if (memchr(f->out[i], '\0', sz[i]) == NULL)
			abort();
	return rc;
}

static void
fields_free(struct fuzz_fields *f, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(f->out[i]);
}

/*
 * The input as a body.  With room for anything the answer may only get
 * better: a refusal for size becomes a success or stays a refusal for
 * what comes later; anything else stays as it was.  What was read,
 * written back as JSON (other members around it), reads the same.
 */
static void
check_body(const char *body, size_t len, unsigned ctl)
{
	static const size_t	 sizes[4] = { 1, 9, 65, 1025 };
	struct fuzz_fields	 small, big, again;
	struct fuzz_buf		 b = { NULL, 0, 0 };
	size_t			 ssz[FUZZ_NAMES], bsz[FUZZ_NAMES], n, i;
	int			 rs, rb, ra;

	n = 1 + (ctl & 3);
	for (i = 0; i < FUZZ_NAMES; i++) {
		ssz[i] = i < 3 ? sizes[(ctl >> (2 + 2 * i)) & 3] : 17;
		bsz[i] = len + 1;
	}
	rs = fields_get(&small, body, len, n, ssz);
	rb = fields_get(&big, body, len, n, bsz);
	if (rb == HN_ETOOBIG || (rs != HN_ETOOBIG && rs != rb))
		abort();
	for (i = 0; rs == HN_OK && i < n; i++)
		if (strcmp(small.out[i], big.out[i]) != 0)
			abort();

	if (rb == HN_OK) {
		buf_add(&b, ctl & 0x80 ? " {\"x\":[1,{\"y\":null}]," :
		    "{", ctl & 0x80 ? 21 : 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_add(&b, ",", 1);
			buf_str(&b, fuzz_names[i], 0);
			buf_add(&b, ctl & 0x40 ? " : " : ":", ctl & 0x40 ? 3 :
			    1);
			buf_str(&b, big.out[i], ctl >> 5);
		}
		buf_add(&b, "}\n", 2);
		ra = fields_get(&again, b.p, b.len, n, bsz);
		if (ra != HN_OK)
			abort();
		for (i = 0; i < n; i++)
			if (strcmp(again.out[i], big.out[i]) != 0)
				abort();
		fields_free(&again, n);
		free(b.p);
	}
	fields_free(&small, n);
	fields_free(&big, n);
}

/* A count line: ASCII, newline as asked, and the page reads back. */
static void
check_count(const char *page, const uint8_t *num, size_t nlen)
{
	static const size_t	 sz2[2] = { 2048, 2048 };
	struct fuzz_fields	 f;
	char			 out[2048], *exact;
	long			 v[3] = { 0, 0, 0 };
	size_t			 i;
	ssize_t			 n, m;
	bool			 nl = nlen > 0 && (num[0] & 1);

	for (i = 0; i < nlen && i < 3 * sizeof(long); i++)
		v[i / sizeof(long)] = (long)((unsigned long)v[i /
		    sizeof(long)] << 8 | num[i]);
	n = hn_json_count(out, sizeof(out), page, v[0], v[1], v[2], nl);
	if (!utf8_valid(page)) {
		/* Never asked of it (pages are checked first); only no
		 * line may come out. */
		if (n >= 0)
			abort();
		return;
	}
	if (n <= 0 || (size_t)n >= sizeof(out) || out[n] != '\0' ||
	    strlen(out) != (size_t)n || (out[n - 1] == '\n') != nl)
		abort();
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)out[i] >= 0x80)
			abort();
	if (fields_get(&f, out, (size_t)n, 1, sz2) != HN_OK ||
	    strcmp(f.out[0], page) != 0)
		abort();
	fields_free(&f, 1);
	/* Exactly its size suffices, a byte less does not. */
	if ((exact = malloc((size_t)n + 1)) == NULL)
		abort();
	m = hn_json_count(exact, (size_t)n + 1, page, v[0], v[1], v[2], nl);
	if (m != n || memcmp(exact, out, (size_t)n + 1) != 0 ||
	    hn_json_count(exact, (size_t)n, page, v[0], v[1], v[2], nl) !=
	    HN_ETOOBIG)
		abort();
	free(exact);
}

/* An error line reads back with its code and message. */
static void
check_error(const char *code, const char *message)
{
	static const char *const names[3] = { "type", "code", "message" };
	static const size_t	 sz3[3] = { 8, 2048, 2048 };
	char			*outs[3], out[4096], t[8], c[2048], m[2048];
	ssize_t			 n;

	n = hn_json_error(out, sizeof(out), code, message);
	if (!utf8_valid(code) || !utf8_valid(message)) {
		if (n >= 0)
			abort();
		return;
	}
	if (n <= 0 || (size_t)n >= sizeof(out) || strlen(out) != (size_t)n)
		abort();
	outs[0] = t;
	outs[1] = c;
	outs[2] = m;
	if (hn_json_fields(out, (size_t)n, names, outs, sz3, 3) != HN_OK ||
	    strcmp(t, "error") != 0 || strcmp(c, code) != 0 ||
	    strcmp(m, message) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 s[FUZZ_STR_MAX + 1], code[FUZZ_STR_MAX + 1];
	size_t		 n, k;

	if (size < 1)
		return 0;
	check_body((const char *)data + 1, size - 1, data[0]);

	/* The body's first bytes (to a NUL) as a page, its last ones as
	 * the numbers; cut in two, as an error's code and message. */
	n = strnlen((const char *)data + 1, size - 1);
	if (n > FUZZ_STR_MAX)
		n = FUZZ_STR_MAX;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	k = size - 1 < 24 ? size - 1 : 24;
	check_count(s, data + size - k, k);
	memcpy(code, s, n / 2);
	code[n / 2] = '\0';
	check_error(code, s + n / 2);
	return 0;
}
