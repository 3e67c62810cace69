/*
 * The session table in SQLite, shared by every herenow process on the
 * machine (DESIGN §5).  The only file that includes sqlite3.h.  A writer
 * store is used by one thread (the store thread); readers by one thread
 * each.
 *
 * NOTES: counts change only in the transaction that changes the sessions
 * rows, so a process that crashed half-way or two processes writing at
 * once can never leave a count that disagrees with the rows.  Every write
 * transaction notes each session it inserts or deletes (store_change), and
 * before it commits, store_recount() turns them into the changes of
 * readers/tabs of the pages it touched and of the site: a page's reader
 * comes or goes when a visitor's sessions there go from none to some or
 * back, the site's when its sessions anywhere do.  What a visitor had
 * before comes from the lookups the transaction made anyway (a join's
 * takeover probe) or, when none did, from what it has now less what the
 * transaction changed (one index lookup per pair or visitor, a statement
 * per STORE_ROWS).  So a commit costs what it changes, never a walk of
 * the sessions.  The pages are then stamped with a new sequence number:
 * other processes find what changed with "pages WHERE seq > last seen",
 * O(changed pages), not O(sessions).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hn.h"

#define STORE_SCHEMA_VERSION	HN_STORE_SCHEMA
#define STORE_BUSY_MS		2000

/* The counts made right from the sessions, all at once (migrations 6, 7). */
#define STORE_RECOUNT_SQL						\
	"INSERT OR IGNORE INTO pages(page) SELECT DISTINCT page FROM sessions;" \
	"UPDATE pages SET"						\
	"  readers = (SELECT count(DISTINCT visitor) FROM sessions s"	\
	"   WHERE s.page = pages.page),"					\
	"  tabs = (SELECT count(*) FROM sessions s WHERE s.page = pages.page);" \
	"UPDATE site SET readers = (SELECT count(DISTINCT visitor)"	\
	"  FROM sessions) WHERE id = 1;"

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
	/* 5: two indexes less to write per session: only a dead owner's
	 * sessions are deleted by owner, rarely enough for a scan, and the
	 * site's visitors are counted in the walk of sessions_page */
	"DROP INDEX sessions_owner;"
	"DROP INDEX sessions_visitor;",
	/*
	 * 6: the counts are kept as sessions come and go, by triggers, so a
	 * commit costs what it changes instead of a walk of every session
	 * (under churn on a page of 4,000 readers that walk was 40 % of
	 * herenow's CPU).  A visitor is a page's reader while it has a
	 * session there, the site's while it has one anywhere: the index on
	 * visitor answers the second question.  Then the counts are made
	 * right once from the sessions.
	 */
	"CREATE INDEX sessions_visitor ON sessions(visitor);"
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
	STORE_RECOUNT_SQL,
	/*
	 * 7: the counts are kept by the store instead, from what each
	 * transaction inserted and deleted (NOTES above): the triggers ran
	 * two lookups and two updates for every session written, which cut
	 * the sessions a process could write a second by half, and two
	 * processes on one file to a third.  One index answers what a
	 * visitor has on a page and on the site, where two did: a join's
	 * lookup finds both, and a session is one index entry less to
	 * write.  The counts are made right once more, while the page index
	 * is there.
	 */
	"DROP TRIGGER sessions_in;"
	"DROP TRIGGER sessions_out;"
	STORE_RECOUNT_SQL
	"DROP INDEX sessions_page;"
	"DROP INDEX sessions_visitor;"
	"CREATE INDEX sessions_visitor_page ON sessions(visitor, page);",
};

enum {
	ST_TAKEOVER_FIND,
	ST_DELETE,
	ST_INSERT,
	ST_INSERTED,
	ST_LEAVE,
	ST_DROP,
	ST_EXPIRE,
	ST_BEAT,
	ST_REGISTER,
	ST_STALE_ANY,
	ST_STALE_SESSIONS,
	ST_STALE_OWNERS,
	ST_PAGE_STAMP,
	ST_SITE_STAMP,
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
	ST_VISITOR_LIVE,
	ST_SESSION_LIVE,
	ST_DATA_VERSION,
	ST_COUNT_
};

static const char *const store_sql[ST_COUNT_] = {
	/* A lookup, then a delete only when there is something to take
	 * over: a DELETE opens a cursor on every index even when it finds
	 * nothing, and RETURNING builds a temporary table.  Every session
	 * of the visitor, so that the count knows how many it had there and
	 * on the site (store_seen). */
	[ST_TAKEOVER_FIND] =
	    "SELECT rowid, ended IS NOT NULL, page = ?1 FROM sessions"
	    " WHERE visitor = ?2",
	[ST_DELETE] = "DELETE FROM sessions WHERE rowid = ?1",
	[ST_INSERT] =
	    "INSERT INTO sessions(sid, owner, page, visitor, created, beat)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* Which joins of a segment statement were inserted when some were
	 * not (their sids were taken): each new rowid is one past the
	 * largest, so they are the last rowids up to the last inserted. */
	[ST_INSERTED] =
	    "SELECT page, visitor FROM sessions WHERE rowid BETWEEN ?1 AND ?2",
	[ST_LEAVE] =
	    "UPDATE sessions SET ended = ?2 WHERE sid = ?1 AND ended IS NULL",
	[ST_DROP] = "DELETE FROM sessions WHERE sid = ?1 RETURNING page, visitor",
	[ST_EXPIRE] =
	    "DELETE FROM sessions WHERE ended IS NOT NULL AND ended <= ?1"
	    " RETURNING page, visitor",
	[ST_BEAT] = "UPDATE owners SET beat = ?2 WHERE id = ?1",
	[ST_REGISTER] =
	    "INSERT OR REPLACE INTO owners(id, pid, host, started, beat)"
	    " VALUES (?1, ?2, ?3, ?4, ?4)",
	[ST_STALE_ANY] = "SELECT 1 FROM owners WHERE beat <= ?1 LIMIT 1",
	/* A scan of the sessions (no owner index): only run when an owner
	 * died (ST_STALE_ANY). */
	[ST_STALE_SESSIONS] =
	    "DELETE FROM sessions WHERE owner IN"
	    " (SELECT id FROM owners WHERE beat <= ?1)"
	    " RETURNING page, visitor",
	[ST_STALE_OWNERS] = "DELETE FROM owners WHERE beat <= ?1",
	/* A page's changes of tabs (?2) and readers (?3), stamped; its row
	 * is made by its first session.  (The right-hand sides of an
	 * UPDATE see the row as it was.) */
	[ST_PAGE_STAMP] =
	    "INSERT INTO pages(page, tabs, readers, seq, peak, peak_at)"
	    " VALUES (?1, ?2, ?3, ?4, max(?3, 0),"
	    "  CASE WHEN ?3 > 0 THEN ?5 END)"
	    " ON CONFLICT(page) DO UPDATE SET tabs = tabs + ?2,"
	    " readers = readers + ?3, seq = ?4,"
	    " peak_at = CASE WHEN readers + ?3 > peak THEN ?5 ELSE peak_at END,"
	    " peak = max(peak, readers + ?3)",
	[ST_SITE_STAMP] =
	    "UPDATE site SET readers = readers + ?1, seq = ?2,"
	    " peak_at = CASE WHEN readers + ?1 > peak THEN ?3 ELSE peak_at END,"
	    " peak = max(peak, readers + ?1) WHERE id = 1",
	[ST_NEXT_SEQ] = "SELECT seq + 1 FROM site WHERE id = 1",
	[ST_CHANGES] =
	    "SELECT page, readers, tabs FROM pages WHERE seq > ?1",
	[ST_SITE_READ] = "SELECT seq, readers FROM site WHERE id = 1",
	[ST_COUNT] = "SELECT readers, tabs FROM pages WHERE page = ?1",
	/* When the next of our leavers (or of the polling clients', which
	 * have no owner) is due.  Every write transaction expires all that
	 * are due, but only the owner is woken for them: under churn in
	 * another process a process would otherwise open a write
	 * transaction every tick for leavers that are not its own.  The
	 * walk of sessions_ended stops at the first of ours. */
	[ST_NEXT_EXPIRY] =
	    "SELECT min(ended) FROM sessions WHERE ended IS NOT NULL"
	    " AND owner IN (?1, '')",
	[ST_OWN_SESSIONS] =
	    "DELETE FROM sessions WHERE owner = ?1 RETURNING page, visitor",
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
	/* max_sessions_per_visitor: the visitor's live sessions but the
	 * one being written (a beat's own, a stream's page change). */
	[ST_VISITOR_LIVE] =
	    "SELECT count(*) FROM sessions"
	    " WHERE visitor = ?1 AND ended IS NULL AND sid <> ?2",
	[ST_SESSION_LIVE] =
	    "SELECT 1 FROM sessions"
	    " WHERE sid = ?1 AND visitor = ?2 AND ended IS NULL",
	/* Polled every poll_interval: prepared once, like the rest. */
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_BEAT_STALE] =
	    "DELETE FROM sessions WHERE beat IS NOT NULL AND beat <= ?1"
	    " RETURNING page, visitor",
};

/*
 * NOTES: a batch's joins and leaves are applied in segments, each a few
 * statements of STORE_ROWS rows, because a statement costs about as much
 * again as the b-tree work of its one row.  A segment is a run of joins
 * and leaves; it runs its leaves, then the takeovers its joins chose, then
 * its joins, and ends as the same ops one by one would: the takeovers are
 * chosen from the sessions as they were before the segment, in the order
 * a lone join takes them, a session counting as left only for the joins
 * after its leave.  A leave of a session the segment joins ends the
 * segment (moved ahead of the join it would end nothing), and so does any
 * other op, which then runs alone.  test_batch_as_one_by_one holds
 * batches to their ops one by one.
 */
#define STORE_ROWS	64
/*
 * Ops of a batch applied with one set of changes (store_recount() after
 * each but the last): beyond some thousands the hash sets' slots miss the
 * cache at every look.
 */
#define STORE_PART	4096

/* A segment this small runs op by op: a statement of STORE_ROWS rows
 * costs as much as about this many lone ops when its rows are empty. */
#define STORE_SEG_MIN	16

enum {
	SR_PROBE,
	SR_LEAVE,
	SR_TAKE,
	SR_JOIN,
	SR_PAIRS,
	SR_VISITORS,
	SR_LIMIT,
	SR_COUNT_
};

/* Statements of STORE_ROWS rows: head, the row repeated, tail.  Rows not
 * used are left NULL, which matches and inserts nothing. */
static const struct {
	const char	*head, *row, *tail;
	int		 first, per;	/* parameter of row 0; per row */
} store_rows[SR_COUNT_] = {
	/* Every session of each joining visitor, by join, then oldest first
	 * as a lone join takes them; whether it is on the join's page. */
	[SR_PROBE] = {
	    "SELECT j.column1, s.sid, s.ended IS NOT NULL,"
	    " s.page = j.column2 FROM (VALUES ",
	    "(?, ?, ?)",
	    ") AS j JOIN sessions s ON s.visitor = j.column3"
	    " ORDER BY j.column1, s.rowid",
	    1, 3 },
	[SR_LEAVE] = {
	    "UPDATE sessions SET ended = ?1 WHERE ended IS NULL AND sid IN (",
	    "?", ")", 2, 1 },
	[SR_TAKE] = { "DELETE FROM sessions WHERE sid IN (", "?",
	    ") RETURNING page, visitor", 1, 1 },
	/* A join whose sid is taken is skipped, as alone it would fail. */
	[SR_JOIN] = {
	    "INSERT OR IGNORE INTO sessions(sid, owner, page, visitor, created)"
	    " SELECT column1, ?1, column2, column3, ?2 FROM (VALUES ",
	    "(?, ?, ?)", ") WHERE column1 IS NOT NULL", 3, 3 },
	/* The sessions each (page, visitor) and each visitor has now, for
	 * store_recount(): row r of the statement is r. */
	[SR_PAIRS] = {
	    "SELECT j.column1, (SELECT count(*) FROM sessions s"
	    " WHERE s.page = j.column2 AND s.visitor = j.column3)"
	    " FROM (VALUES ",
	    "(?, ?, ?)", ") AS j WHERE j.column1 IS NOT NULL", 1, 3 },
	[SR_VISITORS] = {
	    "SELECT j.column1, (SELECT count(*) FROM sessions s"
	    " WHERE s.visitor = j.column2) FROM (VALUES ",
	    "(?, ?)", ") AS j WHERE j.column1 IS NOT NULL", 1, 2 },
	/* The live sessions of each visitor but one sid, for store_limit()
	 * (as hn_store_visitor_live() for one), and all its sessions, from
	 * one look at the index: all * 2^32 + live. */
	[SR_LIMIT] = {
	    "SELECT j.column1, (SELECT count(*) * 4294967296 +"
	    " ifnull(sum(s.ended IS NULL AND s.sid <> j.column3), 0)"
	    " FROM sessions s WHERE s.visitor = j.column2) FROM (VALUES ",
	    "(?, ?, ?)", ") AS j WHERE j.column1 IS NOT NULL", 1, 3 },
};

/*
 * A set of strings with a value each, by open addressing over entries
 * kept in one buffer, so that adding a key costs no malloc (a batch adds
 * the page, the visitor and the pair of every session it changes).  It
 * iterates in the order of adding.  An entry is valid until the next add.
 */
struct store_entry {
	size_t	 val;		/* the caller's: a position, a mark */
	int64_t	 sessions;	/* a transaction's change of sessions */
	int64_t	 readers;	/* a page's change of readers */
	uint32_t len;
	uint32_t mark;		/* the caller's: STORE_NONE_BEFORE */
	char	 key[];		/* len bytes and a NUL */
};
/* A visitor that had no session at all before the batch (mark). */
#define STORE_NONE_BEFORE	0x1
/* A slot keeps its key's hash, so that a probe compares hashes and reads
 * an entry only when they match: in a batch of tens of thousands of ops
 * every entry read is a cache miss. */
struct store_slot {
	uint32_t off;		/* offset of an entry + 1, 0 when free */
	uint32_t hash;		/* the high half of the key's hash */
};
struct store_set {
	char	*buf;		/* the entries, each aligned */
	size_t	 len, size;	/* bytes of buf used, allocated */
	struct store_slot *slot;
	size_t	 cap, n;	/* cap: a power of two, or 0 */
};
#define STORE_SET_KEEP	4096	/* slots a cleared set may keep */

/* What a pair or a visitor had before the transaction (val): unknown,
 * or STORE_HAD + its number of sessions. */
#define STORE_UNKNOWN	0
#define STORE_HAD	1

/* The segment being gathered: ops[start] up to the op being looked at. */
struct store_seg {
	size_t			 start;
	size_t			 njoins, nleaves;
	struct store_set	 joins;		/* sid -> its first join */
	struct store_set	 leaves;	/* sid -> its first leave */
	struct store_set	 taken;		/* sessions taken over */
};

/* BEGIN, BEGIN IMMEDIATE, COMMIT, ROLLBACK (store_exec). */
#define STORE_TX_N	4

struct hn_store {
	sqlite3		*db;
	sqlite3_stmt	*st[ST_COUNT_];
	sqlite3_stmt	*tx[STORE_TX_N];	/* store_tx_sql, prepared once */
	sqlite3_stmt	*rows[SR_COUNT_];
	/* The transaction's changes (store_change): of each page, of each
	 * visitor's sessions there (key: page NUL visitor), of each
	 * visitor's sessions on the site. */
	struct store_set touched;
	struct store_set pairs;
	struct store_set onsite;
	char		*pair;			/* store_pair_key() */
	size_t		 pairsz;
	struct store_seg seg;
	bool		 writer;
	char		 owner[HN_OWNER_LEN + 1];
	int64_t		 stale_after_ms;
	int64_t		 leave_grace_ms;
	int64_t		 data_version;
	uint64_t	 reaped;
	int64_t		 busy_until;		/* store_busy() */
	int64_t		 warned_at;		/* store_warn() */
	uint64_t	 warn_skipped;
	/* max_sessions_per_visitor (0: none), and what the last
	 * hn_store_apply() refused of its ops */
	unsigned	 max_visitor;
	struct store_set visitors;		/* visitor -> live sessions */
	struct store_set sids;			/* sids the batch joined or
						 * ended (STORE_SID_*) */
	bool		 counted;		/* store_limit_count() ran */
	size_t		 part;			/* STORE_PART */
	bool		*refused;
	struct hn_op	*kept;			/* a part's ops not refused */
	size_t		 nlimit, refused_cap, kept_cap;
};

/*
 * A database error repeats at every retry while the disk is full or
 * another process holds the lock: one line a minute, saying how many were
 * left out (issue 8).
 */
#define STORE_WARN_EVERY_MS	60000

static void	 store_warn(struct hn_store *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
store_warn(struct hn_store *s, const char *fmt, ...)
{
	char		 line[1024];
	va_list		 ap;
	int64_t		 now = hn_now_ms();

	if (s->warned_at != 0 && now - s->warned_at < STORE_WARN_EVERY_MS) {
		s->warn_skipped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->warn_skipped > 0)
		log_warnx("%s (and %llu more database errors in the last "
		    "minute)", line, (unsigned long long)s->warn_skipped);
	else
		log_warnx("%s", line);
	s->warned_at = now;
	s->warn_skipped = 0;
}

/*
 * Transaction control, which every commit, count and change read runs:
 * prepared once instead of parsed each time (under churn about two
 * thousand times a second).
 */
static const char *const store_tx_sql[STORE_TX_N] = {
	"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
};

static int
store_exec(struct hn_store *s, const char *sql)
{
	char		*msg = NULL;
	sqlite3_stmt	*st;
	size_t		 i;

	for (i = 0; i < STORE_TX_N; i++) {
		if (strcmp(sql, store_tx_sql[i]) != 0)
			continue;
		if (s->tx[i] == NULL && sqlite3_prepare_v3(s->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &s->tx[i], NULL) != SQLITE_OK)
			break;		/* sqlite3_exec says why */
		st = s->tx[i];
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			store_warn(s, "%s: %s: %s", __func__, sql,
			    sqlite3_errmsg(s->db));
			return HN_EDB;
		}
		sqlite3_reset(st);
		return HN_OK;
	}
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_warn(s, "%s: %s: %s", __func__, sql,
		    msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return HN_EDB;
	}
	return HN_OK;
}

/* Ends a write transaction that failed part-way, if one is open. */
static void
store_rollback(struct hn_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
}

/* FNV-1a: keys are short. */
static uint64_t
store_hash(const char *key, size_t len)
{
	const unsigned char	*c = (const unsigned char *)key;
	uint64_t		 h = 14695981039346656037ULL;

	while (len-- > 0)
		h = (h ^ *c++) * 1099511628211ULL;
	return h;
}

/* Bytes of an entry with a key of len bytes, up to the next one. */
static size_t
store_entry_size(size_t len)
{
	size_t	 a = _Alignof(struct store_entry);

	return (sizeof(struct store_entry) + len + 1 + a - 1) / a * a;
}

static struct store_entry *
store_set_at(const struct store_set *v, size_t slot)
{
	return (struct store_entry *)(v->buf + v->slot[slot].off - 1);
}

/* The tag of a hash kept in a slot: its high half (the low half picks
 * the slot). */
static uint32_t
store_tag(uint64_t hash)
{
	return (uint32_t)(hash >> 32);
}

/* The slot of key, or the free slot where it would go. */
static size_t
store_set_slot(const struct store_set *v, const char *key, size_t len,
    uint64_t hash)
{
	struct store_entry	*e;
	uint32_t		 tag = store_tag(hash);
	size_t			 i;

	for (i = (size_t)hash & (v->cap - 1); v->slot[i].off != 0;
	    i = (i + 1) & (v->cap - 1)) {
		if (v->slot[i].hash != tag)
			continue;
		e = store_set_at(v, i);
		if (e->len == len && memcmp(e->key, key, len) == 0)
			break;
	}
	return i;
}

/* The entry of the len bytes at key, or NULL. */
static struct store_entry *
store_set_find(const struct store_set *v, const char *key, size_t len)
{
	size_t	 i;

	if (v->n == 0)
		return NULL;
	i = store_set_slot(v, key, len, store_hash(key, len));
	return v->slot[i].off != 0 ? store_set_at(v, i) : NULL;
}

/* Makes room for want entries in all (at most half the slots used), at
 * once: a set grown a doubling at a time hashes its keys again each time.
 * 0 or HN_ENOMEM. */
static int
store_set_reserve(struct store_set *v, size_t want)
{
	struct store_set	 g = *v;
	struct store_entry	*e;
	size_t			 i, j;

	if (2 * want <= v->cap)
		return HN_OK;
	for (g.cap = v->cap ? v->cap : 64; g.cap < 2 * want; g.cap *= 2)
		if (g.cap > SIZE_MAX / 4 / sizeof(*g.slot))
			return HN_ENOMEM;
	if ((g.slot = calloc(g.cap, sizeof(*g.slot))) == NULL)
		return HN_ENOMEM;
	for (i = 0; i < v->cap; i++) {
		if (v->slot[i].off == 0)
			continue;
		e = store_set_at(v, i);
		/* Distinct keys: the first free slot from the hash's. */
		for (j = (size_t)store_hash(e->key, e->len) & (g.cap - 1);
		    g.slot[j].off != 0; j = (j + 1) & (g.cap - 1))
			;
		g.slot[j] = v->slot[i];
	}
	free(v->slot);
	*v = g;
	return HN_OK;
}

/* The entry of the len bytes at key, added (copied, with val and no
 * changes) when they are not there yet; *added says which.  NULL when
 * out of memory (also for a NULL key: sqlite3_column_text() out of
 * memory, and for a set past 4 GB). */
static struct store_entry *
store_set_get(struct store_set *v, const char *key, size_t len, size_t val,
    bool *added)
{
	struct store_entry	*e;
	uint64_t		 hash;
	size_t			 i, need, size;
	char			*grown;

	*added = false;
	if (key == NULL)
		return NULL;
	if (2 * (v->n + 1) > v->cap && store_set_reserve(v, v->n + 1) < 0)
		return NULL;
	hash = store_hash(key, len);
	i = store_set_slot(v, key, len, hash);
	if (v->slot[i].off != 0)
		return store_set_at(v, i);
	need = store_entry_size(len);
	if (len >= UINT32_MAX || v->len + need >= UINT32_MAX)
		return NULL;
	if (v->len + need > v->size) {
		size = 2 * (v->len + need);
		if ((grown = realloc(v->buf, size)) == NULL)
			return NULL;
		v->buf = grown;
		v->size = size;
	}
	e = (struct store_entry *)(v->buf + v->len);
	e->val = val;
	e->sessions = e->readers = 0;
	e->len = (uint32_t)len;
	e->mark = 0;
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	v->slot[i].off = (uint32_t)(v->len + 1);
	v->slot[i].hash = store_tag(hash);
	v->len += need;
	v->n++;
	*added = true;
	return e;
}

/* Adds the len bytes at key (copied) with val, unless they are there
 * already: they keep their first value.  0 or HN_ENOMEM. */
static int
store_set_add(struct store_set *v, const char *key, size_t len, size_t val)
{
	bool	 added;

	return store_set_get(v, key, len, val, &added) != NULL ? HN_OK :
	    HN_ENOMEM;
}

/* The entry added after e (NULL: the first one), or NULL. */
static struct store_entry *
store_set_next(const struct store_set *v, const struct store_entry *e)
{
	size_t	 off = 0;

	if (e != NULL)
		off = (size_t)((const char *)e - v->buf) +
		    store_entry_size(e->len);
	return off < v->len ? (struct store_entry *)(v->buf + off) : NULL;
}

static void
store_set_free(struct store_set *v)
{
	free(v->buf);
	free(v->slot);
	memset(v, 0, sizeof(*v));
}

/* Empties v.  A table much larger than this round needed is let go, so
 * that the small batches after a big one do not sweep it. */
static void
store_set_clear(struct store_set *v)
{
	if (v->cap > STORE_SET_KEEP && v->cap > 8 * v->n) {
		store_set_free(v);
		return;
	}
	if (v->n > 0)
		memset(v->slot, 0, v->cap * sizeof(*v->slot));
	v->len = v->n = 0;
}

/* The key of the pair (page, visitor) in s->pairs: both, a NUL between
 * them.  NULL when out of memory. */
static const char *
store_pair_key(struct hn_store *s, const char *page, const char *visitor,
    size_t *len)
{
	size_t	 plen, vlen;
	char	*grown;

	if (page == NULL || visitor == NULL)
		return NULL;
	plen = strlen(page);
	vlen = strlen(visitor);
	*len = plen + 1 + vlen;
	if (*len + 1 > s->pairsz) {
		if ((grown = realloc(s->pair, *len + 1)) == NULL)
			return NULL;
		s->pair = grown;
		s->pairsz = *len + 1;
	}
	memcpy(s->pair, page, plen + 1);
	memcpy(s->pair + plen + 1, visitor, vlen + 1);
	return s->pair;
}

/* Forgets the transaction's changes (store_change, store_seen). */
static void
store_forget(struct hn_store *s)
{
	store_set_clear(&s->touched);
	store_set_clear(&s->pairs);
	store_set_clear(&s->onsite);
}

/*
 * Notes that the transaction changed visitor's sessions on page by delta
 * (1: inserted one, -1: deleted one), for store_recount().  0 or
 * HN_ENOMEM (also for a NULL page or visitor: sqlite3_column_text() out
 * of memory).
 */
static int
store_change(struct hn_store *s, const char *page, const char *visitor,
    int delta)
{
	struct store_entry	*e;
	const char		*key;
	size_t			 len;
	bool			 added;

	if ((key = store_pair_key(s, page, visitor, &len)) == NULL ||
	    (e = store_set_get(&s->pairs, key, len, STORE_UNKNOWN,
	    &added)) == NULL)
		return HN_ENOMEM;
	e->sessions += delta;
	if ((e = store_set_get(&s->onsite, visitor, strlen(visitor),
	    STORE_UNKNOWN, &added)) == NULL)
		return HN_ENOMEM;
	e->sessions += delta;
	if ((e = store_set_get(&s->touched, page, strlen(page), 0,
	    &added)) == NULL)
		return HN_ENOMEM;
	e->sessions += delta;
	return HN_OK;
}

/*
 * Notes that visitor had n sessions on page and all sessions on the site
 * before the transaction, unless the transaction changed them already:
 * the caller looked just now.  0 or HN_ENOMEM.
 */
static int
store_seen(struct hn_store *s, const char *page, const char *visitor,
    size_t n, size_t all)
{
	const char	*key;
	size_t		 len;
	bool		 added;

	if ((key = store_pair_key(s, page, visitor, &len)) == NULL ||
	    store_set_get(&s->pairs, key, len, STORE_HAD + n, &added) ==
	    NULL ||
	    store_set_get(&s->onsite, visitor, strlen(visitor),
	    STORE_HAD + all, &added) == NULL)
		return HN_ENOMEM;
	return HN_OK;
}

/* Notes each row of a RETURNING page, visitor as a deleted session.  0
 * or HN_ENOMEM. */
static int
store_deleted(struct hn_store *s, sqlite3_stmt *st)
{
	return store_change(s, (const char *)sqlite3_column_text(st, 0),
	    (const char *)sqlite3_column_text(st, 1), -1);
}

/* Ends a run of st whose last step returned rc, for the next run: 0, or
 * HN_EDB (warned, in what) when the run did not come to its end. */
static int
store_finish(struct hn_store *s, sqlite3_stmt *st, int rc, const char *what)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		store_warn(s, "%s: %s", what, sqlite3_errmsg(s->db));
		return HN_EDB;
	}
	return HN_OK;
}

/* Runs st to its end; with deleted, each row of its RETURNING page,
 * visitor is a deleted session (store_change).  what names it in a
 * warning.  Returns rows changed, HN_EDB or HN_ENOMEM. */
static int
store_drain(struct hn_store *s, sqlite3_stmt *st, const char *what,
    bool deleted)
{
	int	 rc, err = HN_OK;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (deleted && err == HN_OK)
			err = store_deleted(s, st);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		store_warn(s, "%s: %s: %s", __func__, what,
		    sqlite3_errmsg(s->db));
		return HN_EDB;
	}
	if (err < 0) {
		log_warnx("%s: out of memory for the changed sessions",
		    __func__);
		return err;
	}
	return sqlite3_changes(s->db);
}

/* A prepared statement of store_sql run to its end (store_drain). */
static int
store_step(struct hn_store *s, int which, bool deleted)
{
	return store_drain(s, s->st[which], store_sql[which], deleted);
}

/* Runs a query bound by the caller: 1 when it returns a row, 0 when not,
 * or HN_EDB. */
static int
store_any(struct hn_store *s, int which)
{
	sqlite3_stmt	*st = s->st[which];
	int		 rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_warn(s, "%s: %s: %s", __func__, store_sql[which],
		    sqlite3_errmsg(s->db));
		return HN_EDB;
	}
	return rc == SQLITE_ROW;
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
 * Waits for another process's write lock in steps of a millisecond, for
 * at most STORE_BUSY_MS: SQLite's own busy handler sleeps up to 100 ms at
 * a time, long after the other writer's batch has committed.
 */
static int
store_busy(void *arg, int tries)
{
	struct hn_store	*s = arg;

	if (tries == 0)
		s->busy_until = hn_mono_ms() + STORE_BUSY_MS;
	else if (hn_mono_ms() >= s->busy_until)
		return 0;
	usleep(1000);
	return 1;
}

/*
 * Turning a new file to WAL takes an exclusive lock without waiting on the
 * busy handler, so processes starting together on a fresh database
 * (lighttpd's max-procs) retry for as long as store_busy() would wait.
 */
static int
store_wal(struct hn_store *s)
{
	int64_t	 until = hn_mono_ms() + STORE_BUSY_MS;
	int	 rc;

	while ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL,
	    NULL, NULL)) != SQLITE_OK) {
		if ((rc & 0xff) != SQLITE_BUSY || hn_mono_ms() >= until) {
			store_warn(s, "%s: %s", __func__, sqlite3_errmsg(s->db));
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

/* Prepares segment statement which: its head, its row STORE_ROWS times
 * and its tail. */
static int
store_prepare_rows(struct hn_store *s, int which)
{
	char	 sql[2048];
	size_t	 len = 0;
	int	 i, n;

	for (i = -1; i <= STORE_ROWS; i++) {
		n = snprintf(sql + len, sizeof(sql) - len, "%s%s",
		    i > 0 && i < STORE_ROWS ? ", " : "",
		    i < 0 ? store_rows[which].head : i < STORE_ROWS ?
		    store_rows[which].row : store_rows[which].tail);
		if (n < 0 || (size_t)n >= sizeof(sql) - len) {
			log_warnx("%s: statement %d is too long", __func__,
			    which);
			return HN_EDB;
		}
		len += (size_t)n;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s->rows[which], NULL) != SQLITE_OK)
		return HN_EDB;
	return HN_OK;
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
	s->part = STORE_PART;
	s->stale_after_ms = stale_after_ms;
	s->leave_grace_ms = leave_grace_ms;
	s->data_version = -1;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : "cannot open");
		goto err;
	}
	sqlite3_busy_handler(s->db, store_busy, s);
	sqlite3_extended_result_codes(s->db, 1);
	if (store_wal(s) < 0 ||
	    store_exec(s, "PRAGMA synchronous = NORMAL") < 0 ||
	    store_exec(s, "PRAGMA temp_store = MEMORY") < 0 ||
	    store_exec(s, "PRAGMA cache_size = -16384") < 0) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		goto err;
	}
	if (store_migrate(s, err, errsz) < 0)
		goto err;
	for (i = 0; i < ST_COUNT_; i++) {
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errsz, "%s: preparing statement %d: %s",
			    path, i, sqlite3_errmsg(s->db));
			goto err;
		}
	}
	for (i = 0; s->writer && i < SR_COUNT_; i++) {
		if (store_prepare_rows(s, i) < 0) {
			snprintf(err, errsz, "%s: preparing segment statement "
			    "%d: %s", path, i, sqlite3_errmsg(s->db));
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
	int64_t		 rowid, take = INT64_MAX;
	size_t		 had = 0, all = 0;
	int		 rc;

	/* Every session of the visitor, for the count; the oldest one here
	 * in grace is taken over. */
	st = s->st[ST_TAKEOVER_FIND];
	sqlite3_bind_text(st, 1, op->page, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->visitor, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		all++;
		if (sqlite3_column_int(st, 2) == 0)
			continue;
		had++;
		rowid = sqlite3_column_int64(st, 0);
		if (sqlite3_column_int(st, 1) != 0 && rowid < take)
			take = rowid;
	}
	if (store_finish(s, st, rc, __func__) < 0)
		return HN_EDB;
	if (store_seen(s, op->page, op->visitor, had, all) < 0)
		return HN_ENOMEM;
	if (take != INT64_MAX) {
		sqlite3_bind_int64(s->st[ST_DELETE], 1, take);
		if ((rc = store_step(s, ST_DELETE, false)) < 0)
			return HN_EDB;
		if (rc > 0 && store_change(s, op->page, op->visitor, -1) < 0)
			return HN_ENOMEM;
	}
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
	/* A failed insert (its sid is taken) leaves the takeover done. */
	if ((rc = store_step(s, ST_INSERT, false)) < 0)
		return HN_EDB;
	if (rc > 0 && store_change(s, op->page, op->visitor, 1) < 0)
		return HN_ENOMEM;
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
		if ((rc = store_step(s, ST_DROP, true)) < 0)
			return rc;
	}
	return store_insert(s, op, "", true, now);
}

static int
store_op(struct hn_store *s, const struct hn_op *op, int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc;

	switch (op->kind) {
	case HN_OP_JOIN:
		return store_insert(s, op, s->owner, false, now);
	case HN_OP_LEAVE:
		/* No page to touch: a leaving session counts until its grace
		 * runs out, and the expiry's delete touches the page then. */
		st = s->st[ST_LEAVE];
		sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		return store_step(s, ST_LEAVE, false) < 0 ? HN_EDB : HN_OK;
	case HN_OP_DROP:
		st = s->st[ST_DROP];
		sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
		rc = store_step(s, ST_DROP, true);
		return rc < 0 ? rc : HN_OK;
	case HN_OP_BEAT:
		return store_beat(s, op, now);
	}
	return HN_EINVAL;
}

/* 1 when our owner row exists, 0 when it was reaped, or HN_EDB. */
static int
store_owned(struct hn_store *s)
{
	sqlite3_bind_text(s->st[ST_OWNED], 1, s->owner, -1, SQLITE_STATIC);
	return store_any(s, ST_OWNED);
}


/* ---- segments (NOTES above STORE_ROWS) ----------------------------------- */

static void
store_seg_clear(struct store_seg *g)
{
	store_set_clear(&g->joins);
	store_set_clear(&g->leaves);
	store_set_clear(&g->taken);
	g->njoins = g->nleaves = 0;
}

/* The parameter of column col of row r of segment statement which. */
static int
store_rows_param(int which, size_t r, int col)
{
	return store_rows[which].first + (int)r * store_rows[which].per + col;
}

/* Binds text (borrowed until the statement runs) to column col of row r
 * of segment statement which. */
static void
store_rows_bind(struct hn_store *s, int which, size_t r, int col,
    const char *text)
{
	sqlite3_bind_text(s->rows[which], store_rows_param(which, r, col),
	    text, -1, SQLITE_STATIC);
}

/* Runs segment statement which (store_drain). */
static int
store_rows_run(struct hn_store *s, int which, bool deleted)
{
	return store_drain(s, s->rows[which], "segment", deleted);
}

/* Notes what the visitors of the joins among ops[*next] to ops[upto - 1]
 * had (store_seen): the one at last n sessions on its page and all on
 * the site, the others none, as the probe found none for them.  0 or
 * HN_ENOMEM. */
static int
store_seg_seen(struct hn_store *s, const struct hn_op *ops, size_t *next,
    size_t upto, size_t last, size_t n, size_t all)
{
	int	 rc = HN_OK;

	for (; rc == HN_OK && *next < upto; (*next)++)
		if (ops[*next].kind == HN_OP_JOIN)
			rc = *next == last ? store_seen(s, ops[*next].page,
			    ops[*next].visitor, n, all) : store_seen(s,
			    ops[*next].page, ops[*next].visitor, 0, 0);
	return rc;
}

/*
 * Reads what one statement of the probe found and chooses the takeovers
 * of its joins: a join takes the first session of its (page, visitor)
 * that had left before the segment, or that a leave before the join in
 * the segment ends, and that no earlier join took; and notes for the
 * count what the visitors of the joins ops[from] to ops[to - 1] had.
 * Returns 1 when only op by op is right: a later join would take over the
 * session whose sid an earlier join used (alone, that join failed on its
 * taken sid; here its insert would follow the takeover and succeed).  0,
 * HN_EDB or HN_ENOMEM otherwise.
 */
static int
store_seg_choose(struct hn_store *s, const struct hn_op *ops, size_t from,
    size_t to)
{
	struct store_seg	*g = &s->seg;
	sqlite3_stmt		*st = s->rows[SR_PROBE];
	struct store_entry	*e;
	const char		*sid;
	size_t			 pos, len, took = SIZE_MAX;
	size_t			 next = from, last = SIZE_MAX, had = 0, all = 0;
	int			 rc, ret = HN_OK;

	while (ret == HN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		pos = (size_t)sqlite3_column_int64(st, 0);
		if (pos != last) {
			if ((ret = store_seg_seen(s, ops, &next, pos, last,
			    had, all)) < 0)
				break;
			last = pos;
			had = all = 0;
		}
		all++;
		if (sqlite3_column_int(st, 3) == 0)
			continue;	/* on another page */
		had++;
		if ((sid = (const char *)sqlite3_column_text(st, 1)) == NULL) {
			ret = HN_ENOMEM;
			break;
		}
		len = (size_t)sqlite3_column_bytes(st, 1);
		if (pos == took || store_set_find(&g->taken, sid, len) != NULL)
			continue;
		/* Live when the join comes? */
		if (sqlite3_column_int(st, 2) == 0 &&
		    ((e = store_set_find(&g->leaves, sid, len)) == NULL ||
		    e->val > pos))
			continue;
		if ((e = store_set_find(&g->joins, sid, len)) != NULL &&
		    e->val < pos)
			ret = 1;
		else if ((ret = store_set_add(&g->taken, sid, len, pos)) ==
		    HN_OK)
			took = pos;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret == HN_OK && rc != SQLITE_DONE) {
		store_warn(s, "%s: %s", __func__, sqlite3_errmsg(s->db));
		return HN_EDB;
	}
	/* The last join's rows are all read only when the probe is. */
	if (ret == HN_OK)
		ret = store_seg_seen(s, ops, &next, to, last, had, all);
	return ret;
}

/*
 * Whether the join op is its visitor's only join or beat in the batch and
 * the visitor had no session before it (store_limit_count() looked): its
 * probe would find nothing.  Under churn most joins are a new reader's.
 */
static bool
store_seg_fresh(struct hn_store *s, const struct hn_op *op)
{
	struct store_entry	*e;

	if (!s->counted || op->visitor[0] == '\0')
		return false;
	e = store_set_find(&s->visitors, op->visitor, strlen(op->visitor));
	return e != NULL && (e->mark & STORE_NONE_BEFORE) != 0 &&
	    e->readers == 1;
}

/* Chooses the takeovers of the segment's joins, from the sessions as they
 * are before it.  Returns as store_seg_choose(). */
static int
store_seg_probe(struct hn_store *s, const struct hn_op *ops, size_t end)
{
	struct store_seg	*g = &s->seg;
	size_t			 i, from = g->start, r = 0, seen = 0;
	int			 rc;

	for (i = g->start; i < end; i++) {
		if (ops[i].kind != HN_OP_JOIN)
			continue;
		seen++;
		if (store_seg_fresh(s, &ops[i])) {
			/* Had nothing, takes over nothing. */
			if (store_seen(s, ops[i].page, ops[i].visitor, 0, 0) <
			    0)
				return HN_ENOMEM;
		} else {
			if (r == 0)
				from = i;
			sqlite3_bind_int64(s->rows[SR_PROBE],
			    store_rows_param(SR_PROBE, r, 0), (int64_t)i);
			store_rows_bind(s, SR_PROBE, r, 1, ops[i].page);
			store_rows_bind(s, SR_PROBE, r, 2, ops[i].visitor);
			r++;
		}
		if (r > 0 && (r == STORE_ROWS || seen == g->njoins)) {
			if ((rc = store_seg_choose(s, ops, from, i + 1)) !=
			    HN_OK)
				return rc;
			r = 0;
		}
	}
	return HN_OK;
}

/*
 * Runs the statement of the segment's joins ops[from] to ops[to - 1]
 * (rows of them, bound) and notes the sessions it inserted: all of them,
 * or, when some sids were taken, the rows it did insert.  Returns their
 * number, HN_EDB or HN_ENOMEM.
 */
static int
store_seg_join(struct hn_store *s, const struct hn_op *ops, size_t from,
    size_t to, size_t rows, int64_t now)
{
	sqlite3_stmt	*st = s->rows[SR_JOIN];
	int64_t		 last;
	size_t		 i;
	int		 rc, n, err = HN_OK;

	sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if ((n = store_rows_run(s, SR_JOIN, false)) < 0)
		return n;
	if ((size_t)n == rows) {
		for (i = from; err == HN_OK && i < to; i++)
			if (ops[i].kind == HN_OP_JOIN)
				err = store_change(s, ops[i].page,
				    ops[i].visitor, 1);
		return err < 0 ? err : n;
	}
	if (n == 0)
		return 0;
	last = sqlite3_last_insert_rowid(s->db);
	st = s->st[ST_INSERTED];
	sqlite3_bind_int64(st, 1, last - n + 1);
	sqlite3_bind_int64(st, 2, last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (err == HN_OK)
			err = store_change(s,
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1), 1);
	if (store_finish(s, st, rc, __func__) < 0)
		return HN_EDB;
	return err < 0 ? err : n;
}

/* Applies the segment's leaves, takeovers and joins.  0, HN_EDB or
 * HN_ENOMEM. */
static int
store_seg_write(struct hn_store *s, const struct hn_op *ops, size_t end,
    int64_t now)
{
	struct store_seg	*g = &s->seg;
	struct store_entry	*e;
	sqlite3_stmt		*st;
	size_t			 i, r, seen, first, inserted = 0;
	int			 rc;

	st = s->rows[SR_LEAVE];
	for (i = g->start, r = seen = 0; g->nleaves > 0 && i < end; i++) {
		if (ops[i].kind != HN_OP_LEAVE)
			continue;
		store_rows_bind(s, SR_LEAVE, r, 0, ops[i].sid);
		seen++;
		if (++r == STORE_ROWS || seen == g->nleaves) {
			sqlite3_bind_int64(st, 1, now);
			if (store_rows_run(s, SR_LEAVE, false) < 0)
				return HN_EDB;
			r = 0;
		}
	}
	e = NULL;
	for (r = seen = 0; (e = store_set_next(&g->taken, e)) != NULL;) {
		store_rows_bind(s, SR_TAKE, r, 0, e->key);
		seen++;
		if (++r == STORE_ROWS || seen == g->taken.n) {
			if ((rc = store_rows_run(s, SR_TAKE, true)) < 0)
				return rc;
			r = 0;
		}
	}
	for (i = first = g->start, r = seen = 0; g->njoins > 0 && i < end;
	    i++) {
		if (ops[i].kind != HN_OP_JOIN)
			continue;
		if (r == 0)
			first = i;
		store_rows_bind(s, SR_JOIN, r, 0, ops[i].sid);
		store_rows_bind(s, SR_JOIN, r, 1, ops[i].page);
		store_rows_bind(s, SR_JOIN, r, 2, ops[i].visitor);
		seen++;
		if (++r == STORE_ROWS || seen == g->njoins) {
			if ((rc = store_seg_join(s, ops, first, i + 1, r,
			    now)) < 0)
				return rc;
			inserted += (size_t)rc;
			r = 0;
		}
	}
	if (inserted < g->njoins)
		log_warnx("%s: %zu joins skipped: their session ids are taken",
		    __func__, g->njoins - inserted);
	return HN_OK;
}

/* ---- counts (NOTES at the top) ------------------------------------------ */

/*
 * Finds what each pair or visitor of set (which: SR_PAIRS or SR_VISITORS)
 * whose sessions the transaction changed had before it, where nobody
 * looked: what it has now less the change.  0 or HN_EDB.
 */
static int
store_count_before(struct hn_store *s, int which, struct store_set *set)
{
	struct store_entry	*rows[STORE_ROWS], *e = NULL;
	sqlite3_stmt		*st = s->rows[which];
	const char		*visitor;
	size_t			 r = 0, i;
	int64_t			 has;
	int			 rc;

	for (;;) {
		e = store_set_next(set, e);
		if (e != NULL && (e->val != STORE_UNKNOWN || e->sessions == 0))
			continue;
		if (e != NULL) {
			sqlite3_bind_int64(st, store_rows_param(which, r, 0),
			    (int64_t)r);
			store_rows_bind(s, which, r, 1, e->key);
			if (which == SR_PAIRS) {
				visitor = e->key + strlen(e->key) + 1;
				store_rows_bind(s, which, r, 2, visitor);
			}
			rows[r++] = e;
		}
		if (r == STORE_ROWS || (e == NULL && r > 0)) {
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				i = (size_t)sqlite3_column_int64(st, 0);
				has = sqlite3_column_int64(st, 1);
				if (i >= r)
					continue;
				if (has < rows[i]->sessions) {
					/* Cannot be: more inserted than
					 * there are. */
					log_warnx("%s: %s has %lld sessions, "
					    "%lld new", __func__, rows[i]->key,
					    (long long)has,
					    (long long)rows[i]->sessions);
					has = rows[i]->sessions;
				}
				rows[i]->val = STORE_HAD +
				    (size_t)(has - rows[i]->sessions);
			}
			if (store_finish(s, st, rc, __func__) < 0)
				return HN_EDB;
			r = 0;
		}
		if (e == NULL)
			return HN_OK;
	}
}

/* 1 when e went from no sessions to some in the transaction, -1 when
 * from some to none, 0 otherwise (store_count_before() ran). */
static int
store_came(const struct store_entry *e)
{
	int64_t	 before;

	if (e->val == STORE_UNKNOWN || e->sessions == 0)
		return 0;
	before = (int64_t)(e->val - STORE_HAD);
	return (before + e->sessions > 0) - (before > 0);
}

/*
 * Turns the sessions the transaction inserted and deleted into the
 * changes of readers and tabs of the pages it touched and of the site,
 * and stamps them with a new sequence number, so that readers fetch only
 * what changed; raises the peaks.  Forgets the changes; returns the
 * number of pages touched or HN_EDB.  A batch that inserted and deleted
 * nothing changed no count.
 */
static int
store_recount(struct hn_store *s, int64_t now)
{
	struct store_set	*t = &s->touched;
	struct store_entry	*e, *p;
	sqlite3_stmt		*st;
	int64_t			 seq = 0, site = 0;
	int			 n = (int)t->n, err = HN_OK;

	if (n == 0)
		goto done;
	if (store_count_before(s, SR_PAIRS, &s->pairs) < 0 ||
	    store_count_before(s, SR_VISITORS, &s->onsite) < 0) {
		err = HN_EDB;
		goto done;
	}
	for (e = NULL; (e = store_set_next(&s->pairs, e)) != NULL;) {
		if (store_came(e) != 0 &&
		    (p = store_set_find(t, e->key, strlen(e->key))) != NULL)
			p->readers += store_came(e);
	}
	for (e = NULL; (e = store_set_next(&s->onsite, e)) != NULL;)
		site += store_came(e);
	st = s->st[ST_NEXT_SEQ];
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (seq <= 0) {
		err = HN_EDB;
		goto done;
	}
	st = s->st[ST_PAGE_STAMP];
	for (e = NULL; err == HN_OK && (e = store_set_next(t, e)) != NULL;) {
		sqlite3_bind_text(st, 1, e->key, (int)e->len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, e->sessions);
		sqlite3_bind_int64(st, 3, e->readers);
		sqlite3_bind_int64(st, 4, seq);
		sqlite3_bind_int64(st, 5, now);
		if (store_step(s, ST_PAGE_STAMP, false) < 0)
			err = HN_EDB;
	}
	st = s->st[ST_SITE_STAMP];
	sqlite3_bind_int64(st, 1, site);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, now);
	if (err == HN_OK && store_step(s, ST_SITE_STAMP, false) < 0)
		err = HN_EDB;
done:
	store_forget(s);
	if (err < 0) {
		log_warnx("%s: the counts were not changed", __func__);
		return HN_EDB;
	}
	return n;
}

/* Applies ops[start] to ops[end - 1] one by one.  0, HN_EDB or HN_ENOMEM
 * (the batch fails). */
static int
store_ops(struct hn_store *s, const struct hn_op *ops, size_t start,
    size_t end, int64_t now)
{
	size_t	 i;
	int	 rc;

	for (i = start; i < end; i++) {
		/* A failed op (say, a duplicate session id) is logged and
		 * skipped; a failing database, or a page that could not be
		 * marked for its recount, fails the whole batch. */
		rc = store_op(s, &ops[i], now);
		if (rc == HN_ENOMEM ||
		    (rc == HN_EDB && sqlite3_get_autocommit(s->db)))
			return rc;
	}
	return HN_OK;
}

/* Applies the segment gathered up to ops[end] and starts the next one
 * there.  0, HN_EDB or HN_ENOMEM. */
static int
store_seg_end(struct hn_store *s, const struct hn_op *ops, size_t end,
    int64_t now)
{
	struct store_seg	*g = &s->seg;
	int			 rc;

	if (g->njoins + g->nleaves < STORE_SEG_MIN ||
	    (rc = store_seg_probe(s, ops, end)) == 1)
		rc = store_ops(s, ops, g->start, end, now);
	else if (rc == HN_OK)
		rc = store_seg_write(s, ops, end, now);
	store_seg_clear(g);
	g->start = end;
	return rc;
}

/* Gathers the batch's ops into segments and applies them; any other op
 * runs alone, in its place.  0, HN_EDB or HN_ENOMEM. */
static int
store_apply_ops(struct hn_store *s, const struct hn_op *ops, size_t n,
    int64_t now)
{
	struct store_seg	*g = &s->seg;
	const struct hn_op	*op;
	size_t			 i;
	int			 rc;

	g->start = 0;
	for (i = 0; i < n; i++) {
		op = &ops[i];
		if (op->kind == HN_OP_LEAVE && store_set_find(&g->joins,
		    op->sid, strlen(op->sid)) != NULL &&
		    (rc = store_seg_end(s, ops, i, now)) < 0)
			return rc;
		switch (op->kind) {
		case HN_OP_JOIN:
			if (store_set_add(&g->joins, op->sid, strlen(op->sid),
			    i) < 0)
				return HN_ENOMEM;
			g->njoins++;
			break;
		case HN_OP_LEAVE:
			if (store_set_add(&g->leaves, op->sid, strlen(op->sid),
			    i) < 0)
				return HN_ENOMEM;
			g->nleaves++;
			break;
		default:
			if ((rc = store_seg_end(s, ops, i, now)) < 0 ||
			    (rc = store_ops(s, ops, i, i + 1, now)) < 0)
				return rc;
			g->start = i + 1;
		}
	}
	return store_seg_end(s, ops, n, now);
}

int
hn_store_visitor_live(struct hn_store *s, const char *visitor,
    const char *sid)
{
	sqlite3_stmt	*st = s->st[ST_VISITOR_LIVE];
	int		 rc;

	sqlite3_bind_text(st, 1, visitor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sid != NULL ? sid : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_ROW ?
	    (int)sqlite3_column_int64(st, 0) : HN_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/*
 * store_limit() keeps each visitor's live sessions in s->visitors (val),
 * counted at the visitor's first op: every live session but the one that
 * op would write (a join's or a beat's sid), whose position + 1 is then
 * kept in the entry's sessions.  The entry's readers is the number of
 * joins and beats the visitor has in the batch.
 */
#define STORE_UNCOUNTED	SIZE_MAX	/* a visitor not looked up yet */
#define STORE_ASKED	(SIZE_MAX - 1)	/* one being looked up */
/* What the batch did to a sid so far (s->sids). */
#define STORE_SID_LIVE	1
#define STORE_SID_GONE	2

/* The sid that the count of e, made at ops[i], leaves out: ops[i]'s when
 * it writes one (noted in e as the op's position + 1), else none (""). */
static const char *
store_limit_leave_out(struct store_entry *e, const struct hn_op *op, size_t i)
{
	if (op->kind != HN_OP_JOIN && op->kind != HN_OP_BEAT)
		return "";
	e->sessions = (int64_t)i + 1;
	return op->sid;
}

/* Whether ops[i]'s sid is among the live sessions counted in e (its
 * visitor's): by what the batch did to it, else by the table.  1, 0 or
 * HN_EDB. */
static int
store_limit_counted(struct hn_store *s, const struct hn_op *op, size_t i,
    const struct store_entry *e)
{
	struct store_entry	*k;
	sqlite3_stmt		*st = s->st[ST_SESSION_LIVE];

	if ((k = store_set_find(&s->sids, op->sid, strlen(op->sid))) != NULL)
		return k->val == STORE_SID_LIVE;
	if (e->sessions == (int64_t)i + 1)
		return 0;	/* left out of the count */
	sqlite3_bind_text(st, 1, op->sid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->visitor, -1, SQLITE_STATIC);
	return store_any(s, ST_SESSION_LIVE);
}

/*
 * Looks up what each visitor of s->visitors has before the batch, as
 * store_limit() would one by one at the visitor's first op (every live
 * session but the one that op would write: a join's or a beat's sid), a
 * statement per STORE_ROWS visitors.  0 or HN_EDB.
 */
static int
store_limit_count(struct hn_store *s, const struct hn_op *ops, size_t n)
{
	struct store_entry	*rows[STORE_ROWS], *e;
	sqlite3_stmt		*st = s->rows[SR_LIMIT];
	const struct hn_op	*op;
	size_t			 i, k, r = 0;
	int64_t			 has;
	int			 rc;

	for (i = 0; i <= n; i++) {
		if (i < n) {
			op = &ops[i];
			if (op->visitor[0] == '\0' ||
			    (e = store_set_find(&s->visitors, op->visitor,
			    strlen(op->visitor))) == NULL ||
			    e->val != STORE_UNCOUNTED)
				continue;
			sqlite3_bind_int64(st, store_rows_param(SR_LIMIT, r,
			    0), (int64_t)r);
			store_rows_bind(s, SR_LIMIT, r, 1, op->visitor);
			store_rows_bind(s, SR_LIMIT, r, 2,
			    store_limit_leave_out(e, op, i));
			e->val = STORE_ASKED;
			rows[r++] = e;
			if (r < STORE_ROWS)
				continue;
		}
		if (r == 0)
			continue;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			k = (size_t)sqlite3_column_int64(st, 0);
			has = sqlite3_column_int64(st, 1);
			if (k >= r || has < 0)
				continue;
			rows[k]->val = (size_t)(has & 0xffffffff);
			if (has >> 32 == 0)
				rows[k]->mark |= STORE_NONE_BEFORE;
		}
		if (store_finish(s, st, rc, __func__) < 0)
			return HN_EDB;
		for (k = 0; k < r; k++)
			if (rows[k]->val == STORE_ASKED)
				return HN_EDB;	/* cannot be: a row each */
		r = 0;
	}
	return HN_OK;
}

/*
 * max_sessions_per_visitor, inside the write transaction so that every
 * process's sessions are counted: a join or a beat of a visitor that has
 * the maximum of live sessions already (with what the batch did before
 * it: a page change is a leave and a join in one batch) is refused and
 * left out.  *out: the ops to apply (ops itself when none is refused).
 * Anonymous visitors ("~sid") have one session each.  A beat naming
 * another visitor's sid (only a forged one does) counts in the batch as a
 * new session of its own visitor: refused sooner, never later, than alone.
 */
static int
store_limit(struct hn_store *s, const struct hn_op *ops, size_t n,
    size_t off, const struct hn_op **out, size_t *nout)
{
	struct store_entry	*e;
	const struct hn_op	*op;
	size_t			 i, state, len, nref = 0;
	bool			 added;
	int			 rc;

	*out = ops;
	*nout = n;
	s->counted = false;
	if (s->max_visitor == 0 || n == 0)
		return HN_OK;
	if (off + n > s->refused_cap) {
		bool *r = reallocarray(s->refused, off + n, sizeof(*r));

		if (r == NULL)
			return HN_ENOMEM;
		s->refused = r;
		s->refused_cap = off + n;
	}
	if (n > s->kept_cap) {
		struct hn_op *k = reallocarray(s->kept, n, sizeof(*k));

		if (k == NULL)
			return HN_ENOMEM;
		s->kept = k;
		s->kept_cap = n;
	}
	/* The visitors that gain sessions; only their leaves matter. */
	store_set_clear(&s->visitors);
	store_set_clear(&s->sids);
	if (store_set_reserve(&s->visitors, n) < 0)
		return HN_ENOMEM;
	for (i = 0; i < n; i++) {
		op = &ops[i];
		if ((op->kind != HN_OP_JOIN && op->kind != HN_OP_BEAT) ||
		    op->visitor[0] == '\0' || op->visitor[0] == '~')
			continue;
		if ((e = store_set_get(&s->visitors, op->visitor,
		    strlen(op->visitor), STORE_UNCOUNTED, &added)) == NULL)
			return HN_ENOMEM;
		e->readers++;
	}
	/* Many visitors: looked up together; a few: one by one below (a
	 * statement of STORE_ROWS rows costs about STORE_SEG_MIN lone
	 * lookups, as for the segments). */
	if (s->visitors.n >= STORE_SEG_MIN) {
		if (store_limit_count(s, ops, n) < 0)
			return HN_EDB;
		s->counted = true;
	}
	for (i = 0; i < n; i++) {
		op = &ops[i];
		s->refused[off + i] = false;
		if (op->visitor[0] == '\0' || (e = store_set_find(&s->visitors,
		    op->visitor, strlen(op->visitor))) == NULL)
			continue;
		if (e->val == STORE_UNCOUNTED) {
			if ((rc = hn_store_visitor_live(s, op->visitor,
			    store_limit_leave_out(e, op, i))) < 0)
				return HN_EDB;
			e->val = (size_t)rc;
		}
		/* Room for every join and beat it has in the batch: none is
		 * refused, and what it does needs no following. */
		if (e->val + (size_t)e->readers <= s->max_visitor)
			continue;
		if (op->kind != HN_OP_JOIN && op->kind != HN_OP_BEAT &&
		    op->kind != HN_OP_LEAVE && op->kind != HN_OP_DROP)
			continue;
		if ((rc = store_limit_counted(s, op, i, e)) < 0)
			return HN_EDB;
		if (op->kind == HN_OP_JOIN || op->kind == HN_OP_BEAT) {
			/* A beat that refreshes its session, or a join
			 * whose sid is live (it fails), adds none. */
			if ((e->val > (size_t)rc ? e->val - (size_t)rc : 0) >=
			    s->max_visitor) {
				s->refused[off + i] = true;
				nref++;
				continue;
			}
			e->val += (size_t)(1 - rc);
			state = STORE_SID_LIVE;
		} else {
			/* A leave or a drop: a live session less. */
			if (rc == 1 && e->val > 0)
				e->val--;
			state = STORE_SID_GONE;
		}
		if ((e = store_set_get(&s->sids, op->sid, strlen(op->sid),
		    state, &added)) == NULL)
			return HN_ENOMEM;
		e->val = state;
	}
	s->nlimit = off + n;
	if (nref == 0)
		return HN_OK;
	for (i = 0, len = 0; i < n; i++)
		if (!s->refused[off + i])
			s->kept[len++] = ops[i];
	*out = s->kept;
	*nout = len;
	return HN_OK;
}

void
hn_store_set_limits(struct hn_store *s, unsigned max_sessions_per_visitor)
{
	s->max_visitor = max_sessions_per_visitor;
}

void
hn_store_set_part(struct hn_store *s, size_t ops)
{
	s->part = ops > 0 ? ops : STORE_PART;
}

bool
hn_store_refused(const struct hn_store *s, size_t i)
{
	return i < s->nlimit && s->refused[i];
}


/* Applies n ops, ops[0] being the batch's op off: the visitor limit, then
 * the ops it keeps.  0, HN_EDB or HN_ENOMEM. */
static int
store_part(struct hn_store *s, const struct hn_op *ops, size_t n, size_t off,
    int64_t now)
{
	if (store_limit(s, ops, n, off, &ops, &n) < 0)
		return HN_EDB;
	/* A join or a leave notes at most a pair and a visitor each. */
	if (store_set_reserve(&s->pairs, n) < 0 ||
	    store_set_reserve(&s->onsite, n) < 0)
		return HN_ENOMEM;
	return store_apply_ops(s, ops, n, now);
}

int
hn_store_apply(struct hn_store *s, const struct hn_op *ops, size_t n,
    bool beat, int64_t now)
{
	sqlite3_stmt	*st;
	uint64_t	 reaped = 0;
	size_t		 off;
	int		 touched, rc;

	if (!s->writer)
		return HN_EINVAL;
	s->nlimit = 0;
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return HN_EDB;
	/* A writer reaped while it was stalled registers again before it
	 * writes: a session without an owner row is never reaped. */
	if (!beat && n > 0 && ((rc = store_owned(s)) < 0 ||
	    (rc == 0 && store_register(s, now) < 0)))
		goto fail;
	/*
	 * A large batch goes a part at a time, each with its own recount
	 * (as a batch of its own would, in the same transaction): the
	 * sets of the changes stay small enough for the cache.
	 */
	for (off = 0, touched = 0; off + s->part < n; off += s->part) {
		if (store_part(s, ops + off, s->part, off, now) < 0 ||
		    (rc = store_recount(s, now)) < 0)
			goto fail;
		touched += rc;
	}
	if (store_part(s, ops + off, n - off, off, now) < 0)
		goto fail;
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
		st = s->st[ST_STALE_ANY];
		sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
		if ((rc = store_any(s, ST_STALE_ANY)) < 0)
			goto fail;
		if (rc == 1) {
			st = s->st[ST_STALE_SESSIONS];
			sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
			if ((rc = store_step(s, ST_STALE_SESSIONS, true)) < 0)
				goto fail;
			reaped += (uint64_t)rc;
			st = s->st[ST_STALE_OWNERS];
			sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
			if (store_step(s, ST_STALE_OWNERS, false) < 0)
				goto fail;
		}
		st = s->st[ST_BEAT_STALE];
		sqlite3_bind_int64(st, 1, now - s->stale_after_ms);
		if ((rc = store_step(s, ST_BEAT_STALE, true)) < 0)
			goto fail;
		reaped += (uint64_t)rc;
		if (store_step(s, ST_SERIES_ORPHANS, false) < 0)
			goto fail;
	}
	if ((rc = store_recount(s, now)) < 0)
		goto fail;
	touched += rc;
	if (store_exec(s, "COMMIT") < 0)
		goto fail;
	s->reaped += reaped;
	return touched;
fail:
	store_rollback(s);
	s->nlimit = 0;
	store_seg_clear(&s->seg);
	store_forget(s);
	return HN_EDB;
}

int64_t
hn_store_next_expiry(struct hn_store *s)
{
	sqlite3_stmt	*st = s->st[ST_NEXT_EXPIRY];
	int64_t		 t = INT64_MAX;

	sqlite3_bind_text(st, 1, s->owner, -1, SQLITE_STATIC);
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

	st = s->st[ST_DATA_VERSION];
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
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
			store_warn(s, "%s: %s", __func__, sqlite3_errmsg(s->db));
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
	store_set_free(&s->touched);
	store_set_free(&s->pairs);
	store_set_free(&s->onsite);
	free(s->pair);
	store_set_free(&s->seg.joins);
	store_set_free(&s->seg.leaves);
	store_set_free(&s->seg.taken);
	store_set_free(&s->visitors);
	store_set_free(&s->sids);
	free(s->refused);
	free(s->kept);
	for (i = 0; i < SR_COUNT_; i++)
		sqlite3_finalize(s->rows[i]);
	for (i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(s->st[i]);
	for (i = 0; i < STORE_TX_N; i++)
		sqlite3_finalize(s->tx[i]);
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
	store_rollback(s);
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
	store_rollback(s);
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
	store_rollback(s);
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
