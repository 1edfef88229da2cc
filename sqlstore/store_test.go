package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

var ctx = context.Background()

func mustShipper(t *testing.T, db *sqlstore.DB) (*handoff.Principal, handoff.Credentials) {
	t.Helper()
	p, c, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func gbShipment(value string) *handoff.ShipmentInput {
	return &handoff.ShipmentInput{
		ShipTo: &handoff.Address{Name: "R", AddressLine1: "1 High St", City: "London", PostalCode: "E1 1AA", CountryCode: "GB",
			PhoneNumber: "07700 900123", Email: "r@example.com"},
		ShipFrom: &handoff.Address{Name: "S", AddressLine1: "2 Dock Rd", City: "Leeds", StateOrRegion: "West Yorkshire", PostalCode: "LS1 1AA", CountryCode: "GB"},
		Packages: []handoff.PackageInput{{PackageClientReferenceID: "p1", InsuredValue: &handoff.Money{Value: handoff.Decimal(value), Unit: "GBP"},
			Items: []handoff.Item{{Description: "Phone", Quantity: 1, Category: "Smartphone"}}}},
	}
}

func enableOTP(t *testing.T, db *sqlstore.DB, shipperID string) {
	t.Helper()
	on := true
	p := &handoff.SettingsPatch{}
	p.SecureDelivery = &handoff.SecureDeliveryPatch{OTPEnabled: &on}
	if _, err := db.UpdateSettings(ctx, shipperID, p); err != nil {
		t.Fatal(err)
	}
}

func TestPrincipals(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		st, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "North", Market: "gb"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Market != "GB" {
			t.Errorf("station market = %q, want GB", st.Market)
		}
		da, cred, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "Dee", StationID: st.ID})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.AuthenticateAPIKey(ctx, cred.APIKey)
		if err != nil || got.ID != da.ID || got.Kind != auth.KindAssociate || got.StationID != st.ID {
			t.Fatalf("AuthenticateAPIKey = %+v, %v", got, err)
		}
		if _, err := db.AuthenticateAPIKey(ctx, cred.APIKey+"x"); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
			t.Errorf("wrong key: %v", err)
		}
		if _, err := db.AuthenticatePassword(ctx, da.ID, cred.Password, "192.0.2.1"); err != nil {
			t.Errorf("password: %v", err)
		}
		for _, bad := range [][2]string{{da.ID, "wrong"}, {"da_nobody", cred.Password}, {"", ""}} {
			if _, err := db.AuthenticatePassword(ctx, bad[0], bad[1], "192.0.2.1"); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Errorf("AuthenticatePassword(%q) = %v, want unauthorized", bad[0], err)
			}
		}
		if _, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "X", StationID: "stn_nope"}); handoff.ErrorCode(err) != handoff.EINVALID {
			t.Errorf("unknown station: %v", err)
		}
		if _, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "  "}); handoff.ErrorCode(err) != handoff.EINVALID {
			t.Errorf("empty name: %v", err)
		}

		// Resetting credentials ends the old ones.
		fresh, err := db.ResetCredentials(ctx, da.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AuthenticateAPIKey(ctx, cred.APIKey); err == nil {
			t.Error("old API key still works after reset")
		}
		if _, err := db.AuthenticateAPIKey(ctx, fresh.APIKey); err != nil {
			t.Errorf("new API key: %v", err)
		}
	})
}

func TestSessions(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		p, _ := mustShipper(t, db)
		tok, _, err := db.CreateSession(ctx, p.ID, 3600e9)
		if err != nil {
			t.Fatal(err)
		}
		s, err := db.FindSession(ctx, tok)
		if err != nil || s.Principal.ID != p.ID {
			t.Fatalf("FindSession = %+v, %v", s, err)
		}
		if err := db.DeleteSession(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := db.FindSession(ctx, tok); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
			t.Errorf("deleted session still found: %v", err)
		}
	})
}

func TestSettings(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		p, _ := mustShipper(t, db)
		s, err := db.Settings(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.SecureDelivery.OTPEnabled || !s.Notifications.SMS || !s.Notifications.Email || len(s.SecureDelivery.Thresholds) != 5 {
			t.Fatalf("defaults = %+v", s)
		}
		if _, err := db.Settings(ctx, "shp_nobody"); handoff.ErrorCode(err) != handoff.ENOTFOUND {
			t.Errorf("unknown shipper: %v", err)
		}

		// Concurrent patches of different fields must both land.
		var wg sync.WaitGroup
		off := false
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				patch := &handoff.SettingsPatch{}
				if i%2 == 0 {
					enableOTP(t, db, p.ID)
					return
				}
				patch.Notifications = &handoff.NotificationsPatch{Email: &off}
				if _, err := db.UpdateSettings(ctx, p.ID, patch); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		s, _ = db.Settings(ctx, p.ID)
		if !s.SecureDelivery.OTPEnabled || s.Notifications.Email {
			t.Fatalf("a concurrent patch was lost: %+v", s)
		}
	})
}

func TestCreateShipment(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		p, _ := mustShipper(t, db)
		other, _ := mustShipper(t, db)
		enableOTP(t, db, p.ID)

		s, replay, err := db.CreateShipment(ctx, p.ID, gbShipment("150.00"), "")
		if err != nil || replay {
			t.Fatalf("CreateShipment: %v %v", replay, err)
		}
		pk := s.Packages[0]
		if !pk.Decision.OTPRequired || !pk.Decision.BagRequired {
			t.Errorf("decision = %+v, want OTP and bag", pk.Decision)
		}
		if s.RecipientMobile != "+447700900123" {
			t.Errorf("mobile = %q", s.RecipientMobile)
		}

		got, err := db.FindShipment(ctx, p.ID, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Packages[0].TrackingID != pk.TrackingID || got.Packages[0].InsuredValue.Minor != 15000 || got.ShipTo.Name != "R" {
			t.Errorf("FindShipment = %+v", got)
		}
		if _, err := db.FindShipment(ctx, other.ID, s.ID); handoff.ErrorCode(err) != handoff.ENOTFOUND {
			t.Errorf("other shipper sees shipment: %v", err)
		}

		tr, err := db.Tracking(ctx, p.ID, pk.TrackingID)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Events) != 1 || tr.Events[0].Code != tracking.ReadyForReceive || tr.Events[0].Location.City != "Leeds" || tr.Summary.Status != tracking.StatusPreTransit {
			t.Errorf("tracking = %+v", tr)
		}
		if _, err := db.Tracking(ctx, other.ID, pk.TrackingID); handoff.ErrorCode(err) != handoff.ENOTFOUND {
			t.Errorf("other shipper sees tracking: %v", err)
		}

		list, err := db.ListPackages(ctx, handoff.ShipmentFilter{ShipperID: p.ID})
		if err != nil || len(list) != 1 || list[0].TrackingID != pk.TrackingID || list[0].Recipient != "R" {
			t.Fatalf("ListPackages = %+v, %v", list, err)
		}
		if list, _ := db.ListPackages(ctx, handoff.ShipmentFilter{ShipperID: other.ID}); len(list) != 0 {
			t.Errorf("other shipper lists %d packages", len(list))
		}

		// Invalid input writes nothing.
		bad := gbShipment("150.001")
		if _, _, err := db.CreateShipment(ctx, p.ID, bad, ""); handoff.ErrorCode(err) != handoff.EINVALID {
			t.Fatalf("bad value: %v", err)
		}
		if list, _ := db.ListPackages(ctx, handoff.ShipmentFilter{ShipperID: p.ID}); len(list) != 1 {
			t.Errorf("invalid create left %d packages", len(list))
		}
	})
}

func TestIdempotency(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		p, _ := mustShipper(t, db)
		first, _, err := db.CreateShipment(ctx, p.ID, gbShipment("20"), "key-1")
		if err != nil {
			t.Fatal(err)
		}
		again, replay, err := db.CreateShipment(ctx, p.ID, gbShipment("20"), "key-1")
		if err != nil || !replay || again.ID != first.ID || again.Packages[0].TrackingID != first.Packages[0].TrackingID {
			t.Fatalf("retry = %v %v %v", again, replay, err)
		}
		if _, _, err := db.CreateShipment(ctx, p.ID, gbShipment("21"), "key-1"); handoff.ErrorCode(err) != handoff.EIDEMPOTENCY {
			t.Errorf("same key, other body: %v", err)
		}
		// Another shipper's key space is its own.
		q, _ := mustShipper(t, db)
		if s, replay, err := db.CreateShipment(ctx, q.ID, gbShipment("20"), "key-1"); err != nil || replay || s.ID == first.ID {
			t.Errorf("other shipper, same key: %v %v", replay, err)
		}

		// Racing retries with one key create one label.
		var wg sync.WaitGroup
		ids := make(chan string, 10)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, _, err := db.CreateShipment(ctx, p.ID, gbShipment("30"), "race")
				if err != nil {
					t.Error(err)
					return
				}
				ids <- s.ID
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		if len(seen) != 1 {
			t.Errorf("racing retries made %d shipments", len(seen))
		}
		list, _ := db.ListPackages(ctx, handoff.ShipmentFilter{ShipperID: p.ID})
		if len(list) != 2 {
			t.Errorf("shipper has %d packages, want 2", len(list))
		}
	})
}

func TestSigninLimit(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		p, cred, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAgent, Name: "Ag"})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := db.AuthenticatePassword(ctx, p.ID, "wrong", "192.0.2.1"); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if _, err := db.AuthenticatePassword(ctx, p.ID, cred.Password, "192.0.2.1"); handoff.ErrorCode(err) != handoff.ERATELIMITED {
			t.Fatalf("11th try with the right password: %v, want rate limited", err)
		}
		later := time.Now().Add(16 * time.Minute)
		db.Now = func() time.Time { return later }
		if _, err := db.AuthenticatePassword(ctx, p.ID, cred.Password, "192.0.2.1"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}

// TestKeyRevokedOutsideTheStoreRefused: a key revoked by SQL that knows
// nothing of the auth epoch (an older node during a rolling upgrade, an
// operator), or whose account was changed that way, is refused by a node
// that remembers it; and a node is not fooled by the epoch coming back to a
// number it remembers keys under (a database restored from a backup, a
// replica promoted behind its primary).
func TestKeyRevokedOutsideTheStoreRefused(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		p, cred := mustShipper(t, a)
		remembered := func(key string) {
			t.Helper()
			for range 2 {
				if got, err := a.AuthenticateAPIKey(ctx, key); err != nil || got.ID != p.ID {
					t.Fatalf("AuthenticateAPIKey = %+v, %v", got, err)
				}
			}
		}
		refused := func(key, what string) {
			t.Helper()
			if _, err := a.AuthenticateAPIKey(ctx, key); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Errorf("%s: %v, want unauthorized", what, err)
			}
		}
		k1, _ := a.CreateAPIKey(ctx, p.ID, "one")
		k2, _ := a.CreateAPIKey(ctx, p.ID, "two")
		k3, _ := a.CreateAPIKey(ctx, p.ID, "three")
		remembered(k1.Key)
		if err := b.ExecSQL(ctx, `UPDATE api_keys SET revoked_at = 1 WHERE id = $1`, k1.ID); err != nil {
			t.Fatal(err)
		}
		refused(k1.Key, "key revoked by SQL")

		remembered(k2.Key)
		if err := b.ExecSQL(ctx, `DELETE FROM api_keys WHERE id = $1`, k2.ID); err != nil {
			t.Fatal(err)
		}
		refused(k2.Key, "key deleted by SQL")

		// The epoch goes back, as a restore of a backup taken just before
		// would put it; the revocation after it must not land on the epoch
		// the node remembers the key under.
		remembered(k3.Key)
		var now int64
		if err := b.QueryEpoch(ctx, &now); err != nil {
			t.Fatal(err)
		}
		if err := b.ExecSQL(ctx, `UPDATE auth_epoch SET n = $1 WHERE id = 1`, now-1); err != nil {
			t.Fatal(err)
		}
		if err := b.RevokeAPIKey(ctx, p.ID, k3.ID); err != nil {
			t.Fatal(err)
		}
		refused(k3.Key, "key revoked after the epoch went back")

		// The account itself changed by SQL: the node answers with the
		// account as it is now.
		remembered(cred.APIKey)
		if err := b.ExecSQL(ctx, `UPDATE principals SET name = 'Renamed' WHERE id = $1`, p.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := a.AuthenticateAPIKey(ctx, cred.APIKey); err != nil || got.Name != "Renamed" {
			t.Errorf("after a rename by SQL: %+v, %v", got, err)
		}
		// A key's use being recorded does not make every node forget.
		var e1, e2 int64
		b.QueryEpoch(ctx, &e1)
		if err := b.ExecSQL(ctx, `UPDATE api_keys SET last_used_at = last_used_at + 1 WHERE principal_id = $1`, p.ID); err != nil {
			t.Fatal(err)
		}
		b.QueryEpoch(ctx, &e2)
		if e1 != e2 {
			t.Errorf("recording a key's use moved the auth epoch")
		}
		if b.Engine == sqlstore.SQLite {
			// A key revoked by replacing its row: REPLACE fires no DELETE
			// trigger.
			k4, _ := a.CreateAPIKey(ctx, p.ID, "four")
			remembered(k4.Key)
			if err := b.ExecSQL(ctx, `INSERT OR REPLACE INTO api_keys (id, principal_id, name, prefix, digest, created_at, last_used_at, revoked_at)
				SELECT id, principal_id, name, prefix, digest, created_at, last_used_at, 1 FROM api_keys WHERE id = $1`, k4.ID); err != nil {
				t.Fatal(err)
			}
			refused(k4.Key, "key revoked by INSERT OR REPLACE")
		}
		if b.Engine == sqlstore.Postgres {
			remembered(cred.APIKey)
			if err := b.ExecSQL(ctx, `TRUNCATE api_keys`); err != nil {
				t.Fatal(err)
			}
			refused(cred.APIKey, "key of a truncated table")
		}
	})
}

// TestRevokedKeyRefusedOnEveryNode: nodes remember the keys they
// authenticated, yet a key revoked, or an account's credentials reset, on
// one node is refused by the other on its very next request (on SQLite the
// two are two processes on one file), while the account's other keys go on
// working there.
func TestRevokedKeyRefusedOnEveryNode(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		p, cred := mustShipper(t, a)
		k, err := a.CreateAPIKey(ctx, p.ID, "warehouse")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second time from what each node remembers
			for _, n := range nodes {
				for _, key := range []string{cred.APIKey, k.Key} {
					if got, err := n.AuthenticateAPIKey(ctx, key); err != nil || got.ID != p.ID {
						t.Fatalf("AuthenticateAPIKey = %+v, %v", got, err)
					}
				}
			}
		}
		if err := a.RevokeAPIKey(ctx, p.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if _, err := n.AuthenticateAPIKey(ctx, k.Key); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Errorf("revoked key: %v, want unauthorized", err)
			}
			if got, err := n.AuthenticateAPIKey(ctx, cred.APIKey); err != nil || got.ID != p.ID {
				t.Errorf("the account's other key: %+v, %v", got, err)
			}
		}
		fresh, err := b.ResetCredentials(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if _, err := n.AuthenticateAPIKey(ctx, cred.APIKey); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Errorf("key of before the reset: %v, want unauthorized", err)
			}
			if got, err := n.AuthenticateAPIKey(ctx, fresh.APIKey); err != nil || got.ID != p.ID {
				t.Errorf("key of the reset: %+v, %v", got, err)
			}
		}
	})
}
