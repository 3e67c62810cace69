/*
 * Check suite for store.c, the SQLite session table: schema and migration,
 * derived counts and peaks, leave grace and takeover, incremental changes,
 * and several processes sharing one database file (concurrent writers, a
 * writer killed with SIGKILL, a writer closing).  Every test gets a fresh
 * database file in its own mkdtemp directory; the tests read the tables
 * with sqlite3 directly where the store's API does not show them.
 */
#define _GNU_SOURCE			/* nftw */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hn.h"
#include "check_main.h"

#define LEN(a)		(sizeof(a) / sizeof((a)[0]))
#define GRACE		3000		/* leave_grace of most tests, ms */
#define STALE		30000		/* stale_after of most tests, ms */
#define T0		1000000		/* fake "now" most tests start at */
#define WAIT_MS		20000		/* deadline for a child to answer */

/*
 * The fixture's directory and database file, fresh for every test, inside
 * one directory of the whole run that main() removes at the end: a failed
 * or timed-out test never reaches its teardown.
 */
static char	 basedir[PATH_MAX];
static char	 tmpdir[PATH_MAX];
static char	 dbpath[PATH_MAX];

static void
setup(void)
{
	int	 n;

	n = snprintf(tmpdir, sizeof(tmpdir), "%s/test.XXXXXX", basedir);
	ck_assert(n > 0 && (size_t)n < sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	n = snprintf(dbpath, sizeof(dbpath), "%s/herenow.db", tmpdir);
	ck_assert(n > 0 && (size_t)n < sizeof(dbpath));
}

static void
teardown(void)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char		 p[PATH_MAX + 16];
	size_t		 i;

	for (i = 0; i < LEN(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
		unlink(p);
	}
	rmdir(tmpdir);
}

/* ---- helpers ----------------------------------------------------------- */

static struct hn_store *
open_writer(int64_t stale, int64_t grace, int64_t now)
{
	struct hn_store	*s;
	char		 err[512] = "";

	s = hn_store_open(dbpath, HN_STORE_WRITER, stale, grace, now, err,
	    sizeof(err));
	ck_assert_msg(s != NULL, "open writer: %s", err);
	return s;
}

static struct hn_store *
open_reader(void)
{
	struct hn_store	*s;
	char		 err[512] = "";

	s = hn_store_open(dbpath, 0, STALE, GRACE, T0, err, sizeof(err));
	ck_assert_msg(s != NULL, "open reader: %s", err);
	return s;
}

static void
op_join(struct hn_op *op, const char *sid, const char *page,
    const char *visitor)
{
	memset(op, 0, sizeof(*op));
	op->kind = HN_OP_JOIN;
	snprintf(op->sid, sizeof(op->sid), "%s", sid);
	snprintf(op->page, sizeof(op->page), "%s", page);
	snprintf(op->visitor, sizeof(op->visitor), "%s", visitor);
}

static void
op_end(struct hn_op *op, int kind, const char *sid)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	snprintf(op->sid, sizeof(op->sid), "%s", sid);
}

/* One op in its own batch, without a beat. */
static int
join(struct hn_store *s, const char *sid, const char *page,
    const char *visitor, int64_t now)
{
	struct hn_op	 op;
	int		 rc;

	op_join(&op, sid, page, visitor);
	rc = hn_store_apply(s, &op, 1, false, now);
	ck_assert_int_ge(rc, 0);
	return rc;
}

static int
end(struct hn_store *s, int kind, const char *sid, int64_t now)
{
	struct hn_op	 op;
	int		 rc;

	op_end(&op, kind, sid);
	rc = hn_store_apply(s, &op, 1, false, now);
	ck_assert_int_ge(rc, 0);
	return rc;
}

static int
tick(struct hn_store *s, bool beat, int64_t now)
{
	int	 rc;

	rc = hn_store_apply(s, NULL, 0, beat, now);
	ck_assert_int_ge(rc, 0);
	return rc;
}

/* Asserts the counts of one page and of the site, as s reads them. */
#define ck_counts(s, page, r, t, st) do {				\
	long	 r_, t_, s_;						\
	ck_assert_int_eq(hn_store_count((s), (page), &r_, &t_, &s_), 0); \
	ck_assert_msg(r_ == (r) && t_ == (t) && s_ == (st),		\
	    "%s: readers %ld tabs %ld site %ld, want %ld %ld %ld",	\
	    (page), r_, t_, s_, (long)(r), (long)(t), (long)(st));	\
} while (0)

/* A separate connection, as another process's tool would open one. */
static sqlite3 *
sql_open(void)
{
	sqlite3	*db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of sql as an integer (NULL: -1). */
static int64_t
sql_int(const char *sql)
{
	sqlite3		*db = sql_open();
	sqlite3_stmt	*st;
	int64_t		 v = -1;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
sql_text(const char *sql, char *out, size_t outsz)
{
	sqlite3		*db = sql_open();
	sqlite3_stmt	*st;

	out[0] = '\0';
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, outsz, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
sql_exec(const char *sql)
{
	sqlite3	*db = sql_open();
	char	*msg = NULL;

	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK,
	    "%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/*
 * The store's central promise (NOTES in store.c): the counts in pages and
 * site always agree with the sessions rows they are derived from, here in
 * the database at path.
 */
static void
ck_consistent_at(const char *path)
{
	static const char *const sql[] = {
	    "SELECT count(*) FROM pages p WHERE readers !="
	    " (SELECT count(DISTINCT visitor) FROM sessions s"
	    "  WHERE s.page = p.page)"
	    " OR tabs != (SELECT count(*) FROM sessions s"
	    "  WHERE s.page = p.page)",
	    "SELECT count(*) FROM sessions s WHERE NOT EXISTS"
	    " (SELECT 1 FROM pages p WHERE p.page = s.page)",
	    "SELECT (SELECT readers FROM site WHERE id = 1) -"
	    " (SELECT count(DISTINCT visitor) FROM sessions)",
	};
	static const char *const what[] = {
	    "pages disagree with their sessions",
	    "sessions on pages never counted",
	    "site readers off by",
	};
	sqlite3		*db = NULL;
	sqlite3_stmt	*st;
	size_t		 i;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	for (i = 0; i < LEN(sql); i++) {
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL),
		    SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_msg(sqlite3_column_int64(st, 0) == 0, "%s: %s %lld",
		    path, what[i], (long long)sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

static void
ck_consistent(void)
{
	ck_consistent_at(dbpath);
}

static int64_t
owner_rows(const char *owner)
{
	char	 sql[128];

	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM owners WHERE id = '%s'", owner);
	return sql_int(sql);
}

static int64_t
owner_sessions(const char *owner)
{
	char	 sql[128];

	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM sessions WHERE owner = '%s'", owner);
	return sql_int(sql);
}

/* What hn_store_changes reported. */
#define SEEN_MAX	128
struct seen {
	int	 n;
	bool	 overflow;
	char	 page[SEEN_MAX][HN_PAGE_MAX + 1];
	long	 readers[SEEN_MAX];
	long	 tabs[SEEN_MAX];
};

static void
seen_cb(void *arg, const char *page, long readers, long tabs)
{
	struct seen	*sn = arg;

	if (sn->n >= SEEN_MAX) {
		sn->overflow = true;
		return;
	}
	snprintf(sn->page[sn->n], sizeof(sn->page[sn->n]), "%s", page);
	sn->readers[sn->n] = readers;
	sn->tabs[sn->n] = tabs;
	sn->n++;
}

static int
seen_find(const struct seen *sn, const char *page)
{
	int	 i;

	for (i = 0; i < sn->n; i++)
		if (strcmp(sn->page[i], page) == 0)
			return i;
	return -1;
}

static int
changes(struct hn_store *s, uint64_t *seq, long *site, struct seen *sn)
{
	int	 n;

	memset(sn, 0, sizeof(*sn));
	n = hn_store_changes(s, seq, site, seen_cb, sn);
	ck_assert_int_ge(n, 0);
	ck_assert(!sn->overflow);
	ck_assert_int_eq(n, sn->n);
	return n;
}

/* ---- children ---------------------------------------------------------- */

/* Reads exactly len bytes from fd within ms; 0, or -1 on EOF/timeout. */
static int
read_full(int fd, void *buf, size_t len, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	int64_t		 until = hn_mono_ms() + ms;
	size_t		 got = 0;
	ssize_t		 r;
	int		 left;

	while (got < len) {
		left = (int)(until - hn_mono_ms());
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		r = read(fd, (char *)buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	size_t	 put = 0;
	ssize_t	 w;

	while (put < len) {
		w = write(fd, (const char *)buf + put, len - put);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		put += (size_t)w;
	}
	return 0;
}

/* Blocks until the parent writes a byte or closes the pipe. */
static void
child_wait(int fd)
{
	char	 c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

/*
 * Applies a batch until it commits: HN_EDB means nothing changed and the
 * batch may be retried (hn.h), so a busy database must not lose a join.
 * Returns the number of retries, or -1 when the database never recovers.
 */
static int
apply_retry(struct hn_store *s, const struct hn_op *ops, size_t n,
    bool beat, int64_t now)
{
	int	 rc, retries = 0;

	while ((rc = hn_store_apply(s, ops, n, beat, now)) < 0) {
		if (rc != HN_EDB || ++retries > 1000)
			return -1;
		usleep(1000);
	}
	return retries;
}

static void
reap_child(pid_t pid, int *status)
{
	int	 st = 0;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (status)
		*status = st;
}

/* ---- open, schema, migration ------------------------------------------- */

START_TEST(test_open_schema)
{
	struct hn_store	*w, *r;
	char		 mode[32];
	const char	*owner;
	size_t		 i;

	w = open_writer(STALE, GRACE, T0);
	ck_assert_int_eq(access(dbpath, F_OK), 0);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), HN_STORE_SCHEMA);
	sql_text("PRAGMA journal_mode", mode, sizeof(mode));
	ck_assert_str_eq(mode, "wal");
	ck_assert_int_eq(hn_store_check(w), 0);

	/* The writer registered: random hex id, our pid, its start time. */
	owner = hn_store_owner(w);
	ck_assert_uint_eq(strlen(owner), HN_OWNER_LEN);
	for (i = 0; i < HN_OWNER_LEN; i++)
		ck_assert(strchr("0123456789abcdef", owner[i]) != NULL);
	ck_assert_int_eq(owner_rows(owner), 1);
	ck_assert_int_eq(sql_int("SELECT pid FROM owners"), getpid());
	ck_assert_int_eq(sql_int("SELECT started FROM owners"), T0);
	ck_assert_int_eq(sql_int("SELECT beat FROM owners"), T0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM site"), 1);

	/* A reader registers nothing, may not write, sees empty counts. */
	r = open_reader();
	ck_assert_str_eq(hn_store_owner(r), "");
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 1);
	ck_assert_int_eq(hn_store_apply(r, NULL, 0, true, T0), HN_EINVAL);
	ck_assert_int_eq(hn_store_next_expiry(r), INT64_MAX);
	ck_counts(r, "/", 0, 0, 0);
	ck_assert_int_eq(hn_store_check(r), 0);
	hn_store_close(r);

	hn_store_close(w);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 0);
	hn_store_close(NULL);
}
END_TEST

START_TEST(test_open_again)
{
	struct hn_store	*w, *w2, *r;
	int64_t		 objects;

	w = open_writer(STALE, GRACE, T0);
	join(w, "s1", "/a", "v1", T0);
	join(w, "s2", "/a", "v2", T0 + 1);
	objects = sql_int("SELECT count(*) FROM sqlite_master");
	ck_assert_int_gt(objects, 0);

	/* A second writer and a reader run the migrations again: no-op. */
	w2 = open_writer(STALE, GRACE, T0 + 2);
	r = open_reader();
	ck_assert_int_eq(sql_int("PRAGMA user_version"), HN_STORE_SCHEMA);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master"),
	    objects);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM site"), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 2);
	ck_counts(r, "/a", 2, 2, 2);
	ck_counts(w2, "/a", 2, 2, 2);

	/* Closing the second writer leaves the first one's sessions. */
	hn_store_close(w2);
	hn_store_close(r);
	r = open_reader();
	ck_counts(r, "/a", 2, 2, 2);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"), 2);
	ck_consistent();

	/* Peaks survive every process going away. */
	hn_store_close(w);
	ck_counts(r, "/a", 0, 0, 0);
	hn_store_close(r);
	r = open_reader();
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    2);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 1);
	ck_assert_int_eq(sql_int("SELECT peak FROM site"), 2);
	hn_store_close(r);
}
END_TEST

START_TEST(test_open_newer_schema)
{
	struct hn_store	*s;
	char		 err[512];
	FILE		*f;

	hn_store_close(open_reader());
	sql_exec("PRAGMA user_version = 99");

	err[0] = '\0';
	s = hn_store_open(dbpath, HN_STORE_WRITER, STALE, GRACE, T0, err,
	    sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "newer") != NULL, "err: %s", err);
	err[0] = '\0';
	s = hn_store_open(dbpath, 0, STALE, GRACE, T0, err, sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "newer") != NULL, "err: %s", err);
	/* Refusing touched nothing. */
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 99);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 0);

	/* A file that is no database is refused with a message too. */
	teardown();
	setup();
	ck_assert_ptr_nonnull(f = fopen(dbpath, "w"));
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database\n", f);
	fclose(f);
	err[0] = '\0';
	s = hn_store_open(dbpath, HN_STORE_WRITER, STALE, GRACE, T0, err,
	    sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert_msg(err[0] != '\0', "no message");

	/* A directory that does not exist: refused with its path named. */
	err[0] = '\0';
	s = hn_store_open("/nonexistent-dir/herenow.db", HN_STORE_WRITER,
	    STALE, GRACE, T0, err, sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "/nonexistent-dir/herenow.db") != NULL,
	    "err: %s", err);
}
END_TEST

/*
 * A database of schema 4 (herenow before the session table lost its owner
 * and visitor indexes) migrates on open and keeps its rows and counts.
 */
START_TEST(test_migrate_from_4)
{
	static const char *const v4 =
	    "CREATE TABLE owners(id TEXT PRIMARY KEY, pid INTEGER NOT NULL,"
	    " host TEXT NOT NULL, started INTEGER NOT NULL,"
	    " beat INTEGER NOT NULL);"
	    "CREATE INDEX owners_beat ON owners(beat);"
	    "CREATE TABLE sessions(sid TEXT PRIMARY KEY, owner TEXT NOT NULL,"
	    " page TEXT NOT NULL, visitor TEXT NOT NULL,"
	    " created INTEGER NOT NULL, ended INTEGER, beat INTEGER);"
	    "CREATE INDEX sessions_page ON sessions(page, visitor);"
	    "CREATE INDEX sessions_owner ON sessions(owner);"
	    "CREATE INDEX sessions_visitor ON sessions(visitor);"
	    "CREATE INDEX sessions_ended ON sessions(ended)"
	    " WHERE ended IS NOT NULL;"
	    "CREATE INDEX sessions_beat ON sessions(beat)"
	    " WHERE beat IS NOT NULL;"
	    "CREATE TABLE pages(page TEXT PRIMARY KEY,"
	    " readers INTEGER NOT NULL DEFAULT 0,"
	    " tabs INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0,"
	    " peak INTEGER NOT NULL DEFAULT 0, peak_at INTEGER);"
	    "CREATE INDEX pages_seq ON pages(seq);"
	    "CREATE TABLE site(id INTEGER PRIMARY KEY CHECK (id = 1),"
	    " seq INTEGER NOT NULL, readers INTEGER NOT NULL,"
	    " peak INTEGER NOT NULL, peak_at INTEGER);"
	    "CREATE TABLE samples(minute INTEGER PRIMARY KEY,"
	    " site INTEGER NOT NULL, top TEXT NOT NULL);"
	    "CREATE TABLE series(owner TEXT NOT NULL, name TEXT NOT NULL,"
	    " value REAL NOT NULL, PRIMARY KEY (owner, name)) WITHOUT ROWID;"
	    "PRAGMA user_version = 4;"
	    /* A live owner with two readers on /a, one of them leaving, and
	     * one on /b; counts as that herenow left them. */
	    "INSERT INTO owners VALUES ('0123456789abcdef', 1, 'h', 1000000,"
	    " 1000000);"
	    "INSERT INTO sessions VALUES"
	    " ('s1', '0123456789abcdef', '/a', 'v1', 1000000, NULL, NULL),"
	    " ('s2', '0123456789abcdef', '/a', 'v2', 1000000, 1000500, NULL),"
	    " ('s3', '0123456789abcdef', '/b', 'v1', 1000000, NULL, NULL);"
	    "INSERT INTO pages VALUES ('/a', 2, 2, 1, 2, 1000000),"
	    " ('/b', 1, 1, 1, 1, 1000000);"
	    "INSERT INTO site VALUES (1, 1, 2, 2, 1000000);";
	struct hn_store	*w;
	sqlite3		*db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, v4, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	w = open_writer(STALE, GRACE, T0 + 600);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), HN_STORE_SCHEMA);
	/* 5 dropped the owner index; 6 brought the visitor index back for
	 * the triggers that kept the counts; 7 dropped the triggers and put
	 * one index on (visitor, page) for the page and visitor indexes. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'sessions_owner'"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'trigger' OR name IN ('sessions_page',"
	    " 'sessions_visitor')"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'sessions_visitor_page'"), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"), 3);
	ck_counts(w, "/a", 2, 2, 2);
	ck_counts(w, "/b", 1, 1, 2);
	ck_consistent();

	/* The old rows take part: a reload takes over the leaving s2, and
	 * the old owner, silent, is reaped with its sessions. */
	join(w, "s4", "/a", "v2", T0 + 700);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"
	    " WHERE sid = 's2'"), 0);
	ck_counts(w, "/a", 2, 2, 2);
	tick(w, true, T0 + 700 + STALE);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 1);
	ck_counts(w, "/a", 1, 1, 1);
	ck_counts(w, "/b", 0, 0, 1);
	ck_consistent();
	hn_store_close(w);
}
END_TEST

/*
 * A database of schema 6 (counts kept by triggers, indexes on (page,
 * visitor) and on visitor) migrates on open: the triggers and both
 * indexes go, one index on (visitor, page) comes, and the rows, counts
 * and peaks stay; the counts then follow the sessions as before.
 */
START_TEST(test_migrate_from_6)
{
	static const char *const v6 =
	    "CREATE TABLE owners(id TEXT PRIMARY KEY, pid INTEGER NOT NULL,"
	    " host TEXT NOT NULL, started INTEGER NOT NULL,"
	    " beat INTEGER NOT NULL);"
	    "CREATE INDEX owners_beat ON owners(beat);"
	    "CREATE TABLE sessions(sid TEXT PRIMARY KEY, owner TEXT NOT NULL,"
	    " page TEXT NOT NULL, visitor TEXT NOT NULL,"
	    " created INTEGER NOT NULL, ended INTEGER, beat INTEGER);"
	    "CREATE INDEX sessions_page ON sessions(page, visitor);"
	    "CREATE INDEX sessions_ended ON sessions(ended)"
	    " WHERE ended IS NOT NULL;"
	    "CREATE INDEX sessions_beat ON sessions(beat)"
	    " WHERE beat IS NOT NULL;"
	    "CREATE INDEX sessions_visitor ON sessions(visitor);"
	    "CREATE TABLE pages(page TEXT PRIMARY KEY,"
	    " readers INTEGER NOT NULL DEFAULT 0,"
	    " tabs INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0,"
	    " peak INTEGER NOT NULL DEFAULT 0, peak_at INTEGER);"
	    "CREATE INDEX pages_seq ON pages(seq);"
	    "CREATE TABLE site(id INTEGER PRIMARY KEY CHECK (id = 1),"
	    " seq INTEGER NOT NULL, readers INTEGER NOT NULL,"
	    " peak INTEGER NOT NULL, peak_at INTEGER);"
	    "CREATE TABLE samples(minute INTEGER PRIMARY KEY,"
	    " site INTEGER NOT NULL, top TEXT NOT NULL);"
	    "CREATE TABLE series(owner TEXT NOT NULL, name TEXT NOT NULL,"
	    " value REAL NOT NULL, PRIMARY KEY (owner, name)) WITHOUT ROWID;"
	    "CREATE TRIGGER sessions_in AFTER INSERT ON sessions BEGIN"
	    "  INSERT INTO pages(page, tabs, readers) VALUES (NEW.page, 1,"
	    "   NOT EXISTS (SELECT 1 FROM sessions WHERE page = NEW.page"
	    "    AND visitor = NEW.visitor AND rowid <> NEW.rowid))"
	    "   ON CONFLICT(page) DO UPDATE SET tabs = tabs + 1,"
	    "   readers = readers + excluded.readers;"
	    "  UPDATE site SET readers = readers + NOT EXISTS"
	    "   (SELECT 1 FROM sessions WHERE visitor = NEW.visitor"
	    "    AND rowid <> NEW.rowid) WHERE id = 1;"
	    "END;"
	    "CREATE TRIGGER sessions_out AFTER DELETE ON sessions BEGIN"
	    "  UPDATE pages SET tabs = tabs - 1, readers = readers - NOT EXISTS"
	    "   (SELECT 1 FROM sessions WHERE page = OLD.page"
	    "    AND visitor = OLD.visitor) WHERE page = OLD.page;"
	    "  UPDATE site SET readers = readers - NOT EXISTS"
	    "   (SELECT 1 FROM sessions WHERE visitor = OLD.visitor) WHERE id = 1;"
	    "END;"
	    "PRAGMA user_version = 6;"
	    "INSERT INTO site VALUES (1, 0, 0, 0, NULL);"
	    /* A live owner: v1 has two tabs on /a and one on /b, v2 one on
	     * /a, leaving.  The triggers count them; /a had a peak of 5. */
	    "INSERT INTO owners VALUES ('0123456789abcdef', 1, 'h', 1000000,"
	    " 1000000);"
	    "INSERT INTO sessions VALUES"
	    " ('s1', '0123456789abcdef', '/a', 'v1', 1000000, NULL, NULL),"
	    " ('s2', '0123456789abcdef', '/a', 'v2', 1000000, 1000500, NULL),"
	    " ('s3', '0123456789abcdef', '/b', 'v1', 1000000, NULL, NULL),"
	    " ('s4', '0123456789abcdef', '/a', 'v1', 1000000, NULL, NULL);"
	    "UPDATE pages SET seq = 1, peak = 5, peak_at = 999000"
	    " WHERE page = '/a';"
	    "UPDATE pages SET seq = 1, peak = 1, peak_at = 1000000"
	    " WHERE page = '/b';"
	    "UPDATE site SET seq = 1, peak = 2, peak_at = 1000000;";
	struct hn_store	*w;
	sqlite3		*db;
	char		*msg = NULL;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, v6, NULL, NULL, &msg) == SQLITE_OK,
	    "%s", msg ? msg : "?");
	sqlite3_close(db);
	/* As the triggers left them. */
	ck_assert_int_eq(sql_int("SELECT readers * 10 + tabs FROM pages"
	    " WHERE page = '/a'"), 23);
	ck_consistent();

	w = open_writer(STALE, GRACE, T0 + 600);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), HN_STORE_SCHEMA);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'trigger' OR name IN ('sessions_page',"
	    " 'sessions_visitor')"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'sessions_visitor_page'"), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"), 4);
	ck_counts(w, "/a", 2, 3, 2);
	ck_counts(w, "/b", 1, 1, 2);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    5);
	ck_consistent();

	/* v2 reloads /a: its leaving s2 is taken over, nothing changes. */
	join(w, "s5", "/a", "v2", T0 + 700);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"
	    " WHERE sid = 's2'"), 0);
	ck_counts(w, "/a", 2, 3, 2);
	/* A new visitor on a new page. */
	join(w, "s6", "/c", "v3", T0 + 700);
	ck_counts(w, "/c", 1, 1, 3);
	/* v1 closes one of its two tabs on /a, then its only one on /b:
	 * still a reader of /a and of the site. */
	end(w, HN_OP_DROP, "s1", T0 + 710);
	ck_counts(w, "/a", 2, 2, 3);
	end(w, HN_OP_DROP, "s3", T0 + 720);
	ck_counts(w, "/b", 0, 0, 3);
	ck_consistent();

	/* The old owner, silent, is reaped with its last session (s4):
	 * v1 is gone from /a and from the site. */
	tick(w, true, T0 + 700 + STALE);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 1);
	ck_counts(w, "/a", 1, 1, 2);
	ck_counts(w, "/c", 1, 1, 2);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    5);
	ck_consistent();
	hn_store_close(w);
}
END_TEST

/* ---- counts and peaks -------------------------------------------------- */

START_TEST(test_counts)
{
	struct hn_store	*w;
	struct hn_op	 ops[8];
	struct seen	 sn;
	uint64_t	 seq = 0;
	long		 site = -1;
	int		 i;

	w = open_writer(STALE, GRACE, T0);
	/* v1 has two tabs on /a and one on /b. */
	op_join(&ops[0], "s1", "/a", "v1");
	op_join(&ops[1], "s2", "/a", "v1");
	op_join(&ops[2], "s3", "/a", "v2");
	op_join(&ops[3], "s4", "/b", "v1");
	op_join(&ops[4], "s5", "/b", "v3");
	/* The number of pages touched, not of ops. */
	ck_assert_int_eq(hn_store_apply(w, ops, 5, false, T0), 2);
	ck_counts(w, "/a", 2, 3, 3);
	ck_counts(w, "/b", 2, 2, 3);
	ck_counts(w, "/unknown", 0, 0, 3);
	ck_consistent();

	ck_assert_int_eq(changes(w, &seq, &site, &sn), 2);
	ck_assert_int_eq(site, 3);
	ck_assert_uint_gt(seq, 0);
	ck_assert_int_ge(i = seen_find(&sn, "/a"), 0);
	ck_assert_int_eq(sn.readers[i], 2);
	ck_assert_int_eq(sn.tabs[i], 3);
	ck_assert_int_ge(i = seen_find(&sn, "/b"), 0);
	ck_assert_int_eq(sn.readers[i], 2);
	ck_assert_int_eq(sn.tabs[i], 2);

	/* One of v1's two tabs goes: a tab less, the same readers. */
	ck_assert_int_eq(end(w, HN_OP_DROP, "s2", T0 + 1), 1);
	ck_counts(w, "/a", 2, 2, 3);
	/* v2's only tab goes: a reader less here and on the site. */
	end(w, HN_OP_DROP, "s3", T0 + 2);
	ck_counts(w, "/a", 1, 1, 2);
	ck_counts(w, "/b", 2, 2, 2);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 1);
	ck_assert_str_eq(sn.page[0], "/a");
	ck_assert_int_eq(sn.readers[0], 1);
	ck_assert_int_eq(sn.tabs[0], 1);
	ck_assert_int_eq(site, 2);

	/* Streams without a visitor are each their own anonymous one. */
	join(w, "s6", "/a", "~s6", T0 + 3);
	join(w, "s7", "/a", "~s7", T0 + 4);
	ck_counts(w, "/a", 3, 3, 4);

	/* Dropping or leaving an unknown session changes no count. */
	ck_assert_int_eq(end(w, HN_OP_DROP, "nosuch", T0 + 5), 0);
	ck_assert_int_eq(end(w, HN_OP_LEAVE, "nosuch", T0 + 5), 0);
	ck_counts(w, "/a", 3, 3, 4);
	ck_consistent();

	/* The last tab of a page going leaves the page at zero. */
	end(w, HN_OP_DROP, "s4", T0 + 6);
	end(w, HN_OP_DROP, "s5", T0 + 6);
	ck_counts(w, "/b", 0, 0, 3);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 2);
	ck_assert_int_ge(i = seen_find(&sn, "/b"), 0);
	ck_assert_int_eq(sn.readers[i], 0);
	ck_assert_int_eq(sn.tabs[i], 0);
	ck_consistent();
	hn_store_close(w);
}
END_TEST

START_TEST(test_peaks)
{
	struct hn_store	*w;

	w = open_writer(STALE, GRACE, T0);
	join(w, "s1", "/a", "v1", T0 + 10);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    1);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 10);
	/* A second tab of the same visitor is no new peak of readers. */
	join(w, "s2", "/a", "v1", T0 + 20);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    1);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 10);
	join(w, "s3", "/a", "v2", T0 + 30);
	join(w, "s4", "/a", "v3", T0 + 40);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    3);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 40);
	ck_assert_int_eq(sql_int("SELECT peak FROM site"), 3);
	ck_assert_int_eq(sql_int("SELECT peak_at FROM site"), T0 + 40);

	/* Readers going keeps the peak and its time. */
	end(w, HN_OP_DROP, "s4", T0 + 50);
	end(w, HN_OP_DROP, "s3", T0 + 60);
	ck_counts(w, "/a", 1, 2, 1);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    3);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 40);
	/* Equalling the peak is not a new one. */
	join(w, "s5", "/a", "v5", T0 + 70);
	join(w, "s6", "/a", "v6", T0 + 80);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 40);
	join(w, "s7", "/a", "v7", T0 + 90);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    4);
	ck_assert_int_eq(sql_int(
	    "SELECT peak_at FROM pages WHERE page = '/a'"), T0 + 90);
	/* The site's peak is distinct visitors over every page. */
	join(w, "s8", "/b", "v1", T0 + 100);
	ck_assert_int_eq(sql_int("SELECT peak FROM site"), 4);
	join(w, "s9", "/b", "v9", T0 + 110);
	ck_assert_int_eq(sql_int("SELECT peak FROM site"), 5);
	ck_assert_int_eq(sql_int("SELECT peak_at FROM site"), T0 + 110);
	hn_store_close(w);

	/* Kept after the writer's sessions are gone. */
	ck_assert_int_eq(sql_int("SELECT readers FROM pages WHERE page = '/a'"),
	    0);
	ck_assert_int_eq(sql_int("SELECT peak FROM pages WHERE page = '/a'"),
	    4);
	ck_assert_int_eq(sql_int("SELECT peak FROM site"), 5);
}
END_TEST

/*
 * A failed op is skipped and the rest of its batch applies (hn.h).  Even a
 * JOIN that fails half-way (its sid is taken, but a leaving session of the
 * same visitor on the page was there to take over) must leave counts that
 * agree with the rows.
 */
START_TEST(test_failed_op)
{
	struct hn_store	*w;
	struct hn_op	 ops[3];

	w = open_writer(STALE, GRACE, T0);
	join(w, "x", "/a", "v1", T0);
	join(w, "y", "/a", "v1", T0);
	end(w, HN_OP_LEAVE, "y", T0 + 10);
	ck_counts(w, "/a", 1, 2, 1);

	op_join(&ops[0], "x", "/a", "v1");	/* duplicate sid */
	op_join(&ops[1], "z", "/b", "v2");
	ck_assert_int_ge(hn_store_apply(w, ops, 2, false, T0 + 20), 0);
	ck_counts(w, "/b", 1, 1, 2);
	ck_assert_int_eq(sql_int(
	    "SELECT count(*) FROM sessions WHERE sid = 'x' AND page = '/a'"),
	    1);
	ck_consistent();

	/* After the grace only x is left on /a, whatever became of y. */
	tick(w, false, T0 + 10 + GRACE);
	ck_counts(w, "/a", 1, 1, 2);
	ck_consistent();

	/* An op of no known kind is skipped as well. */
	memset(&ops[0], 0, sizeof(ops[0]));
	ops[0].kind = 99;
	op_join(&ops[1], "w", "/b", "v3");
	ck_assert_int_eq(hn_store_apply(w, ops, 2, false, T0 + 30), 1);
	ck_counts(w, "/b", 2, 2, 3);
	hn_store_close(w);
}
END_TEST

/* ---- leave grace ------------------------------------------------------- */

START_TEST(test_leave_grace)
{
	struct hn_store	*w;
	struct seen	 sn;
	uint64_t	 seq = 0;
	long		 site;

	w = open_writer(STALE, GRACE, T0);
	ck_assert_int_eq(hn_store_next_expiry(w), INT64_MAX);
	join(w, "s1", "/a", "v1", T0);
	ck_assert_int_eq(hn_store_next_expiry(w), INT64_MAX);
	changes(w, &seq, &site, &sn);

	/* Counted as reader and tab until now >= ended + grace. */
	end(w, HN_OP_LEAVE, "s1", T0 + 100);
	ck_counts(w, "/a", 1, 1, 1);
	ck_assert_int_eq(hn_store_next_expiry(w), T0 + 100 + GRACE);
	/* A second leave does not push the end further out. */
	end(w, HN_OP_LEAVE, "s1", T0 + 1000);
	ck_assert_int_eq(hn_store_next_expiry(w), T0 + 100 + GRACE);
	tick(w, false, T0 + 100 + GRACE / 2);
	ck_counts(w, "/a", 1, 1, 1);
	tick(w, false, T0 + 100 + GRACE - 1);
	ck_counts(w, "/a", 1, 1, 1);
	ck_assert_int_eq(hn_store_next_expiry(w), T0 + 100 + GRACE);
	/* Expiry counts as touching the page. */
	ck_assert_int_eq(tick(w, false, T0 + 100 + GRACE), 1);
	ck_counts(w, "/a", 0, 0, 0);
	ck_assert_int_eq(hn_store_next_expiry(w), INT64_MAX);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 1);
	ck_assert_str_eq(sn.page[0], "/a");
	ck_assert_int_eq(sn.tabs[0], 0);
	ck_assert_int_eq(site, 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"), 0);
	ck_consistent();

	/* A beat tick expires leaving sessions too. */
	join(w, "s2", "/a", "v1", T0 + 5000);
	end(w, HN_OP_LEAVE, "s2", T0 + 5000);
	tick(w, true, T0 + 5000 + GRACE);
	ck_counts(w, "/a", 0, 0, 0);
	hn_store_close(w);
}
END_TEST

START_TEST(test_takeover)
{
	struct hn_store	*w;
	int64_t		 t = T0;

	w = open_writer(STALE, GRACE, t);
	join(w, "s1", "/a", "v1", t);
	join(w, "s2", "/a", "v2", t);
	ck_counts(w, "/a", 2, 2, 2);

	/* A reload: v1 leaves and is back within the grace. */
	end(w, HN_OP_LEAVE, "s1", t + 100);
	join(w, "s3", "/a", "v1", t + 600);
	ck_counts(w, "/a", 2, 2, 2);
	ck_assert_int_eq(sql_int(
	    "SELECT count(*) FROM sessions WHERE sid = 's1'"), 0);
	ck_assert_int_eq(hn_store_next_expiry(w), INT64_MAX);
	/* Nothing is left to expire: s3 stays when s1's grace runs out. */
	tick(w, false, t + 100 + GRACE);
	ck_counts(w, "/a", 2, 2, 2);
	ck_consistent();

	/* Another visitor joining within v2's grace takes nothing over. */
	t += 10000;
	end(w, HN_OP_LEAVE, "s2", t);
	join(w, "s4", "/a", "v9", t + 500);
	ck_counts(w, "/a", 3, 3, 3);
	tick(w, false, t + GRACE);
	ck_counts(w, "/a", 2, 2, 2);

	/* The same visitor on another page takes nothing over either. */
	t += 10000;
	end(w, HN_OP_LEAVE, "s3", t);
	join(w, "s5", "/b", "v1", t + 500);
	ck_counts(w, "/a", 2, 2, 2);
	ck_counts(w, "/b", 1, 1, 2);
	tick(w, false, t + GRACE);
	ck_counts(w, "/a", 1, 1, 2);

	/* One join takes over one of two leaving tabs, not both. */
	t += 10000;
	join(w, "s6", "/c", "v5", t);
	join(w, "s7", "/c", "v5", t);
	end(w, HN_OP_LEAVE, "s6", t + 100);
	end(w, HN_OP_LEAVE, "s7", t + 200);
	join(w, "s8", "/c", "v5", t + 300);
	ck_counts(w, "/c", 1, 2, 3);
	tick(w, false, t + 200 + GRACE);
	ck_counts(w, "/c", 1, 1, 3);
	ck_consistent();

	/* A leave and the takeover in one batch: the tab count holds. */
	t += 10000;
	{
		struct hn_op	 ops[2];

		op_end(&ops[0], HN_OP_LEAVE, "s8");
		op_join(&ops[1], "s9", "/c", "v5");
		ck_assert_int_eq(hn_store_apply(w, ops, 2, false, t), 1);
		ck_counts(w, "/c", 1, 1, 3);
		ck_assert_int_eq(hn_store_next_expiry(w), INT64_MAX);
	}
	hn_store_close(w);
}
END_TEST

START_TEST(test_next_expiry)
{
	struct hn_store	*a, *b;

	a = open_writer(STALE, GRACE, T0);
	b = open_writer(STALE, 500, T0);
	join(a, "a1", "/p", "v1", T0);
	join(a, "a2", "/p", "v2", T0);
	join(b, "b1", "/p", "v3", T0);
	end(a, HN_OP_LEAVE, "a2", T0 + 200);
	end(a, HN_OP_LEAVE, "a1", T0 + 300);
	/* Our earliest leaving session, with our grace; another owner's
	 * does not wake us (test_expiry_owner has the polling clients'). */
	ck_assert_int_eq(hn_store_next_expiry(a), T0 + 200 + GRACE);
	ck_assert_int_eq(hn_store_next_expiry(b), INT64_MAX);
	end(b, HN_OP_LEAVE, "b1", T0 + 100);
	ck_assert_int_eq(hn_store_next_expiry(b), T0 + 100 + 500);
	ck_assert_int_eq(hn_store_next_expiry(a), T0 + 200 + GRACE);

	/* Any writer expires every owner's sessions whose grace ran out
	 * by its own grace; b's is shorter. */
	tick(b, false, T0 + 100 + 500);
	ck_counts(a, "/p", 2, 2, 2);
	tick(a, false, T0 + 200 + GRACE);
	ck_counts(a, "/p", 1, 1, 1);
	ck_assert_int_eq(hn_store_next_expiry(a), T0 + 300 + GRACE);
	tick(a, false, T0 + 300 + GRACE);
	ck_counts(a, "/p", 0, 0, 0);
	ck_assert_int_eq(hn_store_next_expiry(a), INT64_MAX);
	ck_assert_int_eq(hn_store_next_expiry(b), INT64_MAX);
	hn_store_close(b);
	hn_store_close(a);
}
END_TEST

/*
 * Only the owner is woken for its leavers (and everyone for a polling
 * client's, which has no owner); any write transaction still expires
 * whatever is due.
 */
START_TEST(test_expiry_owner)
{
	struct hn_store	*a, *b;
	struct hn_op	 op;

	a = open_writer(STALE, GRACE, T0);
	b = open_writer(STALE, GRACE, T0);
	join(a, "s1", "/a", "v1", T0);
	end(a, HN_OP_LEAVE, "s1", T0 + 100);
	ck_assert_int_eq(hn_store_next_expiry(a), T0 + 100 + GRACE);
	ck_assert_int_eq(hn_store_next_expiry(b), INT64_MAX);

	/* A polling client's leave is anybody's to expire. */
	op_join(&op, "b1", "/a", "v2");
	op.sid[0] = HN_BEAT_SID_PREFIX;
	op.kind = HN_OP_BEAT;
	ck_assert_int_ge(hn_store_apply(b, &op, 1, false, T0 + 200), 0);
	op.kind = HN_OP_LEAVE;
	ck_assert_int_ge(hn_store_apply(b, &op, 1, false, T0 + 300), 0);
	ck_assert_int_eq(hn_store_next_expiry(a), T0 + 100 + GRACE);
	ck_assert_int_eq(hn_store_next_expiry(b), T0 + 300 + GRACE);

	/* b's next transaction takes a's leaver too once it is due. */
	ck_counts(b, "/a", 2, 2, 2);
	tick(b, false, T0 + 300 + GRACE);
	ck_counts(b, "/a", 0, 0, 0);
	ck_assert_int_eq(hn_store_next_expiry(a), INT64_MAX);
	ck_assert_int_eq(hn_store_next_expiry(b), INT64_MAX);
	ck_consistent();
	hn_store_close(b);
	hn_store_close(a);
}
END_TEST

/* ---- polling clients' beats ----------------------------------------------- */

static int
beat(struct hn_store *s, const char *sid, const char *page,
    const char *visitor, int64_t now)
{
	struct hn_op	 op;

	op_join(&op, sid, page, visitor);
	op.kind = HN_OP_BEAT;
	return hn_store_apply(s, &op, 1, false, now);
}

START_TEST(test_beat_sessions)
{
	struct hn_store	*a, *b;

	a = open_writer(STALE, GRACE, T0);
	b = open_writer(STALE, GRACE, T0);
	/* A first beat makes an owner-less session; a second refreshes it. */
	ck_assert_int_ge(beat(a, "b000000000000001", "/p", "v1", T0), 0);
	ck_counts(a, "/p", 1, 1, 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions WHERE "
	    "owner = '' AND beat IS NOT NULL"), 1);
	ck_assert_int_ge(beat(b, "b000000000000001", "/p", "v1", T0 + 100),
	    0);
	ck_counts(a, "/p", 1, 1, 1);
	ck_assert_int_eq(sql_int("SELECT beat FROM sessions"), T0 + 100);
	/* The process that answered it may go: the session stays. */
	hn_store_close(a);
	ck_counts(b, "/p", 1, 1, 1);
	/* A beat for another page moves it. */
	ck_assert_int_ge(beat(b, "b000000000000001", "/q", "v1", T0 + 200),
	    0);
	ck_counts(b, "/p", 0, 0, 1);
	ck_counts(b, "/q", 1, 1, 1);
	/* A beat with a stream's kind of id touches nothing. */
	join(b, "0123456789abcdef", "/q", "v2", T0 + 200);
	ck_assert_int_ge(beat(b, "0123456789abcdef", "/r", "v2", T0 + 300),
	    0);
	ck_counts(b, "/q", 2, 2, 2);
	ck_counts(b, "/r", 0, 0, 2);
	/* A leave starts the grace; a beat within it revives the session. */
	end(b, HN_OP_LEAVE, "b000000000000001", T0 + 400);
	ck_assert_int_eq(hn_store_next_expiry(b), T0 + 400 + GRACE);
	ck_assert_int_ge(beat(b, "b000000000000001", "/q", "v1", T0 + 500),
	    0);
	ck_assert_int_eq(hn_store_next_expiry(b), INT64_MAX);
	tick(b, false, T0 + 400 + GRACE);
	ck_counts(b, "/q", 2, 2, 2);
	/* Silent for stale_after: reaped by any writer's beat. */
	tick(b, true, T0 + 500 + STALE - 1);
	ck_counts(b, "/q", 2, 2, 2);
	tick(b, true, T0 + 500 + STALE);
	ck_counts(b, "/q", 1, 1, 1);
	hn_store_close(b);
}
END_TEST

/* ---- the owner's view ------------------------------------------------------ */

START_TEST(test_stats_and_samples)
{
	struct hn_store	*w;
	struct hn_stats	 st;

	w = open_writer(STALE, GRACE, T0);
	join(w, "s1", "/a", "v1", T0);
	join(w, "s2", "/a", "v2", T0);
	join(w, "s3", "/b", "v1", T0 + 10);
	ck_assert_int_eq(hn_store_sample(w, T0 + 61000), 0);
	end(w, HN_OP_DROP, "s2", T0 + 70000);
	/* The same minute again: replaced, not added. */
	ck_assert_int_eq(hn_store_sample(w, T0 + 62000), 0);
	ck_assert_int_eq(hn_store_sample(w, T0 + 130000), 0);
	ck_assert_int_eq(hn_store_stats(w, 10, 0, T0 + 130000, &st), 0);
	ck_assert_int_eq(st.site, 1);
	ck_assert_int_eq(st.site_peak, 2);
	ck_assert_int_eq(st.owners, 0);	/* its beat is older than STALE */
	ck_assert_int_eq(st.sessions, 2);
	ck_assert_int_eq(st.npages, 2);
	/* Busiest first, ties by peak. */
	ck_assert_str_eq(st.pages[0].page, "/a");
	ck_assert_int_eq(st.pages[0].readers, 1);
	ck_assert_int_eq(st.pages[0].peak, 2);
	ck_assert_int_eq(st.pages[0].peak_at, T0);
	ck_assert_str_eq(st.pages[1].page, "/b");
	ck_assert_int_eq(st.nsamples, 2);
	ck_assert_int_eq(st.samples[0].site, 1);
	ck_assert_str_eq(st.samples[0].top, "[[\"/a\",1],[\"/b\",1]]");
	ck_assert_int_eq(st.samples[0].t % 60000, 0);
	hn_stats_free(&st);
	/* since and limit */
	ck_assert_int_eq(hn_store_stats(w, 1, (T0 + 130000) -
	    (T0 + 130000) % 60000, T0 + 130000, &st), 0);
	ck_assert_int_eq(st.npages, 1);
	ck_assert_int_eq(st.nsamples, 1);
	hn_stats_free(&st);
	/* A day later the old samples are gone. */
	ck_assert_int_eq(hn_store_sample(w, T0 + 130000 + HN_SAMPLE_KEEP_MS),
	    0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM samples"), 1);
	hn_store_close(w);
}
END_TEST

/* ---- what changed ------------------------------------------------------ */

START_TEST(test_changes_incremental)
{
	struct hn_store	*w, *r;
	struct hn_op	 ops[100];
	struct seen	 sn;
	uint64_t	 seq = 0, seq2, rseq = 0;
	long		 site = -1;
	char		 sid[32], page[32], vis[32];
	int		 i;

	w = open_writer(STALE, GRACE, T0);
	r = open_reader();
	/* Nothing yet: nothing reported, the site is empty. */
	ck_assert_int_eq(changes(r, &rseq, &site, &sn), 0);
	ck_assert_int_eq(site, 0);

	for (i = 0; i < 100; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		snprintf(page, sizeof(page), "/p%d", i);
		snprintf(vis, sizeof(vis), "v%d", i % 10);
		op_join(&ops[i], sid, page, vis);
	}
	ck_assert_int_eq(hn_store_apply(w, ops, 100, false, T0), 100);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 100);
	ck_assert_int_eq(site, 10);
	for (i = 0; i < 100; i++) {
		snprintf(page, sizeof(page), "/p%d", i);
		ck_assert_int_ge(seen_find(&sn, page), 0);
	}
	/* Asked again at once: nothing changed, seq stays. */
	seq2 = seq;
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 0);
	ck_assert_uint_eq(seq, seq2);

	/* One page of a hundred touched: exactly that page is reported. */
	join(w, "t1", "/p42", "v99", T0 + 1);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 1);
	ck_assert_str_eq(sn.page[0], "/p42");
	ck_assert_int_eq(sn.readers[0], 2);
	ck_assert_int_eq(sn.tabs[0], 2);
	ck_assert_int_eq(site, 11);
	ck_assert_uint_gt(seq, seq2);

	/* A tick that changes no page reports no page. */
	tick(w, true, T0 + 2);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 0);

	/* Two batches, two pages; the reader catches up in one call. */
	join(w, "t2", "/p7", "v7", T0 + 3);
	end(w, HN_OP_DROP, "s99", T0 + 4);
	ck_assert_int_eq(changes(w, &seq, &site, &sn), 2);
	ck_assert_int_ge(seen_find(&sn, "/p7"), 0);
	ck_assert_int_ge(i = seen_find(&sn, "/p99"), 0);
	ck_assert_int_eq(sn.tabs[i], 0);

	/* seq 0 is everything, from any connection. */
	ck_assert_int_eq(changes(r, &rseq, &site, &sn), 100);
	ck_assert_uint_eq(rseq, seq);
	ck_assert_int_eq(site, 11);
	ck_assert_int_ge(i = seen_find(&sn, "/p42"), 0);
	ck_assert_int_eq(sn.tabs[i], 2);
	seq2 = 0;
	ck_assert_int_eq(changes(w, &seq2, &site, &sn), 100);
	ck_assert_int_eq(changes(r, &rseq, &site, &sn), 0);
	hn_store_close(r);
	hn_store_close(w);
}
END_TEST

START_TEST(test_changed)
{
	struct hn_store	*w, *w2, *r;

	w = open_writer(STALE, GRACE, T0);
	r = open_reader();
	/* The first call only learns where we stand. */
	ck_assert_int_ge(hn_store_changed(r), 0);
	ck_assert_int_ge(hn_store_changed(w), 0);
	ck_assert_int_eq(hn_store_changed(r), 0);
	ck_assert_int_eq(hn_store_changed(w), 0);

	/* Another connection's commit is seen, once. */
	join(w, "s1", "/a", "v1", T0);
	ck_assert_int_eq(hn_store_changed(r), 1);
	ck_assert_int_eq(hn_store_changed(r), 0);
	/* The committing connection itself sees no change of others. */
	ck_assert_int_eq(hn_store_changed(w), 0);

	/* Reading is not a change. */
	ck_counts(r, "/a", 1, 1, 1);
	ck_assert_int_eq(hn_store_changed(w), 0);
	ck_assert_int_eq(hn_store_changed(r), 0);

	/* A writer opening (it registers) is a commit others see. */
	w2 = open_writer(STALE, GRACE, T0 + 1);
	ck_assert_int_eq(hn_store_changed(w), 1);
	ck_assert_int_eq(hn_store_changed(r), 1);
	ck_assert_int_ge(hn_store_changed(w2), 0);
	join(w2, "s2", "/a", "v2", T0 + 2);
	ck_assert_int_eq(hn_store_changed(w), 1);
	ck_assert_int_eq(hn_store_changed(w2), 0);
	ck_assert_int_eq(hn_store_changed(r), 1);
	hn_store_close(w2);
	ck_assert_int_eq(hn_store_changed(r), 1);
	ck_counts(r, "/a", 1, 1, 1);
	ck_assert_int_eq(hn_store_changed(r), 0);
	hn_store_close(r);
	hn_store_close(w);
}
END_TEST

/* ---- a batch is its ops one by one ------------------------------------ */

#define EQ_ROUNDS	60
#define EQ_OPS		400
#define EQ_SIDS		24		/* stream sids s0000.. */
#define EQ_WIDE_SIDS	3000
#define EQ_BEATS	3		/* polling sids b000000000000000.. */
#define EQ_GRACE	1000		/* a round is 700 ms: ends expire */
#define EQ_VISITORS	5
#define EQ_WIDE_VISITORS 40		/* more than STORE_SEG_MIN in a batch */
#define EQ_LIMIT	4		/* max_sessions_per_visitor, some rounds */
#define EQ_PART		24		/* ops of a part of a batch, some rounds */

/*
 * Few pages and visitors, so that joins take over leaving sessions.  Few
 * sids, so that sids come back and a leave follows its join; or (wide)
 * many and hardly a drop, for segments longer than a statement, and
 * visitors enough for the visitor limit's lookups together.
 */
static void
eq_op(struct hn_op *op, unsigned *seed, bool wide)
{
	char	 sid[HN_SID_LEN + 1], page[8], vis[8];
	int	 nsids = wide ? EQ_WIDE_SIDS : EQ_SIDS;
	int	 k = rand_r(seed) % 1000, i;

	i = rand_r(seed) % (nsids + EQ_BEATS);
	if (i < nsids)
		snprintf(sid, sizeof(sid), "s%04d", i);
	else
		snprintf(sid, sizeof(sid), "b%015d", i - nsids);
	snprintf(page, sizeof(page), "/p%d", rand_r(seed) % 4);
	snprintf(vis, sizeof(vis), "v%d", rand_r(seed) %
	    (wide ? EQ_WIDE_VISITORS : EQ_VISITORS));
	if (k < 460) {
		op_join(op, sid, page, vis);
		if (sid[0] == HN_BEAT_SID_PREFIX)
			op->kind = HN_OP_BEAT;
	} else if (k < (wide ? 997 : 940))
		op_end(op, HN_OP_LEAVE, sid);
	else if (k < (wide ? 999 : 990))
		op_end(op, HN_OP_DROP, sid);
	else {
		memset(op, 0, sizeof(*op));
		op->kind = 99;
	}
}

/*
 * As the streams make them, for the visitor limit: a join has a new sid,
 * a leave or a drop names its session's visitor (and may come twice); a
 * beat sid belongs to one visitor (a beat with another visitor's sid
 * counts as a session of its own visitor in a batch: see store_limit()).
 */
#define EQ_RING		64		/* the sids a leave picks from */
#define EQ_LIVE_VISITORS 400

static void
eq_op_live(struct hn_op *op, unsigned *seed, bool wide)
{
	static struct {
		char	 sid[HN_SID_LEN + 1];
		char	 vis[8];
	}		 ring[EQ_RING];
	static unsigned	 next, joined;
	char		 sid[HN_SID_LEN + 1], page[8], vis[8];
	int		 k = rand_r(seed) % 1000, i;

	snprintf(page, sizeof(page), "/p%d", rand_r(seed) % 4);
	/* Wide: half the joins from a few visitors, who reach the limit,
	 * half from many, most with one join in a batch. */
	if (wide && rand_r(seed) % 2)
		snprintf(vis, sizeof(vis), "w%d", rand_r(seed) %
		    EQ_LIVE_VISITORS);
	else
		snprintf(vis, sizeof(vis), "v%d", rand_r(seed) % EQ_VISITORS);
	if (k < 60) {
		/* Not eq_op()'s beat sids, which any visitor uses. */
		i = rand_r(seed) % EQ_BEATS;
		snprintf(sid, sizeof(sid), "b9%014d", i);
		snprintf(vis, sizeof(vis), "v%d", i);
		op_join(op, sid, page, vis);
		op->kind = HN_OP_BEAT;
	} else if (k < 500 || joined == 0) {
		snprintf(sid, sizeof(sid), "t%07u", next++);
		op_join(op, sid, page, vis);
		i = (int)(joined++ % EQ_RING);
		memcpy(ring[i].sid, sid, sizeof(sid));
		memcpy(ring[i].vis, vis, sizeof(vis));
	} else {
		i = rand_r(seed) % (int)(joined < EQ_RING ? joined : EQ_RING);
		op_end(op, k < 960 ? HN_OP_LEAVE : HN_OP_DROP, ring[i].sid);
		snprintf(op->visitor, sizeof(op->visitor), "%s", ring[i].vis);
	}
}

/* The rows and counts of the database at path, owners left out (every
 * process has its own). */
static void
eq_dump(const char *path, char *out, size_t outsz)
{
	static const char *const sql[] = {
	    "SELECT group_concat(sid || ',' || page || ',' || visitor || ','"
	    " || created || ',' || ifnull(ended, '-') || ',' ||"
	    " ifnull(beat, '-') || ',' || (owner = ''), ' ')"
	    " FROM (SELECT * FROM sessions ORDER BY sid)",
	    "SELECT group_concat(page || ',' || readers || ',' || tabs, ' ')"
	    " FROM (SELECT * FROM pages ORDER BY page)",
	    "SELECT readers FROM site",
	};
	sqlite3		*db = NULL;
	sqlite3_stmt	*st;
	size_t		 i, len = 0;

	out[0] = '\0';
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	for (i = 0; i < LEN(sql); i++) {
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql[i], -1, &st,
		    NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		len += (size_t)snprintf(out + len, outsz - len, "%s\n",
		    sqlite3_column_text(st, 0) ? (const char *)
		    sqlite3_column_text(st, 0) : "");
		ck_assert_uint_lt(len, outsz);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

/*
 * hn_store_apply() runs a batch's joins and leaves a segment at a time
 * (NOTES in store.c), reordered; the outcome must be the ops' one by one.
 * The same random ops go to one database a batch per op and to another
 * in batches of random sizes.
 */
START_TEST(test_batch_as_one_by_one)
{
	static char	 a[1 << 18], b[1 << 18];
	struct hn_store	*one, *many;
	struct hn_op	 ops[EQ_OPS];
	char		 path[PATH_MAX + 16];
	unsigned	 seed = 7;
	size_t		 i, k, len, n;
	int64_t		 now;
	int		 round;
	bool		 wide, limit;

	snprintf(path, sizeof(path), "%s/many.db", tmpdir);
	one = open_writer(STALE, EQ_GRACE, T0);
	many = hn_store_open(path, HN_STORE_WRITER, STALE, EQ_GRACE, T0, a,
	    sizeof(a));
	ck_assert_msg(many != NULL, "%s", a);
	for (round = 0; round < EQ_ROUNDS; round++) {
		now = T0 + round * 700;
		wide = round % 3 == 2;
		n = wide ? EQ_OPS : EQ_OPS / 4;
		/* Refusals must be the same one by one and in a batch. */
		limit = round % 4 >= 2;
		hn_store_set_limits(one, limit ? EQ_LIMIT : 0);
		hn_store_set_limits(many, limit ? EQ_LIMIT : 0);
		/* A large batch goes in parts: small ones here, some rounds. */
		hn_store_set_part(many, round % 5 == 1 ? EQ_PART : 0);
		/* Expiry first: one by one it would run before the second
		 * op, in a batch after the last. */
		tick(one, false, now);
		tick(many, false, now);
		for (i = 0; i < n; i++)
			if (limit)
				eq_op_live(&ops[i], &seed, wide);
			else
				eq_op(&ops[i], &seed, wide);
		for (i = 0; i < n; i++)
			ck_assert_int_ge(hn_store_apply(one, &ops[i], 1, false,
			    now), 0);
		for (k = 0; k < n; k += len) {
			len = 1 + (size_t)rand_r(&seed) % (round % 2 ? 40 : n);
			if (len > n - k)
				len = n - k;
			ck_assert_int_ge(hn_store_apply(many, ops + k, len,
			    false, now), 0);
		}
		eq_dump(dbpath, a, sizeof(a));
		eq_dump(path, b, sizeof(b));
		/* Shown from a little before where they part. */
		for (i = 0; a[i] != '\0' && a[i] == b[i]; i++)
			;
		i = i > 40 ? i - 40 : 0;
		ck_assert_msg(strcmp(a, b) == 0, "round %d: one by one "
		    "\"%.120s\", in batches \"%.120s\"", round, a + i, b + i);
		ck_consistent_at(dbpath);
		ck_consistent_at(path);
	}
	ck_consistent();
	hn_store_close(many);
	hn_store_close(one);
}
END_TEST

/* ---- owners and the reaper (one process, fake clock) ------------------- */

START_TEST(test_stale_owner)
{
	struct hn_store	*a, *b;
	char		 owner[HN_OWNER_LEN + 1];

	a = open_writer(500, GRACE, T0);
	b = open_writer(500, GRACE, T0);
	snprintf(owner, sizeof(owner), "%s", hn_store_owner(a));
	join(a, "a1", "/a", "v1", T0);
	join(a, "a2", "/a", "v2", T0);
	join(b, "b1", "/a", "v3", T0);
	ck_counts(b, "/a", 3, 3, 3);

	/* A beat keeps a's row young; a join without beat does not. */
	tick(a, true, T0 + 400);
	join(a, "a3", "/b", "v1", T0 + 450);
	ck_assert_int_eq(sql_int("SELECT max(beat) FROM owners"), T0 + 400);
	ck_assert_int_eq(sql_int("SELECT min(beat) FROM owners"), T0);
	/* 1 ms short of a's beat + stale_after: kept. */
	tick(b, true, T0 + 899);
	ck_counts(b, "/a", 3, 3, 3);
	ck_assert_int_eq(owner_rows(owner), 1);
	/* now >= beat + stale_after: reaped, sessions at once, no grace. */
	ck_assert_int_eq(tick(b, true, T0 + 400 + 500), 2);
	ck_counts(b, "/a", 1, 1, 1);
	ck_counts(b, "/b", 0, 0, 1);
	ck_assert_int_eq(owner_rows(owner), 0);
	ck_assert_int_eq(owner_sessions(owner), 0);
	ck_assert_int_eq(owner_rows(hn_store_owner(b)), 1);
	ck_consistent();

	/* The reaped writer's next beat registers it again. */
	tick(a, true, T0 + 1000);
	ck_assert_int_eq(owner_rows(owner), 1);
	join(a, "a4", "/a", "v4", T0 + 1000);
	/* Without a beat nobody is reaped, however late. */
	tick(b, false, T0 + 100000);
	ck_counts(b, "/a", 2, 2, 2);
	hn_store_close(a);
	ck_counts(b, "/a", 1, 1, 1);
	hn_store_close(b);
}
END_TEST

/*
 * A writer that was reaped while stalled and then joins without a beat
 * owns sessions with no owner row.  If it then dies, nothing may keep
 * them forever (DESIGN §5: no ghost readers after stale_after).
 *
 * KNOWN BUG, not fixed in store.c yet: the reaper only deletes sessions
 * of owner rows that exist, so these stay for good.  Built and run with
 * -DHN_TEST_KNOWN_BUGS until the fix is chosen.
 */
#ifdef HN_TEST_KNOWN_BUGS
START_TEST(test_orphan_sessions)
{
	struct hn_store	*b;
	int		 up[2], down[2], status;
	char		 c;
	pid_t		 pid;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	if ((pid = fork()) == 0) {
		struct hn_store	*a;
		char		 err[256];

		close(up[0]);
		close(down[1]);
		a = hn_store_open(dbpath, HN_STORE_WRITER, 500, GRACE, T0,
		    err, sizeof(err));
		if (a == NULL || hn_store_apply(a, NULL, 0, false, T0) < 0)
			_exit(2);
		if (write_full(up[1], "1", 1) < 0)
			_exit(3);
		child_wait(down[0]);
		{
			struct hn_op	 op;

			op_join(&op, "a1", "/a", "v1");
			if (hn_store_apply(a, &op, 1, false, T0 + 2001) != 1)
				_exit(4);
		}
		_exit(0);	/* dies without closing */
	}
	ck_assert_int_gt(pid, 0);
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read_full(up[0], &c, 1, WAIT_MS), 0);
	b = open_writer(500, GRACE, T0);
	tick(b, true, T0 + 2000);		/* a is reaped */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 1);
	ck_assert_int_eq(write_full(down[1], "g", 1), 0);
	reap_child(pid, &status);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_counts(b, "/a", 1, 1, 1);

	tick(b, true, T0 + 2001 + 500 + 10000);
	ck_counts(b, "/a", 0, 0, 0);
	hn_store_close(b);
	close(up[0]);
	close(down[1]);
}
END_TEST
#endif /* HN_TEST_KNOWN_BUGS */

/* ---- several processes ------------------------------------------------- */

/*
 * lighttpd starts max-procs processes at once; on the first start they
 * all find a new, empty file.  Every one must open it (one migrates, the
 * others wait), readers and writers alike.
 */
#define OT_ROUNDS	25
#define OT_PROCS	8

START_TEST(test_open_together)
{
	char		 path[PATH_MAX + 16];
	pid_t		 pid[OT_PROCS];
	int		 start[2], round, c, status, failed = 0;

	for (round = 0; round < OT_ROUNDS; round++) {
		snprintf(path, sizeof(path), "%s/r%d.db", tmpdir, round);
		ck_assert_int_eq(pipe(start), 0);
		for (c = 0; c < OT_PROCS; c++) {
			if ((pid[c] = fork()) == 0) {
				struct hn_store	*s;
				struct hn_op	 op;
				char		 err[256], sid[32];

				close(start[1]);
				child_wait(start[0]);
				s = hn_store_open(path, c % 2 ? 0 :
				    HN_STORE_WRITER, STALE, GRACE, hn_now_ms(),
				    err, sizeof(err));
				if (s == NULL) {
					fprintf(stderr, "round %d child %d: "
					    "%s\n", round, c, err);
					_exit(1);
				}
				snprintf(sid, sizeof(sid), "s%d", c);
				op_join(&op, sid, "/", sid);
				if (c % 2 == 0 &&
				    apply_retry(s, &op, 1, false, hn_now_ms())
				    < 0)
					_exit(2);
				_exit(0);	/* no close: keep the rows */
			}
			ck_assert_int_gt(pid[c], 0);
		}
		close(start[0]);
		close(start[1]);
		for (c = 0; c < OT_PROCS; c++) {
			reap_child(pid[c], &status);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
		ck_assert_msg(failed == 0, "round %d: %d of %d opens failed",
		    round, failed, OT_PROCS);
	}
	/* The last round's file: one schema, every writer counted. */
	ck_assert_uint_lt(strlen(path), sizeof(dbpath));
	memcpy(dbpath, path, strlen(path) + 1);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), HN_STORE_SCHEMA);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM site"), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), OT_PROCS / 2);
	ck_assert_int_eq(sql_int("SELECT tabs FROM pages WHERE page = '/'"),
	    OT_PROCS / 2);
}
END_TEST

#define MP_PROCS	4
#define MP_JOINS	200
#define MP_PAGES	10
#define MP_VISITORS	17
#define MP_LAG		6		/* joins between a join and its end */
#define MP_GRACE	3600000		/* no leave expires during the run */
#define MP_OPS		(2 * MP_JOINS)

/*
 * Child c's i-th session.  Visitor k of child c is always on page
 * (k + c) % MP_PAGES, so (page, visitor) pairs of two children never meet
 * (takeovers stay inside one child and the outcome does not depend on how
 * the children interleave), while pages hold visitors of every child and
 * a visitor is on a page in every child (site counts distinct visitors
 * across processes).  Fate: 0 stays, 1 leaves, 2 is dropped.
 */
static void
mp_session(int c, int i, char *sid, char *page, char *vis, int *fate)
{
	int	 k = (i * 3) % MP_VISITORS;

	snprintf(sid, HN_SID_LEN + 1, "%08x%08x", (unsigned)c, (unsigned)i);
	snprintf(page, HN_PAGE_MAX + 1, "/mp/%d", (k + c) % MP_PAGES);
	snprintf(vis, HN_VISITOR_MAX + 2, "v%d", k);
	*fate = (i & 1) ? 1 : (i % 4 == 0) ? 2 : 0;
}

/* Child c's whole op stream, in order: 200 joins, 100 leaves, 50 drops. */
static size_t
mp_ops(int c, struct hn_op *ops)
{
	char		 sid[HN_SID_LEN + 1], page[HN_PAGE_MAX + 1];
	char		 vis[HN_VISITOR_MAX + 2];
	size_t		 n = 0;
	int		 i, j, fate;

	for (i = 0; i < MP_JOINS + MP_LAG; i++) {
		if (i < MP_JOINS) {
			mp_session(c, i, sid, page, vis, &fate);
			op_join(&ops[n++], sid, page, vis);
		}
		if ((j = i - MP_LAG) < 0)
			continue;
		mp_session(c, j, sid, page, vis, &fate);
		if (fate != 0)
			op_end(&ops[n++], fate == 1 ? HN_OP_LEAVE : HN_OP_DROP,
			    sid);
	}
	return n;
}

struct mp_row {
	bool	 used;
	bool	 ended;
	int	 page;
	int	 visitor;
};

/*
 * Plays every child's stream on a model of the table and derives the
 * counts the store must show: per page readers and tabs, and the site,
 * with leaving sessions (expired: false) or without them (true).
 */
static int
mp_expect(bool expired, long readers[MP_PAGES], long tabs[MP_PAGES],
    long *site)
{
	static struct mp_row	 rows[MP_PROCS][MP_JOINS];
	static struct hn_op	 ops[MP_OPS];
	bool			 vseen[MP_VISITORS], pv[MP_PAGES][MP_VISITORS];
	size_t			 n, k;
	int			 c, i, j, p, v, takeovers = 0;

	memset(rows, 0, sizeof(rows));
	for (c = 0; c < MP_PROCS; c++) {
		n = mp_ops(c, ops);
		for (k = 0; k < n; k++) {
			i = (int)strtol(ops[k].sid + 8, NULL, 16);
			if (ops[k].kind == HN_OP_JOIN) {
				p = atoi(ops[k].page + 4);
				v = atoi(ops[k].visitor + 1);
				for (j = 0; j < MP_JOINS; j++)
					if (rows[c][j].used &&
					    rows[c][j].ended &&
					    rows[c][j].page == p &&
					    rows[c][j].visitor == v) {
						rows[c][j].used = false;
						takeovers++;
						break;
					}
				rows[c][i] = (struct mp_row){ true, false, p,
				    v };
			} else if (ops[k].kind == HN_OP_LEAVE)
				rows[c][i].ended = rows[c][i].used;
			else
				rows[c][i].used = false;
		}
	}
	memset(vseen, 0, sizeof(vseen));
	memset(pv, 0, sizeof(pv));
	memset(tabs, 0, MP_PAGES * sizeof(tabs[0]));
	for (c = 0; c < MP_PROCS; c++)
		for (i = 0; i < MP_JOINS; i++) {
			if (!rows[c][i].used || (expired && rows[c][i].ended))
				continue;
			tabs[rows[c][i].page]++;
			pv[rows[c][i].page][rows[c][i].visitor] = true;
			vseen[rows[c][i].visitor] = true;
		}
	*site = 0;
	for (v = 0; v < MP_VISITORS; v++)
		*site += vseen[v];
	for (p = 0; p < MP_PAGES; p++) {
		readers[p] = 0;
		for (v = 0; v < MP_VISITORS; v++)
			readers[p] += pv[p][v];
	}
	return takeovers;
}

struct mp_result {
	int	 status;	/* 0 ok, else the step that failed */
	int	 retries;	/* HN_EDB answers retried */
	int	 batches;
};

static void
mp_child(int c, int start, int up, int go)
{
	static struct hn_op	 ops[MP_OPS];
	static const size_t	 sizes[] = { 1, 3, 7, 2, 16, 5, 31, 4, 1, 9 };
	struct mp_result	 res = { 0, 0, 0 };
	struct hn_store		*s;
	char			 err[256];
	size_t			 n, k, b, len;
	int			 r;

	child_wait(start);
	s = hn_store_open(dbpath, HN_STORE_WRITER, 3600000, MP_GRACE,
	    hn_now_ms(), err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "child %d: %s\n", c, err);
		res.status = 1;
		goto out;
	}
	n = mp_ops(c, ops);
	for (k = 0, b = (size_t)c; k < n; k += len, b++) {
		len = sizes[b % LEN(sizes)];
		if (len > n - k)
			len = n - k;
		r = apply_retry(s, ops + k, len, b % 3 == 0, hn_now_ms());
		if (r < 0) {
			res.status = 2;
			goto out;
		}
		res.retries += r;
		res.batches++;
	}
out:
	if (write_full(up, &res, sizeof(res)) < 0)
		_exit(3);
	child_wait(go);			/* hold the sessions until told */
	hn_store_close(s);
	_exit(res.status);
}

static void
mp_check(struct hn_store *r, bool expired)
{
	long		 readers[MP_PAGES], tabs[MP_PAGES], site;
	struct seen	 sn;
	uint64_t	 seq = 0;
	long		 ssite = -1;
	char		 page[32];
	int		 p, i;

	mp_expect(expired, readers, tabs, &site);
	ck_assert_int_gt(site, 1);
	for (p = 0; p < MP_PAGES; p++) {
		snprintf(page, sizeof(page), "/mp/%d", p);
		ck_counts(r, page, readers[p], tabs[p], site);
	}
	ck_assert_int_eq(changes(r, &seq, &ssite, &sn), MP_PAGES);
	ck_assert_int_eq(ssite, site);
	for (p = 0; p < MP_PAGES; p++) {
		snprintf(page, sizeof(page), "/mp/%d", p);
		ck_assert_int_ge(i = seen_find(&sn, page), 0);
		ck_assert_int_eq(sn.readers[i], readers[p]);
		ck_assert_int_eq(sn.tabs[i], tabs[p]);
	}
	ck_consistent();
}

START_TEST(test_processes)
{
	struct mp_result	 res;
	struct hn_store		*r, *w;
	pid_t			 pid[MP_PROCS];
	int			 start[2], go[2], up[MP_PROCS][2];
	int			 c, p, status, retries = 0;
	long			 readers[MP_PAGES], tabs[MP_PAGES], site, sum;

	/* The model itself is not trivial: leaves, takeovers, sharing. */
	ck_assert_int_gt(mp_expect(false, readers, tabs, &site), 0);
	ck_assert_int_eq(site, MP_VISITORS);
	mp_expect(true, readers, tabs, &site);
	for (p = 0, sum = 0; p < MP_PAGES; p++)
		sum += tabs[p];
	ck_assert_int_eq(sum, MP_PROCS * MP_JOINS / 4);	/* those that stay */

	/* The children create the database themselves, all at once. */
	ck_assert_int_eq(pipe(start), 0);
	ck_assert_int_eq(pipe(go), 0);
	for (c = 0; c < MP_PROCS; c++) {
		ck_assert_int_eq(pipe(up[c]), 0);
		if ((pid[c] = fork()) == 0) {
			close(start[1]);
			close(go[1]);
			close(up[c][0]);
			mp_child(c, start[0], up[c][1], go[0]);
		}
		ck_assert_int_gt(pid[c], 0);
		close(up[c][1]);
	}
	close(start[0]);
	close(go[0]);
	close(start[1]);			/* off they go */
	for (c = 0; c < MP_PROCS; c++) {
		ck_assert_msg(read_full(up[c][0], &res, sizeof(res),
		    WAIT_MS * 2) == 0, "child %d did not report", c);
		ck_assert_msg(res.status == 0, "child %d failed at step %d",
		    c, res.status);
		ck_assert_int_gt(res.batches, 0);
		retries += res.retries;
	}

	/* Every child is done and still holds its sessions. */
	r = open_reader();
	ck_assert_int_eq(sql_int("PRAGMA user_version"), HN_STORE_SCHEMA);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM site"), 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), MP_PROCS);
	mp_check(r, false);

	/* The grace runs out for every leaving session at once. */
	w = open_writer(3600000, MP_GRACE, hn_now_ms() + MP_GRACE + 1000);
	tick(w, false, hn_now_ms() + MP_GRACE + 1000);
	mp_check(r, true);
	hn_store_close(w);
	hn_store_close(r);

	/* Each child closes: its sessions and owner row go at once. */
	close(go[1]);
	for (c = 0; c < MP_PROCS; c++) {
		reap_child(pid[c], &status);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %d", c, status);
		close(up[c][0]);
	}
	r = open_reader();
	ck_counts(r, "/mp/0", 0, 0, 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 0);
	ck_assert_int_eq(sql_int("SELECT sum(tabs) FROM pages"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM pages"), MP_PAGES);
	ck_assert_int_eq(sql_int("SELECT peak FROM site"), MP_VISITORS);
	hn_store_close(r);
	if (retries > 0)
		fprintf(stderr, "test_processes: %d busy batches retried\n",
		    retries);
}
END_TEST

/*
 * A writer killed with SIGKILL says no goodbye: its sessions stay until
 * another writer's beat finds its row silent for stale_after.  Real time.
 */
START_TEST(test_sigkill)
{
	struct hn_store	*b;
	char		 owner[HN_OWNER_LEN + 1], sql[128];
	int		 up[2], status;
	int64_t		 beat, now, until;
	bool		 before = false;
	pid_t		 pid;

	ck_assert_int_eq(pipe(up), 0);
	if ((pid = fork()) == 0) {
		struct hn_store	*a;
		struct hn_op	 ops[5];
		char		 err[256], sid[16], vis[16];
		int		 i;

		close(up[0]);
		a = hn_store_open(dbpath, HN_STORE_WRITER, 1000, GRACE,
		    hn_now_ms(), err, sizeof(err));
		if (a == NULL)
			_exit(2);
		for (i = 0; i < 5; i++) {
			snprintf(sid, sizeof(sid), "k%d", i);
			snprintf(vis, sizeof(vis), "v%d", i % 4);
			op_join(&ops[i], sid, "/k", vis);
		}
		if (apply_retry(a, ops, 5, true, hn_now_ms()) < 0)
			_exit(3);
		if (write_full(up[1], hn_store_owner(a), HN_OWNER_LEN) < 0)
			_exit(4);
		for (;;)
			pause();
	}
	ck_assert_int_gt(pid, 0);
	close(up[1]);
	ck_assert_int_eq(read_full(up[0], owner, HN_OWNER_LEN, WAIT_MS), 0);
	owner[HN_OWNER_LEN] = '\0';
	close(up[0]);

	b = open_writer(1000, GRACE, hn_now_ms());
	ck_counts(b, "/k", 4, 5, 4);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	reap_child(pid, &status);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	snprintf(sql, sizeof(sql), "SELECT beat FROM owners WHERE id = '%s'",
	    owner);
	ck_assert_int_gt(beat = sql_int(sql), 0);
	until = hn_mono_ms() + 1000 + WAIT_MS;
	for (;;) {
		ck_assert_msg(hn_mono_ms() < until, "never reaped");
		now = hn_now_ms();
		tick(b, true, now);
		if (now < beat + 1000) {
			ck_counts(b, "/k", 4, 5, 4);
			ck_assert_int_eq(owner_rows(owner), 1);
			before = true;
		} else {
			/* The first beat at or after the deadline reaps. */
			ck_counts(b, "/k", 0, 0, 0);
			ck_assert_int_eq(owner_rows(owner), 0);
			ck_assert_int_eq(owner_sessions(owner), 0);
			break;
		}
		usleep(10000);
	}
	ck_assert_msg(before, "the first check came after stale_after");
	ck_assert_int_eq(owner_rows(hn_store_owner(b)), 1);
	ck_consistent();
	hn_store_close(b);
}
END_TEST

/* A writer closing takes its sessions with it, no grace, no reaper. */
START_TEST(test_close)
{
	struct hn_store	*p, *r;
	struct seen	 sn;
	char		 owner[HN_OWNER_LEN + 1];
	int		 up[2], go[2], status;
	uint64_t	 seq = 0;
	long		 site;
	pid_t		 pid;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(go), 0);
	if ((pid = fork()) == 0) {
		struct hn_store	*a;
		struct hn_op	 ops[4];
		char		 err[256];

		close(up[0]);
		close(go[1]);
		a = hn_store_open(dbpath, HN_STORE_WRITER, STALE, GRACE,
		    hn_now_ms(), err, sizeof(err));
		if (a == NULL)
			_exit(2);
		op_join(&ops[0], "c1", "/a", "c1");
		op_join(&ops[1], "c2", "/a", "c2");
		op_join(&ops[2], "c3", "/a", "x");
		op_join(&ops[3], "c4", "/c", "c1");
		if (apply_retry(a, ops, 4, true, hn_now_ms()) < 0)
			_exit(3);
		/* One of them leaving: in grace, it goes at close too. */
		op_end(&ops[0], HN_OP_LEAVE, "c2");
		if (apply_retry(a, ops, 1, false, hn_now_ms()) < 0)
			_exit(4);
		if (write_full(up[1], hn_store_owner(a), HN_OWNER_LEN) < 0)
			_exit(5);
		child_wait(go[0]);
		hn_store_close(a);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(up[1]);
	close(go[0]);
	ck_assert_int_eq(read_full(up[0], owner, HN_OWNER_LEN, WAIT_MS), 0);
	owner[HN_OWNER_LEN] = '\0';

	p = open_writer(STALE, GRACE, hn_now_ms());
	join(p, "p1", "/a", "p1", hn_now_ms());
	join(p, "p2", "/a", "x", hn_now_ms());
	r = open_reader();
	ck_counts(r, "/a", 4, 5, 4);
	ck_counts(r, "/c", 1, 1, 4);
	ck_assert_int_eq(owner_rows(owner), 1);
	ck_assert_int_eq(owner_sessions(owner), 4);
	changes(r, &seq, &site, &sn);
	ck_assert_int_ge(hn_store_changed(r), 0);
	ck_assert_int_eq(hn_store_changed(r), 0);

	ck_assert_int_eq(write_full(go[1], "g", 1), 0);
	reap_child(pid, &status);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Seen at once by the others, without any tick of theirs. */
	ck_assert_int_eq(hn_store_changed(r), 1);
	ck_assert_int_eq(changes(r, &seq, &site, &sn), 2);
	ck_assert_int_eq(site, 2);
	ck_assert_int_ge(seen_find(&sn, "/c"), 0);
	ck_assert_int_eq(sn.tabs[seen_find(&sn, "/c")], 0);
	ck_counts(r, "/a", 2, 2, 2);
	ck_counts(p, "/c", 0, 0, 2);
	ck_assert_int_eq(owner_rows(owner), 0);
	ck_assert_int_eq(owner_sessions(owner), 0);
	ck_consistent();

	/* The same in one process: the other writer's close. */
	hn_store_close(p);
	ck_assert_int_eq(hn_store_changed(r), 1);
	ck_counts(r, "/a", 0, 0, 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM owners"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sessions"), 0);
	hn_store_close(r);
	close(up[0]);
	close(go[1]);
}
END_TEST

/*
 * max_sessions_per_visitor: counted inside the write transaction, over
 * every writer's sessions, with what the batch itself adds; a refused op
 * is left out and changes nothing.
 */
START_TEST(test_visitor_limit)
{
	struct hn_store	*w1, *w2;
	struct hn_op	 ops[6];
	int		 i;

	w1 = open_writer(STALE, GRACE, T0);
	w2 = open_writer(STALE, GRACE, T0);
	hn_store_set_limits(w1, 2);
	hn_store_set_limits(w2, 2);
	/* One batch: the third session of v is refused, w is not. */
	op_join(&ops[0], "a1", "/p", "v");
	op_join(&ops[1], "a2", "/q", "v");
	op_join(&ops[2], "a3", "/p", "v");
	op_join(&ops[3], "a4", "/p", "w");
	ck_assert_int_ge(hn_store_apply(w1, ops, 4, false, T0), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(hn_store_refused(w1, i), i == 2);
	ck_assert_int_eq(hn_store_refused(w1, 4), false);
	ck_counts(w1, "/p", 2, 2, 2);
	ck_assert_int_eq(hn_store_visitor_live(w1, "v", NULL), 2);
	ck_assert_int_eq(hn_store_visitor_live(w1, "v", "a1"), 1);
	/* Another writer sees them. */
	join(w2, "b1", "/r", "v", T0 + 1);
	ck_assert(hn_store_refused(w2, 0));
	ck_counts(w2, "/r", 0, 0, 2);
	/* A session that left makes room (a page change, a reload). */
	op_end(&ops[0], HN_OP_LEAVE, "a2");
	snprintf(ops[0].visitor, sizeof(ops[0].visitor), "v");
	op_join(&ops[1], "a5", "/r", "v");
	ck_assert_int_ge(hn_store_apply(w1, ops, 2, false, T0 + 2), 0);
	ck_assert(!hn_store_refused(w1, 1));
	ck_counts(w1, "/r", 1, 1, 2);
	/* A beat's new session counts, its refresh does not. */
	memset(&ops[0], 0, sizeof(ops[0]));
	ops[0].kind = HN_OP_BEAT;
	snprintf(ops[0].sid, sizeof(ops[0].sid), "b%015d", 1);
	snprintf(ops[0].page, sizeof(ops[0].page), "/p");
	snprintf(ops[0].visitor, sizeof(ops[0].visitor), "x");
	ck_assert_int_ge(hn_store_apply(w2, ops, 1, false, T0 + 3), 0);
	ck_assert(!hn_store_refused(w2, 0));
	hn_store_set_limits(w2, 1);
	ck_assert_int_ge(hn_store_apply(w2, ops, 1, false, T0 + 4), 0);
	ck_assert(!hn_store_refused(w2, 0));
	snprintf(ops[0].sid, sizeof(ops[0].sid), "b%015d", 2);
	ck_assert_int_ge(hn_store_apply(w2, ops, 1, false, T0 + 5), 0);
	ck_assert(hn_store_refused(w2, 0));
	ck_assert_int_eq(hn_store_visitor_live(w2, "x", NULL), 1);
	/* Anonymous visitors and no limit at all. */
	for (i = 0; i < 3; i++)
		op_join(&ops[i], i == 0 ? "c1" : i == 1 ? "c2" : "c3", "/s",
		    "~c");
	ck_assert_int_ge(hn_store_apply(w2, ops, 3, false, T0 + 6), 0);
	for (i = 0; i < 3; i++)
		ck_assert(!hn_store_refused(w2, i));
	hn_store_set_limits(w1, 0);
	join(w1, "a6", "/s", "v", T0 + 7);
	ck_assert(!hn_store_refused(w1, 0));
	ck_assert_int_eq(hn_store_visitor_live(w1, "v", NULL), 3);
	/* A session joined and left within one batch makes room too. */
	hn_store_set_limits(w2, 2);
	op_join(&ops[0], "d1", "/t", "y");
	op_join(&ops[1], "d2", "/t", "y");
	op_end(&ops[2], HN_OP_LEAVE, "d1");
	snprintf(ops[2].visitor, sizeof(ops[2].visitor), "y");
	op_join(&ops[3], "d3", "/u", "y");
	ck_assert_int_ge(hn_store_apply(w2, ops, 4, false, T0 + 8), 0);
	for (i = 0; i < 4; i++)
		ck_assert(!hn_store_refused(w2, i));
	ck_assert_int_eq(hn_store_visitor_live(w2, "y", NULL), 2);
	/* A page change drops its session at once: room for the new page's
	 * join in the same batch.  A leave that comes twice makes room
	 * once. */
	op_end(&ops[0], HN_OP_DROP, "d2");
	op_join(&ops[1], "d4", "/v", "y");
	op_end(&ops[2], HN_OP_LEAVE, "d3");
	op_end(&ops[3], HN_OP_LEAVE, "d3");
	op_join(&ops[4], "d5", "/v", "y");
	op_join(&ops[5], "d6", "/v", "y");
	for (i = 0; i < 4; i++)
		if (ops[i].kind != HN_OP_JOIN)
			snprintf(ops[i].visitor, sizeof(ops[i].visitor), "y");
	ck_assert_int_ge(hn_store_apply(w2, ops, 6, false, T0 + 9), 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(hn_store_refused(w2, i), i == 5);
	ck_assert_int_eq(hn_store_visitor_live(w2, "y", NULL), 2);
	hn_store_close(w2);
	hn_store_close(w1);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc;

	tc = tcase_create("schema");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_schema);
	tcase_add_test(tc, test_open_again);
	tcase_add_test(tc, test_open_newer_schema);
	tcase_add_test(tc, test_migrate_from_4);
	tcase_add_test(tc, test_migrate_from_6);
	suite_add_tcase(s, tc);

	tc = tcase_create("counts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_peaks);
	tcase_add_test(tc, test_failed_op);
	tcase_add_test(tc, test_leave_grace);
	tcase_add_test(tc, test_expiry_owner);
	tcase_add_test(tc, test_takeover);
	tcase_add_test(tc, test_next_expiry);
	tcase_add_test(tc, test_beat_sessions);
	tcase_add_test(tc, test_stats_and_samples);
	tcase_add_test(tc, test_changes_incremental);
	tcase_add_test(tc, test_changed);
	tcase_add_test(tc, test_batch_as_one_by_one);
	tcase_add_test(tc, test_stale_owner);
	tcase_add_test(tc, test_visitor_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("processes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
#ifdef HN_TEST_KNOWN_BUGS
	tcase_add_test(tc, test_orphan_sessions);
#endif
	tcase_add_test(tc, test_open_together);
	tcase_add_test(tc, test_processes);
	tcase_add_test(tc, test_sigkill);
	tcase_add_test(tc, test_close);
	suite_add_tcase(s, tc);
	return s;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

int
main(void)
{
	const char	*tmp;
	int		 rc;

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(basedir, sizeof(basedir), "%s/check_store.XXXXXX", tmp);
	if (mkdtemp(basedir) == NULL) {
		perror(basedir);
		return EXIT_FAILURE;
	}
	rc = hn_check_run(store_suite());
	nftw(basedir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
