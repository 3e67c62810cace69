/*
 * store_bench: session operations per second through herenow's store
 * thread (issue 7).  The real hn_app with its store thread and group
 * commit on a real SQLite file; a producer plays the event loop, queueing
 * joins and leaves as fast as it can, and one synchronous commit at the
 * end says when all of them are in the table.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hn.h"
#include "app.h"
#include "app_int.h"

static void
usage(void)
{
	fprintf(stderr, "usage: store_bench -d DB [-o OPS] [-l LIVE] "
	    "[-p PAGES] [-P PROCS]\n");
	exit(2);
}

static void
op_fill(struct sreq *r, int kind, long i, int pages)
{
	r->op.kind = kind;
	snprintf(r->op.sid, sizeof(r->op.sid), "%016lx", i);
	if (kind == HN_OP_JOIN) {
		snprintf(r->op.page, sizeof(r->op.page), "/post/%ld",
		    i % pages);
		snprintf(r->op.visitor, sizeof(r->op.visitor), "v%ld", i);
	}
}

/*
 * One process: ops operations, half joins and half leaves, with at most
 * live sessions open at a time (join i, then leave i - live).
 */
static int
run(const char *db, long ops, long live, int pages, int proc)
{
	struct hn_config	 cfg;
	struct hn_app		*app;
	struct hn_op		 fence;
	struct sreq		*r;
	char			 err[256];
	int64_t			 t0, t1;
	long			 i, j, done = 0;
	uint64_t		 batches = 0, nops;
	int			 b, rc;

	hn_config_defaults(&cfg);
	snprintf(cfg.db, sizeof(cfg.db), "%s", db);
	if ((app = hn_app_new(&cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store_bench: %s\n", err);
		return 1;
	}
	t0 = hn_mono_us();
	for (i = 0; done < ops; i++) {
		for (j = 0; j < 2 && done < ops; j++) {
			long k = j == 0 ? i : i - live;

			if (k < 0)
				continue;
			if ((r = calloc(1, sizeof(*r))) == NULL) {
				fprintf(stderr, "store_bench: out of memory\n");
				return 1;
			}
			op_fill(r, j == 0 ? HN_OP_JOIN : HN_OP_LEAVE,
			    (long)proc << 40 | k, pages);
			app_store_enqueue(app, r);
			done++;
		}
	}
	/* FIFO: when this commit is done, so is everything before it. */
	memset(&fence, 0, sizeof(fence));
	fence.kind = HN_OP_LEAVE;
	snprintf(fence.sid, sizeof(fence.sid), "%016lx", (long)proc << 40);
	/* An acceptor gives up waiting after a second (HN_EAGAIN, the op
	 * stays queued); the bench waits for its backlog to drain. */
	while ((rc = hn_app_commit(app, &fence)) == HN_EAGAIN)
		;
	if (rc != HN_OK) {
		fprintf(stderr, "store_bench: the fence did not commit\n");
		return 1;
	}
	t1 = hn_mono_us();
	for (b = 0; b <= HN_M_HIST_BUCKETS; b++)
		batches += app->metrics.batch[b];
	nops = app->metrics.batch_sum;
	printf("store proc=%d ops=%ld live=%ld pages=%d seconds=%.3f "
	    "ops_per_s=%.0f batches=%" PRIu64 " mean_batch=%.1f "
	    "commit_ms_mean=%.3f\n", proc, ops, live, pages,
	    (t1 - t0) / 1e6, ops / ((t1 - t0) / 1e6), batches,
	    batches ? (double)nops / batches : 0.0,
	    batches ? app->metrics.commit_us / 1e3 / batches : 0.0);
	fflush(stdout);
	hn_app_free(app);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*db = NULL;
	long		 ops = 200000, live = 4000;
	int		 pages = 100, procs = 1, o, i, st, rc = 0;
	pid_t		 pid;

	while ((o = getopt(argc, argv, "d:o:l:p:P:")) != -1) {
		switch (o) {
		case 'd': db = optarg; break;
		case 'o': ops = atol(optarg); break;
		case 'l': live = atol(optarg); break;
		case 'p': pages = atoi(optarg); break;
		case 'P': procs = atoi(optarg); break;
		default: usage();
		}
	}
	if (db == NULL || ops < 1 || ops > 100000000 || live < 1 ||
	    pages < 1 || pages > 1000000 || procs < 1 || procs > 16)
		usage();
	if (procs == 1)
		return run(db, ops, live, pages, 0);
	/* Several processes on one file, as lighttpd's max-procs runs them. */
	for (i = 0; i < procs; i++) {
		if ((pid = fork()) < 0) {
			perror("store_bench: fork");
			return 1;
		}
		if (pid == 0)
			_exit(run(db, ops, live, pages, i + 1));
	}
	for (i = 0; i < procs; i++) {
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = 1;
	}
	return rc;
}
