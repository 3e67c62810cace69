/*
 * Metrics: each process counts with atomics, the store thread writes its
 * series into the table at every heartbeat, and `metrics` sums the
 * series of every live process, so a scrape of any one of them shows the
 * whole service (lighttpd picks the process, not Prometheus).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

/* Refusal reasons: the error codes of route.c and stream.c. */
static const char *const refuse_codes[] = {
	"bad_page", "missing_page", "bad_visitor", "bad_watch",
	"query_too_long", "bad_body", "body_too_long", "bad_sid",
	"bad_handshake", "bad_version", "origin_refused",
	"upgrade_unavailable", "too_many_streams", "too_many_pages",
	"token_required", "bad_token", "stats_off", "not_found",
	"method_not_allowed", "bad_limit", "bad_json", "bad_message",
	"too_big", "too_many_from_addr", "too_many_sessions", "busy",
	"db_error", "hello_timeout", "other",
};
#define REFUSE_N	(sizeof(refuse_codes) / sizeof(refuse_codes[0]))
_Static_assert(REFUSE_N <= sizeof(((struct hn_metrics *)0)->refused) /
    sizeof(((struct hn_metrics *)0)->refused[0]), "hn_metrics.refused");

static const char *const counter_names[HN_M_COUNTERS_] = {
	[HN_M_JOINS] = "herenow_joins_total",
	[HN_M_LEAVES] = "herenow_leaves_total",
	[HN_M_REAPED] = "herenow_reaped_sessions_total",
	[HN_M_MESSAGES] = "herenow_messages_sent_total",
	[HN_M_SLOW] = "herenow_slow_readers_dropped_total",
	[HN_M_DB_ERRORS] = "herenow_db_errors_total",
};

static const char *const transports[3] = { "sse", "ws", "tunnel" };

/* Upper bounds of the histograms' buckets (the last is +Inf). */
static const double batch_le[HN_M_HIST_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000 };
static const double commit_le[HN_M_HIST_BUCKETS] = {	/* seconds */
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1 };

/* One family a line of HELP and TYPE; series are matched by prefix. */
static const struct family {
	const char	*name, *type, *help;
} families[] = {
	{ "herenow_joins_total", "counter", "Sessions joined." },
	{ "herenow_leaves_total", "counter", "Sessions that ended." },
	{ "herenow_reaped_sessions_total", "counter",
	    "Sessions removed after leave_grace or by the reaper." },
	{ "herenow_messages_sent_total", "counter",
	    "Count updates written to readers." },
	{ "herenow_slow_readers_dropped_total", "counter",
	    "Readers dropped because their output queue was full." },
	{ "herenow_db_errors_total", "counter",
	    "Write batches the database refused (retried)." },
	{ "herenow_refused_total", "counter",
	    "Requests and streams refused, by reason." },
	{ "herenow_streams", "gauge", "Held streams, by transport." },
	{ "herenow_store_batch_size", "histogram",
	    "Session operations per write transaction." },
	{ "herenow_store_commit_seconds", "histogram",
	    "Time of one write transaction." },
};

void
hn_metrics_init(struct hn_metrics *m, int64_t now)
{
	memset(m, 0, sizeof(*m));
	m->start_ms = now;
}

void
hn_metrics_count(struct hn_metrics *m, enum hn_counter c, uint64_t n)
{
	if (m != NULL)
		m->c[c] += n;
}

void
hn_metrics_refused(struct hn_metrics *m, const char *code)
{
	size_t	 i;

	if (m == NULL || code == NULL)
		return;
	for (i = 0; i + 1 < REFUSE_N; i++)
		if (strcmp(refuse_codes[i], code) == 0)
			break;
	m->refused[i]++;
}

void
hn_metrics_batch(struct hn_metrics *m, size_t ops, int64_t commit_us)
{
	size_t	 i;

	for (i = 0; i < HN_M_HIST_BUCKETS && (double)ops > batch_le[i]; i++)
		;
	m->batch[i]++;
	m->batch_sum += ops;
	for (i = 0; i < HN_M_HIST_BUCKETS &&
	    (double)commit_us / 1e6 > commit_le[i]; i++)
		;
	m->commit[i]++;
	m->commit_us += (uint64_t)commit_us;
}

/* Cumulative buckets, sum and count of one histogram. */
static void
series_hist(const char *name, const _Atomic uint64_t *b, const double *le,
    double sum, hn_series_cb *cb, void *arg)
{
	char		 s[160];
	uint64_t	 acc = 0;
	size_t		 i;

	for (i = 0; i <= HN_M_HIST_BUCKETS; i++) {
		acc += b[i];
		if (i < HN_M_HIST_BUCKETS)
			snprintf(s, sizeof(s), "%s_bucket{le=\"%g\"}", name,
			    le[i]);
		else
			snprintf(s, sizeof(s), "%s_bucket{le=\"+Inf\"}", name);
		cb(arg, s, (double)acc);
	}
	snprintf(s, sizeof(s), "%s_sum", name);
	cb(arg, s, sum);
	snprintf(s, sizeof(s), "%s_count", name);
	cb(arg, s, (double)acc);
}

void
hn_metrics_series(const struct hn_metrics *m, hn_series_cb *cb, void *arg)
{
	char	 s[160];
	size_t	 i;

	for (i = 0; i < HN_M_COUNTERS_; i++)
		cb(arg, counter_names[i], (double)m->c[i]);
	for (i = 0; i < REFUSE_N; i++) {
		snprintf(s, sizeof(s), "herenow_refused_total{reason=\"%s\"}",
		    refuse_codes[i]);
		cb(arg, s, (double)m->refused[i]);
	}
	for (i = 0; i < 3; i++) {
		snprintf(s, sizeof(s), "herenow_streams{transport=\"%s\"}",
		    transports[i]);
		cb(arg, s, (double)m->streams[i]);
	}
	series_hist("herenow_store_batch_size", m->batch, batch_le,
	    (double)m->batch_sum, cb, arg);
	series_hist("herenow_store_commit_seconds", m->commit, commit_le,
	    (double)m->commit_us / 1e6, cb, arg);
}

static int
series_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hn_series *)a)->name,
	    ((const struct hn_series *)b)->name);
}

/* The series names of one process, in the order they are shown. */
struct names {
	char	 name[128][160];
	size_t	 n;
};

static void
names_add(void *arg, const char *name, double value)
{
	struct names	*ns = arg;

	if (ns->n < 128)
		snprintf(ns->name[ns->n++], sizeof(ns->name[0]), "%s", name);
}

static const struct family *
family_of(const char *name)
{
	size_t	 f, fl;

	for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		fl = strlen(families[f].name);
		if (strncmp(name, families[f].name, fl) == 0 &&
		    (name[fl] == '\0' || name[fl] == '{' ||
		    (name[fl] == '_' && strcmp(families[f].type,
		    "histogram") == 0)))
			return &families[f];
	}
	return NULL;
}

char *
hn_metrics_format(const struct hn_series *in, size_t n, long readers,
    long sessions, long owners, double start)
{
	struct hn_series	*sv;
	struct hn_metrics	 zero;
	struct names		*ns;
	const struct family	*cur = NULL;
	char			*out = NULL;
	size_t			 len = 0, i;
	FILE			*fp;

	if ((fp = open_memstream(&out, &len)) == NULL)
		return NULL;
	fprintf(fp, "# HELP herenow_readers Distinct visitors on the site.\n"
	    "# TYPE herenow_readers gauge\nherenow_readers %ld\n"
	    "# HELP herenow_sessions Live sessions (tabs) on the site.\n"
	    "# TYPE herenow_sessions gauge\nherenow_sessions %ld\n"
	    "# HELP herenow_processes herenow processes beating.\n"
	    "# TYPE herenow_processes gauge\nherenow_processes %ld\n"
	    "# HELP herenow_build_info Version of this herenow.\n"
	    "# TYPE herenow_build_info gauge\n"
	    "herenow_build_info{version=\"%s\"} 1\n"
	    "# HELP process_start_time_seconds Start of the process that "
	    "answered (0 for CGI).\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %.3f\n", readers, sessions,
	    owners, PACKAGE_VERSION, start);
	/*
	 * Every series in the order one process lists them (histogram
	 * buckets by le, as the format wants), with the sum over processes
	 * from the table (0 before any process has written it).
	 */
	if ((ns = calloc(1, sizeof(*ns))) == NULL ||
	    (sv = malloc((n ? n : 1) * sizeof(*sv))) == NULL) {
		free(ns);
		fclose(fp);
		free(out);
		return NULL;
	}
	hn_metrics_init(&zero, 0);
	hn_metrics_series(&zero, names_add, ns);
	/* in may be NULL when n is 0: memcpy and qsort want a pointer. */
	if (n > 0) {
		memcpy(sv, in, n * sizeof(*sv));
		qsort(sv, n, sizeof(*sv), series_cmp);
	}
	for (i = 0; i < ns->n; i++) {
		const struct family	*fam = family_of(ns->name[i]);
		struct hn_series	 key, *hit;

		if (fam != NULL && fam != cur)
			fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", fam->name,
			    fam->help, fam->name, fam->type);
		cur = fam;
		snprintf(key.name, sizeof(key.name), "%s", ns->name[i]);
		hit = bsearch(&key, sv, n, sizeof(*sv), series_cmp);
		fprintf(fp, "%s %.10g\n", ns->name[i], hit ? hit->value : 0.0);
	}
	free(sv);
	free(ns);
	if (fclose(fp) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
