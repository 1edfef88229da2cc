package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/sqlstore"
)

// flagDataLoss is the flag with which the operator accepts that what lost
// keys derived or sealed can no longer be used.
const flagDataLoss = "i-know-existing-data-is-lost"

// dsnOf returns the database to open: the --db URL, or SQLite in the data dir.
func dsnOf(dataDir, db string) string {
	if db != "" {
		return db
	}
	return filepath.Join(dataDir, "handoff.db")
}

// loadKeys returns the node's secret keys — from HANDOFF_SECRET_KEYS (spec)
// or the data dir's key file — once the database has confirmed that every
// key its data depends on is among them, and records them as depended on.
// A key file is created only for a database that depends on no key yet (a
// first start); a lost file is never silently replaced.
func loadKeys(ctx context.Context, db *sqlstore.DB, dataDir, spec string, log *slog.Logger) (*keyring.Ring, error) {
	source := "HANDOFF_SECRET_KEYS"
	var keys *keyring.Ring
	var err error
	if spec != "" {
		keys, err = keyring.Parse(spec)
	} else {
		source = filepath.Join(dataDir, keyring.FileName)
		keys, err = keyring.Load(dataDir)
		if errors.Is(err, os.ErrNotExist) {
			var inUse []string
			if inUse, err = db.SecretKeysInUse(ctx); err != nil {
				return nil, err
			}
			if len(inUse) > 0 {
				return nil, missingKeys(inUse, source+" does not exist")
			}
			if keys, err = keyring.Create(dataDir, time.Now()); err == nil {
				log.Info("created secret keys", "file", source, "key_id", keys.ActiveID())
			}
		}
	}
	if err != nil {
		return nil, err
	}
	missing, err := db.UseSecretKeys(ctx, keys.IDs())
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, missingKeys(missing, source+" lacks them")
	}
	return keys, nil
}

// missingKeys is the start-up refusal: it names the keys and both ways out.
func missingKeys(ids []string, why string) error {
	return fmt.Errorf("the database depends on secret key(s) %s, but %s: passcodes already sent, queued messages and sealed garage credentials need them. "+
		"Restore the key file (or give every node the same HANDOFF_SECRET_KEYS), or, accepting that all of that is lost, run: handoff keys init --%s",
		strings.Join(ids, ", "), why, flagDataLoss)
}

// storeFlags returns the flag set of a command that opens the data
// directory and the database, with those two flags on it.
func storeFlags(name string, stderr io.Writer, getenv func(string) string) (fs *flag.FlagSet, dataDir, db *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir = fs.String("data-dir", envOr(getenv, "HANDOFF_DATA_DIR", "./handoff-data"), "data directory holding keys.json (env HANDOFF_DATA_DIR)")
	db = fs.String("db", getenv("HANDOFF_DB"), "database: empty for SQLite in the data dir, or a postgres:// URL (env HANDOFF_DB)")
	return fs, dataDir, db
}

// keysCommand runs "handoff keys rotate|init".
func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "init") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs, dir, dbURL := storeFlags("keys "+args[0], stderr, getenv)
	lost := fs.Bool(flagDataLoss, false, "keys init: accept that what the recorded keys derived or sealed is lost")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	spec := getenv("HANDOFF_SECRET_KEYS")
	if args[0] == "rotate" {
		return rotateKeys(*dir, spec, stdout)
	}
	if !*lost {
		return fmt.Errorf("keys init makes the database forget the keys it depends on: passcodes already sent stop working, queued messages and sealed garage credentials are lost. Add --%s to do it", flagDataLoss)
	}
	return initKeys(ctx, *dir, dsnOf(*dir, *dbURL), spec, stdout)
}

// initKeys makes the node's keys (HANDOFF_SECRET_KEYS, the key file, or a
// new key file) the only ones the database depends on.
func initKeys(ctx context.Context, dir, dsn, spec string, stdout io.Writer) error {
	var keys *keyring.Ring
	var err error
	if spec != "" {
		keys, err = keyring.Parse(spec)
	} else if keys, err = keyring.Load(dir); errors.Is(err, os.ErrNotExist) {
		keys, err = keyring.Create(dir, time.Now())
	}
	if err != nil {
		return err
	}
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	old, err := db.SecretKeysInUse(ctx)
	if err != nil {
		return err
	}
	if err := db.ResetSecretKeys(ctx, keys.IDs()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the database now depends on key(s) %s", strings.Join(keys.IDs(), ", "))
	if len(old) > 0 {
		fmt.Fprintf(stdout, " instead of %s", strings.Join(old, ", "))
	}
	fmt.Fprintln(stdout)
	return nil
}

// rotateKeys adds a new active key to the key file; it never creates one.
func rotateKeys(dir, spec string, stdout io.Writer) error {
	if spec != "" {
		return errors.New("keys come from HANDOFF_SECRET_KEYS here: rotate by putting a new id:base64 key first in that list")
	}
	r, err := keyring.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s in %s to rotate: start the server once, or restore the file", keyring.FileName, dir)
	}
	if err != nil {
		return err
	}
	k := r.Rotate(time.Now())
	if err := r.Save(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new active key %s; older keys (%s) are kept to open what they sealed\n", k.ID, strings.Join(r.IDs()[1:], ", "))
	return nil
}
