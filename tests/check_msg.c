/*
 * Client messages (DESIGN §6): hn_json_msg on whole messages, and
 * hn_tunnel_next on the mod_wstunnel stream, fed whole, in every split,
 * one byte at a time, with garbage and with random bytes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "check_main.h"

/* Three small messages for the stream tests. */
#define MSG_A	"{\"type\":\"hello\",\"page\":\"/a/\",\"visitor\":\"v1\"}"
#define MSG_B	"{\"type\":\"page\",\"page\":\"/b\"}"
#define MSG_C	"{\"type\":\"watch\",\"pages\":[\"/c\",\"/d\"]}"

static void	 fill(struct hn_msg *);
static void	 assert_empty(const struct hn_msg *, const char *);
static void	 assert_same(const struct hn_msg *, const struct hn_msg *,
		    const char *);
static char	*heap_copy(const char *, size_t);
static ssize_t	 next_exact(const char *, size_t, struct hn_msg *,
		    const char **);
static uint32_t	 rnd(uint32_t *);

/* Scribbles over a message so that the reset on entry can be seen. */
static void
fill(struct hn_msg *m)
{
	memset(m, 0x5a, sizeof(*m));
}

static void
assert_empty(const struct hn_msg *m, const char *ctx)
{
	ck_assert_msg(m->type == 0 && m->page[0] == '\0' &&
	    m->visitor[0] == '\0' && m->nwatch == 0,
	    "%s: message not left empty", ctx);
}

static void
assert_same(const struct hn_msg *a, const struct hn_msg *b, const char *ctx)
{
	int	 i;

	ck_assert_msg(a->type == b->type, "%s: type %d vs %d", ctx, a->type,
	    b->type);
	ck_assert_msg(strcmp(a->page, b->page) == 0, "%s: page", ctx);
	ck_assert_msg(strcmp(a->visitor, b->visitor) == 0, "%s: visitor",
	    ctx);
	ck_assert_msg(a->nwatch == b->nwatch, "%s: nwatch", ctx);
	for (i = 0; i < a->nwatch; i++)
		ck_assert_msg(strcmp(a->watch[i], b->watch[i]) == 0,
		    "%s: watch[%d]", ctx, i);
}

/* An exactly sized heap copy: ASan sees any read past len. */
static char *
heap_copy(const char *s, size_t len)
{
	char	*p = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, s, len);
	return p;
}

static ssize_t
next_exact(const char *s, size_t len, struct hn_msg *m, const char **code)
{
	char	*p = heap_copy(s, len);
	ssize_t	 r;

	*code = NULL;
	r = hn_tunnel_next(p, len, m, code, NULL);
	free(p);
	return r;
}

/* xorshift32: the same numbers on every libc. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ---- hn_json_msg: good messages ----------------------------------------- */

static const struct good {
	const char	*json;
	int		 type;
	const char	*page;
	const char	*visitor;
	int		 nwatch;
	const char	*watch0;
	const char	*watch1;
} goods[] = {
	{ "{\"type\":\"hello\",\"page\":\"/post/x\",\"visitor\":\"abc-_Z9\"}",
	    HN_MSG_HELLO, "/post/x", "abc-_Z9", 0, NULL, NULL },
	{ "{\"type\":\"hello\",\"page\":\"/post/x\"}",
	    HN_MSG_HELLO, "/post/x", "", 0, NULL, NULL },
	{ "{\"visitor\":\"v\",\"page\":\"/\",\"type\":\"hello\"}",
	    HN_MSG_HELLO, "/", "v", 0, NULL, NULL },
	{ "{\"type\":\"hello\",\"watch\":[\"/a\",\"/b\"]}",
	    HN_MSG_HELLO, "", "", 2, "/a", "/b" },
	{ "{\"type\":\"hello\",\"watch\":[]}",
	    HN_MSG_HELLO, "", "", 0, NULL, NULL },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"v\","
	    "\"watch\":[\"/b/\"],\"extra\":{\"deep\":[1,2.5,null,true]},"
	    "\"v\":2}",
	    HN_MSG_HELLO, "/x", "v", 1, "/b", NULL },
	{ "{\"type\":\"page\",\"page\":\"/other\"}",
	    HN_MSG_PAGE, "/other", "", 0, NULL, NULL },
	{ "{\"page\":\"/y\",\"type\":\"page\",\"visitor\":42}",
	    HN_MSG_PAGE, "/y", "", 0, NULL, NULL },
	{ "{\"type\":\"watch\",\"pages\":[\"/a\",\"/b\"]}",
	    HN_MSG_WATCH, "", "", 2, "/a", "/b" },
	{ "{\"type\":\"watch\",\"pages\":[]}",
	    HN_MSG_WATCH, "", "", 0, NULL, NULL },
	{ "  {\"type\":\"page\",\"page\":\"/z\"} \n\t\r ",
	    HN_MSG_PAGE, "/z", "", 0, NULL, NULL },
	{ "{ \"type\" : \"page\" ,\n \"page\" : \"/z\" }",
	    HN_MSG_PAGE, "/z", "", 0, NULL, NULL },
	/* Normalisation applied to every page key. */
	{ "{\"type\":\"page\",\"page\":\"/a/../b/\"}",
	    HN_MSG_PAGE, "/b", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"//a/./b//?utm=1#top\"}",
	    HN_MSG_PAGE, "/a/b", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"/../..\"}",
	    HN_MSG_PAGE, "/", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"/caf%C3%A9\"}",
	    HN_MSG_PAGE, "/caf\xc3\xa9", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"\\/caf\\u00e9\"}",
	    HN_MSG_PAGE, "/caf\xc3\xa9", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"/caf\xc3\xa9\"}",
	    HN_MSG_PAGE, "/caf\xc3\xa9", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"/\\ud83d\\ude00\"}",
	    HN_MSG_PAGE, "/\xf0\x9f\x98\x80", "", 0, NULL, NULL },
	{ "{\"type\":\"hello\",\"page\":\"/p/\",\"watch\":[\"/a/\",\"/a\","
	    "\"/b/../a\",\"//c//\",\"/c\"]}",
	    HN_MSG_HELLO, "/p", "", 2, "/a", "/c" },
	{ "{\"type\":\"watch\",\"pages\":[\"/x?q\",\"/x#f\",\"/x/.\"]}",
	    HN_MSG_WATCH, "", "", 1, "/x", NULL },
	/* Unknown members are ignored, even odd ones. */
	{ "{\"type\":\"page\",\"page\":\"/x\",\"note\":\"a\\u0000b\"}",
	    HN_MSG_PAGE, "/x", "", 0, NULL, NULL },
	{ "{\"type\":\"page\",\"page\":\"/x\",\"Type\":\"watch\"}",
	    HN_MSG_PAGE, "/x", "", 0, NULL, NULL },
};

START_TEST(test_good)
{
	const struct good	*g = &goods[_i];
	struct hn_msg		 m;
	const char		*code = NULL, *why = NULL;
	int			 rc;

	fill(&m);
	rc = hn_json_msg(g->json, strlen(g->json), &m, &code, &why);
	ck_assert_msg(rc == 0, "%s: rc %d %s: %s", g->json, rc,
	    code ? code : "-", why ? why : "-");
	ck_assert_int_eq(m.type, g->type);
	ck_assert_str_eq(m.page, g->page);
	ck_assert_str_eq(m.visitor, g->visitor);
	ck_assert_int_eq(m.nwatch, g->nwatch);
	if (g->watch0 != NULL)
		ck_assert_str_eq(m.watch[0], g->watch0);
	if (g->watch1 != NULL)
		ck_assert_str_eq(m.watch[1], g->watch1);
}
END_TEST

/* ---- hn_json_msg: bad messages ------------------------------------------ */

static const struct bad {
	const char	*json;
	const char	*code;
} bads[] = {
	/* Not JSON, not an object, or more than one value. */
	{ "", "bad_json" },
	{ "   \n", "bad_json" },
	{ "null", "bad_json" },
	{ "12", "bad_json" },
	{ "\"hello\"", "bad_json" },
	{ "[]", "bad_json" },
	{ "[{\"type\":\"page\",\"page\":\"/x\"}]", "bad_json" },
	{ "{", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\"", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\"} x", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\"}{}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\"}\n{\"type\":\"page\"}",
	    "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\",}", "bad_json" },
	{ "{'type':'page','page':'/x'}", "bad_json" },
	{ "{type:\"page\",page:\"/x\"}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\\q\"}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\ty\"}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/\\ud800\"}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/\\udc00\\ud800\"}", "bad_json" },
	/* Duplicate keys: none may win silently. */
	{ "{\"type\":\"page\",\"type\":\"page\",\"page\":\"/x\"}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\",\"page\":\"/y\"}", "bad_json" },
	{ "{\"type\":\"page\",\"page\":\"/x\",\"n\":{\"a\":1,\"a\":2}}",
	    "bad_json" },
	{ "{\"ty\\u0000pe\":\"page\",\"page\":\"/x\"}", "bad_json" },
	/* Objects that are no message of ours. */
	{ "{}", "bad_message" },
	{ "{\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":1,\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":null,\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":[\"page\"],\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"bye\"}", "bad_message" },
	{ "{\"type\":\"\",\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"HELLO\",\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"pages\",\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"pag\",\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"page\\u0000\",\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"hello\"}", "bad_message" },
	{ "{\"type\":\"hello\",\"visitor\":\"v\"}", "bad_message" },
	{ "{\"type\":\"hello\",\"pages\":[\"/a\"]}", "bad_message" },
	{ "{\"type\":\"hello\",\"page\":5}", "bad_message" },
	{ "{\"type\":\"hello\",\"page\":null}", "bad_message" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":5}", "bad_message" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":null}",
	    "bad_message" },
	{ "{\"type\":\"hello\",\"watch\":\"/a\"}", "bad_message" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"watch\":{}}", "bad_message" },
	{ "{\"type\":\"page\"}", "bad_message" },
	{ "{\"type\":\"page\",\"pages\":[\"/x\"]}", "bad_message" },
	{ "{\"type\":\"page\",\"page\":[\"/x\"]}", "bad_message" },
	{ "{\"type\":\"page\",\"page\":true}", "bad_message" },
	{ "{\"type\":\"watch\"}", "bad_message" },
	{ "{\"type\":\"watch\",\"page\":\"/x\"}", "bad_message" },
	{ "{\"type\":\"watch\",\"watch\":[\"/x\"]}", "bad_message" },
	{ "{\"type\":\"watch\",\"pages\":\"/a,/b\"}", "bad_message" },
	{ "{\"type\":\"watch\",\"pages\":null}", "bad_message" },
	/* Page keys refused by hn_page_normalize. */
	{ "{\"type\":\"page\",\"page\":\"\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"x\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"?/x\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/a%zz\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/a%00\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/a\\u0001\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/a\\n\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/\\u0085\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/a\\u0000b\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"\\u0000/a\"}", "bad_page" },
	{ "{\"type\":\"page\",\"page\":\"/%C3\"}", "bad_page" },
	{ "{\"type\":\"hello\",\"page\":\"post\",\"visitor\":\"v\"}",
	    "bad_page" },
	{ "{\"type\":\"hello\",\"watch\":[\"/a\",\"b\"]}", "bad_page" },
	{ "{\"type\":\"hello\",\"watch\":[\"/a\\u0000\"]}", "bad_page" },
	{ "{\"type\":\"watch\",\"pages\":[\"/a\",\"\"]}", "bad_page" },
	/* Visitor ids. */
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"\"}",
	    "bad_visitor" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"a b\"}",
	    "bad_visitor" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"a.b\"}",
	    "bad_visitor" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"caf\xc3\xa9\"}",
	    "bad_visitor" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"ab\\u0000\"}",
	    "bad_visitor" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":\"\\u0000ab\"}",
	    "bad_visitor" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"visitor\":"
	    "\"0123456789012345678901234567890123456789012345678901234567890123"
	    "4\"}", "bad_visitor" },
	/* Watch lists. */
	{ "{\"type\":\"watch\",\"pages\":[\"/a\",1]}", "bad_watch" },
	{ "{\"type\":\"watch\",\"pages\":[null]}", "bad_watch" },
	{ "{\"type\":\"watch\",\"pages\":[[\"/a\"]]}", "bad_watch" },
	{ "{\"type\":\"hello\",\"watch\":[{}]}", "bad_watch" },
	{ "{\"type\":\"hello\",\"page\":\"/x\",\"watch\":[\"/a\",false]}",
	    "bad_watch" },
};

START_TEST(test_bad)
{
	const struct bad	*b = &bads[_i];
	struct hn_msg		 m;
	const char		*code = NULL, *why = NULL;
	int			 rc;

	fill(&m);
	rc = hn_json_msg(b->json, strlen(b->json), &m, &code, &why);
	ck_assert_msg(rc == HN_EINVAL, "%s: rc %d", b->json, rc);
	ck_assert_msg(code != NULL && strcmp(code, b->code) == 0,
	    "%s: code %s, want %s (%s)", b->json, code ? code : "-", b->code,
	    why ? why : "-");
	ck_assert_ptr_nonnull(why);
	ck_assert_int_gt(strlen(why), 0);
	assert_empty(&m, b->json);
}
END_TEST

/* The bytes that a C string literal cannot hold, and NULL pointers. */
START_TEST(test_raw_bytes)
{
	static const struct {
		const char	*json;
		size_t		 len;
	} raw[] = {
#define R(s)	{ s, sizeof(s) - 1 }
		/* A raw NUL is never JSON, wherever it is; jansson would
		 * even skip one put back after a number. */
		R("{\"type\":\"page\",\"page\":\"/a\0b\"}"),
		R("{\"type\":\"page\",\"page\":\"/x\"}\0"),
		R("\0{\"type\":\"page\",\"page\":\"/x\"}"),
		R("{\"type\":\"page\",\"page\":\"/x\",\"n\":1\0}"),
		R("{\"type\":\"page\",\"page\":\"/x\",\"n\":1}\0"),
		/* Not UTF-8: stray, overlong, surrogate, past U+10FFFF,
		 * truncated, in a value and in a key. */
		R("{\"type\":\"page\",\"page\":\"/\xff\"}"),
		R("{\"type\":\"page\",\"page\":\"/\xc0\xaf\"}"),
		R("{\"type\":\"page\",\"page\":\"/\xe0\x80\xaf\"}"),
		R("{\"type\":\"page\",\"page\":\"/\xed\xa0\x80\"}"),
		R("{\"type\":\"page\",\"page\":\"/\xf4\x90\x80\x80\"}"),
		R("{\"type\":\"page\",\"page\":\"/\xc3\"}"),
		R("{\"type\":\"page\",\"page\":\"/\xe2\x82\"}"),
		R("{\"type\":\"page\",\"page\":\"/x\",\"n\":\"\x80\"}"),
		R("{\"type\":\"page\",\"page\":\"/x\",\"\xfe\":1}"),
		R("{\"type\":\"page\",\"page\":\"/x\"}\xc3"),
		R("\xef\xbb\xbf{\"type\":\"page\",\"page\":\"/x\"}"),
#undef R
	};
	struct hn_msg	 m;
	const char	*code, *why;
	char		*p;
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		fill(&m);
		code = why = NULL;
		p = heap_copy(raw[i].json, raw[i].len);
		rc = hn_json_msg(p, raw[i].len, &m, &code, &why);
		free(p);
		ck_assert_msg(rc == HN_EINVAL, "raw %zu: rc %d", i, rc);
		ck_assert_msg(code != NULL && strcmp(code, "bad_json") == 0,
		    "raw %zu: code %s", i, code ? code : "-");
		ck_assert_ptr_nonnull(why);
		assert_empty(&m, "raw");
	}

	/* code and why may be NULL; an empty buffer may be NULL too. */
	fill(&m);
	ck_assert_int_eq(hn_json_msg(NULL, 0, &m, NULL, NULL), HN_EINVAL);
	assert_empty(&m, "NULL");
	ck_assert_int_eq(hn_json_msg(MSG_B, strlen(MSG_B), &m, NULL, NULL), 0);
	ck_assert_str_eq(m.page, "/b");
	ck_assert_int_eq(hn_tunnel_next(NULL, 0, &m, NULL, NULL), 0);
	assert_empty(&m, "tunnel NULL");
}
END_TEST

/* A failure after a success leaves nothing of the success behind. */
START_TEST(test_reset)
{
	static const char	*ok = "{\"type\":\"hello\",\"page\":\"/x\","
				    "\"visitor\":\"v\",\"watch\":[\"/a\"]}";
	static const char	*late = "{\"type\":\"hello\",\"page\":\"/y\","
				    "\"visitor\":\"w\",\"watch\":[\"/a\",7]}";
	struct hn_msg		 m;
	const char		*code;

	ck_assert_int_eq(hn_json_msg(ok, strlen(ok), &m, &code, NULL), 0);
	ck_assert_int_eq(m.nwatch, 1);
	ck_assert_int_eq(hn_json_msg(late, strlen(late), &m, &code, NULL),
	    HN_EINVAL);
	ck_assert_str_eq(code, "bad_watch");
	assert_empty(&m, "late");
	ck_assert_int_eq(hn_json_msg(ok, strlen(ok), &m, &code, NULL), 0);
	ck_assert_int_eq(hn_tunnel_next(late, strlen(late), &m, &code, NULL),
	    HN_EINVAL);
	assert_empty(&m, "tunnel late");
	ck_assert_int_eq(hn_json_msg(ok, strlen(ok), &m, &code, NULL), 0);
	ck_assert_int_eq(hn_tunnel_next(ok, 10, &m, &code, NULL), 0);
	assert_empty(&m, "tunnel partial");
}
END_TEST

/* ---- page keys: long ones ------------------------------------------------ */

START_TEST(test_long_pages)
{
	char		 json[HN_WS_MESSAGE_MAX], path[2048];
	struct hn_msg	 m;
	const char	*code;
	int		 n;

	/* 256 bytes after normalisation is fine, 257 is not. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	n = snprintf(json, sizeof(json),
	    "{\"type\":\"page\",\"page\":\"%.*s\"}", HN_PAGE_MAX, path);
	ck_assert_int_eq(hn_json_msg(json, (size_t)n, &m, &code, NULL), 0);
	ck_assert_int_eq(strlen(m.page), HN_PAGE_MAX);
	n = snprintf(json, sizeof(json),
	    "{\"type\":\"page\",\"page\":\"%.*s\"}", HN_PAGE_MAX + 1, path);
	ck_assert_int_eq(hn_json_msg(json, (size_t)n, &m, &code, NULL),
	    HN_EINVAL);
	ck_assert_str_eq(code, "bad_page");

	/* A long raw key that normalises short is still refused over
	 * HN_PAGE_RAW_MAX; within it, ".." may shorten it. */
	n = snprintf(json, sizeof(json), "{\"type\":\"page\",\"page\":"
	    "\"%.*s/..\"}", HN_PAGE_RAW_MAX - 3, path);
	ck_assert_int_eq(hn_json_msg(json, (size_t)n, &m, &code, NULL), 0);
	ck_assert_str_eq(m.page, "/");
	n = snprintf(json, sizeof(json), "{\"type\":\"page\",\"page\":"
	    "\"%.*s/..\"}", HN_PAGE_RAW_MAX, path);
	ck_assert_int_eq(hn_json_msg(json, (size_t)n, &m, &code, NULL),
	    HN_EINVAL);
	ck_assert_str_eq(code, "bad_page");

	/* Too long is a bad page, not a too big message. */
	n = snprintf(json, sizeof(json), "{\"type\":\"watch\",\"pages\":"
	    "[\"/a\",\"%.*s\"]}", 2000, path);
	ck_assert_int_eq(hn_json_msg(json, (size_t)n, &m, &code, NULL),
	    HN_EINVAL);
	ck_assert_str_eq(code, "bad_page");
}
END_TEST

/* ---- watch lists: the bound of 50, duplicates ---------------------------- */

/* {"type":"watch","pages":["/p0","/p1",...]} with n items; item i is page
 * i % distinct, written with a trailing slash every other time. */
static size_t
watch_json(char *out, size_t outsz, const char *type, const char *member,
    int n, int distinct)
{
	size_t	 o;
	int	 i, w;

	w = snprintf(out, outsz, "{\"type\":\"%s\",\"%s\":[", type, member);
	ck_assert(w > 0 && (size_t)w < outsz);
	o = (size_t)w;
	for (i = 0; i < n; i++) {
		w = snprintf(out + o, outsz - o, "%s\"/p%d%s\"", i ? "," : "",
		    i % distinct, (i / distinct) % 2 ? "/" : "");
		ck_assert(w > 0 && (size_t)w < outsz - o);
		o += (size_t)w;
	}
	w = snprintf(out + o, outsz - o, "]}");
	ck_assert(w > 0 && (size_t)w < outsz - o);
	return o + (size_t)w;
}

START_TEST(test_watch_limit)
{
	static const char	*forms[][2] = {
		{ "watch", "pages" }, { "hello", "watch" },
	};
	char			 json[HN_WS_MESSAGE_MAX + 1], want[16];
	struct hn_msg		 m;
	const char		*code;
	size_t			 len, f;
	int			 i;

	for (f = 0; f < 2; f++) {
		/* 50 distinct pages, in order. */
		len = watch_json(json, sizeof(json), forms[f][0], forms[f][1],
		    HN_WATCH_MAX, HN_WATCH_MAX);
		ck_assert_int_eq(hn_json_msg(json, len, &m, &code, NULL), 0);
		ck_assert_int_eq(m.nwatch, HN_WATCH_MAX);
		for (i = 0; i < HN_WATCH_MAX; i++) {
			snprintf(want, sizeof(want), "/p%d", i);
			ck_assert_str_eq(m.watch[i], want);
		}

		/* 51 distinct: refused. */
		len = watch_json(json, sizeof(json), forms[f][0], forms[f][1],
		    HN_WATCH_MAX + 1, HN_WATCH_MAX + 1);
		ck_assert_int_eq(hn_json_msg(json, len, &m, &code, NULL),
		    HN_EINVAL);
		ck_assert_str_eq(code, "bad_watch");
		assert_empty(&m, "51");

		/* 51 items, one a duplicate after normalisation ("/p0/"):
		 * 50 pages, first order kept. */
		len = watch_json(json, sizeof(json), forms[f][0], forms[f][1],
		    HN_WATCH_MAX + 1, HN_WATCH_MAX);
		ck_assert_int_eq(hn_json_msg(json, len, &m, &code, NULL), 0);
		ck_assert_int_eq(m.nwatch, HN_WATCH_MAX);
		ck_assert_str_eq(m.watch[0], "/p0");
		ck_assert_str_eq(m.watch[HN_WATCH_MAX - 1], "/p49");

		/* Many items, few pages. */
		len = watch_json(json, sizeof(json), forms[f][0], forms[f][1],
		    300, 3);
		ck_assert_int_eq(hn_json_msg(json, len, &m, &code, NULL), 0);
		ck_assert_int_eq(m.nwatch, 3);
		ck_assert_str_eq(m.watch[0], "/p0");
		ck_assert_str_eq(m.watch[1], "/p1");
		ck_assert_str_eq(m.watch[2], "/p2");
	}

	/* Order is the first occurrence's. */
	len = strlen(strcpy(json, "{\"type\":\"watch\",\"pages\":"
	    "[\"/b\",\"/a\",\"/b/\",\"/c\",\"/a/x/..\"]}"));
	ck_assert_int_eq(hn_json_msg(json, len, &m, &code, NULL), 0);
	ck_assert_int_eq(m.nwatch, 3);
	ck_assert_str_eq(m.watch[0], "/b");
	ck_assert_str_eq(m.watch[1], "/a");
	ck_assert_str_eq(m.watch[2], "/c");
}
END_TEST

/* ---- the size bound ------------------------------------------------------ */

/* A page message padded with an ignored member to exactly len bytes. */
static char *
padded(size_t len)
{
	static const char	 head[] = "{\"type\":\"page\",\"page\":\"/x\","
				    "\"pad\":\"";
	char			*p;

	ck_assert_uint_ge(len, sizeof(head) + 2);
	p = malloc(len);
	ck_assert_ptr_nonnull(p);
	memcpy(p, head, sizeof(head) - 1);
	memset(p + sizeof(head) - 1, 'a', len - (sizeof(head) - 1) - 2);
	memcpy(p + len - 2, "\"}", 2);
	return p;
}

START_TEST(test_size_bound)
{
	struct hn_msg	 m;
	const char	*code;
	char		*p;

	p = padded(HN_WS_MESSAGE_MAX);
	ck_assert_int_eq(hn_json_msg(p, HN_WS_MESSAGE_MAX, &m, &code, NULL),
	    0);
	ck_assert_str_eq(m.page, "/x");
	free(p);

	p = padded(HN_WS_MESSAGE_MAX + 1);
	ck_assert_int_eq(hn_json_msg(p, HN_WS_MESSAGE_MAX + 1, &m, &code,
	    NULL), HN_ETOOBIG);
	ck_assert_str_eq(code, "too_big");
	assert_empty(&m, "too big");
	free(p);

	/* Trailing whitespace counts against the bound. */
	p = padded(HN_WS_MESSAGE_MAX + 1);
	p[HN_WS_MESSAGE_MAX - 2] = '"';
	p[HN_WS_MESSAGE_MAX - 1] = '}';
	p[HN_WS_MESSAGE_MAX] = '\n';
	ck_assert_int_eq(hn_json_msg(p, HN_WS_MESSAGE_MAX, &m, &code, NULL),
	    0);
	ck_assert_int_eq(hn_json_msg(p, HN_WS_MESSAGE_MAX + 1, &m, &code,
	    NULL), HN_ETOOBIG);
	free(p);
}
END_TEST

/* ---- the tunnel: concatenated messages ---------------------------------- */


/* Consumes a whole stream as the app will and checks each step. */
static void
tunnel_run(const char *stream, const char *const *msgs, int nmsgs,
    size_t trailing)
{
	struct hn_msg	 got, want;
	const char	*code;
	size_t		 len = strlen(stream), off = 0, ws;
	ssize_t		 r;
	int		 i;

	for (i = 0; i < nmsgs; i++) {
		ck_assert_int_eq(hn_json_msg(msgs[i], strlen(msgs[i]), &want,
		    NULL, NULL), 0);
		r = next_exact(stream + off, len - off, &got, &code);
		/* Whitespace before the value goes with it. */
		for (ws = off; strchr(" \t\r\n", stream[ws]) != NULL &&
		    stream[ws] != '\0'; ws++)
			;
		ck_assert_msg(r == (ssize_t)(ws - off + strlen(msgs[i])),
		    "%s: message %d took %zd", stream, i, r);
		assert_same(&got, &want, stream);
		off += (size_t)r;
	}
	ck_assert_uint_eq(len - off, trailing);
	ck_assert_int_eq(next_exact(stream + off, len - off, &got, &code), 0);
	assert_empty(&got, "after the last");
}

START_TEST(test_tunnel_concat)
{
	static const char	*ab[] = { MSG_A, MSG_B };
	static const char	*abc[] = { MSG_A, MSG_B, MSG_C };

	tunnel_run(MSG_A, ab, 1, 0);
	tunnel_run(MSG_A MSG_B, ab, 2, 0);
	tunnel_run(MSG_A "\n" MSG_B "\n", ab, 2, 1);
	tunnel_run(MSG_A "\r\n" MSG_B "\r\n", ab, 2, 2);
	tunnel_run("\n\n " MSG_A " \t" MSG_B, ab, 2, 0);
	tunnel_run(MSG_A MSG_B MSG_C, abc, 3, 0);
	tunnel_run(MSG_A "\n" MSG_B "\n" MSG_C "\n", abc, 3, 1);
	tunnel_run(MSG_A MSG_B "\n\n\n" MSG_C "  ", abc, 3, 2);
}
END_TEST

/*
 * Every prefix of a stream, in an exactly sized buffer: 0 until the first
 * value is whole, then the same length and message whatever follows.
 * Then the same from where the first one ended.  Awkward places to cut:
 * inside numbers, literals, escapes, surrogate pairs, UTF-8 sequences.
 */
static void
tunnel_prefixes(const char *stream, size_t len, const char *const *msgs,
    int nmsgs)
{
	struct hn_msg	 got, want;
	const char	*code;
	size_t		 off, n, end;
	ssize_t		 r, full;
	int		 i;

	for (i = 0, off = 0; i < nmsgs; i++, off = end) {
		ck_assert_int_eq(hn_json_msg(msgs[i], strlen(msgs[i]), &want,
		    NULL, NULL), 0);
		full = next_exact(stream + off, len - off, &got, &code);
		ck_assert_int_gt(full, 0);
		assert_same(&got, &want, "full");
		end = off + (size_t)full;
		for (n = 0; n <= len - off; n++) {
			fill(&got);
			r = next_exact(stream + off, n, &got, &code);
			if (off + n < end) {
				ck_assert_msg(r == 0, "msg %d, %zu bytes: %zd "
				    "%s", i, n, r, code ? code : "");
				assert_empty(&got, "partial");
			} else {
				ck_assert_msg(r == full, "msg %d, %zu bytes: "
				    "%zd", i, n, r);
				assert_same(&got, &want, "prefix");
			}
		}
	}
	ck_assert_uint_eq(off, len);
}

#define MSG_HARD \
	"{\"type\":\"hello\"," \
	"\"page\":\"/caf\\u00e9/\xc3\xa9/\xf0\x9f\x98\x80\"," \
	"\"visitor\":\"v-1\",\"n\":-12.5e+3,\"i\":10,\"t\":true,\"f\":false," \
	"\"z\":null,\"e\":\"\\\\\\\"\\ud83d\\ude00\\u20ac\"," \
	"\"d\":[1e5,0.5,-0]," \
	"\"watch\":[\"/w\",\"/\xe2\x82\xac\"]}"

START_TEST(test_tunnel_splits)
{
	static const char	*two[] = { MSG_HARD, MSG_B };
	static const char	*three[] = { MSG_A, MSG_HARD, MSG_C };
	static const char	 s1[] = MSG_HARD "\n" MSG_B;
	static const char	 s2[] = MSG_HARD MSG_B;
	static const char	 s3[] = " " MSG_A "\r\n" MSG_HARD MSG_C;

	tunnel_prefixes(s1, sizeof(s1) - 1, two, 2);
	tunnel_prefixes(s2, sizeof(s2) - 1, two, 2);
	tunnel_prefixes(s3, sizeof(s3) - 1, three, 3);
}
END_TEST

/* The app's loop: bytes arrive in chunks of every size from 1 to 9 and
 * are appended; whole messages are taken off the front. */
START_TEST(test_tunnel_chunks)
{
	static const char	 s[] = MSG_A "\n" MSG_HARD MSG_B "\n\n" MSG_C;
	static const char	*msgs[] = { MSG_A, MSG_HARD, MSG_B, MSG_C };
	struct hn_msg		 got, want;
	const char		*code;
	char			 buf[sizeof(s)];
	size_t			 have, fed, chunk, step;
	ssize_t			 r;
	int			 seen;

	for (chunk = 1; chunk <= 9; chunk++) {
		have = fed = 0;
		seen = 0;
		while (fed < sizeof(s) - 1) {
			step = sizeof(s) - 1 - fed < chunk ?
			    sizeof(s) - 1 - fed : chunk;
			memcpy(buf + have, s + fed, step);
			have += step;
			fed += step;
			while ((r = next_exact(buf, have, &got, &code)) > 0) {
				ck_assert_int_lt(seen, 4);
				ck_assert_int_eq(hn_json_msg(msgs[seen],
				    strlen(msgs[seen]), &want, NULL, NULL), 0);
				assert_same(&got, &want, "chunks");
				seen++;
				memmove(buf, buf + r, have - (size_t)r);
				have -= (size_t)r;
			}
			ck_assert_int_eq(r, 0);
		}
		ck_assert_int_eq(seen, 4);
		ck_assert_uint_eq(have, 0);
	}
}
END_TEST

/* A value cut inside a token may go on: "need more", not bad_json. */
START_TEST(test_tunnel_cut_tokens)
{
	static const char	*cuts[] = {
		"{", "  {", "{\"", "{\"type", "{\"type\"", "{\"type\":",
		"{\"n\":-", "{\"n\":1", "{\"n\":1.", "{\"n\":1.5", "{\"n\":1e",
		"{\"n\":1E+", "{\"n\":0", "{\"n\":t", "{\"n\":tru",
		"{\"n\":nul",
		"{\"n\":fals", "{\"n\":\"\\", "{\"n\":\"\\u", "{\"n\":\"\\u00",
		"{\"n\":\"\\ud83d", "{\"n\":\"\\ud83d\\",
		"{\"n\":\"\\ud83d\\ud",
		"{\"n\":\"\xc3", "{\"n\":\"\xf0\x9f\x98", "{\"n\":[",
		"{\"n\":[1,",
		"{\"n\":{\"m\":{", "{\"n\":[1]", "{\"n\":[1],",
	};
	struct hn_msg	 m;
	const char	*code;
	size_t		 i;
	ssize_t		 r;

	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		r = next_exact(cuts[i], strlen(cuts[i]), &m, &code);
		ck_assert_msg(r == 0, "%s: %zd %s", cuts[i], r,
		    code ? code : "");
	}
}
END_TEST

START_TEST(test_tunnel_whitespace)
{
	struct hn_msg	 m;
	const char	*code;
	char		*p;

	ck_assert_int_eq(next_exact("", 0, &m, &code), 0);
	ck_assert_int_eq(next_exact(" ", 1, &m, &code), 0);
	ck_assert_int_eq(next_exact("\n\r\t \n", 5, &m, &code), 0);
	assert_empty(&m, "whitespace");

	/* Whitespace alone never fills the bound without an answer. */
	p = malloc(HN_WS_MESSAGE_MAX + 1);
	ck_assert_ptr_nonnull(p);
	memset(p, '\n', HN_WS_MESSAGE_MAX + 1);
	ck_assert_int_eq(next_exact(p, HN_WS_MESSAGE_MAX - 1, &m, &code), 0);
	ck_assert_int_eq(next_exact(p, HN_WS_MESSAGE_MAX, &m, &code),
	    HN_ETOOBIG);
	ck_assert_str_eq(code, "too_big");
	ck_assert_int_eq(next_exact(p, HN_WS_MESSAGE_MAX + 1, &m, &code),
	    HN_ETOOBIG);
	free(p);
}
END_TEST

/* After a good message, what follows is judged on its own, at once when
 * it can never become a message. */
START_TEST(test_tunnel_garbage)
{
	static const struct {
		const char	*stream;
		const char	*code;
	} cases[] = {
		{ MSG_B "x", "bad_json" },
		{ MSG_B "12", "bad_json" },
		{ MSG_B "\n1", "bad_json" },
		{ MSG_B "-", "bad_json" },
		{ MSG_B "t", "bad_json" },
		{ MSG_B "true", "bad_json" },
		{ MSG_B "null\n", "bad_json" },
		{ MSG_B "\"", "bad_json" },
		{ MSG_B "\"page\"", "bad_json" },
		{ MSG_B "[", "bad_json" },
		{ MSG_B "[]", "bad_json" },
		{ MSG_B "}", "bad_json" },
		{ MSG_B ",", "bad_json" },
		{ MSG_B "{]", "bad_json" },
		{ MSG_B "{\"a\"]", "bad_json" },
		{ MSG_B "{\"a\":1,}", "bad_json" },
		{ MSG_B "{\"a\":1 2 ", "bad_json" },
		{ MSG_B "{\"a\":01", "bad_json" },
		{ MSG_B "{\"a\":\"\\q", "bad_json" },
		{ MSG_B "{\"a\":\"\xff", "bad_json" },
		{ MSG_B "{\"a\":\"\xc3(", "bad_json" },
		{ MSG_B "{\"a\":\"x\ny\"}", "bad_json" },
		{ MSG_B "{\"a\":1,\"a\":2}", "bad_json" },
		{ MSG_B "{\"a\":1 x}", "bad_json" },
		{ MSG_B "{}", "bad_message" },
		{ MSG_B "{\"type\":\"bye\"}" MSG_B, "bad_message" },
		{ MSG_B "{\"type\":\"page\",\"page\":\"x\"}", "bad_page" },
	};
	struct hn_msg	 m;
	const char	*code, *s;
	size_t		 i, b = strlen(MSG_B);
	ssize_t		 r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = cases[i].stream;
		ck_assert_int_eq(next_exact(s, strlen(s), &m, &code),
		    (ssize_t)b);
		fill(&m);
		r = next_exact(s + b, strlen(s) - b, &m, &code);
		ck_assert_msg(r == HN_EINVAL && strcmp(code, cases[i].code) ==
		    0, "%s: %zd %s", s, r, code ? code : "-");
		assert_empty(&m, s);
	}

	/* Garbage that could still be the start of a token waits for one
	 * more byte (jansson reports no more than that): never accepted. */
	ck_assert_int_eq(next_exact("{\"a\":1 x", 8, &m, &code), 0);
	ck_assert_int_eq(next_exact("{\"a\":1 x}", 9, &m, &code), HN_EINVAL);
	ck_assert_int_eq(next_exact("{\"a\":1 x ", 9, &m, &code), HN_EINVAL);
}
END_TEST

/* A raw NUL ends what can be a message. */
START_TEST(test_tunnel_nul)
{
	static const char	 s1[] = MSG_B "\0" MSG_B;
	static const char	 s2[] =
	    "{\"type\":\"page\",\"page\":\"/x\",\"n\":1\0}";
	static const char	 s3[] = "{\"type\":\"pa\0";
	static const char	 s4[] = " \0";
	struct hn_msg		 m;
	const char		*code;
	size_t			 b = strlen(MSG_B);

	ck_assert_int_eq(next_exact(s1, sizeof(s1) - 1, &m, &code),
	    (ssize_t)b);
	ck_assert_int_eq(next_exact(s1 + b, sizeof(s1) - 1 - b, &m, &code),
	    HN_EINVAL);
	ck_assert_str_eq(code, "bad_json");
	ck_assert_int_eq(next_exact(s2, sizeof(s2) - 1, &m, &code), HN_EINVAL);
	ck_assert_str_eq(code, "bad_json");
	ck_assert_int_eq(next_exact(s3, sizeof(s3) - 1, &m, &code), HN_EINVAL);
	ck_assert_str_eq(code, "bad_json");
	ck_assert_int_eq(next_exact(s4, sizeof(s4) - 1, &m, &code), HN_EINVAL);
	ck_assert_str_eq(code, "bad_json");
}
END_TEST

START_TEST(test_tunnel_oversize)
{
	struct hn_msg	 m;
	const char	*code;
	char		*p, *q;
	size_t		 n;

	/* A value of exactly the bound, alone or with more after it. */
	p = padded(HN_WS_MESSAGE_MAX);
	ck_assert_int_eq(next_exact(p, HN_WS_MESSAGE_MAX, &m, &code),
	    HN_WS_MESSAGE_MAX);
	ck_assert_str_eq(m.page, "/x");
	q = malloc(HN_WS_MESSAGE_MAX + sizeof(MSG_B));
	ck_assert_ptr_nonnull(q);
	memcpy(q, p, HN_WS_MESSAGE_MAX);
	memcpy(q + HN_WS_MESSAGE_MAX, MSG_B, sizeof(MSG_B));
	ck_assert_int_eq(next_exact(q, HN_WS_MESSAGE_MAX + sizeof(MSG_B) - 1,
	    &m, &code), HN_WS_MESSAGE_MAX);
	free(q);
	for (n = HN_WS_MESSAGE_MAX - 40; n < HN_WS_MESSAGE_MAX; n++)
		ck_assert_int_eq(next_exact(p, n, &m, &code), 0);
	free(p);

	/* One byte more: "need more" until the bound, then too big. */
	p = padded(HN_WS_MESSAGE_MAX + 1);
	for (n = HN_WS_MESSAGE_MAX - 40; n < HN_WS_MESSAGE_MAX; n++)
		ck_assert_int_eq(next_exact(p, n, &m, &code), 0);
	ck_assert_int_eq(next_exact(p, HN_WS_MESSAGE_MAX, &m, &code),
	    HN_ETOOBIG);
	ck_assert_str_eq(code, "too_big");
	assert_empty(&m, "oversize");
	ck_assert_int_eq(next_exact(p, HN_WS_MESSAGE_MAX + 1, &m, &code),
	    HN_ETOOBIG);
	free(p);

	/* Whitespace before the value counts. */
	p = padded(HN_WS_MESSAGE_MAX);
	q = malloc(HN_WS_MESSAGE_MAX + 1);
	ck_assert_ptr_nonnull(q);
	q[0] = '\n';
	memcpy(q + 1, p, HN_WS_MESSAGE_MAX);
	ck_assert_int_eq(next_exact(q, HN_WS_MESSAGE_MAX + 1, &m, &code),
	    HN_ETOOBIG);
	free(p);
	p = padded(HN_WS_MESSAGE_MAX - 1);
	memcpy(q + 1, p, HN_WS_MESSAGE_MAX - 1);
	ck_assert_int_eq(next_exact(q, HN_WS_MESSAGE_MAX, &m, &code),
	    HN_WS_MESSAGE_MAX);
	free(p);
	free(q);

	/* A stream that never closes its value. */
	p = malloc(20000);
	ck_assert_ptr_nonnull(p);
	memset(p, '[', 20000);
	p[0] = '{';
	ck_assert_int_eq(next_exact(p, 20000, &m, &code), HN_EINVAL);
	memcpy(p, "{\"a\":\"", 6);
	memset(p + 6, 'x', 20000 - 6);
	ck_assert_int_eq(next_exact(p, 20000, &m, &code), HN_ETOOBIG);
	free(p);
}
END_TEST

/* Every good and bad message of the tables reads the same on the tunnel,
 * except that what is cut short there means "need more". */
START_TEST(test_tunnel_tables)
{
	struct hn_msg	 a, b;
	const char	*ca, *cb, *s;
	size_t		 i, len, ws;
	ssize_t		 r;
	int		 rc;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		s = goods[i].json;
		len = strlen(s);
		ck_assert_int_eq(hn_json_msg(s, len, &a, &ca, NULL), 0);
		r = next_exact(s, len, &b, &cb);
		for (ws = len; ws > 0 && strchr(" \t\r\n", s[ws - 1]); ws--)
			;
		ck_assert_msg(r == (ssize_t)ws, "%s: %zd", s, r);
		assert_same(&a, &b, s);
	}
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		s = bads[i].json;
		len = strlen(s);
		rc = hn_json_msg(s, len, &a, &ca, NULL);
		r = next_exact(s, len, &b, &cb);
		if (strcmp(bads[i].code, "bad_json") != 0) {
			ck_assert_msg(r == rc && strcmp(ca, cb) == 0,
			    "%s: %zd %s", s, r, cb ? cb : "-");
			continue;
		}
		/* bad_json there: here an error, "need more", or a value
		 * followed by what the next call refuses. */
		ck_assert_msg(r <= 0 || strcmp(s + r, "") != 0, "%s", s);
	}
}
END_TEST

/* ---- random input -------------------------------------------------------- */

START_TEST(test_random)
{
	static const char	 seed_stream[] = MSG_A "\n" MSG_HARD MSG_C;
	static const char	 alphabet[] = "{}[]\":,\\/ \nuatn0e.-+x";
	struct hn_msg		 m, m2;
	const char		*code, *why;
	char			 buf[600];
	uint32_t		 s = 0x9e3779b9;
	size_t			 len, off, k, i;
	ssize_t			 r, r2;
	int			 rc, iter, mode;

	for (iter = 0; iter < 30000; iter++) {
		mode = iter % 3;
		len = rnd(&s) % sizeof(buf);
		if (mode == 0) {		/* any bytes */
			for (i = 0; i < len; i++)
				buf[i] = (char)rnd(&s);
		} else if (mode == 1) {		/* JSON-ish bytes */
			buf[0] = '{';
			for (i = 1; i < len; i++)
				buf[i] = alphabet[rnd(&s) %
				    (sizeof(alphabet) - 1)];
		} else {			/* a good stream, mutated */
			len = sizeof(seed_stream) - 1;
			memcpy(buf, seed_stream, len);
			for (k = rnd(&s) % 4; k > 0; k--)
				buf[rnd(&s) % len] = (char)rnd(&s);
			len -= rnd(&s) % 8;
		}

		code = why = NULL;
		rc = hn_json_msg(buf, len, &m, &code, &why);
		ck_assert(rc == 0 || rc == HN_EINVAL);
		ck_assert(rc != 0 || (m.type >= HN_MSG_HELLO &&
		    m.type <= HN_MSG_WATCH));
		ck_assert(rc == 0 || (code != NULL && why != NULL));

		/* The app's loop; a cut anywhere answers 0 or the same. */
		for (off = 0; off < len; off += (size_t)r) {
			r = next_exact(buf + off, len - off, &m, &code);
			ck_assert(r == 0 || r == HN_EINVAL || (r > 0 &&
			    (size_t)r <= len - off));
			k = rnd(&s) % (len - off + 1);
			r2 = next_exact(buf + off, k, &m2, &code);
			ck_assert_msg(r2 == 0 || r2 == r, "iter %d: %zd vs %zd",
			    iter, r2, r);
			if (r2 > 0)
				assert_same(&m, &m2, "random cut");
			if (r <= 0)
				break;
		}
	}
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite	*s = suite_create("msg");
	TCase	*tc;

	tc = tcase_create("json");
	tcase_add_loop_test(tc, test_good, 0, sizeof(goods) / sizeof(goods[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tc, test_raw_bytes);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_long_pages);
	tcase_add_test(tc, test_watch_limit);
	tcase_add_test(tc, test_size_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("tunnel");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tunnel_concat);
	tcase_add_test(tc, test_tunnel_splits);
	tcase_add_test(tc, test_tunnel_chunks);
	tcase_add_test(tc, test_tunnel_cut_tokens);
	tcase_add_test(tc, test_tunnel_whitespace);
	tcase_add_test(tc, test_tunnel_garbage);
	tcase_add_test(tc, test_tunnel_nul);
	tcase_add_test(tc, test_tunnel_oversize);
	tcase_add_test(tc, test_tunnel_tables);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hn_check_run(msg_suite());
}
