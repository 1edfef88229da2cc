// Package sqlstoretest opens real databases for tests: SQLite in a temporary
// directory always, and PostgreSQL when HANDOFF_TEST_POSTGRES holds a URL (CI
// always sets it). Each PostgreSQL test gets a schema of its own, dropped at
// the end, so packages can run in parallel against one server.
package sqlstoretest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/deliveryphoto"
	"github.com/handoff-dev/handoff/door"
	"github.com/handoff-dev/handoff/keydelivery"
	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/photo"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/station"
)

// EnvPostgres names the variable holding the PostgreSQL URL for tests.
const EnvPostgres = "HANDOFF_TEST_POSTGRES"

// Engines returns the engines to test on: SQLite, and PostgreSQL when
// HANDOFF_TEST_POSTGRES is set.
func Engines() []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{sqlstore.SQLite, sqlstore.Postgres}
	}
	return []string{sqlstore.SQLite}
}

// Open returns a fresh, migrated store on engine, closed when the test ends.
func Open(tb testing.TB, engine string) *sqlstore.DB {
	tb.Helper()
	return Nodes(tb, engine, 1)[0]
}

// Nodes returns n stores on one fresh database, each with its own connection
// pool, as n server nodes would have; they share the keys, as nodes do.
func Nodes(tb testing.TB, engine string, n int) []*sqlstore.DB {
	tb.Helper()
	ctx := context.Background()
	dsn := DSN(tb, engine)
	keys := Keys(tb)
	photos, err := photo.NewDir(filepath.Join(tb.TempDir(), "photos"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []*sqlstore.DB
	for range n {
		db, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			tb.Fatalf("open %s: %v", engine, err)
		}
		db.Keys = keys
		garages.Store(db, newGarages(db))
		raw.Store(db, dsn)
		blobs.Store(db, photos)
		tb.Cleanup(func() { garages.Delete(db); raw.Delete(db); blobs.Delete(db); db.Close() })
		out = append(out, db)
	}
	return out
}

// blobs holds the photo store of each open test store: one directory for
// all the nodes of a database, as the nodes of a server share theirs.
var blobs sync.Map // *sqlstore.DB → photo.Store

// Blobs returns the photo store of a store Open or Nodes returned.
func Blobs(db *sqlstore.DB) photo.Store {
	b, ok := blobs.Load(db)
	if !ok {
		panic("sqlstoretest: Blobs of a store not opened by sqlstoretest")
	}
	return b.(photo.Store)
}

// Photos returns the photo service over db and its photo store, as
// cmd/handoff wires it.
func Photos(db *sqlstore.DB) *deliveryphoto.Service {
	return deliveryphoto.New(db, Blobs(db), photo.DefaultLimits, func() time.Time { return db.Now() }, db.Log)
}

// garages holds the garage service of each open test store.
var garages sync.Map // *sqlstore.DB → *keydelivery.Service

func newGarages(db *sqlstore.DB) *keydelivery.Service {
	g := keydelivery.New(db, db.Keys, db.Log)
	g.Now = func() time.Time { return db.Now() } // a test that moves the store's clock moves the garages'
	// The fake devices of tests listen on 127.0.0.1.
	g.Timeouts.AllowPrivate = true
	return g
}

// Garages returns the garage service over a store Open or Nodes returned,
// the same one every time, as cmd/handoff wires it: its clock is the
// store's, and openers may be on 127.0.0.1. Tests tune its settings and
// point its Log where they read logs.
func Garages(db *sqlstore.DB) *keydelivery.Service {
	g, ok := garages.Load(db)
	if !ok {
		panic("sqlstoretest: Garages of a store not opened by sqlstoretest")
	}
	return g.(*keydelivery.Service)
}

// DSN returns the address of a fresh, empty database on engine, dropped
// when the test ends: a SQLite file, or a PostgreSQL schema of its own.
func DSN(tb testing.TB, engine string) string {
	tb.Helper()
	switch engine {
	case sqlstore.SQLite:
		return filepath.Join(tb.TempDir(), "handoff.db")
	case sqlstore.Postgres:
		return postgresSchema(tb)
	}
	tb.Fatalf("unknown engine %q", engine)
	return ""
}

// Keys returns a fresh keyring for a test.
func Keys(tb testing.TB) *keyring.Ring {
	r, err := keyring.New(keyring.Generate(time.Now()))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// EachNodes runs fn as a subtest on every engine with n nodes.
func EachNodes(t *testing.T, n int, fn func(t *testing.T, nodes []*sqlstore.DB)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e, func(t *testing.T) { fn(t, Nodes(t, e, n)) })
	}
}

// Each runs fn as a subtest on every engine.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e, func(t *testing.T) { fn(t, Open(t, e)) })
	}
}

// postgresSchema creates a schema of its own for the test and returns a URL
// whose connections use it.
func postgresSchema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		tb.Fatalf("%s is not set", EnvPostgres)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	schema := "t_" + auth.Random(12)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("postgres: create schema: %v", err)
	}
	tb.Cleanup(func() {
		c, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer c.Close()
		c.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("postgres url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	if !strings.HasPrefix(u.String(), "postgres") {
		tb.Fatalf("postgres url must start with postgres://")
	}
	return u.String()
}

// Code returns today's passcode of a parcel as its recipient reads it in the
// portal, signed in as contact (a phone or email on the parcel's label); the
// test fails when the portal shows none.
func Code(tb testing.TB, db *sqlstore.DB, contact, trackingID string) string {
	tb.Helper()
	ps, err := db.RecipientParcels(context.Background(), contact)
	if err != nil {
		tb.Fatalf("portal of %s: %v", contact, err)
	}
	for _, p := range ps {
		if p.TrackingID == trackingID && p.Passcode != "" {
			return p.Passcode
		}
	}
	tb.Fatalf("the portal of %s shows no passcode for %s", contact, trackingID)
	return ""
}

// ContactCode returns the one passcode the portal shows contact today (every
// parcel of theirs out or routed today under one code); the test fails when
// it shows none, or several different ones.
func ContactCode(tb testing.TB, db *sqlstore.DB, contact string) string {
	tb.Helper()
	ps, err := db.RecipientParcels(context.Background(), contact)
	if err != nil {
		tb.Fatalf("portal of %s: %v", contact, err)
	}
	code := ""
	for _, p := range ps {
		if p.Passcode == "" || p.Passcode == code {
			continue
		}
		if code != "" {
			tb.Fatalf("the portal of %s shows more than one passcode today", contact)
		}
		code = p.Passcode
	}
	if code == "" {
		tb.Fatalf("the portal of %s shows no passcode today", contact)
	}
	return code
}

// Door returns the door service over db, wired as the server wires it: the
// store's keys, photos, policy and clock (changes a test makes to db.Policy or
// db.Now hold for the service too).
func Door(db *sqlstore.DB) *door.Service {
	return door.New(db, db.Keys, Blobs(db), photo.DefaultLimits, &db.Policy, func() time.Time { return db.Now() }, db.Today, db.Log)
}

// QueueSMS queues n "shipped" text messages, one to each of n different
// mobiles, as n parcels arriving at a station do, and returns their tracking
// IDs. Email is off for the shipper, so only SMS are queued.
func QueueSMS(tb testing.TB, db *sqlstore.DB, n int) []string {
	tb.Helper()
	ctx := context.Background()
	shipper, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Bulk"})
	if err != nil {
		tb.Fatal(err)
	}
	off := false
	p := &handoff.SettingsPatch{Notifications: &handoff.NotificationsPatch{Email: &off}}
	if _, err := db.UpdateSettings(ctx, shipper.ID, p); err != nil {
		tb.Fatal(err)
	}
	st, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "Hub"})
	if err != nil {
		tb.Fatal(err)
	}
	from := &handoff.Address{Name: "Shop", AddressLine1: "1 Dock", City: "London", PostalCode: "E1", CountryCode: "GB"}
	ids := make([]string, n)
	for i := range ids {
		in := &handoff.ShipmentInput{ShipFrom: from,
			ShipTo: &handoff.Address{Name: "R", AddressLine1: "2 High St", City: "London", PostalCode: "E8", CountryCode: "GB",
				PhoneNumber: fmt.Sprintf("077009%05d", i)},
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "20", Unit: "GBP"}}}}
		s, _, err := db.CreateShipment(ctx, shipper.ID, in, "")
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = s.Packages[0].TrackingID
		if _, err := station.NewService(db, db.Policy).ReceiveParcel(ctx, st, ids[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}
