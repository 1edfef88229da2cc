package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// A node busy enough to use every connection of its pool keeps them all
// between bursts instead of closing half of them on their return and
// opening them again for the next (on PostgreSQL each is a server process
// started and its statements prepared again). The pool still opens no
// more than its size.
func TestBusyPoolKeepsItsConnections(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		const size = 6
		db.SetMaxConns(size)
		before := db.Stats()
		for range 3 {
			release, err := db.HoldConns(ctx, size)
			if err != nil {
				t.Fatal(err)
			}
			// One more waits for a connection: the pool is full.
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = db.HoldConns(short, 1)
			cancel()
			if err == nil {
				t.Fatalf("a connection beyond the pool's %d was opened", size)
			}
			release()
		}
		st := db.Stats()
		if closed := st.MaxIdleClosed - before.MaxIdleClosed; closed != 0 || st.Idle != size || st.MaxOpenConnections != size {
			t.Errorf("after three bursts of %d: %d connections closed on their return, %d idle, at most %d open",
				size, closed, st.Idle, st.MaxOpenConnections)
		}
	})
}
