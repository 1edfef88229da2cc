package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openSQLite(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "handoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestWriterRollsBackAFailedRequestAlone: requests that write at once share
// the writer's batches; each that fails leaves nothing, each that succeeds
// is there, whatever the others of its batch did.
func TestWriterRollsBackAFailedRequestAlone(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	errNo := errors.New("refused")
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range errs {
		wg.Go(func() {
			<-start
			errs[i] = d.tx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, 'test', 0)`, fmt.Sprint("lease-", i)); err != nil {
					return err
				}
				if i%3 == 0 {
					return errNo
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if want := i%3 == 0; errors.Is(err, errNo) != want || (!want && err != nil) {
			t.Errorf("request %d: %v", i, err)
		}
	}
	rows, err := d.db.QueryContext(ctx, `SELECT name FROM leases WHERE holder = 'test'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		got[name] = true
	}
	for i := range errs {
		if got[fmt.Sprint("lease-", i)] != (i%3 != 0) {
			t.Errorf("lease-%d stored: %v", i, got[fmt.Sprint("lease-", i)])
		}
	}
}

// TestWriterPanicReachesCaller: a request that panics inside its
// transaction panics in its own goroutine, as without the queue, and the
// writer goes on.
func TestWriterPanicReachesCaller(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		d.tx(ctx, func(tx *sql.Tx) error {
			tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ('panicked', 'test', 0)`)
			panic("boom")
		})
	}()
	if _, err := d.exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ('after', 'test', 0)`); err != nil {
		t.Fatal(err)
	}
	var n int
	d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM leases WHERE name = 'panicked'`).Scan(&n)
	if n != 0 {
		t.Error("the panicked request's write was kept")
	}
}

// TestWriterSkipsAnEndedRequest: a request whose context ended before its
// turn is not run.
func TestWriterSkipsAnEndedRequest(t *testing.T) {
	d := openSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := d.tx(ctx, func(*sql.Tx) error { ran = true; return nil }); err == nil || ran {
		t.Errorf("ran %v, err %v", ran, err)
	}
}

// TestCheckpointerCopiesTheLog: after commits, the checkpointer copies the
// log into the database on its own connection, beside the writer, so the
// writer's batches do not wait for the copy.
func TestCheckpointerCopiesTheLog(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	runs := make(chan [2]int, 64)
	ran := func(logged, copied int) {
		select {
		case runs <- [2]int{logged, copied}:
		default:
		}
	}
	d.ckpt.ran.Store(&ran)
	for i := range 50 {
		if err := d.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, 'test', 0)`, fmt.Sprint("ckpt-", i))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case r := <-runs:
			if r[0] > 0 && r[1] == r[0] {
				return // the whole log, with the commits, is in the database
			}
		case <-deadline:
			t.Fatal("no checkpoint copied the log into the database within 30 s of the commits")
		}
	}
}
