package sqlstore

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openLogged opens a SQLite database in dir as Open does: write-ahead log,
// synchronous=FULL, through the handoff VFS when vfs is set.
func openLogged(t *testing.T, dir string, vfs bool) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(dir, "t.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)"
	if vfs {
		if err := registerWALVFS(); err != nil {
			t.Fatal(err)
		}
		dsn += "&vfs=" + walVFSName
	}
	db, err := sql.Open("sqlite", dsn)
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
	db := openLogged(t, t.TempDir(), true)
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
	db := openLogged(t, dir, true)
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
		copied := openLogged(t, cp, false)
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
