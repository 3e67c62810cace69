/*
 * The session table in SQLite, shared by every herenow process on the
 * machine (DESIGN §5).  The only file that includes sqlite3.h.  A writer
 * store is used by one thread (the store thread); readers by one thread
 * each.
 *
 * NOTES: counts are derived, never incremented.  Every write transaction
 * recomputes readers/tabs of the pages it touched from the sessions rows
 * and stamps them with a new sequence number, so a process that crashed
 * half-way or two processes writing at once can never leave a count that
 * disagrees with the rows.  Other processes find what changed with
 * "pages WHERE seq > last seen": O(changed pages), not O(sessions).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hn.h"

#define STORE_SCHEMA_VERSION	HN_STORE_SCHEMA
#define STORE_BUSY_MS		2000

/* Schema migrations: index i brings user_version i to i + 1. */
static const char *const store_migrations[HN_STORE_SCHEMA] = {
	"CREATE TABLE owners("
	"  id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL,"
	"  started INTEGER NOT NULL, beat INTEGER NOT NULL);"
	"CREATE INDEX owners_beat ON owners(beat);"
	"CREATE TABLE sessions("
	"  sid TEXT PRIMARY KEY, owner TEXT NOT NULL, page TEXT NOT NULL,"
	"  visitor TEXT NOT NULL, created INTEGER NOT NULL, ended INTEGER);"
	"CREATE INDEX sessions_page ON sessions(page, visitor);"
	"CREATE INDEX sessions_owner ON sessions(owner);"
	"CREATE INDEX sessions_visitor ON sessions(visitor);"
	"CREATE INDEX sessions_ended ON sessions(ended)"
	"  WHERE ended IS NOT NULL;"
	"CREATE TABLE pages("
	"  page TEXT PRIMARY KEY, readers INTEGER NOT NULL DEFAULT 0,"
	"  tabs INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0,"
	"  peak INTEGER NOT NULL DEFAULT 0, peak_at INTEGER);"
	"CREATE INDEX pages_seq ON pages(seq);"
	"CREATE TABLE site("
	"  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
	"  readers INTEGER NOT NULL, peak INTEGER NOT NULL, peak_at INTEGER);"
	"INSERT INTO site VALUES (1, 0, 0, 0, NULL);",
	/* 2: polling clients' sessions (no owner; reaped by age) */
	"ALTER TABLE sessions ADD COLUMN beat INTEGER;"
	"CREATE INDEX sessions_beat ON sessions(beat)"
	"  WHERE beat IS NOT NULL;",
	/* 3: a sample of the site a minute, for the owner's charts */
	"CREATE TABLE samples("
	"  minute INTEGER PRIMARY KEY, site INTEGER NOT NULL,"
	"  top TEXT NOT NULL);",
	/* 4: each process's metric series, summed by `metrics` */
	"CREATE TABLE series("
	"  owner TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,"
	"  PRIMARY KEY (owner, name)) WITHOUT ROWID;",
};

enum {
	ST_TAKEOVER,
	ST_INSERT,
	ST_LEAVE,
	ST_DROP,
	ST_EXPIRE,
	ST_BEAT,
	ST_REGISTER,
	ST_STALE_SESSIONS,
	ST_STALE_OWNERS,
	ST_TOUCH,
	ST_RECOUNT,
	ST_CLEAR_TOUCHED,
	ST_SITE,
	ST_NEXT_SEQ,
	ST_CHANGES,
	ST_SITE_READ,
	ST_COUNT,
	ST_NEXT_EXPIRY,
	ST_OWN_SESSIONS,
	ST_DEL_OWNER,
	ST_OWNED,
	ST_BEAT_FIND,
	ST_BEAT_REFRESH,
	ST_BEAT_STALE,
	ST_SAMPLE,
	ST_SAMPLE_PRUNE,
	ST_STATS_SITE,
	ST_STATS_PAGES,
	ST_STATS_SAMPLES,
	ST_SERIES_PUT,
	ST_SERIES_SUM,
	ST_SERIES_ORPHANS,
	ST_COUNT_
};

static const char *const store_sql[ST_COUNT_] = {
	[ST_TAKEOVER] =
	    "DELETE FROM sessions WHERE rowid = (SELECT rowid FROM sessions"
	    " WHERE page = ?1 AND visitor = ?2 AND ended IS NOT NULL LIMIT 1)"
	    " RETURNING page",
	[ST_INSERT] =
	    "INSERT INTO sessions(sid, owner, page, visitor, created, beat)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_LEAVE] =
	    "UPDATE sessions SET ended = ?2 WHERE sid = ?1 AND ended IS NULL"
	    " RETURNING page",
	[ST_DROP] = "DELETE FROM sessions WHERE sid = ?1 RETURNING page",
	[ST_EXPIRE] =
	    "DELETE FROM sessions WHERE ended IS NOT NULL AND ended <= ?1"
	    " RETURNING page",
	[ST_BEAT] = "UPDATE owners SET beat = ?2 WHERE id = ?1",
	[ST_REGISTER] =
	    "INSERT OR REPLACE INTO owners(id, pid, host, started, beat)"
	    " VALUES (?1, ?2, ?3, ?4, ?4)",
	[ST_STALE_SESSIONS] =
	    "DELETE FROM sessions WHERE owner IN"
	    " (SELECT id FROM owners WHERE beat <= ?1) RETURNING page",
	[ST_STALE_OWNERS] = "DELETE FROM owners WHERE beat <= ?1",
	[ST_TOUCH] = "INSERT OR IGNORE INTO temp.touched(page) VALUES (?1)",
	[ST_RECOUNT] =
	    "INSERT INTO pages(page, readers, tabs, seq, peak, peak_at)"
	    " SELECT t.page, count(DISTINCT s.visitor), count(s.sid), ?1,"
	    "  count(DISTINCT s.visitor), ?2"
	    " FROM temp.touched t LEFT JOIN sessions s ON s.page = t.page"
	    " WHERE 1 GROUP BY t.page"
	    " ON CONFLICT(page) DO UPDATE SET readers = excluded.readers,"
	    " tabs = excluded.tabs, seq = excluded.seq,"
	    " peak_at = CASE WHEN excluded.readers > peak THEN ?2"
	    "  ELSE peak_at END,"
	    " peak = max(peak, excluded.readers)",
	[ST_CLEAR_TOUCHED] = "DELETE FROM temp.touched",
	[ST_SITE] =
	    "UPDATE site SET seq = ?1, readers = r,"
	    " peak_at = CASE WHEN r > peak THEN ?2 ELSE peak_at END,"
	    " peak = max(peak, r)"
	    " FROM (SELECT count(DISTINCT visitor) AS r FROM sessions)"
	    " WHERE id = 1",
	[ST_NEXT_SEQ] = "SELECT seq + 1 FROM site WHERE id = 1",
	[ST_CHANGES] =
	    "SELECT page, readers, tabs FROM pages WHERE seq > ?1",
	[ST_SITE_READ] = "SELECT seq, readers FROM site WHERE id = 1",
	[ST_COUNT] = "SELECT readers, tabs FROM pages WHERE page = ?1",
	[ST_NEXT_EXPIRY] =
	    "SELECT min(ended) FROM sessions WHERE ended IS NOT NULL",
	[ST_OWN_SESSIONS] =
	    "DELETE FROM sessions WHERE owner = ?1 RETURNING page",
	[ST_DEL_OWNER] = "DELETE FROM owners WHERE id = ?1",
	[ST_OWNED] = "SELECT 1 FROM owners WHERE id = ?1",
	[ST_BEAT_FIND] =
	    "SELECT page FROM sessions WHERE sid = ?1 AND beat IS NOT NULL",
	[ST_BEAT_REFRESH] =
	    "UPDATE sessions SET beat = ?2, ended = NULL WHERE sid = ?1",
	[ST_SAMPLE] =
	    "INSERT OR REPLACE INTO samples(minute, site, top)"
	    " SELECT ?1, (SELECT readers FROM site WHERE id = 1),"
	    " (SELECT json_group_array(json_array(page, readers)) FROM"
	    "  (SELECT page, readers FROM pages WHERE readers > 0"
	    "   ORDER BY readers DESC, page LIMIT 5))",
	[ST_SAMPLE_PRUNE] = "DELETE FROM samples WHERE minute < ?1",
	[ST_STATS_SITE] =
	    "SELECT readers, peak, peak_at,"
	    " (SELECT count(*) FROM owners WHERE beat > ?1),"
	    " (SELECT count(*) FROM sessions) FROM site WHERE id = 1",
	[ST_STATS_PAGES] =
	    "SELECT page, readers, tabs, peak, peak_at FROM pages"
	    " ORDER BY readers DESC, peak DESC, page LIMIT ?1",
	[ST_STATS_SAMPLES] =
	    "SELECT minute, site, top FROM samples WHERE minute >= ?1"
	    " ORDER BY minute",
	[ST_SERIES_PUT] =
	    "INSERT OR REPLACE INTO series(owner, name, value)"
	    " VALUES (?1, ?2, ?3)",
	[ST_SERIES_SUM] =
	    "SELECT name, sum(value) FROM series WHERE owner IN"
	    " (SELECT id FROM owners) GROUP BY name",
	[ST_SERIES_ORPHANS] =
	    "DELETE FROM series WHERE owner NOT IN (SELECT id FROM owners)",
	[ST_BEAT_STALE] =
	    "DELETE FROM sessions WHERE beat IS NOT NULL AND beat <= ?1"
	    " RETURNING page",
};

struct hn_store {
	sqlite3		*db;
	sqlite3_stmt	*st[ST_COUNT_];
	bool		 writer;
	char		 owner[HN_OWNER_LEN + 1];
	int64_t		 stale_after_ms;
	int64_t		 leave_grace_ms;
	int64_t		 data_version;
	uint64_t	 reaped;
};

static int
store_exec(struct hn_store *s, const char *sql)
{
	char	*msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("%s: %s: %s", __func__, sql,
		    msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return HN_EDB;
	}
	return HN_OK;
}

/* Runs a prepared statement to its end, reporting each first column of a
 * RETURNING clause as a touched page.  Returns rows changed or HN_EDB. */
static int
store_step(struct hn_store *s, int which, bool touch)
{
	sqlite3_stmt	*st = s->st[which];
	int		 rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!touch)
			continue;
		sqlite3_stmt *t = s->st[ST_TOUCH];
		sqlite3_bind_text(t, 1, (const char *)sqlite3_column_text(st, 0),
		    -1, SQLITE_TRANSIENT);
		if (sqlite3_step(t) != SQLITE_DONE)
			log_warnx("%s: touch: %s", __func__,
			    sqlite3_errmsg(s->db));
		sqlite3_reset(t);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_warnx("%s: %s: %s", __func__, store_sql[which],
		    sqlite3_errmsg(s->db));
		sqlite3_clear_bindings(st);
		return HN_EDB;
	}
	sqlite3_clear_bindings(st);
	return sqlite3_changes(s->db);
}

static void
store_touch(struct hn_store *s, const char *page)
{
	sqlite3_stmt	*t = s->st[ST_TOUCH];

	sqlite3_bind_text(t, 1, page, -1, SQLITE_STATIC);
	if (sqlite3_step(t) != SQLITE_DONE)
		log_warnx("%s: %s", __func__, sqlite3_errmsg(s->db));
	sqlite3_reset(t);
	sqlite3_clear_bindings(t);
}

/* Brings the schema to STORE_SCHEMA_VERSION inside one write transaction,
 * so processes starting together migrate once. */
static int
store_migrate(struct hn_store *s, char *err, size_t errsz)
{
	sqlite3_stmt	*st;
	int		 v = -1;
	char		 sql[64];

	if (store_exec(s, "BEGIN IMMEDIATE") < 0) {
		snprintf(err, errsz, "cannot lock the database: %s",
		    sqlite3_errmsg(s->db));
		return HN_EDB;
	}
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v < 0 || v > STORE_SCHEMA_VERSION) {
		snprintf(err, errsz, v < 0 ? "cannot read the schema version" :
		    "database schema %d is newer than this herenow (%d)", v,
		    STORE_SCHEMA_VERSION);
		store_exec(s, "ROLLBACK");
		return HN_EDB;
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (store_exec(s, store_migrations[v]) < 0 ||
		    store_exec(s, sql) < 0) {
			snprintf(err, errsz, "migration to schema %d failed: "
			    "%s", v + 1, sqlite3_errmsg(s->db));
			store_exec(s, "ROLLBACK");
			return HN_EDB;
		}
	}
	if (store_exec(s, "COMMIT") < 0) {
		snprintf(err, errsz, "commit of the schema failed: %s",
		    sqlite3_errmsg(s->db));
		store_exec(s, "ROLLBACK");
		return HN_EDB;
	}
	return HN_OK;
}

/*
 * Turning a new file to WAL takes an exclusive lock without waiting on the
 * busy handler, so processes starting together on a fresh database
 * (lighttpd's max-procs) retry for as long as busy_timeout would wait.
 */
static int
store_wal(struct hn_store *s)
{
	int64_t	 until = hn_mono_ms() + STORE_BUSY_MS;
	int	 rc;

	while ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL,
	    NULL, NULL)) != SQLITE_OK) {
		if ((rc & 0xff) != SQLITE_BUSY || hn_mono_ms() >= until) {
			log_warnx("%s: %s", __func__, sqlite3_errmsg(s->db));
			return HN_EDB;
		}
		usleep(10 * 1000);
	}
	return HN_OK;
}

static int
store_register(struct hn_store *s, int64_t now)
{
	sqlite3_stmt	*st = s->st[ST_REGISTER];
	char		 host[256];

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, getpid());
	sqlite3_bind_text(st, 3, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now);
	return store_step(s, ST_REGISTER, false) < 0 ? HN_EDB : HN_OK;
}

struct hn_store *
hn_store_open(const char *path, int flags, int64_t stale_after_ms,
    int64_t leave_grace_ms, int64_t now, char *err, size_t errsz)
{
	struct hn_store	*s;
	int		 i;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	s->writer = (flags & HN_STORE_WRITER) != 0;
	s->stale_after_ms = stale_after_ms;
	s->leave_grace_ms = leave_grace_ms;
	s->data_version = -1;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : "cannot open");
		goto err;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	sqlite3_extended_result_codes(s->db, 1);
	if (store_wal(s) < 0 ||
	    store_exec(s, "PRAGMA synchronous = NORMAL") < 0 ||
	    store_exec(s, "PRAGMA temp_store = MEMORY") < 0) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		goto err;
	}
	if (store_migrate(s, err, errsz) < 0)
		goto err;
	if (store_exec(s, "CREATE TEMP TABLE touched(page TEXT PRIMARY KEY)")
	    < 0) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		goto err;
	}
	for (i = 0; i < ST_COUNT_; i++) {
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errsz, "%s: preparing statement %d: %s",
			    path, i, sqlite3_errmsg(s->db));
			goto err;
		}
	}
	if (s->writer) {
		if (hn_random_hex(s->owner, HN_OWNER_LEN) < 0) {
			snprintf(err, errsz, "no random numbers for the owner "
			    "id");
			goto err;
		}
		if (store_register(s, now) < 0) {
			snprintf(err, errsz, "%s: registering this process: %s",
			    path, sqlite3_errmsg(s->db));
			goto err;
		}
	}
	return s;
err:
	hn_store_close(s);
	return NULL;
}

/* Recomputes the touched pages and the site under a new sequence number.
 * Returns the number of pages touched or HN_EDB. */
static int
store_recount(struct hn_store *s, int64_t now)
{
	sqlite3_stmt	*st;
	int64_t		 seq = 0;
	int		 n;

	st = s->st[ST_NEXT_SEQ];
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (seq <= 0)
		return HN_EDB;
	st = s->st[ST_RECOUNT];
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, now);
	if ((n = store_step(s, ST_RECOUNT, false)) < 0)
		return HN_EDB;
	if (store_step(s, ST_CLEAR_TOUCHED, false) < 0)
		return HN_EDB;
	st = s->st[ST_SITE];
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, now);
	if (store_step(s, ST_SITE, false) < 0)
		return HN_EDB;
	return n;
}

/*
 * A new session of op's visitor on op's page: it takes over one of that
 * visitor's sessions still in grace there (a reload), then counts.  A
 * polling client's session (beat) has no owner and a beat time.
 */
static int
store_insert(struct hn_store *s, const struct hn_op *op, const char *owner,
    bool beat, int64_t now)
{
	sqlite3_stmt	*st;

	st = s->st[ST_TAKEOVER];
	sqlite3_bind_text(st, 1, op->page, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->visitor, -1, SQLITE_STATIC);
	if (store_step(s, ST_TAKEOVER, true) < 0)
		return HN_EDB;
	st = s->st[ST_INSERT];
	sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op->page, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->visitor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	if (beat)
		sqlite3_bind_int64(st, 6, now);
	else
		sqlite3_bind_null(st, 6);
	if (store_step(s, ST_INSERT, false) < 0)
		return HN_EDB;
	store_touch(s, op->page);
	return HN_OK;
}

/*
 * A polling client's beat.  Its session has no owner (the process that
 * answered one beat need not answer the next) and lives stale_after past
 * its last beat; a beat for another page moves it, one after a leave
 * revives it.
 */
static int
store_beat(struct hn_store *s, const struct hn_op *op, int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc, same = -1;

	if (op->sid[0] != HN_BEAT_SID_PREFIX)
		return HN_EINVAL;
	st = s->st[ST_BEAT_FIND];
	sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		same = strcmp((const char *)sqlite3_column_text(st, 0),
		    op->page) == 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return HN_EDB;
	if (same == 1) {
		st = s->st[ST_BEAT_REFRESH];
		sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		/* A revived session counted all along: no count changes. */
		return store_step(s, ST_BEAT_REFRESH, false) < 0 ? HN_EDB :
		    HN_OK;
	}
	if (same == 0) {
		st = s->st[ST_DROP];
		sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
		if (store_step(s, ST_DROP, true) < 0)
			return HN_EDB;
	}
	return store_insert(s, op, "", true, now);
}

static int
store_op(struct hn_store *s, const struct hn_op *op, int64_t now)
{
	sqlite3_stmt	*st;

	switch (op->kind) {
	case HN_OP_JOIN:
		return store_insert(s, op, s->owner, false, now);
	case HN_OP_LEAVE:
		st = s->st[ST_LEAVE];
		sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		return store_step(s, ST_LEAVE, true) < 0 ? HN_EDB : HN_OK;
	case HN_OP_DROP:
		st = s->st[ST_DROP];
		sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
		return store_step(s, ST_DROP, true) < 0 ? HN_EDB : HN_OK;
	case HN_OP_BEAT:
		return store_beat(s, op, now);
	}
	return HN_EINVAL;
}

/* 1 when our owner row exists, 0 when it was reaped, or HN_EDB. */
static int
store_owned(struct hn_store *s)
{
	sqlite3_stmt	*st = s->st[ST_OWNED];
	int		 rc;

	sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : HN_EDB;
}

int
hn_store_apply(struct hn_store *s, const struct hn_op *ops, size_t n,
    bool beat, int64_t now)
{
	sqlite3_stmt	*st;
	size_t		 i;
	uint64_t	 reaped = 0;
	int		 touched, rc;

	if (!s->writer)
		return HN_EINVAL;
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return HN_EDB;
	/* A writer reaped while it was stalled registers again before it
	 * writes: a session without an owner row is never reaped. */
	if (!beat && n > 0 && ((rc = store_owned(s)) < 0 ||
	    (rc == 0 && store_register(s, now) < 0)))
		goto fail;
	for (i = 0; i < n; i++) {
		/* A failed op (say, a duplicate session id) is logged and
		 * skipped; a failing database fails the whole batch. */
		if (store_op(s, &ops[i], now) == HN_EDB &&
		    sqlite3_get_autocommit(s->db))
			return HN_EDB;
	}
	st = s->st[ST_EXPIRE];
	sqlite3_bind_int64(st, 1, now - s->leave_grace_ms);
	if ((rc = store_step(s, ST_EXPIRE, true)) < 0)
		goto fail;
	reaped = (uint64_t)rc;
	if (beat) {
		st = s->st[ST_BEAT];
		sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		if (store_step(s, ST_BEAT, false) == 0) {
			/* Our row was reaped while we were stalled: come back
			 * as the same owner.  Sessions lost with it reappear
			 * when their readers reconnect. */
			log_warnx("%s: owner %s was reaped; registering again",
			    __func__, s->owner);
			if (store_register(s, now) < 0)
				goto fail;
		}
		st = s->st[ST_STALE_SESSIONS];
		sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
		if ((rc = store_step(s, ST_STALE_SESSIONS, true)) < 0)
			goto fail;
		reaped += (uint64_t)rc;
		st = s->st[ST_STALE_OWNERS];
		sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
		if (store_step(s, ST_STALE_OWNERS, false) < 0)
			goto fail;
		st = s->st[ST_BEAT_STALE];
		sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
		if ((rc = store_step(s, ST_BEAT_STALE, true)) < 0)
			goto fail;
		reaped += (uint64_t)rc;
		if (store_step(s, ST_SERIES_ORPHANS, false) < 0)
			goto fail;
	}
	if ((touched = store_recount(s, now)) < 0)
		goto fail;
	if (store_exec(s, "COMMIT") < 0)
		goto fail;
	s->reaped += reaped;
	return touched;
fail:
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	return HN_EDB;
}

int64_t
hn_store_next_expiry(struct hn_store *s)
{
	sqlite3_stmt	*st = s->st[ST_NEXT_EXPIRY];
	int64_t		 t = INT64_MAX;

	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		t = sqlite3_column_int64(st, 0) + s->leave_grace_ms;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return t;
}

int
hn_store_changed(struct hn_store *s)
{
	sqlite3_stmt	*st;
	int64_t		 v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL)
	    != SQLITE_OK)
		return HN_EDB;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (v < 0)
		return HN_EDB;
	if (v == s->data_version)
		return 0;
	s->data_version = v;
	return 1;
}

int
hn_store_changes(struct hn_store *s, uint64_t *seq, long *site,
    hn_count_cb *cb, void *arg)
{
	sqlite3_stmt	*st;
	uint64_t	 newseq = 0;
	int		 n = 0, rc;

	if (store_exec(s, "BEGIN") < 0)
		return HN_EDB;
	st = s->st[ST_SITE_READ];
	if (sqlite3_step(st) == SQLITE_ROW) {
		newseq = (uint64_t)sqlite3_column_int64(st, 0);
		*site = (long)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (newseq != *seq) {
		st = s->st[ST_CHANGES];
		sqlite3_bind_int64(st, 1, (int64_t)*seq);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			cb(arg, (const char *)sqlite3_column_text(st, 0),
			    (long)sqlite3_column_int64(st, 1),
			    (long)sqlite3_column_int64(st, 2));
			n++;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			log_warnx("%s: %s", __func__, sqlite3_errmsg(s->db));
			store_exec(s, "ROLLBACK");
			return HN_EDB;
		}
		*seq = newseq;
	}
	store_exec(s, "COMMIT");
	return n;
}

int
hn_store_count(struct hn_store *s, const char *page, long *readers,
    long *tabs, long *site)
{
	sqlite3_stmt	*st = s->st[ST_COUNT];
	int		 rc = HN_OK;

	*readers = *tabs = *site = 0;
	if (store_exec(s, "BEGIN") < 0)
		return HN_EDB;
	sqlite3_bind_text(st, 1, page, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*readers = (long)sqlite3_column_int64(st, 0);
		*tabs = (long)sqlite3_column_int64(st, 1);
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = HN_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	st = s->st[ST_SITE_READ];
	if (sqlite3_step(st) == SQLITE_ROW)
		*site = (long)sqlite3_column_int64(st, 1);
	else
		rc = HN_EDB;
	sqlite3_reset(st);
	store_exec(s, "COMMIT");
	return rc;
}

int
hn_store_check(struct hn_store *s)
{
	long	 r, t, site;

	return hn_store_count(s, "/", &r, &t, &site);
}

void
hn_store_close(struct hn_store *s)
{
	sqlite3_stmt	*st;
	int		 i;

	if (s == NULL)
		return;
	if (s->writer && s->st[ST_DEL_OWNER] != NULL && s->owner[0] != '\0') {
		/* Leave no ghosts: our sessions go now, without grace. */
		if (store_exec(s, "BEGIN IMMEDIATE") == HN_OK) {
			st = s->st[ST_OWN_SESSIONS];
			sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
			store_step(s, ST_OWN_SESSIONS, true);
			st = s->st[ST_DEL_OWNER];
			sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
			store_step(s, ST_DEL_OWNER, false);
			store_step(s, ST_SERIES_ORPHANS, false);
			if (store_recount(s, hn_now_ms()) < 0 ||
			    store_exec(s, "COMMIT") < 0)
				store_exec(s, "ROLLBACK");
		}
	}
	for (i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close_v2(s->db);
	free(s);
}

const char *
hn_store_owner(const struct hn_store *s)
{
	return s->owner;
}

int
hn_store_sample(struct hn_store *s, int64_t now)
{
	sqlite3_stmt	*st;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return HN_EDB;
	st = s->st[ST_SAMPLE];
	sqlite3_bind_int64(st, 1, now - now % 60000);
	if (store_step(s, ST_SAMPLE, false) < 0)
		goto fail;
	st = s->st[ST_SAMPLE_PRUNE];
	sqlite3_bind_int64(st, 1, now - HN_SAMPLE_KEEP_MS);
	if (store_step(s, ST_SAMPLE_PRUNE, false) < 0)
		goto fail;
	if (store_exec(s, "COMMIT") < 0)
		goto fail;
	return HN_OK;
fail:
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	return HN_EDB;
}

static void
store_text(char *out, size_t outsz, sqlite3_stmt *st, int col)
{
	const unsigned char	*t = sqlite3_column_text(st, col);

	snprintf(out, outsz, "%s", t != NULL ? (const char *)t : "");
}

int
hn_store_stats(struct hn_store *s, int limit, int64_t since, int64_t now,
    struct hn_stats *out)
{
	sqlite3_stmt	*st;
	void		*grown;
	int		 rc, cap = 0;

	memset(out, 0, sizeof(*out));
	out->now = now;
	if (limit < 1 || limit > HN_STATS_LIMIT_MAX)
		limit = HN_STATS_LIMIT_MAX;
	if ((out->pages = calloc(limit, sizeof(*out->pages))) == NULL)
		return HN_ENOMEM;
	if (store_exec(s, "BEGIN") < 0)
		goto fail;
	st = s->st[ST_STATS_SITE];
	sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->site = (long)sqlite3_column_int64(st, 0);
		out->site_peak = (long)sqlite3_column_int64(st, 1);
		out->site_peak_at = sqlite3_column_int64(st, 2);
		out->owners = (long)sqlite3_column_int64(st, 3);
		out->sessions = (long)sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		goto fail;
	st = s->st[ST_STATS_PAGES];
	sqlite3_bind_int(st, 1, limit);
	while (out->npages < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct hn_page_stat *p = &out->pages[out->npages++];
		store_text(p->page, sizeof(p->page), st, 0);
		p->readers = (long)sqlite3_column_int64(st, 1);
		p->tabs = (long)sqlite3_column_int64(st, 2);
		p->peak = (long)sqlite3_column_int64(st, 3);
		p->peak_at = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	st = s->st[ST_STATS_SAMPLES];
	sqlite3_bind_int64(st, 1, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->nsamples == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = reallocarray(out->samples, cap,
			    sizeof(*out->samples))) == NULL) {
				sqlite3_reset(st);
				goto fail;
			}
			out->samples = grown;
		}
		struct hn_sample *m = &out->samples[out->nsamples++];
		m->t = sqlite3_column_int64(st, 0);
		m->site = (long)sqlite3_column_int64(st, 1);
		store_text(m->top, sizeof(m->top), st, 2);
	}
	sqlite3_reset(st);
	store_exec(s, "COMMIT");
	return HN_OK;
fail:
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	hn_stats_free(out);
	return HN_EDB;
}

void
hn_stats_free(struct hn_stats *st)
{
	free(st->pages);
	free(st->samples);
	st->pages = NULL;
	st->samples = NULL;
	st->npages = st->nsamples = 0;
}

int
hn_store_put_series(struct hn_store *s, const char **names,
    const double *values, size_t n)
{
	sqlite3_stmt	*st = s->st[ST_SERIES_PUT];
	size_t		 i;

	if (!s->writer)
		return HN_EINVAL;
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return HN_EDB;
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 3, values[i]);
		if (store_step(s, ST_SERIES_PUT, false) < 0)
			goto fail;
	}
	if (store_exec(s, "COMMIT") < 0)
		goto fail;
	return HN_OK;
fail:
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	return HN_EDB;
}

int
hn_store_series(struct hn_store *s, struct hn_series **out, size_t *n)
{
	sqlite3_stmt		*st = s->st[ST_SERIES_SUM];
	struct hn_series	*v = NULL, *grown;
	size_t			 cap = 0;
	int			 rc;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = reallocarray(v, cap, sizeof(*v))) == NULL)
				break;
			v = grown;
		}
		store_text(v[*n].name, sizeof(v[*n].name), st, 0);
		v[*n].value = sqlite3_column_double(st, 1);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(v);
		*n = 0;
		return HN_EDB;
	}
	*out = v;
	return HN_OK;
}

uint64_t
hn_store_reaped(struct hn_store *s)
{
	uint64_t	 r = s->reaped;

	s->reaped = 0;
	return r;
}
