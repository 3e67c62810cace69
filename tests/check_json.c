/*
 * Our JSON messages: exact bytes, escaping of odd page keys, bounds.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hn.h"
#include "check_main.h"

START_TEST(test_count_exact)
{
	char	 out[256];
	ssize_t	 n;

	n = hn_json_count(out, sizeof(out), "/post/x", 12, 14, 340, true);
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(out, "{\"type\":\"count\",\"page\":\"/post/x\","
	    "\"readers\":12,\"tabs\":14,\"site\":340}\n");
	ck_assert_int_eq(n, (ssize_t)strlen(out));
}
END_TEST

START_TEST(test_count_escapes)
{
	char		 out[256];
	json_t		*j;
	json_error_t	 e;
	ssize_t		 n;

	/* Quotes, backslashes and non-ASCII survive a round trip and stay on
	 * one line. */
	n = hn_json_count(out, sizeof(out), "/a\"b\\c/caf\xc3\xa9/\xe2\x80\xa8",
	    1, 2, 3, false);
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_null(memchr(out, '\n', (size_t)n));
	j = json_loadb(out, (size_t)n, 0, &e);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "page")),
	    "/a\"b\\c/caf\xc3\xa9/\xe2\x80\xa8");
	json_decref(j);
}
END_TEST

START_TEST(test_count_bounds)
{
	char	 out[256];
	ssize_t	 full;
	size_t	 sz;

	full = hn_json_count(out, sizeof(out), "/p", 1, 1, 1, true);
	ck_assert_int_gt(full, 0);
	for (sz = 0; sz <= (size_t)full; sz++)
		ck_assert_int_eq(hn_json_count(out, sz, "/p", 1, 1, 1, true),
		    HN_ETOOBIG);
	ck_assert_int_eq(hn_json_count(out, (size_t)full + 1, "/p", 1, 1, 1,
	    true), full);
}
END_TEST

START_TEST(test_error_message)
{
	char	 out[256];

	ck_assert_int_gt(hn_json_error(out, sizeof(out), "bad_page",
	    "page must start with /"), 0);
	ck_assert_str_eq(out, "{\"type\":\"error\",\"code\":\"bad_page\","
	    "\"message\":\"page must start with /\"}");
	ck_assert_int_eq(hn_json_error(out, 10, "bad_page", "x"), HN_ETOOBIG);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("messages");

	tcase_add_test(tc, test_count_exact);
	tcase_add_test(tc, test_count_escapes);
	tcase_add_test(tc, test_count_bounds);
	tcase_add_test(tc, test_error_message);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hn_check_run(json_suite());
}
