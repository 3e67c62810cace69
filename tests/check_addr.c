/*
 * Check suite for addr.c: which client a request's streams are counted
 * under (REMOTE_ADDR, X-Forwarded-For from trusted proxies only, IPv6 by
 * its /64) and the trusted_proxies list check, table-driven.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"
#include "check_main.h"

#define LEN(a)	(sizeof(a) / sizeof((a)[0]))

static const struct {
	const char	*remote, *xff, *trusted;
	const char	*want;
} clients[] = {
	/* no proxy configured: X-Forwarded-For is anybody's word */
	{ "203.0.113.7", NULL, "", "203.0.113.7" },
	{ "203.0.113.7", "198.51.100.1", "", "203.0.113.7" },
	{ "203.0.113.7", "198.51.100.1", NULL, "203.0.113.7" },
	/* a proxy configured, but the request does not come from it */
	{ "203.0.113.7", "198.51.100.1", "10.0.0.1", "203.0.113.7" },
	{ "203.0.113.7", "198.51.100.1", "10.0.0.0/8", "203.0.113.7" },
	/* from the trusted proxy: the address it appended */
	{ "10.0.0.1", "198.51.100.1", "10.0.0.1", "198.51.100.1" },
	{ "10.0.0.1", " 198.51.100.1 ", "10.0.0.0/8", "198.51.100.1" },
	/* the client's own claims on the left are not believed */
	{ "10.0.0.1", "1.2.3.4, 198.51.100.1", "10.0.0.1", "198.51.100.1" },
	{ "10.0.0.1", "1.2.3.4,198.51.100.1", "10.0.0.1", "198.51.100.1" },
	/* a chain of our proxies: the first hop none of them is */
	{ "10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", "10.0.0.0/8",
	    "198.51.100.1" },
	{ "10.0.0.1", "198.51.100.1, 10.9.9.9, 10.0.0.2", "10.0.0.0/8",
	    "198.51.100.1" },
	/* garbage ends the walk: the last trusted hop is the client */
	{ "10.0.0.1", "junk, 10.0.0.2", "10.0.0.0/8", "10.0.0.2" },
	{ "10.0.0.1", "198.51.100.1, junk", "10.0.0.0/8", "10.0.0.1" },
	{ "10.0.0.1", "", "10.0.0.0/8", "10.0.0.1" },
	{ "10.0.0.1", ",", "10.0.0.0/8", "10.0.0.1" },
	{ "10.0.0.1", "198.51.100.1:4711", "10.0.0.0/8", "10.0.0.1" },
	/* every hop trusted: the leftmost */
	{ "10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.0/8", "10.0.0.3" },
	/* IPv6: by /64, in canonical form */
	{ "2001:db8:1:2:3:4:5:6", NULL, "", "2001:db8:1:2::/64" },
	{ "2001:DB8:1:2::99", NULL, "", "2001:db8:1:2::/64" },
	{ "::1", "198.51.100.1", "::1", "198.51.100.1" },
	{ "::1", "2001:db8::1", "::1 127.0.0.1", "2001:db8::/64" },
	{ "fd00::5", "198.51.100.1", "fd00::/8", "198.51.100.1" },
	{ "fe00::5", "198.51.100.1", "fd00::/8", "fe00::/64" },
	/* IPv4 mapped into IPv6 is that IPv4 address */
	{ "::ffff:203.0.113.7", NULL, "", "203.0.113.7" },
	{ "::ffff:10.0.0.1", "198.51.100.1", "10.0.0.0/8", "198.51.100.1" },
	{ "10.0.0.1", "198.51.100.1", "::ffff:10.0.0.0/104", "198.51.100.1" },
	/* network edges */
	{ "10.0.0.1", "198.51.100.1", "10.0.0.0/32", "10.0.0.1" },
	{ "10.0.0.0", "198.51.100.1", "10.0.0.0/32", "198.51.100.1" },
	{ "10.0.0.1", "198.51.100.1", "0.0.0.0/0", "198.51.100.1" },
	{ "10.255.255.255", "198.51.100.1", "10.0.0.0/9", "10.255.255.255" },
	{ "10.127.255.255", "198.51.100.1", "10.0.0.0/9", "198.51.100.1" },
	/* not an address (a unix socket): counted as it is */
	{ "unix", NULL, "", "unix" },
};

START_TEST(test_client)
{
	char	 out[HN_ADDR_KEY_MAX];
	int	 i = _i;

	ck_assert_int_eq(hn_addr_client(clients[i].remote, clients[i].xff,
	    clients[i].trusted, out, sizeof(out)), 0);
	ck_assert_msg(strcmp(out, clients[i].want) == 0,
	    "%s via [%s] trusting [%s]: got %s, want %s", clients[i].remote,
	    clients[i].xff ? clients[i].xff : "(none)",
	    clients[i].trusted ? clients[i].trusted : "(none)", out,
	    clients[i].want);
}
END_TEST

START_TEST(test_client_edges)
{
	char	 out[HN_ADDR_KEY_MAX], big[300];

	ck_assert_int_eq(hn_addr_client(NULL, NULL, "", out, sizeof(out)),
	    HN_EINVAL);
	ck_assert_int_eq(hn_addr_client("", NULL, "", out, sizeof(out)),
	    HN_EINVAL);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(hn_addr_client("1.2.3.4", NULL, "", out, 0),
	    HN_ETOOBIG);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(hn_addr_client(big, NULL, "", out, sizeof(out)),
	    HN_ETOOBIG);
	/* A header of many hops is walked without harm. */
	{
		char	 xff[8192];
		size_t	 n = 0;

		while (n + 40 < sizeof(xff))
			n += (size_t)snprintf(xff + n, sizeof(xff) - n,
			    "10.0.0.%d, ", (int)(n % 200));
		snprintf(xff + n, sizeof(xff) - n, "198.51.100.9");
		ck_assert_int_eq(hn_addr_client("10.0.0.1", xff, "10.0.0.0/8",
		    out, sizeof(out)), 0);
		ck_assert_str_eq(out, "198.51.100.9");
	}
}
END_TEST

static const char *const good_lists[] = {
	"", " ", "127.0.0.1", "127.0.0.1 ::1", "10.0.0.0/8\t192.168.0.0/16",
	"::/0", "0.0.0.0/0", "2001:db8::/32", "::ffff:10.0.0.0/104",
	"10.0.0.1/32",
};

static const char *const bad_lists[] = {
	"localhost", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "::1/129",
	"10.0.0", "127.0.0.1,::1", "10.0.0.0/0008", "::ffff:10.0.0.0/95",
	"1.2.3.4 nope",
};

START_TEST(test_lists)
{
	size_t	 i;

	for (i = 0; i < LEN(good_lists); i++)
		ck_assert_msg(hn_addr_list_check(good_lists[i],
		    strlen(good_lists[i])) == NULL, "refused [%s]",
		    good_lists[i]);
	for (i = 0; i < LEN(bad_lists); i++)
		ck_assert_msg(hn_addr_list_check(bad_lists[i],
		    strlen(bad_lists[i])) != NULL, "accepted [%s]",
		    bad_lists[i]);
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite	*s = suite_create("addr");
	TCase	*tc = tcase_create("addr");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_client, 0, LEN(clients));
	tcase_add_test(tc, test_client_edges);
	tcase_add_test(tc, test_lists);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hn_check_run(addr_suite());
}
