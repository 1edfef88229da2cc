package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/handoff-dev/handoff"
)

// SQLite lets one connection write at a time. Left to itself, a writer that
// finds the lock taken sleeps in SQLite's busy handler (1 ms, then longer,
// up to 100 ms) and the lock may sit idle while requests sleep; and with
// synchronous=FULL every commit waits for its own fsync. So the store queues
// SQLite's write transactions in Go and runs them on one connection, in
// batches that share one commit: each request's transaction is a savepoint
// of the batch's, rolled back alone when it fails, and every request of a
// batch is answered only once the commit that holds its changes is on disk.
// The requests that queue while one batch is being written make up the
// next, so one fsync serves them all and nobody waits for a lock to be
// noticed free.

// writer runs write transactions on its own single connection, in batches.
type writer struct {
	db     *sql.DB // MaxOpenConns 1: the only connection that writes
	faults *faults
	jobs   chan *writeJob
	quit   chan struct{}
	done   chan struct{}
	// committed, when set, is called after each commit (the checkpointer's
	// kick); it must not block.
	committed func()
}

// writeJob is one request's transaction.
type writeJob struct {
	ctx context.Context
	fn  func(*sql.Tx) error
	res chan error
}

// A batch takes the requests already waiting, up to these bounds, so that
// the first of them does not wait long for the others.
const (
	maxBatchJobs = 128
	maxBatchWork = 5 * time.Millisecond
)

// errClosed answers requests after the store was closed.
var errClosed = errors.New("the store is closed")

func newWriter(db *sql.DB, f *faults, committed func()) *writer {
	w := &writer{db: db, faults: f, jobs: make(chan *writeJob), quit: make(chan struct{}), done: make(chan struct{}), committed: committed}
	go w.run()
	return w
}

// do runs fn in a transaction and returns once its changes are durable or
// undone. A request whose context ends while it waits is not run.
func (w *writer) do(ctx context.Context, fn func(*sql.Tx) error) error {
	j := &writeJob{ctx: ctx, fn: fn, res: make(chan error, 1)}
	select {
	case w.jobs <- j:
	case <-ctx.Done():
		return handoff.Internal(w.faults.mark(ctx, ctx.Err()), "begin")
	case <-w.quit:
		return handoff.Internal(errClosed, "begin")
	}
	// Once taken, a job runs or is refused within its batch; its outcome
	// is waited for whatever the context says, so that nobody is told a
	// change failed that was written.
	err := <-j.res
	var p panicked
	if errors.As(err, &p) {
		panic(p.v)
	}
	return err
}

// close stops the writer after the batch it is writing.
func (w *writer) close() {
	close(w.quit)
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	for {
		select {
		case j := <-w.jobs:
			w.batch(j)
		case <-w.quit:
			return
		}
	}
}

// batch runs first and the jobs that are waiting in one transaction and
// answers them all after its commit.
func (w *writer) batch(first *writeJob) {
	bg := context.Background()
	tx, err := w.db.BeginTx(bg, nil)
	if err != nil {
		first.res <- handoff.Internal(err, "begin")
		return
	}
	type result struct {
		j   *writeJob
		err error
	}
	var ran []result
	start := time.Now()
	// The first job runs without a savepoint: when it fails, the whole
	// transaction is its own to roll back.
	if err := w.first(tx, first); err != nil {
		tx.Rollback()
		first.res <- err
		return
	}
	ran = append(ran, result{first, nil})
	for {
		var j *writeJob
		if len(ran) < maxBatchJobs && time.Since(start) < maxBatchWork {
			select {
			case j = <-w.jobs:
			default:
			}
		}
		if j == nil {
			break
		}
		err, broken := w.one(tx, j)
		ran = append(ran, result{j, err})
		if broken {
			// SQLite ended the transaction (a full disk, an I/O error):
			// nothing of the batch was written.
			tx.Rollback()
			for _, r := range ran {
				r.j.res <- handoff.Internal(err, "write")
			}
			return
		}
	}
	if err := tx.Commit(); err != nil {
		// A request that failed may have failed because of what an earlier
		// one of the batch did, which is now undone: nobody's answer
		// stands.
		for _, r := range ran {
			r.j.res <- handoff.Internal(err, "commit")
		}
		return
	}
	if w.committed != nil {
		w.committed()
	}
	for _, r := range ran {
		r.j.res <- r.err
	}
}

// first runs the first job of a batch in tx itself.
func (w *writer) first(tx *sql.Tx, j *writeJob) error {
	if err := j.ctx.Err(); err != nil {
		return handoff.Internal(w.faults.mark(j.ctx, err), "begin")
	}
	return call(j.fn, tx)
}

// one runs a later job as a savepoint of tx; broken when tx is no longer
// usable.
func (w *writer) one(tx *sql.Tx, j *writeJob) (err error, broken bool) {
	if err := j.ctx.Err(); err != nil {
		return handoff.Internal(w.faults.mark(j.ctx, err), "begin"), false
	}
	bg := context.Background()
	if _, err := tx.ExecContext(bg, `SAVEPOINT request`); err != nil {
		return handoff.Internal(err, "savepoint"), true
	}
	if err = call(j.fn, tx); err == nil {
		if _, rerr := tx.ExecContext(bg, `RELEASE request`); rerr != nil {
			return handoff.Internal(rerr, "release savepoint"), true
		}
		return nil, false
	}
	if _, rerr := tx.ExecContext(bg, `ROLLBACK TO request`); rerr != nil {
		return err, true
	}
	if _, rerr := tx.ExecContext(bg, `RELEASE request`); rerr != nil {
		return err, true
	}
	return err, false
}

// panicked carries a job's panic to the request that queued it, which
// panics with it there, as it would have without the queue.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.v) }

func call(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(tx)
}
