package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/handoff-dev/handoff"
)

// The store tells a database that is down or full apart from a fault of
// ours: every connection is wrapped so that a driver error meaning "cannot
// reach the database" or "no room to write" comes out marked with
// handoff.ErrUnavailable, whichever store method (and handoff.Internal call)
// it passes through; so does a transaction PostgreSQL rolled back to break
// a deadlock, which may be tried again. The HTTP layer answers those 503
// with Retry-After.

// unavailable is a driver error marked as handoff.ErrUnavailable.
type unavailable struct {
	err  error
	full bool // the disk (or the database's quota) is full
}

func (u *unavailable) Error() string { return u.err.Error() }
func (u *unavailable) Unwrap() error { return u.err }
func (u *unavailable) Is(target error) bool {
	return target == handoff.ErrUnavailable
}

// diskFull reports whether err says the database has no room to write:
// SQLITE_FULL, or PostgreSQL's disk_full (53100) and its out-of-memory and
// quota kin in class 53. Local writes that hit ENOSPC say the same.
func diskFull(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "53100" || pe.Code == "53200" || pe.Code == "53400"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// unreachable reports whether err says the database cannot be reached or
// dropped the connection: refused, reset, closed, a PostgreSQL connection
// exception (class 08), too many connections (53300), an administrator's
// shutdown (57P01–57P03), or a network timeout.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "53300" || strings.HasPrefix(pe.Code, "57P0")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// rolledBack returns the SQLSTATE of a PostgreSQL error that rolled the
// transaction back to let another go on — deadlock_detected (40P01) or
// serialization_failure (40001) — and "" for any other error. Nothing of
// the transaction was written, so the client may try again: it is marked
// unavailable (503, Retry-After) rather than left a 500. The store's
// transactions take their locks in one order so that it should not happen
// (see lockGarage); the tx that meets one logs it.
func rolledBack(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
		return pe.Code
	}
	return ""
}

// faults marks driver errors and remembers when the disk was last full.
type faults struct {
	lastFull atomic.Int64 // UnixNano of the last disk-full error, 0 for never
	// statements counts the statements the connections ran, for
	// benchmarks: a request's queries are its cost on any engine.
	statements atomic.Uint64
	// trace, when set (by tests), is told the text of every statement
	// prepared or run without preparing.
	trace atomic.Pointer[func(string)]
}

// traced tells the trace about a statement's text.
func (f *faults) traced(query string) {
	if fn := f.trace.Load(); fn != nil {
		(*fn)(query)
	}
}

// mark returns err marked as unavailable when it is, else err itself. An
// error caused by the caller's deadline passing is unavailable too: the
// database did not answer in the time the request had. driver.ErrBadConn
// and driver.ErrSkip are never wrapped: database/sql acts on them.
func (f *faults) mark(ctx context.Context, err error) error {
	if err == nil || err == driver.ErrSkip || errors.Is(err, driver.ErrBadConn) {
		return err
	}
	switch {
	case diskFull(err):
		f.lastFull.Store(time.Now().UnixNano())
		return &unavailable{err: err, full: true}
	case unreachable(err), rolledBack(err) != "", ctx != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &unavailable{err: err}
	}
	return err
}

// fullSince returns when the disk was last found full, zero for never.
func (f *faults) fullSince() time.Time {
	if n := f.lastFull.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// connector wraps a driver's connector so that every connection marks its
// errors.
type connector struct {
	driver.Connector
	f        *faults
	noCancel bool
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, c.f.mark(ctx, err)
	}
	return &conn{Conn: cn, f: c.f, noCancel: c.noCancel}, nil
}

// dsnConnector is a connector for a driver that has none of its own.
type dsnConnector struct {
	drv driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// openMarked is sql.Open whose connections mark their errors with f. With
// noCancel their statements run to the end whatever their context says
// (database/sql still refuses to start one whose context has ended).
func openMarked(driverName, dsn string, f *faults, noCancel bool) (*sql.DB, error) {
	probe, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	probe.Close()
	var inner driver.Connector = dsnConnector{drv: drv, dsn: dsn}
	if dc, ok := drv.(driver.DriverContext); ok {
		if inner, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(&connector{Connector: inner, f: f, noCancel: noCancel}), nil
}

// conn forwards to the driver's connection, marking errors. It offers every
// optional interface database/sql looks for and falls back as database/sql
// would when the driver lacks one.
type conn struct {
	driver.Conn
	f        *faults
	noCancel bool
}

// driverCtx is the context the driver is given for a statement.
func (c *conn) driverCtx(ctx context.Context) context.Context {
	if c.noCancel {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.f.traced(query)
	var s driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(c.driverCtx(ctx), query)
	} else {
		s, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, c.f.mark(ctx, err)
	}
	return &stmt{Stmt: s, conn: c}, nil
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var t driver.Tx
	var err error
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		t, err = b.BeginTx(c.driverCtx(ctx), opts)
	} else {
		t, err = c.Conn.Begin() //nolint:staticcheck // the driver has nothing newer
	}
	if err != nil {
		return nil, c.f.mark(ctx, err)
	}
	return &tx{Tx: t, ctx: ctx, f: c.f}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.f.statements.Add(1)
	c.f.traced(query)
	res, err := e.ExecContext(c.driverCtx(ctx), query, args)
	return res, c.f.mark(ctx, err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.f.statements.Add(1)
	c.f.traced(query)
	rs, err := q.QueryContext(c.driverCtx(ctx), query, args)
	if err != nil {
		return nil, c.f.mark(ctx, err)
	}
	return &rows{Rows: rs, ctx: ctx, f: c.f}, nil
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return c.f.mark(ctx, p.Ping(ctx))
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type stmt struct {
	driver.Stmt
	conn *conn
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	var res driver.Result
	var err error
	s.conn.f.statements.Add(1)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		res, err = e.ExecContext(s.conn.driverCtx(ctx), args)
	} else {
		res, err = s.Stmt.Exec(values(args)) //nolint:staticcheck // the driver has nothing newer
	}
	return res, s.conn.f.mark(ctx, err)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	var rs driver.Rows
	var err error
	s.conn.f.statements.Add(1)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		rs, err = q.QueryContext(s.conn.driverCtx(ctx), args)
	} else {
		rs, err = s.Stmt.Query(values(args)) //nolint:staticcheck // the driver has nothing newer
	}
	if err != nil {
		return nil, s.conn.f.mark(ctx, err)
	}
	return &rows{Rows: rs, ctx: ctx, f: s.conn.f}, nil
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return s.conn.CheckNamedValue(nv)
}

// values drops the names of arguments, for a driver's older methods.
func values(args []driver.NamedValue) []driver.Value {
	vs := make([]driver.Value, len(args))
	for i, a := range args {
		vs[i] = a.Value
	}
	return vs
}

type tx struct {
	driver.Tx
	ctx context.Context
	f   *faults
}

func (t *tx) Commit() error { return t.f.mark(t.ctx, t.Tx.Commit()) }

type rows struct {
	driver.Rows
	ctx context.Context
	f   *faults
}

func (r *rows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err == io.EOF {
		return err
	}
	return r.f.mark(r.ctx, err)
}
