/*
 * The mod_wstunnel stream (DESIGN §3): client messages arrive as JSON
 * objects one after another with no boundaries.  This finds the next one
 * and bounds it; json.c decodes it (only json.c sees jansson).  Pure.
 */
#include <stdbool.h>
#include <string.h>

#include "hn.h"

/*
 * NOTES: mod_wstunnel (lighttpd 1.4.46 - 1.4.73) does the handshake and
 * the framing and hands the backend only the payload bytes of the client's
 * messages, in the order of its reads: two messages may arrive in one read
 * and one message in several, so boundaries are found in the JSON itself.
 * Clients may end messages with a newline or not; JSON whitespace between
 * values is skipped.  The same bound as a WebSocket message holds, counted
 * from the first byte not yet consumed, so the caller never needs to keep
 * more than HN_WS_MESSAGE_MAX bytes to get an answer other than "more".
 */

static bool	tunnel_space(char);

/* JSON's whitespace (RFC 8259 §2), nothing else. */
static bool
tunnel_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

ssize_t
hn_tunnel_next(const char *buf, size_t len, struct hn_msg *msg,
    const char **code, const char **why)
{
	const char	*dummy;
	size_t		 win, skip;
	ssize_t		 n;

	if (code == NULL)
		code = &dummy;
	if (why == NULL)
		why = &dummy;
	win = len < HN_WS_MESSAGE_MAX ? len : HN_WS_MESSAGE_MAX;
	for (skip = 0; skip < win && tunnel_space(buf[skip]); skip++)
		;
	/* Whitespace is consumed only with the value after it, so that a
	 * positive return always means a message. */
	n = hn_json_msg_prefix(win > 0 ? buf + skip : buf, win - skip, msg,
	    code, why);
	if (n > 0)
		return (ssize_t)skip + n;
	if (n < 0)
		return n;
	if (len >= HN_WS_MESSAGE_MAX) {
		*code = "too_big";
		*why = "message too big";
		return HN_ETOOBIG;
	}
	return 0;
}
