/*
 * herenow top: the busiest pages and the site total in a terminal, read
 * from the session table directly (while the service runs), once a
 * second or once.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

#define TOP_PAGES	20

static void
top_time(char *out, size_t outsz, int64_t ms)
{
	time_t		 t = (time_t)(ms / 1000);
	struct tm	 tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, outsz, "-");
}

static void
top_print(const struct hn_stats *st, bool clear)
{
	char	 when[32];
	int	 i;

	if (clear)
		fputs("\033[H\033[2J", stdout);
	top_time(when, sizeof(when), st->site_peak_at);
	printf("herenow top - site: %ld readers (peak %ld at %s), %ld "
	    "processes, %ld sessions\n", st->site, st->site_peak, when,
	    st->owners, st->sessions);
	printf("%8s %8s %8s  %s\n", "READERS", "TABS", "PEAK", "PAGE");
	for (i = 0; i < st->npages; i++) {
		if (st->pages[i].readers == 0 && st->pages[i].tabs == 0)
			break;		/* only pages read now */
		printf("%8ld %8ld %8ld  %s\n", st->pages[i].readers,
		    st->pages[i].tabs, st->pages[i].peak, st->pages[i].page);
	}
	fflush(stdout);
}

int
hn_top_run(const struct hn_config *cfg, bool once)
{
	struct hn_store	*reader;
	struct hn_stats	 st;
	struct timespec	 second = { 1, 0 };
	char		 err[512];
	bool		 tty = !once && isatty(STDOUT_FILENO);

	reader = hn_store_open(cfg->db, 0, cfg->stale_after_ms,
	    cfg->leave_grace_ms, hn_now_ms(), err, sizeof(err));
	if (reader == NULL) {
		fprintf(stderr, "herenow top: %s\n", err);
		return 1;
	}
	for (;;) {
		if (hn_store_stats(reader, TOP_PAGES, INT64_MAX, hn_now_ms(),
		    &st) < 0) {
			fprintf(stderr, "herenow top: %s: cannot read the "
			    "session table\n", cfg->db);
			hn_store_close(reader);
			return 1;
		}
		top_print(&st, tty);
		hn_stats_free(&st);
		if (once)
			break;
		nanosleep(&second, NULL);
	}
	hn_store_close(reader);
	return 0;
}
