package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// TestDiskFullIsUnavailable: when SQLite has no room to write (a page limit
// stands in for a full disk), creating an account is EUNAVAILABLE — 503 with
// Retry-After to the client, not a 500 — and readiness fails until the
// database has had room again for a while.
func TestDiskFullIsUnavailable(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "handoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetMaxConns(1) // the page limit is per connection
	var pages int
	if err := d.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer's connection is the one that writes.
	if _, err := d.wdb.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	if err := d.Writable(ctx); err != nil {
		t.Fatalf("writable before: %v", err)
	}
	var failed error
	for i := 0; i < 1000 && failed == nil; i++ {
		_, _, failed = d.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: fmt.Sprint("Acme ", i)})
	}
	if code := handoff.ErrorCode(failed); code != handoff.EUNAVAILABLE {
		t.Fatalf("a write to a full database: %s (%v)", code, failed)
	}
	if handoff.ErrorMessage(failed) == "An internal error occurred." {
		t.Errorf("the client is not told to try again: %q", handoff.ErrorMessage(failed))
	}
	if err := d.Writable(ctx); err == nil {
		t.Error("readiness does not see the full disk")
	}
}

// TestFaultMarks: which driver errors mean the database is unavailable.
func TestFaultMarks(t *testing.T) {
	var f faults
	deadline, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	for _, tt := range []struct {
		ctx  context.Context
		err  error
		want bool
	}{
		{nil, &pgconn.PgError{Code: "53100"}, true},         // disk_full
		{nil, &pgconn.PgError{Code: "57P01"}, true},         // admin_shutdown
		{nil, &pgconn.PgError{Code: "08006"}, true},         // connection_failure
		{nil, fmt.Errorf("dial: %w", errConnRefused), true}, // the server is down
		{deadline, errors.New("interrupted"), true},         // no answer in the request's time
		{nil, &pgconn.PgError{Code: "40P01"}, true},         // deadlock_detected: rolled back, may be tried again
		{nil, &pgconn.PgError{Code: "40001"}, true},         // serialization_failure: likewise
		{nil, &pgconn.PgError{Code: "23505"}, false},        // a unique violation is ours to handle
		{nil, errors.New("syntax error"), false},            // a fault of ours
		{context.Background(), context.Canceled, false},     // the client went away
	} {
		got := errors.Is(f.mark(tt.ctx, tt.err), handoff.ErrUnavailable)
		if got != tt.want {
			t.Errorf("mark(%v) unavailable = %v, want %v", tt.err, got, tt.want)
		}
	}
	if f.fullSince().IsZero() {
		t.Error("a disk_full error was not remembered")
	}
}

var errConnRefused error = syscall.ECONNREFUSED
