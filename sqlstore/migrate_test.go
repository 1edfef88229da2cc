package sqlstore

import "testing"

// TestMigrationsNumbered: every embedded migration has a number of its own,
// so none is skipped as "already applied" on a database that has the other,
// and each engine has every number (a file for one engine has its twin).
func TestMigrationsNumbered(t *testing.T) {
	for _, engine := range []string{SQLite, Postgres} {
		ms, err := migrations(engine)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) < 10 {
			t.Fatalf("%s: only %d migrations found", engine, len(ms))
		}
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("%s: migration %s has number %d, want %d", engine, m.name, m.version, i+1)
			}
			if only := migrationEngine(m.name); only != "" && only != engine {
				t.Errorf("%s: migration %s is for %s", engine, m.name, only)
			}
		}
	}
}
