/*
 * The main() of every Check suite: runs the suite and turns what failed
 * into the exit status.  Included once, by the suite's file.
 */
#ifndef HN_CHECK_MAIN_H
#define HN_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* EXIT_SUCCESS when every test of s passed, else EXIT_FAILURE. */
static int
hn_check_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
