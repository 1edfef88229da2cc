package sqlstore_test

import (
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// BenchmarkAuthenticateAPIKey authenticates a request's key the way a busy
// node does: every request comes after some other request's commit, which
// leaves SQLite's page cache of the reading connection cold.
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	db := sqlstoretest.Open(b, sqlstore.SQLite)
	_, cred, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Acme"})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		if err := db.AppendAudit(ctx, audit.Entry{Action: "x", Actor: "y"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := db.AuthenticateAPIKey(ctx, cred.APIKey); err != nil {
			b.Fatal(err)
		}
	}
}
