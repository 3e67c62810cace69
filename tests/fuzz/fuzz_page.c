/*
 * libFuzzer target for page.c: the input is tried as a raw page key, as a
 * query string (whose "page" and "watch" values go on to the normaliser)
 * and as a watch list.  Broken invariants abort; the sanitizers do the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check_key(const char *, int);

/* A normalised key per DESIGN §2, and a fixed point when it has no '%'. */
static void
check_key(const char *k, int rc)
{
	char	 again[HN_PAGE_MAX + 1];
	size_t	 n = (size_t)rc;

	if (rc < 1 || rc > HN_PAGE_MAX || strlen(k) != n || k[0] != '/' ||
	    strstr(k, "//") != NULL || strstr(k, "/./") != NULL ||
	    strstr(k, "/../") != NULL || (n > 1 && k[n - 1] == '/') ||
	    (n >= 2 && strcmp(k + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(k + n - 3, "/..") == 0))
		abort();
	if (strpbrk(k, "%?#") == NULL &&
	    (hn_page_normalize(k, n, again, NULL) != rc ||
	    strcmp(again, k) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*keys[] = { "page", "watch", "visitor" };
	char			 out[HN_PAGE_MAX + 1];
	char			 pages[HN_WATCH_MAX][HN_PAGE_MAX + 1];
	char			*val;
	const char		*in = (const char *)data, *why;
	size_t			 vlen, i;
	int			 rc, j, k;

	why = NULL;
	rc = hn_page_normalize(in, size, out, &why);
	if (rc >= 0)
		check_key(out, rc);
	else if ((rc != HN_EINVAL && rc != HN_ETOOBIG) || why == NULL)
		abort();

	rc = hn_watch_parse(in, size, pages, &why);
	if (rc > HN_WATCH_MAX || (rc < 0 && rc != HN_EINVAL &&
	    rc != HN_ETOOBIG))
		abort();
	for (k = 0; k < rc; k++) {
		check_key(pages[k], (int)strlen(pages[k]));
		for (j = 0; j < k; j++)
			if (strcmp(pages[k], pages[j]) == 0)
				abort();
	}

	/* An exactly sized heap buffer lets ASan see any write past it. */
	if ((val = malloc(HN_PAGE_RAW_MAX + 1)) == NULL)
		return 0;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		vlen = (size_t)-1;
		rc = hn_query_get(in, size, keys[i], val, HN_PAGE_RAW_MAX + 1,
		    &vlen);
		if (rc != 1) {
			if ((rc != 0 && rc != HN_EINVAL && rc != HN_ETOOBIG) ||
			    vlen != (size_t)-1)
				abort();
			continue;
		}
		if (vlen > HN_PAGE_RAW_MAX || vlen > size || val[vlen] != '\0')
			abort();
		if (i == 0 && (rc = hn_page_normalize(val, vlen, out,
		    NULL)) >= 0)
			check_key(out, rc);
		else if (i == 1 && (rc = hn_watch_parse(val, vlen, pages,
		    NULL)) > HN_WATCH_MAX)
			abort();
		else if (i == 2)
			(void)hn_visitor_valid(val, vlen);
	}
	free(val);
	return 0;
}
