package sqlstore_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// signinSecret opens the sealed sign-in message queued for contact, as the
// sender would, and returns its code and link.
func signinSecret(t *testing.T, db *sqlstore.DB, contact string) (code, link string, n int) {
	t.Helper()
	qs, err := db.ClaimNotifications(ctx, "sms", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mail, _ := db.ClaimNotifications(ctx, "email", 100, time.Minute)
	for _, q := range append(qs, mail...) {
		if q.Kind != "signin" || q.To != contact {
			continue
		}
		n++
		var d struct{ Sealed string }
		json.Unmarshal(q.Data, &d)
		secret, err := db.Keys.Open("message/signin", d.Sealed, nil)
		if err != nil {
			t.Fatal(err)
		}
		var s struct{ Code, Link string }
		json.Unmarshal(secret, &s)
		code, link = s.Code, s.Link
	}
	return
}

func TestPortalSignin(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		p, _ := mustShipper(t, db)
		in := gbShipment("50")
		in.Gift = &handoff.Gift{Buyer: &handoff.Party{Name: "B", Email: "Buyer@Example.com"}}
		if _, _, err := db.CreateShipment(ctx, p.ID, in, ""); err != nil {
			t.Fatal(err)
		}
		// Known and unknown contacts get the same answer; only the known one
		// gets a message.
		for _, c := range []string{"+44 7700 900123", "07700 900999", "nobody@example.com"} {
			if err := db.RequestSignin(ctx, c, "http://portal.test"); err != nil {
				t.Fatalf("RequestSignin(%q) = %v", c, err)
			}
		}
		code, link, n := signinSecret(t, db, "+447700900123")
		if n != 1 || len(code) != 6 || !strings.HasPrefix(link, "http://portal.test/portal/in/") {
			t.Fatalf("sign-in message: n=%d code=%q link=%q", n, code, link)
		}
		if _, _, n := signinSecret(t, db, "+447700900999"); n != 0 {
			t.Fatal("a message went to an unknown contact")
		}
		if err := db.RequestSignin(ctx, "not a contact", "http://x"); handoff.ErrorCode(err) != handoff.EINVALID {
			t.Errorf("garbage contact: %v", err)
		}

		// The link works once.
		token := link[strings.LastIndex(link, "/")+1:]
		st, sess, err := db.SigninWithToken(ctx, token)
		if err != nil || sess.Contact != "+447700900123" {
			t.Fatalf("link: %v %v", sess, err)
		}
		if _, _, err := db.SigninWithToken(ctx, token); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
			t.Errorf("link reused: %v", err)
		}
		if s, err := db.FindRecipientSession(ctx, st); err != nil || s.Contact != "+447700900123" {
			t.Errorf("session: %v %v", s, err)
		}
		// The code of the same sign-in is spent with it.
		if _, _, err := db.SigninWithCode(ctx, "07700900123", code); err == nil {
			t.Error("code of a spent sign-in still works")
		}

		// A code: five tries, then the sign-in is gone even for the right one.
		db.RequestSignin(ctx, "buyer@example.com", "http://portal.test")
		code, _, _ = signinSecret(t, db, "buyer@example.com")
		for range 5 {
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			if _, _, err := db.SigninWithCode(ctx, "buyer@example.com", wrong); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Fatalf("wrong code: %v", err)
			}
		}
		if _, _, err := db.SigninWithCode(ctx, "buyer@example.com", code); err == nil {
			t.Error("right code accepted after five wrong ones")
		}
		db.RequestSignin(ctx, "buyer@example.com", "http://portal.test")
		code, _, _ = signinSecret(t, db, "buyer@example.com")
		if _, s, err := db.SigninWithCode(ctx, "BUYER@example.com", code); err != nil || s.Contact != "buyer@example.com" {
			t.Fatalf("code sign-in: %v %v", s, err)
		}
		// The buyer sees the gift, marked as such.
		ps, err := db.RecipientParcels(ctx, "buyer@example.com")
		if err != nil || len(ps) != 1 || !ps[0].AsBuyer {
			t.Fatalf("buyer parcels = %+v %v", ps, err)
		}

		// Requests are limited per contact.
		var limited bool
		for range 6 {
			if err := db.RequestSignin(ctx, "someone@example.com", "http://x"); handoff.ErrorCode(err) == handoff.ERATELIMITED {
				limited = true
			}
		}
		if !limited {
			t.Error("sign-in requests are not limited")
		}
	})
}

func TestRecipientPrefs(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		c := "+447700900123"
		if p, err := db.RecipientPrefs(ctx, c); err != nil || p.PhotoOptOut || p.KeyDelivery {
			t.Fatalf("defaults = %+v %v", p, err)
		}
		if err := db.SetRecipientPrefs(ctx, c, handoff.RecipientPrefs{PhotoOptOut: true}); err != nil {
			t.Fatal(err)
		}
		if p, _ := db.RecipientPrefs(ctx, c); !p.PhotoOptOut {
			t.Error("opt-out not kept")
		}
		_ = auth.KindShipper
	})
}
