package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// auditLog opens a fresh database on engine with two chains of audit
// entries (a: 6, b: 3) and returns its address and a raw connection to
// tamper with.
func auditLog(t *testing.T, engine string) (dsn string, raw *sql.DB) {
	t.Helper()
	ctx := context.Background()
	dsn = sqlstoretest.DSN(t, engine)
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 6 {
		for _, c := range []string{"a", "b"} {
			if c == "b" && i >= 3 {
				continue
			}
			if err := db.AppendAudit(ctx, audit.Entry{Chain: c, Action: audit.ActionCodeCheck, Actor: "pr_da", Subject: fmt.Sprint("stp_", i), Outcome: "wrong"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A connection of the test's own, which waits for a lock rather than
	// failing at once (the store's last checkpoint may still hold one).
	driver, source := "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	if engine == sqlstore.Postgres {
		driver, source = "pgx", dsn
	}
	if raw, err = sql.Open(driver, source); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return dsn, raw
}

// auditVerify runs "handoff audit verify" and returns its output and error.
func auditVerify(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(context.Background(), append([]string{"audit", "verify"}, args...), &out, &errs, env(nil))
	return out.String() + errs.String(), err
}

func TestAuditVerifyNamesTheFirstBrokenEntry(t *testing.T) {
	for _, engine := range sqlstoretest.Engines() {
		t.Run(engine, func(t *testing.T) {
			dsn, _ := auditLog(t, engine)
			if out, err := auditVerify(t, "--db", dsn); err != nil || !strings.Contains(out, "intact: 9 entries in 2 chains") {
				t.Fatalf("intact log: %v\n%s", err, out)
			}
			for _, c := range []struct {
				name, want string
				tamper     []string
			}{
				{"edited", `chain "a", entry 3: changed`, []string{`UPDATE audit_log SET outcome = 'correct' WHERE chain = 'a' AND seq = 3`}},
				{"deleted", `chain "a", entry 3: missing`, []string{`DELETE FROM audit_log WHERE chain = 'a' AND seq = 3`}},
				{"deleted last", `chain "a", entry 6: missing`, []string{`DELETE FROM audit_log WHERE chain = 'a' AND seq = 6`}},
				{"reordered", `chain "a", entry 3: changed`, []string{
					`UPDATE audit_log SET seq = 100 WHERE chain = 'a' AND seq = 3`,
					`UPDATE audit_log SET seq = 3 WHERE chain = 'a' AND seq = 4`,
					`UPDATE audit_log SET seq = 4 WHERE chain = 'a' AND seq = 100`}},
			} {
				dsn, raw := auditLog(t, engine)
				for _, q := range c.tamper {
					if _, err := raw.Exec(q); err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
				}
				out, err := auditVerify(t, "--db", dsn)
				if err == nil || !strings.Contains(out, c.want) || strings.Contains(out, `chain "b"`) {
					t.Errorf("%s: err = %v, output:\n%s", c.name, err, out)
				}
			}
		})
	}
}

func TestAuditExportReverifies(t *testing.T) {
	dsn, _ := auditLog(t, sqlstore.SQLite)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"audit", "export", "--db", dsn, "--from", "2000-01-01", "--to", "2100-01-01", "--out", file}, &out, &errs, env(nil)); err != nil {
		t.Fatalf("export: %v %s", err, errs.String())
	}
	if o, err := auditVerify(t, "--file", file); err != nil || !strings.Contains(o, "9 entries in 2 chains") {
		t.Fatalf("export does not verify: %v %s", err, o)
	}
	// An auditor who finds one changed byte sees which entry.
	b, _ := os.ReadFile(file)
	lines := strings.Split(string(b), "\n")
	lines[4] = strings.Replace(lines[4], `"wrong"`, `"right"`, 1)
	os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600)
	if o, err := auditVerify(t, "--file", file); err == nil || !strings.Contains(o, `chain "a", entry 5: changed`) {
		t.Errorf("changed export: %v %s", err, o)
	}
}
