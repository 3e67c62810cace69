/*
 * Server-Sent Events encoding (pure).  One JSON object per event, in one
 * "data:" line, so a payload must not contain CR or LF.
 */
#include <stdio.h>
#include <string.h>

#include "hn.h"

/* Appends s (n bytes) at *off when it fits. */
static int
sse_put(char *out, size_t outsz, size_t *off, const char *s, size_t n)
{
	if (n > outsz - *off)
		return HN_ETOOBIG;
	memcpy(out + *off, s, n);
	*off += n;
	return HN_OK;
}

static int
sse_line_ok(const char *s, size_t n)
{
	return memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL &&
	    memchr(s, '\0', n) == NULL;
}

ssize_t
hn_sse_event(char *out, size_t outsz, const char *event, const char *data,
    size_t datalen)
{
	size_t	 off = 0;

	if (!sse_line_ok(data, datalen) ||
	    (event != NULL && !sse_line_ok(event, strlen(event))))
		return HN_EINVAL;
	if (event != NULL &&
	    (sse_put(out, outsz, &off, "event: ", 7) < 0 ||
	    sse_put(out, outsz, &off, event, strlen(event)) < 0 ||
	    sse_put(out, outsz, &off, "\n", 1) < 0))
		return HN_ETOOBIG;
	if (sse_put(out, outsz, &off, "data: ", 6) < 0 ||
	    sse_put(out, outsz, &off, data, datalen) < 0 ||
	    sse_put(out, outsz, &off, "\n\n", 2) < 0)
		return HN_ETOOBIG;
	return (ssize_t)off;
}

ssize_t
hn_sse_retry(char *out, size_t outsz, unsigned ms)
{
	int	 n;

	n = snprintf(out, outsz, "retry: %u\n\n", ms);
	if (n < 0 || (size_t)n >= outsz)
		return HN_ETOOBIG;
	return n;
}

ssize_t
hn_sse_comment(char *out, size_t outsz, const char *text)
{
	size_t	 off = 0, n = strlen(text);

	if (!sse_line_ok(text, n))
		return HN_EINVAL;
	if (sse_put(out, outsz, &off, ": ", 2) < 0 ||
	    sse_put(out, outsz, &off, text, n) < 0 ||
	    sse_put(out, outsz, &off, "\n\n", 2) < 0)
		return HN_ETOOBIG;
	return (ssize_t)off;
}
