/*
 * SSE encoding: exact bytes of events, retry and comments, and refusal of
 * payloads that would break the one-line framing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "check_main.h"

START_TEST(test_event_exact)
{
	char	 out[128];
	ssize_t	 n;

	n = hn_sse_event(out, sizeof(out), "count", "{\"a\":1}", 7);
	ck_assert_int_eq(n, (ssize_t)strlen("event: count\ndata: {\"a\":1}\n\n"));
	ck_assert(memcmp(out, "event: count\ndata: {\"a\":1}\n\n", (size_t)n)
	    == 0);
	n = hn_sse_event(out, sizeof(out), NULL, "x", 1);
	ck_assert_int_eq(n, 9);
	ck_assert(memcmp(out, "data: x\n\n", 9) == 0);
}
END_TEST

START_TEST(test_event_refuses_newlines)
{
	char	 out[128];

	ck_assert_int_eq(hn_sse_event(out, sizeof(out), "count", "a\nb", 3),
	    HN_EINVAL);
	ck_assert_int_eq(hn_sse_event(out, sizeof(out), "count", "a\rb", 3),
	    HN_EINVAL);
	ck_assert_int_eq(hn_sse_event(out, sizeof(out), "count", "a\0b", 3),
	    HN_EINVAL);
	ck_assert_int_eq(hn_sse_event(out, sizeof(out), "c\nx", "ab", 2),
	    HN_EINVAL);
}
END_TEST

START_TEST(test_event_bounds)
{
	char	 out[64];
	size_t	 need = strlen("event: count\ndata: 0123456789\n\n");
	size_t	 sz;

	/* Every size below the need is refused, the need itself fits. */
	for (sz = 0; sz < need; sz++)
		ck_assert_int_eq(hn_sse_event(out, sz, "count", "0123456789",
		    10), HN_ETOOBIG);
	ck_assert_int_eq(hn_sse_event(out, need, "count", "0123456789", 10),
	    (ssize_t)need);
}
END_TEST

START_TEST(test_retry_and_comment)
{
	char	 out[64];
	ssize_t	 n;

	n = hn_sse_retry(out, sizeof(out), 2000);
	ck_assert_int_eq(n, 13);
	ck_assert(memcmp(out, "retry: 2000\n\n", 13) == 0);
	ck_assert_int_eq(hn_sse_retry(out, 13, 2000), HN_ETOOBIG);
	n = hn_sse_comment(out, sizeof(out), "ping");
	ck_assert_int_eq(n, 8);
	ck_assert(memcmp(out, ": ping\n\n", 8) == 0);
	ck_assert_int_eq(hn_sse_comment(out, 7, "ping"), HN_ETOOBIG);
	ck_assert_int_eq(hn_sse_comment(out, sizeof(out), "a\nb"), HN_EINVAL);
}
END_TEST

START_TEST(test_count_line_as_event)
{
	char	 json[256], out[512];
	ssize_t	 n, m;

	/* What the hub broadcasts, without its newline, is one data line. */
	n = hn_json_count(json, sizeof(json), "/post/x", 12, 14, 340, false);
	ck_assert_int_gt(n, 0);
	m = hn_sse_event(out, sizeof(out), "count", json, (size_t)n);
	ck_assert_int_gt(m, 0);
	out[m] = '\0';
	ck_assert_str_eq(out, "event: count\ndata: {\"type\":\"count\","
	    "\"page\":\"/post/x\",\"readers\":12,\"tabs\":14,\"site\":340}\n\n");
}
END_TEST

static Suite *
sse_suite(void)
{
	Suite	*s = suite_create("sse");
	TCase	*tc = tcase_create("encode");

	tcase_add_test(tc, test_event_exact);
	tcase_add_test(tc, test_event_refuses_newlines);
	tcase_add_test(tc, test_event_bounds);
	tcase_add_test(tc, test_retry_and_comment);
	tcase_add_test(tc, test_count_line_as_event);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hn_check_run(sse_suite());
}
