/*
 * Check suite for page.c: page-key normalisation, visitor ids, query
 * strings and watch lists, table-driven, plus a seeded random run that
 * holds the normaliser to its invariants.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "check_main.h"

#define LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- page keys: accepted -------------------------------------------- */

static const struct {
	const char	*in;
	const char	*want;
} good_keys[] = {
	{ "/", "/" },
	{ "/post/x", "/post/x" },
	{ "/post/x/", "/post/x" },
	{ "/post/x//", "/post/x" },
	{ "//", "/" },
	{ "///", "/" },
	{ "//a//b///c", "/a/b/c" },
	/* query and fragment cut before anything else */
	{ "/a?b=c", "/a" },
	{ "/a#frag", "/a" },
	{ "/a#f?q", "/a" },
	{ "/a?q#f", "/a" },
	{ "/a/?", "/a" },
	{ "/?x", "/" },
	{ "/#", "/" },
	{ "/a?%zz", "/a" },		/* bad escape after the cut is cut */
	{ "/a?\x01", "/a" },
	/* percent-decoding, once */
	{ "/%61", "/a" },
	{ "/%7e%7E", "/~~" },
	{ "/a%20b", "/a b" },
	{ "/a+b", "/a+b" },		/* '+' is for queries, not paths */
	{ "/a%2Fb", "/a/b" },
	{ "/a%2f%2fb", "/a/b" },
	{ "/a%2F", "/a" },
	{ "/a%3Fb", "/a?b" },		/* decoded '?' and '#' are data */
	{ "/a%23b", "/a#b" },
	{ "/a%2Cb", "/a,b" },
	{ "/50%25", "/50%" },
	{ "/%2525", "/%25" },		/* only once */
	/* dot segments */
	{ "/.", "/" },
	{ "/..", "/" },
	{ "/../..", "/" },
	{ "/../a", "/a" },
	{ "/a/..", "/" },
	{ "/a/../", "/" },
	{ "/a/../b", "/b" },
	{ "/a/./b", "/a/b" },
	{ "/a/.", "/a" },
	{ "/a/./", "/a" },
	{ "/a/b/../../..", "/" },
	{ "/a/b/../../../c", "/c" },
	{ "/a/b/c/../../d", "/a/d" },
	{ "/a/./../b/./c/.", "/b/c" },
	{ "/%2e%2e/a", "/a" },
	{ "/a/%2E", "/a" },
	{ "/a/%2e%2E/b", "/b" },
	{ "/a%2F..%2Fb", "/b" },
	{ "/...", "/..." },
	{ "/a/.../b", "/a/.../b" },
	{ "/.a/..b/a./b..", "/.a/..b/a./b.." },
	{ "/./.", "/" },
	{ "/a//..", "/" },
	/* UTF-8 at the edges of each range */
	{ "/caf\xc3\xa9", "/caf\xc3\xa9" },
	{ "/caf%C3%A9", "/caf\xc3\xa9" },
	{ "/%C2%A0", "/\xc2\xa0" },		/* U+00A0, after the C1 block */
	{ "/%DF%BF", "/\xdf\xbf" },		/* U+07FF */
	{ "/%E0%A0%80", "/\xe0\xa0\x80" },	/* U+0800 */
	{ "/%E2%82%AC", "/\xe2\x82\xac" },	/* euro sign */
	{ "/%ED%9F%BF", "/\xed\x9f\xbf" },	/* U+D7FF */
	{ "/%EE%80%80", "/\xee\x80\x80" },	/* U+E000 */
	{ "/%EF%BF%BF", "/\xef\xbf\xbf" },	/* U+FFFF */
	{ "/%F0%90%80%80", "/\xf0\x90\x80\x80" }, /* U+10000 */
	{ "/%F4%8F%BF%BF", "/\xf4\x8f\xbf\xbf" }, /* U+10FFFF */
	{ "/\xf0\x9f\x98\x80", "/\xf0\x9f\x98\x80" },
	{ "/~!$&'()*+,;=:@", "/~!$&'()*+,;=:@" },
};

START_TEST(test_page_good)
{
	char		 out[HN_PAGE_MAX + 1];
	const char	*why = "untouched";
	int		 rc;

	rc = hn_page_normalize(good_keys[_i].in, strlen(good_keys[_i].in),
	    out, &why);
	ck_assert_msg(rc >= 0, "\"%s\": rc %d (%s)", good_keys[_i].in, rc,
	    why);
	ck_assert_str_eq(out, good_keys[_i].want);
	ck_assert_int_eq(rc, (int)strlen(good_keys[_i].want));
	ck_assert_str_eq(why, "untouched");
}
END_TEST

/* ---- page keys: refused --------------------------------------------- */

static const struct {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	int		 rc;
} bad_keys[] = {
	{ "", 0, HN_EINVAL },
	{ "a", 0, HN_EINVAL },
	{ "post/x", 0, HN_EINVAL },
	{ " /a", 0, HN_EINVAL },
	{ "?/a", 0, HN_EINVAL },
	{ "#/a", 0, HN_EINVAL },
	{ "%2Fa", 0, HN_EINVAL },	/* '/' checked before decoding */
	{ "http://x/a", 0, HN_EINVAL },
	{ ".", 0, HN_EINVAL },
	/* C1 controls (U+0080-U+009F), encoded and raw */
	{ "/%C2%80", 0, HN_EINVAL },
	{ "/a%C2%85b", 0, HN_EINVAL },
	{ "/\xc2\x9f", 0, HN_EINVAL },
	/* bad escapes */
	{ "/%", 0, HN_EINVAL },
	{ "/%4", 0, HN_EINVAL },
	{ "/a%4?b", 0, HN_EINVAL },	/* truncated by the cut */
	{ "/%G1", 0, HN_EINVAL },
	{ "/%1G", 0, HN_EINVAL },
	{ "/%%41", 0, HN_EINVAL },
	{ "/% 1", 0, HN_EINVAL },
	{ "/%+1", 0, HN_EINVAL },
	{ "/%-1", 0, HN_EINVAL },
	{ "/a%", 0, HN_EINVAL },
	/* control characters, raw and decoded */
	{ "/a\0b", 4, HN_EINVAL },
	{ "/\0", 2, HN_EINVAL },
	{ "/a\x01", 0, HN_EINVAL },
	{ "/a\tb", 0, HN_EINVAL },
	{ "/a\nb", 0, HN_EINVAL },
	{ "/a\rb", 0, HN_EINVAL },
	{ "/a\x1f", 0, HN_EINVAL },
	{ "/a\x7f", 0, HN_EINVAL },
	{ "/a%00", 0, HN_EINVAL },
	{ "/a%01", 0, HN_EINVAL },
	{ "/a%0A", 0, HN_EINVAL },
	{ "/a%0d", 0, HN_EINVAL },
	{ "/a%1F", 0, HN_EINVAL },
	{ "/a%7F", 0, HN_EINVAL },
	/* invalid UTF-8 */
	{ "/%80", 0, HN_EINVAL },		/* lone continuation */
	{ "/%BF", 0, HN_EINVAL },
	{ "/\x80", 0, HN_EINVAL },
	{ "/%C0%80", 0, HN_EINVAL },		/* overlong NUL */
	{ "/%C0%AF", 0, HN_EINVAL },		/* overlong '/' */
	{ "/%C1%BF", 0, HN_EINVAL },
	{ "/%E0%80%AF", 0, HN_EINVAL },
	{ "/%E0%9F%BF", 0, HN_EINVAL },		/* overlong U+07FF */
	{ "/%F0%80%80%AF", 0, HN_EINVAL },
	{ "/%F0%8F%BF%BF", 0, HN_EINVAL },	/* overlong U+FFFF */
	{ "/%ED%A0%80", 0, HN_EINVAL },		/* U+D800 */
	{ "/%ED%BF%BF", 0, HN_EINVAL },		/* U+DFFF */
	{ "/%ED%A0%BD%ED%B8%80", 0, HN_EINVAL }, /* CESU-8 pair */
	{ "/%F4%90%80%80", 0, HN_EINVAL },	/* U+110000 */
	{ "/%F5%80%80%80", 0, HN_EINVAL },
	{ "/%F8%88%80%80%80", 0, HN_EINVAL },
	{ "/%FE", 0, HN_EINVAL },
	{ "/%FF", 0, HN_EINVAL },
	{ "/%C3", 0, HN_EINVAL },		/* truncated at the end */
	{ "/%C3/", 0, HN_EINVAL },
	{ "/%C3a", 0, HN_EINVAL },
	{ "/%E2%82", 0, HN_EINVAL },
	{ "/%E2%82/b", 0, HN_EINVAL },
	{ "/%E2%28%A1", 0, HN_EINVAL },
	{ "/%F0%9F%98", 0, HN_EINVAL },
	{ "/%F0%9F%98a", 0, HN_EINVAL },
	{ "/\xc3", 0, HN_EINVAL },
	{ "/\xe2\x82?\xac", 0, HN_EINVAL },	/* cut inside a sequence */
	{ "/\xc3\xa9\xa9", 0, HN_EINVAL },
};

START_TEST(test_page_bad)
{
	char		 out[HN_PAGE_MAX + 1];
	const char	*why = NULL;
	size_t		 len;
	int		 rc;

	len = bad_keys[_i].len ? bad_keys[_i].len : strlen(bad_keys[_i].in);
	rc = hn_page_normalize(bad_keys[_i].in, len, out, &why);
	ck_assert_msg(rc == bad_keys[_i].rc, "case %d: rc %d want %d", _i, rc,
	    bad_keys[_i].rc);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_gt((int)strlen(why), 0);
	/* A NULL why is allowed. */
	ck_assert_int_eq(hn_page_normalize(bad_keys[_i].in, len, out, NULL),
	    bad_keys[_i].rc);
}
END_TEST

START_TEST(test_page_why)
{
	char		 out[HN_PAGE_MAX + 1];
	const char	*why;

	why = NULL;
	hn_page_normalize("x", 1, out, &why);
	ck_assert_str_eq(why, "page must start with /");
	why = NULL;
	hn_page_normalize("/%G1", 4, out, &why);
	ck_assert_ptr_nonnull(strstr(why, "escape"));
	why = NULL;
	hn_page_normalize("/%01", 4, out, &why);
	ck_assert_ptr_nonnull(strstr(why, "control"));
	why = NULL;
	hn_page_normalize("/%FF", 4, out, &why);
	ck_assert_ptr_nonnull(strstr(why, "UTF-8"));
	/* NULL in with no bytes is the empty key. */
	ck_assert_int_eq(hn_page_normalize(NULL, 0, out, NULL), HN_EINVAL);
}
END_TEST

/* ---- page keys: length bounds --------------------------------------- */

/* "/" followed by n bytes of c, NUL-terminated, in buf. */
static size_t
mkpath(char *buf, char c, size_t n)
{
	buf[0] = '/';
	memset(buf + 1, c, n);
	buf[n + 1] = '\0';
	return n + 1;
}

START_TEST(test_page_bounds)
{
	char		 buf[4 * HN_PAGE_RAW_MAX], out[HN_PAGE_MAX + 1];
	const char	*why;
	size_t		 len, i;
	int		 rc;

	/* 256 bytes after normalisation: in; 257: out. */
	len = mkpath(buf, 'a', HN_PAGE_MAX - 1);
	ck_assert_int_eq(len, 256);
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 256);
	ck_assert_str_eq(out, buf);
	len = mkpath(buf, 'a', HN_PAGE_MAX);
	why = NULL;
	ck_assert_int_eq(hn_page_normalize(buf, len, out, &why), HN_ETOOBIG);
	ck_assert_ptr_nonnull(why);

	/* 257 raw bytes that shrink to 256: a trailing slash, a "//". */
	len = mkpath(buf, 'a', HN_PAGE_MAX - 1);
	buf[len++] = '/';
	ck_assert_int_eq(len, 257);
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 256);
	len = mkpath(buf, 'a', HN_PAGE_MAX - 1);
	memmove(buf + 1, buf, len);
	len++;
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 256);
	ck_assert_int_eq(out[1], 'a');

	/* Multi-byte characters count as bytes: 85 euro signs + "/" = 256. */
	len = 0;
	buf[len++] = '/';
	for (i = 0; i < 85; i++) {
		memcpy(buf + len, "%E2%82%AC", 9);
		len += 9;
	}
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 256);
	memcpy(buf + len, "b", 1);
	len++;
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), HN_ETOOBIG);

	/* Escapes decoded: 255 "%61" is 766 raw bytes and 256 decoded. */
	len = 0;
	buf[len++] = '/';
	for (i = 0; i < 255; i++) {
		memcpy(buf + len, "%61", 3);
		len += 3;
	}
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 256);
	memcpy(buf + len, "%61", 3);
	len += 3;
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), HN_ETOOBIG);

	/* Long on the way, short at the end. */
	len = mkpath(buf, 'a', 600);
	memcpy(buf + len, "/../b", 6);
	len += 5;
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 2);
	ck_assert_str_eq(out, "/b");

	/* The raw bound: 1024 bytes in, 1025 out, even if they'd shrink. */
	len = mkpath(buf, '/', HN_PAGE_RAW_MAX - 1);
	ck_assert_int_eq(len, HN_PAGE_RAW_MAX);
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), 1);
	len = mkpath(buf, '/', HN_PAGE_RAW_MAX);
	why = NULL;
	ck_assert_int_eq(hn_page_normalize(buf, len, out, &why), HN_ETOOBIG);
	ck_assert_ptr_nonnull(why);
	/* ... checked before the cut, too. */
	len = mkpath(buf, 'a', HN_PAGE_RAW_MAX);
	buf[2] = '?';
	ck_assert_int_eq(hn_page_normalize(buf, len, out, NULL), HN_ETOOBIG);
	/* 1024 bytes of "/." resolve to "/". */
	for (i = 0; i < HN_PAGE_RAW_MAX; i += 2)
		memcpy(buf + i, "/.", 2);
	ck_assert_int_eq(hn_page_normalize(buf, HN_PAGE_RAW_MAX, out, NULL),
	    1);
	ck_assert_str_eq(out, "/");

	/* A NUL in the middle of a long key is still seen. */
	len = mkpath(buf, 'a', 200);
	buf[100] = '\0';
	rc = hn_page_normalize(buf, len, out, NULL);
	ck_assert_int_eq(rc, HN_EINVAL);
}
END_TEST

/* ---- visitor ids ---------------------------------------------------- */

START_TEST(test_visitor)
{
	char	 buf[HN_VISITOR_MAX + 2];

	ck_assert_int_eq(hn_visitor_valid("a", 1), 1);
	ck_assert_int_eq(hn_visitor_valid("AZaz09_-", 8), 1);
	ck_assert_int_eq(hn_visitor_valid("-", 1), 1);
	ck_assert_int_eq(hn_visitor_valid("", 0), 0);
	ck_assert_int_eq(hn_visitor_valid(NULL, 0), 0);
	ck_assert_int_eq(hn_visitor_valid("a b", 3), 0);
	ck_assert_int_eq(hn_visitor_valid("a.b", 3), 0);
	ck_assert_int_eq(hn_visitor_valid("a/b", 3), 0);
	ck_assert_int_eq(hn_visitor_valid("a+b", 3), 0);
	ck_assert_int_eq(hn_visitor_valid("a%41", 4), 0);
	ck_assert_int_eq(hn_visitor_valid("a\0b", 3), 0);
	ck_assert_int_eq(hn_visitor_valid("ab\n", 3), 0);
	ck_assert_int_eq(hn_visitor_valid("\xc3\xa9", 2), 0);
	ck_assert_int_eq(hn_visitor_valid("abc", 2), 1);	/* len rules */
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(hn_visitor_valid(buf, HN_VISITOR_MAX), 1);
	ck_assert_int_eq(hn_visitor_valid(buf, HN_VISITOR_MAX + 1), 0);
}
END_TEST

/* ---- query strings -------------------------------------------------- */

static const struct {
	const char	*q;
	const char	*key;
	int		 rc;
	const char	*want;		/* when rc == 1 */
} queries[] = {
	{ "", "page", 0, NULL },
	{ "&", "page", 0, NULL },
	{ "&&&", "page", 0, NULL },
	{ "page=/a", "page", 1, "/a" },
	{ "page=/a", "pag", 0, NULL },
	{ "page=/a", "pagex", 0, NULL },
	{ "xpage=/a", "page", 0, NULL },
	{ "pagex=/a", "page", 0, NULL },
	{ "xpage=/a&page=/b", "page", 1, "/b" },
	{ "a=1&page=/b&c=3", "page", 1, "/b" },
	{ "a=1&page=/b", "page", 1, "/b" },
	{ "&&page=/b&&", "page", 1, "/b" },
	{ "page=/a&page=/b", "page", 1, "/a" },		/* first wins */
	{ "page=&page=/b", "page", 1, "" },
	{ "page&page=/b", "page", 1, "" },
	{ "page", "page", 1, "" },
	{ "page=", "page", 1, "" },
	{ "a&page", "page", 1, "" },
	{ "page==", "page", 1, "=" },
	{ "page=a=b", "page", 1, "a=b" },
	{ "page=a+b", "page", 1, "a b" },
	{ "page=a%2Bb", "page", 1, "a+b" },
	{ "page=%2Fpost%2Fx", "page", 1, "/post/x" },
	{ "page=%2fpost%2fx", "page", 1, "/post/x" },
	{ "page=%252C", "page", 1, "%2C" },		/* decoded once */
	{ "page=/a%26b", "page", 1, "/a&b" },
	{ "page=/a%3Db", "page", 1, "/a=b" },
	{ "page=%C3%A9", "page", 1, "\xc3\xa9" },
	{ "pa%67e=/a", "page", 1, "/a" },		/* name decoded */
	{ "%70%61%67%65=/a", "page", 1, "/a" },
	{ "my+key=v", "my key", 1, "v" },
	{ "my%20key=v", "my key", 1, "v" },
	{ "my+key=v", "my+key", 0, NULL },
	{ "pa%6=/a&page=/b", "page", 1, "/b" },	/* bad name: not ours */
	{ "pa%zze=/a&page=/b", "page", 1, "/b" },
	{ "page%00=/a", "page", 0, NULL },
	{ "=x", "page", 0, NULL },
	{ "other=%zz&page=/b", "page", 1, "/b" },	/* not our value */
	{ "page=%zz&page=/b", "page", HN_EINVAL, NULL },
	{ "page=%", "page", HN_EINVAL, NULL },
	{ "page=%4", "page", HN_EINVAL, NULL },
	{ "page=%4&x=1", "page", HN_EINVAL, NULL },
	{ "page=%G1", "page", HN_EINVAL, NULL },
	{ "page=/a%", "page", HN_EINVAL, NULL },
	{ "page=%%41", "page", HN_EINVAL, NULL },
	{ "a=1&page=/b&c", "c", 1, "" },
	{ "a=1&page=/b&c=", "c", 1, "" },
	{ "a=1;page=/b", "page", 0, NULL },		/* only '&' splits */
};

START_TEST(test_query)
{
	char	 out[64];
	size_t	 outlen = 999;
	int	 rc;

	memset(out, 'Z', sizeof(out));
	rc = hn_query_get(queries[_i].q, strlen(queries[_i].q),
	    queries[_i].key, out, sizeof(out), &outlen);
	ck_assert_msg(rc == queries[_i].rc, "\"%s\" [%s]: rc %d want %d",
	    queries[_i].q, queries[_i].key, rc, queries[_i].rc);
	if (rc == 1) {
		ck_assert_str_eq(out, queries[_i].want);
		ck_assert_uint_eq(outlen, strlen(queries[_i].want));
	} else
		ck_assert_uint_eq(outlen, 999);
}
END_TEST

START_TEST(test_query_edges)
{
	char	 out[8], big[HN_QUERY_MAX + 1];
	size_t	 outlen;
	int	 rc;

	/* NULL query with no bytes. */
	ck_assert_int_eq(hn_query_get(NULL, 0, "page", out, sizeof(out),
	    &outlen), 0);
	/* qlen rules, not the NUL. */
	ck_assert_int_eq(hn_query_get("page=/abc", 7, "page", out,
	    sizeof(out), &outlen), 1);
	ck_assert_str_eq(out, "/a");
	ck_assert_int_eq(hn_query_get("xx&page=/a", 2, "page", out,
	    sizeof(out), &outlen), 0);

	/* Exactly outsz - 1 bytes fit; one more does not. */
	ck_assert_int_eq(hn_query_get("v=1234567", 9, "v", out, sizeof(out),
	    &outlen), 1);
	ck_assert_uint_eq(outlen, 7);
	ck_assert_str_eq(out, "1234567");
	ck_assert_int_eq(hn_query_get("v=12345678", 10, "v", out,
	    sizeof(out), &outlen), HN_ETOOBIG);
	/* Length is counted after decoding. */
	ck_assert_int_eq(hn_query_get("v=%31%32%33%34%35%36%37", 23, "v",
	    out, sizeof(out), &outlen), 1);
	ck_assert_str_eq(out, "1234567");
	ck_assert_int_eq(hn_query_get("v=%31%32%33%34%35%36%37%38", 26,
	    "v", out, sizeof(out), &outlen), HN_ETOOBIG);
	/* A bad escape is a bad escape, even past the end of out. */
	ck_assert_int_eq(hn_query_get("v=12345678%G", 12, "v", out,
	    sizeof(out), &outlen), HN_EINVAL);
	/* No room at all. */
	ck_assert_int_eq(hn_query_get("v=", 2, "v", out, 1, &outlen), 1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(hn_query_get("v=a", 3, "v", out, 1, &outlen),
	    HN_ETOOBIG);
	ck_assert_int_eq(hn_query_get("v=", 2, "v", out, 0, &outlen),
	    HN_ETOOBIG);
	/* outlen may be NULL. */
	ck_assert_int_eq(hn_query_get("v=a", 3, "v", out, sizeof(out),
	    NULL), 1);

	/* %00 is passed on with its length; validation happens later. */
	rc = hn_query_get("v=a%00b", 7, "v", out, sizeof(out), &outlen);
	ck_assert_int_eq(rc, 1);
	ck_assert_uint_eq(outlen, 3);
	ck_assert_int_eq(memcmp(out, "a\0b", 4), 0);
	ck_assert_int_eq(hn_page_normalize(out, outlen, big, NULL),
	    HN_EINVAL);

	/* A long query with the key at its very end. */
	memset(big, 'x', sizeof(big));
	memcpy(big + HN_QUERY_MAX - 6, "&v=abc", 6);
	ck_assert_int_eq(hn_query_get(big, HN_QUERY_MAX, "v", out,
	    sizeof(out), &outlen), 1);
	ck_assert_str_eq(out, "abc");
}
END_TEST

/* The two layers together: a query value holding a page key. */
START_TEST(test_query_page)
{
	static const char	 q[] = "visitor=v1&page=%2Fpost%2F%2525x%3Fa&w";
	char			 val[HN_PAGE_RAW_MAX + 1];
	char			 out[HN_PAGE_MAX + 1];
	size_t			 n;

	ck_assert_int_eq(hn_query_get(q, sizeof(q) - 1, "page", val,
	    sizeof(val), &n), 1);
	ck_assert_str_eq(val, "/post/%25x?a");
	ck_assert_int_eq(hn_page_normalize(val, n, out, NULL), 8);
	ck_assert_str_eq(out, "/post/%x");
	ck_assert_int_eq(hn_query_get(q, sizeof(q) - 1, "visitor", val,
	    sizeof(val), &n), 1);
	ck_assert_int_eq(hn_visitor_valid(val, n), 1);
}
END_TEST

/* ---- watch lists ---------------------------------------------------- */

static int
watch(const char *s, char pages[][HN_PAGE_MAX + 1], const char **why)
{
	return hn_watch_parse(s, strlen(s), pages, why);
}

START_TEST(test_watch)
{
	char		 pages[HN_WATCH_MAX][HN_PAGE_MAX + 1];
	const char	*why;

	ck_assert_int_eq(watch("", pages, NULL), 0);
	ck_assert_int_eq(hn_watch_parse(NULL, 0, pages, NULL), 0);
	ck_assert_int_eq(watch(",", pages, NULL), 0);
	ck_assert_int_eq(watch(",,,", pages, NULL), 0);

	ck_assert_int_eq(watch("/a", pages, NULL), 1);
	ck_assert_str_eq(pages[0], "/a");

	ck_assert_int_eq(watch(",/a,,/b/,", pages, NULL), 2);
	ck_assert_str_eq(pages[0], "/a");
	ck_assert_str_eq(pages[1], "/b");

	/* Duplicates after normalisation are dropped, order kept. */
	ck_assert_int_eq(watch("/b,/a,/a/,/b//,/x/../a,/%61,/b?q,/c", pages,
	    NULL), 3);
	ck_assert_str_eq(pages[0], "/b");
	ck_assert_str_eq(pages[1], "/a");
	ck_assert_str_eq(pages[2], "/c");

	/* Commas inside paths arrive encoded. */
	ck_assert_int_eq(watch("/a%2Cb,/c", pages, NULL), 2);
	ck_assert_str_eq(pages[0], "/a,b");
	ck_assert_str_eq(pages[1], "/c");
	ck_assert_int_eq(watch("/a%2cb,/a,b", pages, &why), HN_EINVAL);
	ck_assert_str_eq(why, "page must start with /");

	/* A bad item spoils the list. */
	why = NULL;
	ck_assert_int_eq(watch("/a,/b%G1,/c", pages, &why), HN_EINVAL);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(watch("/a, /b", pages, NULL), HN_EINVAL);
	ck_assert_int_eq(watch("/a,/b%00", pages, NULL), HN_EINVAL);
	ck_assert_int_eq(watch("/a,/%FF", pages, NULL), HN_EINVAL);
	ck_assert_int_eq(hn_watch_parse("/a,/\0", 5, pages, NULL),
	    HN_EINVAL);
}
END_TEST

/* n distinct pages "/p0,/p1,..." into buf, with each listed twice when
 * dup. */
static size_t
mkwatch(char *buf, size_t bufsz, int n, int dup)
{
	size_t	 len = 0;
	int	 i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k <= dup; k++)
			len += snprintf(buf + len, bufsz - len, "%s/p%d",
			    len ? "," : "", i);
	ck_assert_uint_lt(len, bufsz);
	return len;
}

START_TEST(test_watch_bounds)
{
	char		 pages[HN_WATCH_MAX][HN_PAGE_MAX + 1];
	char		 buf[8192], *p;
	const char	*why;
	size_t		 len;
	int		 i;

	len = mkwatch(buf, sizeof(buf), HN_WATCH_MAX, 0);
	ck_assert_int_eq(hn_watch_parse(buf, len, pages, NULL), 50);
	for (i = 0; i < HN_WATCH_MAX; i++) {
		char	 want[16];

		snprintf(want, sizeof(want), "/p%d", i);
		ck_assert_str_eq(pages[i], want);
	}

	len = mkwatch(buf, sizeof(buf), HN_WATCH_MAX + 1, 0);
	why = NULL;
	ck_assert_int_eq(hn_watch_parse(buf, len, pages, &why), HN_ETOOBIG);
	ck_assert_ptr_nonnull(why);

	/* 100 items but 50 distinct pages are fine. */
	len = mkwatch(buf, sizeof(buf), HN_WATCH_MAX, 1);
	ck_assert_int_eq(hn_watch_parse(buf, len, pages, NULL), 50);
	/* Repeating the first page at the end adds nothing. */
	len = mkwatch(buf, sizeof(buf), HN_WATCH_MAX, 0);
	len += snprintf(buf + len, sizeof(buf) - len, ",/p0,/p49/,,");
	ck_assert_int_eq(hn_watch_parse(buf, len, pages, NULL), 50);

	/* A page of the maximum length, and one over it. */
	p = buf;
	len = mkpath(p, 'a', HN_PAGE_MAX - 1);
	ck_assert_int_eq(hn_watch_parse(buf, len, pages, NULL), 1);
	ck_assert_uint_eq(strlen(pages[0]), HN_PAGE_MAX);
	len = mkpath(p, 'a', HN_PAGE_MAX);
	ck_assert_int_eq(hn_watch_parse(buf, len, pages, NULL), HN_ETOOBIG);
}
END_TEST

/* ---- the random run ------------------------------------------------- */

/* xorshift64*: fixed seed, so a failure replays. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* An independent decoder: 1 when s is UTF-8 without C0 controls or DEL. */
static int
valid_text(const unsigned char *s, size_t len)
{
	size_t		 i, k, n;
	uint32_t	 cp, min;

	for (i = 0; i < len; i += n) {
		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f)
				return 0;
			n = 1;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 2, cp = s[i] & 0x1f, min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3, cp = s[i] & 0x0f, min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4, cp = s[i] & 0x07, min = 0x10000;
		} else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

/*
 * Check marks every ck_assert with a write to its control pipe, which
 * would dominate a run of this size: test cheaply, report only failures.
 */
#define REQUIRE(c) do {							\
	if (!(c))							\
		ck_abort_msg("line %d: %s", __LINE__, #c);		\
} while (0)

/* Holds a normalised key to DESIGN §2; in (inlen bytes) is what it was
 * made from, or NULL when unknown. */
static void
check_key(const char *in, size_t inlen, const char *k, int rc)
{
	char	 again[HN_PAGE_MAX + 1];
	size_t	 n = (size_t)rc;

	REQUIRE(rc <= HN_PAGE_MAX);
	REQUIRE(strlen(k) == n);
	REQUIRE(k[0] == '/');
	REQUIRE(strstr(k, "//") == NULL);
	REQUIRE(strstr(k, "/./") == NULL);
	REQUIRE(strstr(k, "/../") == NULL);
	REQUIRE(n == 1 || k[n - 1] != '/');
	REQUIRE(!(n >= 2 && strcmp(k + n - 2, "/.") == 0));
	REQUIRE(!(n >= 3 && strcmp(k + n - 3, "/..") == 0));
	REQUIRE(valid_text((const unsigned char *)k, n));
	/* Without '%' in the key nothing is decoded twice, so the key is a
	 * fixed point; '?' and '#' in it can only come from %3F and %23. */
	if (memchr(k, '%', n) == NULL && strpbrk(k, "?#") == NULL) {
		REQUIRE(hn_page_normalize(k, n, again, NULL) == rc);
		REQUIRE(strcmp(again, k) == 0);
	}
	if (in != NULL && memchr(in, '%', inlen) == NULL) {
		REQUIRE(memchr(k, '%', n) == NULL);
		REQUIRE(strpbrk(k, "?#") == NULL);
	}
}

/*
 * Fills in with len random bytes weighted toward what the normaliser cares
 * about: slashes, dots, escapes, '?' and '#'.  A third of the keys carry
 * raw junk and any escape; a third stay clean (no cut, no stray '%', only
 * escapes that decode to printable ASCII or whole UTF-8 sequences) so that
 * long keys still reach the length bound after normalisation.
 */
static void
gen(uint64_t *s, char *in, size_t len)
{
	static const char	 alpha[] = "//////....%%%%??##aZ09-_~,+=&";
	static const char	 hex[] = "0123456789abcdefABCDEF";
	static const char	*esc[] = {
		/* the clean ones first */
		"2F", "2f", "2E", "2e", "3F", "23", "25", "2C", "41", "7e",
		"C3%A9", "E2%82%AC", "F0%9F%98%80",
		"00", "7F", "0A", "C3", "A9", "E2", "82", "AC", "ED", "A0",
		"F0", "9F", "98", "F4", "90", "80", "BF", "C0", "FF",
		"F4%90%80%80", "ED%A0%80", "C0%AF", "E0%80%AF",
	};
	const char		*e;
	uint64_t		 r;
	size_t			 i, n;
	int			 mode;

	mode = rnd(s) % 3;	/* 0 junk, 1 any escape, 2 clean */
	for (i = 0; i < len; i++) {
		r = rnd(s);
		if (mode == 0 && r % 8 == 0)
			in[i] = (char)(r >> 8);
		else if (r % 8 == 1)
			in[i] = hex[(r >> 8) % (sizeof(hex) - 1)];
		else if (r % 8 == 2) {
			e = esc[(r >> 8) % (mode == 2 ? 13 : LEN(esc))];
			n = strlen(e);
			if (i + 1 + n > len)
				break;
			in[i] = '%';
			memcpy(in + i + 1, e, n);
			i += n;
		} else {
			in[i] = alpha[(r >> 8) % (sizeof(alpha) - 1)];
			if (mode == 2 && strchr("%?#", in[i]) != NULL)
				in[i] = 'x';
		}
	}
	for (; i < len; i++)
		in[i] = 'y';
	if (len > 0 && rnd(s) % 4)
		in[0] = '/';
}

START_TEST(test_random)
{
	char			 in[HN_PAGE_RAW_MAX + 64];
	char			 out[HN_PAGE_MAX + 1];
	char			 pages[HN_WATCH_MAX][HN_PAGE_MAX + 1];
	char			 val[HN_PAGE_RAW_MAX + 1];
	const char		*why;
	uint64_t		 s = 0x9e3779b97f4a7c15ULL, r;
	size_t			 len, vlen;
	int			 iter, rc, j, k, accepted = 0, toobig = 0;

	for (iter = 0; iter < 300000; iter++) {
		r = rnd(&s);
		/* Mostly short keys, sometimes near and over the bounds. */
		switch (r % 16) {
		case 0:
			len = 200 + rnd(&s) % 400;
			break;
		case 1:
			len = HN_PAGE_RAW_MAX - 8 + rnd(&s) % 16;
			break;
		default:
			len = rnd(&s) % 40;
			break;
		}
		gen(&s, in, len);

		why = NULL;
		memset(out, 0x55, sizeof(out));
		rc = hn_page_normalize(in, len, out, &why);
		if (rc >= 0) {
			accepted++;
			check_key(in, len, out, rc);
		} else {
			toobig += rc == HN_ETOOBIG && len <= HN_PAGE_RAW_MAX;
			REQUIRE(rc == HN_EINVAL || rc == HN_ETOOBIG);
			REQUIRE(why != NULL);
			if (len > HN_PAGE_RAW_MAX)
				REQUIRE(rc == HN_ETOOBIG);
		}

		rc = hn_watch_parse(in, len, pages, &why);
		REQUIRE(rc == HN_EINVAL || rc == HN_ETOOBIG ||
		    (rc >= 0 && rc <= HN_WATCH_MAX));
		for (k = 0; k < rc; k++) {
			check_key(NULL, 0, pages[k], (int)strlen(pages[k]));
			for (j = 0; j < k; j++)
				REQUIRE(strcmp(pages[k], pages[j]) != 0);
		}

		vlen = 12345;
		rc = hn_query_get(in, len, "/", val, sizeof(val), &vlen);
		REQUIRE(rc == 0 || rc == 1 || rc == HN_EINVAL ||
		    rc == HN_ETOOBIG);
		if (rc == 1) {
			REQUIRE(vlen < sizeof(val));
			REQUIRE(val[vlen] == '\0');
			REQUIRE(vlen <= len);
			rc = hn_page_normalize(val, vlen, out, NULL);
			if (rc >= 0)
				check_key(val, vlen, out, rc);
		} else
			REQUIRE(vlen == 12345);
	}
	/* The generator must reach valid keys and the bound after
	 * normalisation, not only the easy refusals. */
	REQUIRE(accepted > 10000);
	REQUIRE(toobig > 100);
}
END_TEST

/* ---- random ids (util.c) ----------------------------------------------- */

#define RID_N	3000	/* crosses many refills of the 512-byte pool */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills ids with RID_N ids of 15 and 16 characters (8 bytes each). */
static void *
random_ids(void *arg)
{
	char	**ids = arg;
	int	  i;

	for (i = 0; i < RID_N; i++)
		if (hn_random_hex(ids[i], 15 + i % 2) != 0)
			return (void *)1;
	return NULL;
}

START_TEST(test_random_hex)
{
	static char	 store[2][RID_N][17];
	char		*ids[2 * RID_N], out[130];
	pthread_t	 t;
	void		*rc;
	size_t		 i, n;

	for (i = 0; i < 2 * RID_N; i++)
		ids[i] = store[i / RID_N][i % RID_N];
	/* Two threads at once: their pools are their own. */
	ck_assert_int_eq(pthread_create(&t, NULL, random_ids, ids + RID_N), 0);
	ck_assert_ptr_null(random_ids(ids));
	ck_assert_int_eq(pthread_join(t, &rc), 0);
	ck_assert_ptr_null(rc);
	for (i = 0; i < 2 * RID_N; i++) {
		n = 15 + (i % RID_N) % 2;
		ck_assert_uint_eq(strlen(ids[i]), n);
		ck_assert_uint_eq(strspn(ids[i], "0123456789abcdef"), n);
	}
	/* No id twice (8 random bytes: a repeat means bytes reused). */
	qsort(ids, 2 * RID_N, sizeof(ids[0]), cmp_str);
	for (i = 1; i < 2 * RID_N; i++)
		ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "repeated %s",
		    ids[i]);
	/* Lengths: 0, odd, the most, one more. */
	ck_assert_int_eq(hn_random_hex(out, 0), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(hn_random_hex(out, 1), 0);
	ck_assert_uint_eq(strlen(out), 1);
	ck_assert_int_eq(hn_random_hex(out, 128), 0);
	ck_assert_uint_eq(strspn(out, "0123456789abcdef"), 128);
	ck_assert_int_eq(hn_random_hex(out, 129), HN_ETOOBIG);
}
END_TEST

static Suite *
page_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("page");

	tc = tcase_create("normalize");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_page_good, 0, LEN(good_keys));
	tcase_add_loop_test(tc, test_page_bad, 0, LEN(bad_keys));
	tcase_add_test(tc, test_page_why);
	tcase_add_test(tc, test_page_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("visitor");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_visitor);
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_query, 0, LEN(queries));
	tcase_add_test(tc, test_query_edges);
	tcase_add_test(tc, test_query_page);
	suite_add_tcase(s, tc);

	tc = tcase_create("watch");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_watch);
	tcase_add_test(tc, test_watch_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_random_hex);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return hn_check_run(page_suite());
}
