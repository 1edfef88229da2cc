package handoff_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
)

func TestParseShipmentFilter(t *testing.T) {
	f, err := handoff.ParseShipmentFilter(url.Values{"status": {"delivered"}, "secure": {"OTP"}, "from": {"2026-11-30"}, "to": {"2026-12-06"},
		"reference": {" ORD-7 "}, "recipient": {"07700 900123"}, "limit": {"20"}}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != "Delivered" || f.Secure != handoff.SecureOTP || f.Limit != 20 || f.Reference != "ORD-7" ||
		!f.From.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) || !f.To.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) ||
		len(f.Recipient.Mobiles) != 1 || f.Recipient.Mobiles[0] != "+447700900123" {
		t.Errorf("parsed %+v", f)
	}
	// The link back reads the same filter.
	g, err := handoff.ParseShipmentFilter(f.Query(), 50)
	if err != nil || g.Status != f.Status || !g.From.Equal(f.From) || !g.To.Equal(f.To) || g.Recipient.Typed != "07700 900123" {
		t.Errorf("round trip: %+v %v", g, err)
	}
	for _, c := range []struct{ typed, name, email string }{
		{"  Priya   SHAH ", "priya shah", ""},
		{"Priya@Example.COM", "", "priya@example.com"},
	} {
		m := handoff.ParseRecipient(c.typed)
		if m.Name != c.name || m.Email != c.email || len(m.Mobiles) != 0 {
			t.Errorf("ParseRecipient(%q) = %+v", c.typed, m)
		}
	}
	for q, field := range map[string]string{"status=x": "status", "secure=x": "secure", "from=2026-13-01": "from", "to=1999-01-01": "to",
		"from=2026-12-02&to=2026-12-01": "to", "limit=501": "limit", "reference=a%00b": "reference"} {
		v, _ := url.ParseQuery(q)
		_, err := handoff.ParseShipmentFilter(v, 50)
		if fe := handoff.ErrorFields(err); len(fe) != 1 || fe[0].Field != field {
			t.Errorf("%s: %v, want an error at %s", q, err, field)
		}
	}
}

// FuzzParseShipmentFilter: whatever the query, the parser returns a filter
// or an invalid-input error naming a parameter, never panics, and a filter
// it returns reads back the same through its own link.
func FuzzParseShipmentFilter(f *testing.F) {
	for _, s := range []string{"", "status=Delivered&secure=otp", "from=2026-11-30&to=2026-12-06", "recipient=%2B44+7700+900123",
		"recipient=a%40b.c", "reference=%25_", "limit=-1", "cursor=abc", "to=2026-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := handoff.ParseShipmentFilter(q, 50)
		if err != nil {
			if handoff.ErrorCode(err) != handoff.EINVALID || len(handoff.ErrorFields(err)) == 0 {
				t.Fatalf("%q: %v is not a field error", raw, err)
			}
			return
		}
		if got.Limit < 1 || got.Limit > handoff.MaxPageSize {
			t.Fatalf("%q: limit %d", raw, got.Limit)
		}
		again, err := handoff.ParseShipmentFilter(got.Query(), 50)
		if err != nil || again.Status != got.Status || again.Secure != got.Secure || !again.From.Equal(got.From) ||
			!again.To.Equal(got.To) || again.Reference != got.Reference || again.Recipient.Name != got.Recipient.Name ||
			again.Recipient.Email != got.Recipient.Email || len(again.Recipient.Mobiles) != len(got.Recipient.Mobiles) {
			t.Fatalf("%q: %+v reads back as %+v (%v)", raw, got, again, err)
		}
	})
}
