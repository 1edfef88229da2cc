package sqlstore

import "testing"

// TestMigrationsNumbered: every embedded migration has a number of its own,
// so none is skipped as "already applied" on a database that has the other.
func TestMigrationsNumbered(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 10 {
		t.Fatalf("only %d migrations found", len(ms))
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %s has number %d, want %d", m.name, m.version, i+1)
		}
	}
}
