/*
 * Replays a fuzz target's corpus without libFuzzer, so that `make check`
 * (plain gcc, or with the sanitizers) runs every committed input as a
 * regression test: each file named, or each file of each directory named
 * (FUZZ_CORPUS when none is), goes once through LLVMFuzzerTestOneInput.
 * A broken invariant aborts, which fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* No corpus file is near this; a bigger one is a mistake, not a test. */
#define REPLAY_FILE_MAX	(1024 * 1024)

/* The input running, for the abort handler. */
static const char	*replay_current;

static void	replay_abort(int);
static int	replay_file(const char *);
static int	replay_dir(const char *, size_t *);
static int	replay_path(const char *, size_t *);

/* A target aborts on a broken invariant: say which input did it (write
 * and strlen are async-signal-safe), then die of the signal anyway. */
static void
replay_abort(int sig)
{
	static const char	 msg[] = "replay: an invariant broke on ";

	if (replay_current != NULL) {
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)!write(STDERR_FILENO, replay_current,
		    strlen(replay_current));
		(void)!write(STDERR_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Runs one file.  Its bytes go in an exactly sized heap block, as
 * libFuzzer hands them, so that ASan sees a read past the end.
 */
static int
replay_file(const char *path)
{
	FILE		*f;
	uint8_t		*buf;
	long		 len;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    len > REPLAY_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot size it, or over %d bytes\n",
		    path, REPLAY_FILE_MAX);
		fclose(f);
		return -1;
	}
	if ((buf = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: cannot read it\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Named before it runs: an abort leaves the culprit in the log. */
	printf("  %s (%ld bytes)\n", path, len);
	fflush(stdout);
	replay_current = path;
	(void)LLVMFuzzerTestOneInput(buf, (size_t)len);
	replay_current = NULL;
	free(buf);
	return 0;
}

/* The files of dir in name order (hidden ones skipped), so that every
 * run goes the same way. */
static int
replay_dir(const char *dir, size_t *count)
{
	struct dirent	**ents;
	char		  path[4096];
	int		  i, n, rc = 0;

	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0 && ents[i]->d_name[0] != '.') {
			if (snprintf(path, sizeof(path), "%s/%s", dir,
			    ents[i]->d_name) >= (int)sizeof(path))
				rc = -1;
			else
				rc = replay_path(path, count);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static int
replay_path(const char *path, size_t *count)
{
	struct stat	 sb;

	if (stat(path, &sb) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(sb.st_mode))
		return replay_dir(path, count);
	if (replay_file(path) < 0)
		return -1;
	(*count)++;
	return 0;
}

int
main(int argc, char *argv[])
{
	size_t	 count = 0;
	int	 i;

	signal(SIGABRT, replay_abort);
#ifdef FUZZ_CORPUS
	if (argc < 2) {
		if (replay_path(FUZZ_CORPUS, &count) < 0)
			return EXIT_FAILURE;
	}
#else
	if (argc < 2) {
		fprintf(stderr, "usage: %s file-or-dir ...\n", argv[0]);
		return EXIT_FAILURE;
	}
#endif
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) < 0)
			return EXIT_FAILURE;
	/* An empty corpus replays nothing: a wrong path, not a pass. */
	if (count == 0) {
		fprintf(stderr, "%s: no input found\n", argv[0]);
		return EXIT_FAILURE;
	}
	printf("%s: %zu inputs replayed, no invariant broken\n", argv[0],
	    count);
	return EXIT_SUCCESS;
}
