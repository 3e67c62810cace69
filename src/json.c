/*
 * Our JSON messages, written through jansson (DESIGN §6: never by hand).
 */
#include <string.h>

#include <jansson.h>

#include "hn.h"

/* Dumps obj compactly into out, optionally with a newline; frees obj. */
static ssize_t
json_emit(json_t *obj, char *out, size_t outsz, bool nl)
{
	size_t	 n;

	if (obj == NULL)
		return HN_ENOMEM;
	n = json_dumpb(obj, out, outsz, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(obj);
	if (n == 0 || n + (nl ? 2 : 1) > outsz)
		return HN_ETOOBIG;
	if (nl)
		out[n++] = '\n';
	out[n] = '\0';
	return (ssize_t)n;
}

ssize_t
hn_json_count(char *out, size_t outsz, const char *page, long readers,
    long tabs, long site, bool nl)
{
	return json_emit(json_pack("{s:s, s:s, s:I, s:I, s:I}",
	    "type", "count", "page", page, "readers", (json_int_t)readers,
	    "tabs", (json_int_t)tabs, "site", (json_int_t)site), out, outsz, nl);
}

ssize_t
hn_json_error(char *out, size_t outsz, const char *code, const char *message)
{
	return json_emit(json_pack("{s:s, s:s, s:s}", "type", "error",
	    "code", code, "message", message), out, outsz, false);
}
