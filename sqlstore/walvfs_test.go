package sqlstore

import (
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openLogged opens the SQLite database t.db in dir with the store's
// settings (through the handoff VFS), or, with plain, with SQLite's own
// defaults and VFS, as a tool or another version might.
func openLogged(t *testing.T, dir string, plain bool) *sql.DB {
	t.Helper()
	q, err := sqliteParams()
	if err != nil {
		t.Fatal(err)
	}
	if plain {
		q = url.Values{}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "t.db")+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// insertRows inserts n rows of size bytes from id on, in one transaction.
func insertRows(t *testing.T, db *sql.DB, from, n, size int) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if _, err := tx.Exec(`INSERT INTO t (id, body) VALUES (?, ?)`, i, strings.Repeat("x", size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// A commit's frames reach the log in a few writes, not two for each page,
// and a commit larger than one write (128 KiB) is written whole.
func TestLogWritesAreGathered(t *testing.T) {
	db := openLogged(t, t.TempDir(), false)
	frames, writes := walFrames.Load(), walWrites.Load()
	insertRows(t, db, 0, 300, 3000) // a page each: about 1.2 MB of log
	frames, writes = walFrames.Load()-frames, walWrites.Load()-writes
	if frames < 600 {
		t.Fatalf("SQLite wrote %d times to the log for 300 pages, want two writes a page", frames)
	}
	if writes > frames/20 {
		t.Errorf("%d writes reached the file for SQLite's %d, want them gathered (at most %d)", writes, frames, frames/20)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 300 {
		t.Fatalf("%d rows (%v), want 300", n, err)
	}
}

// Every commit is in the log file when it is acknowledged: a copy of the
// files taken right after the commit (what a machine that went down then
// would find on disk, the commit having been synced) holds it, read by
// plain SQLite without the VFS.
func TestLogHoldsEachAcknowledgedCommit(t *testing.T) {
	dir := t.TempDir()
	db := openLogged(t, dir, false)
	want := 0
	for i, n := range []int{1, 40, 3, 200, 1} {
		insertRows(t, db, want, n, 500+i*700)
		want += n
		cp := t.TempDir()
		for _, name := range []string{"t.db", "t.db-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cp, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		copied := openLogged(t, cp, true)
		var got int
		if err := copied.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("after commit %d the files on disk hold %d rows, want %d", i+1, got, want)
		}
		copied.Close()
	}
}

// A transaction that rolls back leaves nothing in its connection's buffer:
// were a large one to send pages to the log before committing and then roll
// back, what it left would be written later over what another connection
// committed meanwhile at the same place in the log (cache_spill(0) keeps
// them in the cache). Here the first connection's cache holds ten pages and
// its transaction adds 25.
func TestRollbackLeavesNothingToWriteOverOthers(t *testing.T) {
	dir := t.TempDir()
	a, b := openLogged(t, dir, false), openLogged(t, dir, false)
	insertRows(t, a, 100, 20, 3000)
	// Everything committed is copied into the database file, so that
	// rolling back reads nothing from the log.
	for _, q := range []string{`PRAGMA wal_checkpoint(TRUNCATE)`, `PRAGMA cache_size = 10`} {
		if _, err := a.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ { // fewer pages than a buffer holds
		if _, err := tx.Exec(`INSERT INTO t (id, body) VALUES (?, ?)`, 1000+i, strings.Repeat("r", 3000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	walMu.Lock()
	for _, f := range walFiles {
		if strings.HasPrefix(f.name, dir) && f.n != 0 {
			t.Errorf("a log's buffer still holds %d bytes for offset %d after its transaction rolled back", f.n, f.off)
		}
	}
	walMu.Unlock()
	insertRows(t, b, 0, 5, 2000) // the other connection commits where the rolled-back pages would have gone
	var n int
	if err := a.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil { // reads the other's pages from the log
		t.Fatal(err)
	}
	insertRows(t, a, 5, 3, 2000)
	for _, db := range []*sql.DB{a, b, openLogged(t, dir, true)} {
		var check string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("integrity check: %q (%v)", check, err)
		}
		if err := db.QueryRow(`SELECT COUNT(*) FROM t WHERE id < 100`).Scan(&n); err != nil || n != 8 {
			t.Fatalf("%d rows (%v), want the other connection's 5 and the 3 after the rollback", n, err)
		}
	}
}
