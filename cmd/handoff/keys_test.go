package main

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// start builds the server as "handoff serve" would with the given data dir,
// database and environment, and closes it again; it returns the key IDs the
// node started with, or why it refused to start.
func start(t *testing.T, dataDir, db string, e map[string]string) ([]string, error) {
	t.Helper()
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir}
	if db != "" {
		args = append(args, "--db", db)
	}
	c, err := parseServe(args, io.Discard, env(e))
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(context.Background(), c, io.Discard)
	if err != nil {
		return nil, err
	}
	defer a.db.Close()
	return a.db.Keys.IDs(), nil
}

// TestLostKeyFileRefusesStart: a data dir whose keys.json is gone must not
// start with a new key over data sealed with the old one; the explicit
// "keys init --i-know-existing-data-is-lost" is the only way on.
func TestLostKeyFileRefusesStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := start(t, dir, "", nil)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	if again, err := start(t, dir, "", nil); err != nil || again[0] != first[0] {
		t.Fatalf("restart with the key file: %v %v", again, err)
	}
	if err := os.Remove(filepath.Join(dir, keyring.FileName)); err != nil {
		t.Fatal(err)
	}
	_, err = start(t, dir, "", nil)
	if err == nil {
		t.Fatal("the server started with a new key over data sealed with the lost one")
	}
	for _, want := range []string{first[0], "keys.json", "keys init --i-know-existing-data-is-lost"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if _, statErr := os.Stat(filepath.Join(dir, keyring.FileName)); statErr == nil {
		t.Error("a refused start still wrote a key file")
	}

	var out strings.Builder
	if err := run(context.Background(), []string{"keys", "init", "--data-dir", dir}, &out, io.Discard, env(nil)); err == nil {
		t.Error("keys init ran without --i-know-existing-data-is-lost")
	}
	if err := run(context.Background(), []string{"keys", "init", "--i-know-existing-data-is-lost", "--data-dir", dir}, &out, io.Discard, env(nil)); err != nil {
		t.Fatalf("keys init: %v", err)
	}
	now, err := start(t, dir, "", nil)
	if err != nil || now[0] == first[0] {
		t.Fatalf("start after keys init: %v %v", now, err)
	}
	if !strings.Contains(out.String(), now[0]) || !strings.Contains(out.String(), "instead of "+first[0]) {
		t.Errorf("keys init said %q", out.String())
	}
	// Rotation keeps the old key; a later start records both.
	if err := run(context.Background(), []string{"keys", "rotate", "--data-dir", dir}, io.Discard, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	if ids, err := start(t, dir, "", nil); err != nil || len(ids) != 2 {
		t.Fatalf("start after rotation: %v %v", ids, err)
	}
}

// TestNodesMustShareKeys: two nodes on one PostgreSQL with different keys —
// each its own key file, or a different HANDOFF_SECRET_KEYS — must not both
// run; the second refuses, naming the key it lacks.
func TestNodesMustShareKeys(t *testing.T) {
	if os.Getenv(sqlstoretest.EnvPostgres) == "" {
		t.Skip(sqlstoretest.EnvPostgres + " is not set")
	}
	db := sqlstoretest.DSN(t, sqlstore.Postgres)
	one, two := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	ids, err := start(t, one, db, nil)
	if err != nil {
		t.Fatalf("first node: %v", err)
	}
	if _, err := start(t, two, db, nil); err == nil || !strings.Contains(err.Error(), ids[0]) {
		t.Fatalf("a node with a key file of its own: %v", err)
	}
	other := "k2:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32)))
	if _, err := start(t, two, db, map[string]string{"HANDOFF_SECRET_KEYS": other}); err == nil || !strings.Contains(err.Error(), ids[0]) {
		t.Fatalf("a node with other HANDOFF_SECRET_KEYS: %v", err)
	}
	// The same key file on the second node is how nodes share keys.
	data, err := os.ReadFile(filepath.Join(one, keyring.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(two, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(two, keyring.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := start(t, two, db, nil); err != nil {
		t.Fatalf("a node with the same keys: %v", err)
	}
}
