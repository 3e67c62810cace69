/*
 * libFuzzer target for client messages: the input is one WebSocket message
 * for hn_json_msg, and a mod_wstunnel stream consumed with hn_tunnel_next
 * as the app does.  Broken promises abort; the sanitizers do the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check_msg(const struct hn_msg *);
static void	check_error(int, const struct hn_msg *, const char *,
		    const char *);
static void	same_msg(const struct hn_msg *, const struct hn_msg *);
static ssize_t	tunnel_exact(const char *, size_t, struct hn_msg *,
		    const char **);

/* A decoded message holds normalised, distinct pages and a valid id. */
static void
check_msg(const struct hn_msg *m)
{
	char	 again[HN_PAGE_MAX + 1];
	size_t	 n;
	int	 i, j;

	if (m->type < HN_MSG_HELLO || m->type > HN_MSG_WATCH ||
	    m->nwatch < 0 || m->nwatch > HN_WATCH_MAX)
		abort();
	if (m->type == HN_MSG_PAGE && m->page[0] == '\0')
		abort();
	if (m->type != HN_MSG_HELLO && m->visitor[0] != '\0')
		abort();
	if ((n = strlen(m->visitor)) > 0 && !hn_visitor_valid(m->visitor, n))
		abort();
	/* A normalised key without '%', '?' or '#' normalises to itself. */
	if (m->page[0] != '\0' && strpbrk(m->page, "%?#") == NULL &&
	    (hn_page_normalize(m->page, strlen(m->page), again, NULL) < 0 ||
	    strcmp(again, m->page) != 0))
		abort();
	for (i = 0; i < m->nwatch; i++) {
		if (m->watch[i][0] != '/' ||
		    strnlen(m->watch[i], HN_PAGE_MAX + 1) > HN_PAGE_MAX)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(m->watch[i], m->watch[j]) == 0)
				abort();
	}
}

/* A refusal says why and leaves the message empty. */
static void
check_error(int rc, const struct hn_msg *m, const char *code,
    const char *why)
{
	if (rc != HN_EINVAL && rc != HN_ETOOBIG)
		abort();
	if (code == NULL || why == NULL || why[0] == '\0')
		abort();
	if (rc == HN_EINVAL && strcmp(code, "bad_json") != 0 &&
	    strcmp(code, "bad_message") != 0 && strcmp(code, "bad_page") != 0 &&
	    strcmp(code, "bad_visitor") != 0 && strcmp(code, "bad_watch") != 0)
		abort();
	if (rc == HN_ETOOBIG && strcmp(code, "too_big") != 0)
		abort();
	if (m->type != 0 || m->page[0] != '\0' || m->visitor[0] != '\0' ||
	    m->nwatch != 0)
		abort();
}

static void
same_msg(const struct hn_msg *a, const struct hn_msg *b)
{
	int	 i;

	if (a->type != b->type || strcmp(a->page, b->page) != 0 ||
	    strcmp(a->visitor, b->visitor) != 0 || a->nwatch != b->nwatch)
		abort();
	for (i = 0; i < a->nwatch; i++)
		if (strcmp(a->watch[i], b->watch[i]) != 0)
			abort();
}

/* An exactly sized heap copy, so that ASan sees a read past len. */
static ssize_t
tunnel_exact(const char *s, size_t len, struct hn_msg *m, const char **code)
{
	char		*p;
	const char	*why = NULL;
	ssize_t		 r;

	if ((p = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(p, s, len);
	*code = NULL;
	r = hn_tunnel_next(p, len, m, code, &why);
	free(p);
	if (r < 0)
		check_error((int)r, m, *code, why);
	else if (r > 0)
		check_msg(m);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hn_msg	 m, m2, whole;
	const char		*in = (const char *)data, *code, *why;
	size_t			 off, cut, ws;
	ssize_t			 r, r2;
	int			 rc;

	/* One WebSocket message. */
	memset(&m, 0x5a, sizeof(m));
	code = why = NULL;
	rc = hn_json_msg(in, size, &m, &code, &why);
	if (rc == 0)
		check_msg(&m);
	else
		check_error(rc, &m, code, why);

	/*
	 * The tunnel stream, consumed as the app will.  Each message is
	 * also what hn_json_msg makes of its bytes, and a cut anywhere in
	 * the stream answers "need more" or exactly the same.
	 */
	for (off = 0; off < size; off += (size_t)r) {
		r = tunnel_exact(in + off, size - off, &m, &code);
		if (r > 0) {
			if ((size_t)r > size - off || r > HN_WS_MESSAGE_MAX)
				abort();
			for (ws = 0; in[off + ws] == ' ' || in[off + ws] ==
			    '\t' || in[off + ws] == '\n' || in[off + ws] ==
			    '\r'; ws++)
				;
			if (hn_json_msg(in + off + ws, (size_t)r - ws, &whole,
			    NULL, NULL) != 0)
				abort();
			same_msg(&m, &whole);
		}
		cut = (size - off) > 0 ? (size_t)data[off] % (size - off + 1) :
		    0;
		r2 = tunnel_exact(in + off, cut, &m2, &code);
		if (r2 != 0 && r2 != r)
			abort();
		if (r2 > 0)
			same_msg(&m, &m2);
		if (r <= 0)
			break;
	}
	return 0;
}
