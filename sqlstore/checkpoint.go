package sqlstore

import (
	"context"
	"database/sql"
	"log/slog"
	"sync/atomic"
	"time"
)

// SQLite in WAL mode appends every commit to the log and copies the log
// into the database file now and then (a checkpoint). Left to itself, the
// connection that commits does that copy when the log has grown past
// wal_autocheckpoint pages, inside its commit: with the writer's batches
// that is every request of the batch waiting while 40 MB are copied and the
// database file is synced. So a checkpointer copies the log on a
// connection of its own, alongside the writer, which goes on appending to
// the log meanwhile (a PASSIVE checkpoint takes no lock a writer or reader
// needs). The writer still checkpoints if the log grows past
// wal_autocheckpoint anyway: the checkpointer stalled, or fell behind.

// checkpointEvery is how often the checkpointer copies the log while there
// are commits. With 100,000 parcels stored, copying every 50 ms rather
// than every 250 ms brought a 5,000-parcel day's p99 from 53 to 30 ms for
// labels and from 68 to 51 ms for code checks at the same CPU; every 20 ms
// was no better (handoff loadtest, interleaved).
const checkpointEvery = 50 * time.Millisecond

// checkpointer copies the log into the database after commits.
type checkpointer struct {
	db   *sql.DB
	log  func() *slog.Logger
	kick chan struct{} // a commit happened (buffered: kicks coalesce)
	quit chan struct{}
	done chan struct{}
	// ran, when set (tests), is told each checkpoint's frames: in the log,
	// and copied into the database.
	ran atomic.Pointer[func(logged, copied int)]
}

func newCheckpointer(db *sql.DB, log func() *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer that the log grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) close() {
	close(c.quit)
	<-c.done
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		// At most one checkpoint per checkpointEvery: the commits of the
		// interval are copied together.
		select {
		case <-t.C:
		case <-c.quit:
			return
		}
		t.Reset(checkpointEvery)
		c.once()
	}
}

// once runs one PASSIVE checkpoint. A failure is logged and left to the
// next one, or to the writer's own checkpoint: nothing is lost, the log
// only grows.
func (c *checkpointer) once() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, logged, copied int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied); err != nil {
		c.log().Warn("checkpoint of the SQLite log failed; the writer will checkpoint instead", "err", err)
		return
	}
	if fn := c.ran.Load(); fn != nil {
		(*fn)(logged, copied)
	}
}
