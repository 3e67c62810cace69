/*
 * A growing, NUL-terminated byte buffer for the fuzz targets that build
 * requests and bodies back from what they parsed.  Out of memory aborts:
 * a fuzz target has nothing better to do.
 */
#ifndef HN_FUZZ_BUF_H
#define HN_FUZZ_BUF_H

#include <stdlib.h>
#include <string.h>

struct fuzz_buf {
	char	*p;
	size_t	 len, cap;
};

static inline void
buf_add(struct fuzz_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1);
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

#endif /* HN_FUZZ_BUF_H */
