/*
 * Our JSON messages, through jansson (DESIGN §6: never by hand): count and
 * error lines out; the client's hello, page and watch messages in, whole
 * (WebSocket) or at the head of the tunnel's stream (tunnel.c).
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

/* ---- client messages ---------------------------------------------------- */

/*
 * Both readers refuse duplicate keys (a second "page" must not silently
 * win over the first) and let \u0000 through jansson only so that it is
 * refused here, naming the member it spoils (msg_str).
 */
#define MSG_FLAGS	(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* The tunnel's input, handed to jansson by msg_read. */
struct msg_feed {
	const char	*buf;
	size_t		 len;
	size_t		 off;
	bool		 eof;		/* jansson asked for more */
};

static void	msg_reset(struct hn_msg *);
static int	msg_fail(struct hn_msg *, const char **, const char **,
		    const char *, const char *);
static int	msg_json_error(const json_error_t *, struct hn_msg *,
		    const char **, const char **);
static int	msg_str(const json_t *, const char **, size_t *);
static int	msg_page(const json_t *, char *, const char **,
		    const char **);
static int	msg_watch(const json_t *, struct hn_msg *, const char **,
		    const char **);
static int	msg_decode(const json_t *, struct hn_msg *, const char **,
		    const char **);
static size_t	msg_read(void *, size_t, void *);

/* The scalar fields only: the watch rows count for nothing past nwatch,
 * and clearing 12 KB per message would be waste. */
static void
msg_reset(struct hn_msg *msg)
{
	msg->type = 0;
	msg->page[0] = '\0';
	msg->visitor[0] = '\0';
	msg->nwatch = 0;
}

/* A refused message leaves no half-decoded fields behind. */
static int
msg_fail(struct hn_msg *msg, const char **code, const char **why,
    const char *c, const char *w)
{
	msg_reset(msg);
	*code = c;
	*why = w;
	return HN_EINVAL;
}

/* jansson's own text is not static; ours must be, and says less. */
static int
msg_json_error(const json_error_t *err, struct hn_msg *msg,
    const char **code, const char **why)
{
	const char	*w;

	switch (json_error_code(err)) {
	case json_error_out_of_memory:
		msg_reset(msg);
		*code = "internal_error";
		*why = "out of memory";
		return HN_ENOMEM;
	case json_error_invalid_utf8:
		w = "invalid UTF-8 in message";
		break;
	case json_error_duplicate_key:
		w = "duplicate key in message";
		break;
	case json_error_null_byte_in_key:
		w = "NUL in a key";
		break;
	case json_error_stack_overflow:
		w = "message nested too deep";
		break;
	case json_error_end_of_input_expected:
		w = "data after the message";
		break;
	case json_error_premature_end_of_input:
		w = "message ends early";
		break;
	case json_error_invalid_syntax:
	case json_error_invalid_format:
		if (strncmp(err->text, "'[' or '{' expected", 19) == 0) {
			w = "message is not a JSON object";
			break;
		}
		/* FALLTHROUGH */
	default:
		w = "message is not valid JSON";
		break;
	}
	return msg_fail(msg, code, why, "bad_json", w);
}

/*
 * The bytes of a string value.  0, -1 when v is no string, -2 when it
 * holds a NUL: every C string function would stop there and see another
 * string than the one the client sent.
 */
static int
msg_str(const json_t *v, const char **s, size_t *len)
{
	if (!json_is_string(v))
		return -1;
	*s = json_string_value(v);
	*len = json_string_length(v);
	if (strlen(*s) != *len)
		return -2;
	return 0;
}

/* A page key, normalised into out (HN_PAGE_MAX + 1 bytes). */
static int
msg_page(const json_t *v, char *out, const char **code, const char **why)
{
	const char	*s;
	size_t		 len;

	switch (msg_str(v, &s, &len)) {
	case -1:
		*code = "bad_message";
		*why = "page must be a string";
		return HN_EINVAL;
	case -2:
		*code = "bad_page";
		*why = "NUL in page";
		return HN_EINVAL;
	}
	/* Too long is just another bad page here: the message was small
	 * enough, its page key is what is wrong. */
	if (hn_page_normalize(s, len, out, why) < 0) {
		*code = "bad_page";
		return HN_EINVAL;
	}
	return 0;
}

/*
 * A watch list: every item a page key, normalised; duplicates (after
 * normalisation) dropped, the first occurrence keeping its place; at most
 * HN_WATCH_MAX pages.  An empty list is valid: it clears the watch.
 */
static int
msg_watch(const json_t *v, struct hn_msg *msg, const char **code,
    const char **why)
{
	char		 key[HN_PAGE_MAX + 1];
	const json_t	*item;
	size_t		 i;
	int		 k, rc;

	if (!json_is_array(v)) {
		*code = "bad_message";
		*why = "watch list must be an array";
		return HN_EINVAL;
	}
	msg->nwatch = 0;
	json_array_foreach(v, i, item) {
		if (!json_is_string(item)) {
			*code = "bad_watch";
			*why = "watched page must be a string";
			return HN_EINVAL;
		}
		if ((rc = msg_page(item, key, code, why)) != 0)
			return rc;
		for (k = 0; k < msg->nwatch; k++)
			if (strcmp(msg->watch[k], key) == 0)
				break;
		if (k < msg->nwatch)
			continue;
		if (msg->nwatch == HN_WATCH_MAX) {
			*code = "bad_watch";
			*why = "too many watched pages";
			return HN_EINVAL;
		}
		memcpy(msg->watch[msg->nwatch++], key, strlen(key) + 1);
	}
	return 0;
}

/* The members of a parsed message; unknown members are ignored so that
 * a newer client still talks to an older server. */
static int
msg_decode(const json_t *root, struct hn_msg *msg, const char **code,
    const char **why)
{
	const json_t	*t, *page, *visitor, *watch;
	const char	*s;
	size_t		 len;
	int		 type, rc;

	if (!json_is_object(root))
		return msg_fail(msg, code, why, "bad_json",
		    "message is not a JSON object");
	if ((t = json_object_get(root, "type")) == NULL)
		return msg_fail(msg, code, why, "bad_message",
		    "message has no type");
	if ((rc = msg_str(t, &s, &len)) == -1)
		return msg_fail(msg, code, why, "bad_message",
		    "type must be a string");
	if (rc == 0 && len == 5 && memcmp(s, "hello", 5) == 0)
		type = HN_MSG_HELLO;
	else if (rc == 0 && len == 4 && memcmp(s, "page", 4) == 0)
		type = HN_MSG_PAGE;
	else if (rc == 0 && len == 5 && memcmp(s, "watch", 5) == 0)
		type = HN_MSG_WATCH;
	else
		return msg_fail(msg, code, why, "bad_message",
		    "unknown message type");

	rc = 0;
	switch (type) {
	case HN_MSG_HELLO:
		page = json_object_get(root, "page");
		visitor = json_object_get(root, "visitor");
		watch = json_object_get(root, "watch");
		if (page == NULL && watch == NULL)
			return msg_fail(msg, code, why, "bad_message",
			    "hello needs a page or a watch list");
		if (page != NULL)
			rc = msg_page(page, msg->page, code, why);
		if (rc == 0 && visitor != NULL) {
			rc = msg_str(visitor, &s, &len);
			if (rc == -1) {
				*code = "bad_message";
				*why = "visitor must be a string";
				rc = HN_EINVAL;
			} else if (rc == -2 || !hn_visitor_valid(s, len)) {
				*code = "bad_visitor";
				*why = "visitor must be 1-64 of [A-Za-z0-9_-]";
				rc = HN_EINVAL;
			} else
				memcpy(msg->visitor, s, len + 1);
		}
		if (rc == 0 && watch != NULL)
			rc = msg_watch(watch, msg, code, why);
		break;
	case HN_MSG_PAGE:
		if ((page = json_object_get(root, "page")) == NULL)
			return msg_fail(msg, code, why, "bad_message",
			    "page message needs a page");
		rc = msg_page(page, msg->page, code, why);
		break;
	case HN_MSG_WATCH:
		if ((watch = json_object_get(root, "pages")) == NULL)
			return msg_fail(msg, code, why, "bad_message",
			    "watch message needs pages");
		rc = msg_watch(watch, msg, code, why);
		break;
	}
	if (rc != 0) {
		msg_reset(msg);
		return rc;
	}
	msg->type = type;
	return 0;
}

int
hn_json_msg(const char *buf, size_t len, struct hn_msg *msg,
    const char **code, const char **why)
{
	json_error_t	 err;
	json_t		*root;
	const char	*dummy;
	int		 rc;

	if (code == NULL)
		code = &dummy;
	if (why == NULL)
		why = &dummy;
	msg_reset(msg);
	if (len > HN_WS_MESSAGE_MAX) {
		*code = "too_big";
		*why = "message too big";
		return HN_ETOOBIG;
	}
	/* A raw NUL is never JSON, and jansson's reader loses one that it
	 * puts back after a number ("1\0}" parses): refuse it first. */
	if (len > 0 && memchr(buf, '\0', len) != NULL)
		return msg_fail(msg, code, why, "bad_json",
		    "NUL byte in message");
	if ((root = json_loadb(buf, len, MSG_FLAGS, &err)) == NULL)
		return msg_json_error(&err, msg, code, why);
	rc = msg_decode(root, msg, code, why);
	json_decref(root);
	return rc;
}

/* Hands jansson what there is, and notes when it asks for more. */
static size_t
msg_read(void *out, size_t outsz, void *arg)
{
	struct msg_feed	*f = arg;
	size_t		 n;

	if ((n = f->len - f->off) == 0) {
		f->eof = true;
		return 0;
	}
	if (n > outsz)
		n = outsz;
	memcpy(out, f->buf + f->off, n);
	f->off += n;
	return n;
}

/*
 * NOTES: finding the end of the first value.  With JSON_DISABLE_EOF_CHECK
 * jansson stops at the '}' closing the top-level object and reports the
 * bytes it took in err.position.  When it fails, the question is whether
 * more bytes could still make the value whole.  json_error_premature_end_-
 * of_input alone does not answer it: a value cut inside a number ("1."),
 * a literal ("tr"), an escape ("\u00") or a UTF-8 sequence fails with
 * invalid_syntax or invalid_utf8 although it may go on.  So the input is
 * fed through a callback that notes whether jansson ever asked for a byte
 * past the end: jansson reads left to right and decides on what it has
 * read, so a failure before the end stands whatever follows, and a failure
 * at the end means "need more" (at worst an error found a read later).
 * A top-level scalar is refused before jansson sees it: "12" at the end of
 * the buffer might go on forever, but a message is always an object.
 */
ssize_t
hn_json_msg_prefix(const char *buf, size_t len, struct hn_msg *msg,
    const char **code, const char **why)
{
	struct msg_feed	 feed;
	json_error_t	 err;
	json_t		*root;
	const char	*nul, *dummy;
	int		 rc, end;

	if (code == NULL)
		code = &dummy;
	if (why == NULL)
		why = &dummy;
	msg_reset(msg);
	if (len == 0)
		return 0;
	if (buf[0] != '{')
		return msg_fail(msg, code, why, "bad_json",
		    "message is not a JSON object");

	/* A raw NUL ends what jansson may see (see hn_json_msg); a value
	 * that needs the bytes after it can never be whole. */
	feed.buf = buf;
	feed.len = len;
	if ((nul = memchr(buf, '\0', len)) != NULL)
		feed.len = (size_t)(nul - buf);
	feed.off = 0;
	feed.eof = false;
	root = json_load_callback(msg_read, &feed,
	    MSG_FLAGS | JSON_DISABLE_EOF_CHECK, &err);
	if (root == NULL) {
		if (!feed.eof || json_error_code(&err) ==
		    json_error_out_of_memory)
			return msg_json_error(&err, msg, code, why);
		if (nul != NULL)
			return msg_fail(msg, code, why, "bad_json",
			    "NUL byte in message");
		return 0;
	}
	end = err.position;
	if (end <= 0 || (size_t)end > feed.len || buf[end - 1] != '}') {
		json_decref(root);
		return msg_fail(msg, code, why, "bad_json",
		    "message is not valid JSON");
	}
	rc = msg_decode(root, msg, code, why);
	json_decref(root);
	return rc != 0 ? rc : end;
}

int
hn_json_fields(const char *buf, size_t len, const char *const *names,
    char *const *outs, const size_t *outszs, size_t n)
{
	json_t		*root, *v;
	json_error_t	 err;
	size_t		 i, l;
	int		 rc = HN_OK;

	for (i = 0; i < n; i++)
		outs[i][0] = '\0';
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return HN_EINVAL;
	if (!json_is_object(root)) {
		json_decref(root);
		return HN_EINVAL;
	}
	for (i = 0; i < n && rc == HN_OK; i++) {
		if ((v = json_object_get(root, names[i])) == NULL)
			continue;
		if (!json_is_string(v)) {
			rc = HN_EINVAL;
			break;
		}
		l = json_string_length(v);
		if (l != strlen(json_string_value(v)))
			rc = HN_EINVAL;
		else if (l >= outszs[i])
			rc = HN_ETOOBIG;
		else
			memcpy(outs[i], json_string_value(v), l + 1);
	}
	json_decref(root);
	return rc;
}

char *
hn_json_stats(const struct hn_stats *st)
{
	json_t		*root, *pages, *samples, *top;
	json_error_t	 err;
	char		*out;
	int		 i;

#define MS_OR_NULL(v)	((v) > 0 ? json_integer(v) : json_null())
	if ((pages = json_array()) == NULL || (samples = json_array()) == NULL)
		return NULL;
	for (i = 0; i < st->npages; i++) {
		const struct hn_page_stat *p = &st->pages[i];
		json_array_append_new(pages, json_pack("{s:s, s:I, s:I, s:I, "
		    "s:o}", "page", p->page, "readers", (json_int_t)p->readers,
		    "tabs", (json_int_t)p->tabs, "peak", (json_int_t)p->peak,
		    "peak_at", MS_OR_NULL(p->peak_at)));
	}
	for (i = 0; i < st->nsamples; i++) {
		const struct hn_sample *m = &st->samples[i];
		/* The store wrote it with SQLite's JSON functions. */
		if ((top = json_loads(m->top, 0, &err)) == NULL)
			top = json_array();
		json_array_append_new(samples, json_pack("{s:I, s:I, s:o}",
		    "t", (json_int_t)m->t, "site", (json_int_t)m->site, "top",
		    top));
	}
	root = json_pack("{s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:o, s:o}",
	    "type", "stats", "now", (json_int_t)st->now,
	    "site", (json_int_t)st->site, "site_peak",
	    (json_int_t)st->site_peak, "site_peak_at",
	    MS_OR_NULL(st->site_peak_at), "owners", (json_int_t)st->owners,
	    "sessions", (json_int_t)st->sessions, "pages", pages,
	    "samples", samples);
#undef MS_OR_NULL
	if (root == NULL)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}
