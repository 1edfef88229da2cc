package sqlstoretest

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/handoff-dev/handoff/sqlstore"
)

// What a test looks at behind the store's back: the rows themselves, read
// through a connection of the test's own, so that the store carries no
// methods that only tests call.

// raw holds, for each store Open or Nodes returned, the address of its
// database.
var raw sync.Map // *sqlstore.DB → dsn

// rawDB opens a connection of the test's own to db's database, closed when
// the test ends.
func rawDB(tb testing.TB, db *sqlstore.DB) *sql.DB {
	tb.Helper()
	dsn, ok := raw.Load(db)
	if !ok {
		tb.Fatal("sqlstoretest: a store not opened by sqlstoretest")
	}
	// SQLite: a connection that waits for the store's write lock rather
	// than failing at once.
	driver, source := "sqlite", "file:"+dsn.(string)+"?_pragma=busy_timeout(10000)"
	if db.Engine == sqlstore.Postgres {
		driver, source = "pgx", dsn.(string)
	}
	c, err := sql.Open(driver, source)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// CodeChecks returns how many code entries were evaluated at a stop, and how
// many of them were right, as recorded for the station and for audits.
func CodeChecks(tb testing.TB, db *sqlstore.DB, stopID string) (evaluated, correct int) {
	tb.Helper()
	err := rawDB(tb, db).QueryRowContext(context.Background(), `SELECT COUNT(*), COALESCE(SUM(CASE WHEN correct THEN 1 ELSE 0 END), 0)
		FROM code_checks WHERE stop_id = $1`, stopID).Scan(&evaluated, &correct)
	if err != nil {
		tb.Fatalf("count code checks: %v", err)
	}
	return evaluated, correct
}

// Notification is a queued message as the outbox holds it (never with a
// code: Passcode says whether the sender puts one in).
type Notification struct {
	ID, Kind, Channel, Recipient, Lang, Status string
	Data                                       map[string]any
	Passcode                                   bool
}

// Notifications returns the queued messages that mention a tracking ID,
// oldest first.
func Notifications(tb testing.TB, db *sqlstore.DB, trackingID string) []Notification {
	tb.Helper()
	rows, err := rawDB(tb, db).QueryContext(context.Background(), `SELECT id, kind, channel, recipient, lang, status, data, passcode_set
		FROM notifications WHERE data LIKE $1 ORDER BY created_at, id`, "%\""+trackingID+"\"%")
	if err != nil {
		tb.Fatalf("list notifications: %v", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var data, set string
		if err := rows.Scan(&n.ID, &n.Kind, &n.Channel, &n.Recipient, &n.Lang, &n.Status, &data, &set); err != nil {
			tb.Fatalf("scan notification: %v", err)
		}
		if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
			tb.Fatalf("notification data: %v", err)
		}
		n.Passcode = set != ""
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("list notifications: %v", err)
	}
	return out
}

// FindText returns where any of needles occurs in the database: every
// column of every table, read as text, as "table.column" names. A test uses
// it to show that something was never stored (a date of birth, a code).
func FindText(tb testing.TB, db *sqlstore.DB, needles ...string) []string {
	tb.Helper()
	ctx := context.Background()
	c := rawDB(tb, db)
	listCols := `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`
	if db.Engine == sqlstore.Postgres {
		listCols = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	}
	rows, err := c.QueryContext(ctx, listCols)
	if err != nil {
		tb.Fatalf("list columns: %v", err)
	}
	var cols [][2]string
	for rows.Next() {
		var t, col string
		if err := rows.Scan(&t, &col); err != nil {
			tb.Fatalf("list columns: %v", err)
		}
		cols = append(cols, [2]string{t, col})
	}
	rows.Close()
	if len(cols) == 0 {
		tb.Fatal("FindText: no columns found")
	}
	var found []string
	for _, tc := range cols {
		vals, err := c.QueryContext(ctx, `SELECT CAST("`+tc[1]+`" AS TEXT) FROM "`+tc[0]+`"`)
		if err != nil {
			tb.Fatalf("read %s.%s: %v", tc[0], tc[1], err)
		}
		hit := false
		for vals.Next() {
			var v sql.NullString
			if err := vals.Scan(&v); err != nil {
				tb.Fatalf("read %s.%s: %v", tc[0], tc[1], err)
			}
			for _, n := range needles {
				hit = hit || strings.Contains(v.String, n)
			}
		}
		vals.Close()
		if hit {
			found = append(found, tc[0]+"."+tc[1])
		}
	}
	return found
}
