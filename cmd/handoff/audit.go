package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/sqlstore"
)

// auditCommand runs "handoff audit verify|export".
//
//	handoff audit verify [--db …]          walk the database's audit log
//	handoff audit verify --file log.jsonl  re-verify an export
//	handoff audit export --from T --to T [--out log.jsonl] [--db …]
//
// verify fails, naming the first broken entry of each broken chain, when
// any row was changed, deleted or moved.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs, dir, dbURL := storeFlags("audit "+args[0], stderr, getenv)
	file := fs.String("file", "", "verify: an export (JSON lines) instead of the database")
	fromS := fs.String("from", "", "export: the first instant, RFC 3339 or a date (2026-11-01)")
	toS := fs.String("to", "", "export: the end (excluded), RFC 3339 or a date")
	out := fs.String("out", "", "export: the file to write; standard output when empty")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if args[0] == "verify" && *file != "" {
		return verifyExport(*file, stdout)
	}
	db, err := sqlstore.Open(ctx, dsnOf(*dir, *dbURL))
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "verify" {
		w, err := db.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		return report(w, stdout)
	}
	from, err1 := parseInstant(*fromS)
	to, err2 := parseInstant(*toS)
	if err := errors.Join(err1, err2); err != nil || !from.Before(to) {
		fmt.Fprintln(stderr, "audit export needs --from and --to, the first before the second (RFC 3339 or YYYY-MM-DD)")
		return errUsage
	}
	var w io.Writer = stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	if err := db.ExportAudit(ctx, from, to, func(e audit.Entry) error { n++; return enc.Encode(e) }); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(stdout, "exported %d audit entries to %s\n", n, *out)
	}
	return nil
}

// parseInstant reads RFC 3339 or a date (midnight UTC).
func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// verifyExport re-verifies an export as an auditor would: every entry's
// hash, and every link between entries of a chain it holds.
func verifyExport(path string, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &audit.Walker{Partial: true}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e audit.Entry
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("%s:%d: not an audit entry: %w", path, line, err)
		}
		w.Add(e)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	w.End(nil)
	return report(w, stdout)
}

// report prints the walk's outcome; an error when a chain is broken.
func report(w *audit.Walker, stdout io.Writer) error {
	if len(w.Breaks) == 0 {
		fmt.Fprintf(stdout, "audit log intact: %d entries in %d chains\n", w.Entries, w.Chains)
		return nil
	}
	for _, b := range w.Breaks {
		fmt.Fprintf(stdout, "BROKEN: %s\n", b)
	}
	return fmt.Errorf("audit log broken in %d of %d chains (%d entries read)", len(w.Breaks), w.Chains, w.Entries)
}
