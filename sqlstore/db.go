// Package sqlstore implements handoff's services on a SQL database through
// database/sql: SQLite (modernc.org/sqlite, pure Go, WAL) for the embedded
// default and PostgreSQL (pgx) when the server scales out. The SQL is one
// portable dialect; rules that must hold across nodes (single use, counters,
// claims) are conditional UPDATEs and unique constraints, never a read then a
// write in Go.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/keyring"
)

// Engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is the store. Its methods implement the handoff service interfaces.
type DB struct {
	db     *sql.DB
	Engine string
	// Now is the clock; tests replace it.
	Now func() time.Time
	Log *slog.Logger
	// Keys derive passcodes and seal secrets; required by the delivery
	// services.
	Keys *keyring.Ring
	// Policy holds the configurable delivery rules.
	Policy handoff.Policy

	// Passwords bounds how many sign-in checks this node runs at once;
	// Open sizes it with auth.GateSize.
	Passwords *auth.Gate
	// guardClaims counts this node's sign-in claims, to prune now and then.
	guardClaims atomic.Uint64
	// keyIDs remembers the key each contact set's code is derived with on
	// a day. A set's key for a day is fixed the first time it is stored and
	// never changed or removed (passcode_sets is only inserted into), so a
	// remembered ID is right on every node; only what was read outside a
	// transaction, and so is committed, is remembered. A morning's messages
	// and checks read each set's key once instead of once each.
	keyIDs memo[[2]string, string]
	// heads remembers the head this node last wrote to each audit chain. It
	// is only a guess that saves reading the head: appendAudit moves a head
	// from a remembered one only when the row still holds it, so a guess
	// left behind by a rolled-back transaction or overtaken by another node
	// costs a miss, never a broken chain.
	heads memo[string, auditHead]
	// keys remembers the API keys this node authenticated, by digest, each
	// under the auth epoch it was read at (see AuthenticateAPIKey): used
	// only while the epoch in the database is still that one.
	keys memo[string, knownKey]

	faults faults

	// On SQLite, write transactions run on their own connection, queued
	// and batched by the writer (see writer.go); wdb is that connection's
	// pool. On PostgreSQL both are nil and every transaction is d.db's.
	wdb    *sql.DB
	writer *writer
	ckpt   *checkpointer // copies the log into the database beside the writer
	cdb    *sql.DB       // the checkpointer's connection

	// reads holds the prepared statements of d.db; writes those of the
	// database transactions run on (wdb's on SQLite, else reads).
	reads, writes *stmtCache
}

// memo remembers up to memoSize values of this node's, and starts afresh
// when full; the zero value is empty and ready.
type memo[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

const memoSize = 1 << 16

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *memo[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= memoSize {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

// stmtCache keeps the prepared statements of hot queries on one pool.
type stmtCache struct {
	db        *sql.DB
	mu        sync.Mutex
	stmts     map[string]*sql.Stmt
	preparing map[string]bool
}

// stmt returns the prepared statement of a hot query, or nil while it is
// not prepared yet. Preparing takes a connection from the pool, so it is
// never done by a caller that may hold one (a transaction waiting for a free
// connection while every connection waits for it would deadlock): the first
// use starts it in the background and runs the query unprepared. Parsing SQL
// was a fifth of the cost of creating a label on SQLite.
func (c *stmtCache) stmt(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
		c.preparing = map[string]bool{}
	}
	if !c.preparing[query] {
		c.preparing[query] = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := c.db.PrepareContext(ctx, query)
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				delete(c.preparing, query) // try again on a later use
				return
			}
			c.stmts[query] = s
		}()
	}
	return nil
}

// txExec runs a hot statement in tx, prepared when it can be.
func (d *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s := d.writes.stmt(query); s != nil {
		return tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQuery is txExec for a statement returning rows.
func (d *DB) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if s := d.writes.stmt(query); s != nil {
		return tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// queryRow runs a hot one-row query outside a transaction.
func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s := d.reads.stmt(query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.db.QueryRowContext(ctx, query, args...)
}

// query runs a hot query outside a transaction.
func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := d.reads.stmt(query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return d.db.QueryContext(ctx, query, args...)
}

// sqlLiteral writes a constant of the code as an SQL string literal, for a
// value a query must not bind (see StationParcels). Never for input.
func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// itoa formats a small integer for keys.
func itoa(n int) string { return strconv.Itoa(n) }

// txQueryRow is txExec for a statement returning one row.
func (d *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if s := d.writes.stmt(query); s != nil {
		return tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// IsPostgresURL reports whether dsn selects PostgreSQL.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to dsn — a postgres:// URL, or else the path of a SQLite file
// (created if missing) — and applies pending migrations. It fails when the
// database cannot be reached or migrated.
func Open(ctx context.Context, dsn string) (*DB, error) {
	d := &DB{Now: func() time.Time { return time.Now().UTC() }, Log: slog.Default(), Policy: handoff.DefaultPolicy(),
		Passwords: auth.NewGate(auth.GateSize())}
	var err error
	if IsPostgresURL(dsn) {
		d.Engine = Postgres
		d.db, err = openMarked("pgx", dsn, &d.faults, false)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		d.SetMaxConns(DefaultMaxConns[Postgres])
		d.db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		d.Engine = SQLite
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("open sqlite: %w", err)
			}
		}
		q, err := sqliteParams()
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		d.db, err = openMarked("sqlite", "file:"+dsn+"?"+q.Encode(), &d.faults, false)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		d.SetMaxConns(DefaultMaxConns[SQLite]) // every one kept: each keeps its prepared statements
		d.db.SetConnMaxIdleTime(0)
		// The writer's statements are not interrupted when a request's
		// context ends: that would roll back the whole batch, every other
		// request's changes with it. A request whose context has ended is
		// not started (see writer.go), and once started its statements
		// take microseconds: nothing waits for a lock on this connection.
		if d.wdb, err = openMarked("sqlite", "file:"+dsn+"?"+q.Encode(), &d.faults, true); err != nil {
			d.db.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		d.wdb.SetMaxOpenConns(1)
		d.wdb.SetMaxIdleConns(1)
		d.wdb.SetConnMaxIdleTime(0)
		// The checkpointer's own connection: no request waits for it, and
		// its statements are not the requests' (Statements, the trace).
		if d.cdb, err = sql.Open("sqlite", "file:"+dsn+"?"+q.Encode()); err != nil {
			d.closePools()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		d.cdb.SetMaxOpenConns(1)
		d.cdb.SetMaxIdleConns(1)
		d.cdb.SetConnMaxIdleTime(0)
	}
	d.reads = &stmtCache{db: d.db}
	d.writes = d.reads
	if d.wdb != nil {
		d.writes = &stmtCache{db: d.wdb}
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := d.db.PingContext(pctx); err != nil {
		d.closePools()
		return nil, fmt.Errorf("connect %s: %w", d.Engine, err)
	}
	if err := d.migrate(ctx); err != nil {
		d.closePools()
		return nil, err
	}
	if err := d.fillCodeSets(ctx); err != nil {
		d.closePools()
		return nil, err
	}
	if err := d.fillRecipientNames(ctx); err != nil {
		d.closePools()
		return nil, err
	}
	if d.wdb != nil {
		d.ckpt = newCheckpointer(d.cdb, func() *slog.Logger { return d.Log })
		d.writer = newWriter(d.wdb, &d.faults, d.ckpt.committed)
	}
	return d, nil
}

// DefaultMaxConns is the connection pool's default size per engine: SQLite
// has one writer at a time, so more connections only queue in the file lock.
var DefaultMaxConns = map[string]int{SQLite: 8, Postgres: 32}

// SetMaxConns sets how many connections the pool may open; requests beyond
// them wait for one until their deadline, then get EUNAVAILABLE. Every
// connection may stay open idle (on PostgreSQL until it has been idle for
// five minutes): a busy node uses them all, and one closed on its return
// to the pool is opened again a moment later. On PostgreSQL that is a new
// server process, started and with its statements prepared again: with
// half of them kept idle, a 5,000-parcel day on two nodes opened 741
// connections instead of 66, and PostgreSQL spent 93 s of CPU on it
// instead of 48 (the nodes 34 s instead of 27).
func (d *DB) SetMaxConns(n int) {
	d.db.SetMaxOpenConns(n)
	d.db.SetMaxIdleConns(n)
}

// fullHold is how long readiness fails after the database was found full:
// long enough for a load balancer to notice, short enough to find out soon
// whether room was made.
const fullHold = 30 * time.Second

// Writable reports, for the readiness probe, whether the database had room
// for the last write: an error while a write failed for lack of disk in the
// last fullHold.
func (d *DB) Writable(context.Context) error {
	if at := d.faults.fullSince(); !at.IsZero() && time.Since(at) < fullHold {
		return fmt.Errorf("the database's disk was full at %s", at.UTC().Format(time.RFC3339))
	}
	return nil
}

// Close stops the writer after its batch and closes the connection pools.
func (d *DB) Close() error {
	if d.writer != nil {
		d.writer.close()
	}
	if d.ckpt != nil {
		d.ckpt.close()
	}
	return d.closePools()
}

func (d *DB) closePools() error {
	if d.wdb != nil {
		d.wdb.Close()
	}
	if d.cdb != nil {
		d.cdb.Close()
	}
	return d.db.Close()
}

// Ping reports whether the database answers, for the readiness probe.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Statements returns how many SQL statements the store has run since it
// opened (transaction control aside), for benchmarks.
func (d *DB) Statements() uint64 { return d.faults.statements.Load() }

// exec runs a statement that writes, outside any transaction of the
// caller's: on SQLite through the writer, like every write.
func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if d.writer == nil {
		return d.db.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = d.txExec(ctx, tx, query, args...)
		return err
	})
	return res, err
}

// writeRow runs a one-row statement that writes (…RETURNING) outside any
// transaction of the caller's and scans its row into dest; sql.ErrNoRows
// when it returned none.
func (d *DB) writeRow(ctx context.Context, dest []any, query string, args ...any) error {
	if d.writer == nil {
		return d.db.QueryRowContext(ctx, query, args...).Scan(dest...)
	}
	return d.tx(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, query, args...).Scan(dest...) })
}

// writeRows is writeRow for a statement returning any number of rows,
// each handed to scan.
func (d *DB) writeRows(ctx context.Context, scan func(*sql.Rows) error, query string, args ...any) error {
	run := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	if d.writer == nil {
		return run(d.db.QueryContext(ctx, query, args...))
	}
	return d.tx(ctx, func(tx *sql.Tx) error { return run(d.txQuery(ctx, tx, query, args...)) })
}

// writeStrings is writeRows for a statement returning one string a row.
// A statement that writes never runs on the read pool on SQLite: it would
// wait for the writer's lock in SQLite's sleeping busy handler (hundreds of
// milliseconds under load, found for the garage sweeps) and, once it had
// it, make the writer's next batch wait in turn.
func (d *DB) writeStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	var out []string
	err := d.writeRows(ctx, func(rows *sql.Rows) error {
		var s string
		err := rows.Scan(&s)
		out = append(out, s)
		return err
	}, query, args...)
	if err != nil {
		return nil, handoff.Internal(err, "write")
	}
	return out, nil
}

// Stats returns the connection pool statistics, for metrics.
func (d *DB) Stats() sql.DBStats { return d.db.Stats() }

// tx runs fn in a transaction, committing when it returns nil. A failure to
// commit is returned as an internal error. On SQLite the transaction is a
// part of the writer's next batch; fn must not start another.
func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if d.writer != nil {
		return d.writer.do(ctx, fn)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return handoff.Internal(err, "begin")
	}
	defer tx.Rollback()
	err = fn(tx)
	if err == nil {
		if err = tx.Commit(); err != nil {
			err = handoff.Internal(err, "commit")
		}
	}
	if code := rolledBack(err); code != "" {
		// Answered 503, which is not logged as a fault: two transactions
		// took locks in opposite orders, which is one.
		d.Log.WarnContext(ctx, "transaction rolled back by the database", "sqlstate", code, "err", err)
	}
	return err
}

// sqliteParams are the DSN parameters every SQLite connection is opened
// with.
func sqliteParams() (url.Values, error) {
	q := url.Values{}
	// synchronous(FULL): a transaction is on disk before it is
	// acknowledged, so nothing a client was told is stored is lost if the
	// machine (not just the process) goes down. NORMAL would be about a
	// quarter faster and could lose the last commits; the log's VFS
	// (walvfs.go) also counts on every commit syncing the log.
	// temp_store(MEMORY) keeps the journal of a savepoint (each request in
	// the writer's batch is one) in memory instead of spilling it to a
	// temporary file.
	// cache_spill(0): a transaction's changed pages stay in its connection's
	// cache until it commits instead of going to the log early when the
	// cache is full, so the log's VFS holds a connection's pages only
	// between its commit's first write and its sync (see walvfs.go).
	// The log is copied into the database by the checkpointer, beside the
	// writer (see checkpoint.go); wal_autocheckpoint(10000) has the writer
	// copy it itself only past 10,000 pages (about 40 MB), when the
	// checkpointer fell behind. journal_size_limit brings the log back to
	// 64 MB after a burst made it longer.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)", "temp_store(MEMORY)",
		"cache_spill(0)", "wal_autocheckpoint(10000)", "journal_size_limit(67108864)"} {
		q.Add("_pragma", p)
	}
	// The log's writes are gathered (see walvfs.go).
	if err := registerWALVFS(); err != nil {
		return nil, err
	}
	q.Set("vfs", walVFSName)
	// Writers take the lock when they begin, so two transactions never
	// deadlock upgrading a read lock; busy_timeout queues them.
	q.Set("_txlock", "immediate")
	return q, nil
}

// isUnique reports whether err is a unique-constraint violation on either engine.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// micros turns a time into the BIGINT form every timestamp is stored in.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is the inverse of micros, in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
