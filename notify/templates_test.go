package notify

import (
	"context"
	"strings"
	"testing"
)

// codeWords are the words for a passcode per language: a message about a
// parcel that needs no code must use none of them.
var codeWords = map[string][]string{"en": {"passcode", "code"}, "fr": {"code"}, "it": {"codice"}, "es": {"código", "codigo"}}

// dates are how each language writes Tuesday 24 November 2026 (the next
// attempt) and Monday 23 November (the service date), SMS folding aside.
var dates = map[string][2]string{
	"en": {"Tuesday 24 November", "Monday 23 November"},
	"fr": {"mardi 24 novembre", "lundi 23 novembre"},
	"it": {"martedì 24 novembre", "lunedì 23 novembre"},
	"es": {"martes 24 de noviembre", "lunes 23 de noviembre"},
}

// TestCatalogue renders every kind × language × channel in each situation
// the kind has, with two parcels, a 30-character shipper name and a long
// public URL, and checks the facts each message must carry: the parcels,
// the bag, the shipper's name first in an SMS, a link to the tracking page
// (the sign-in link for sign-in messages), the code only where it belongs,
// the person it greets, dates in the language, never "OTP", and an SMS of
// at most two segments.
func TestCatalogue(t *testing.T) {
	const base = "https://parcels.example-carrier.co.uk"
	base0 := Data{TrackingIDs: []string{"HO1A2B3C4D5E6F", "HO7G8H9J0K1M2N"}, RecipientName: "Ana", Shipper: "Demo Gadgets of Mare Street Ltd",
		ServiceDate: "2026-11-23", NextAttemptDate: "2026-11-24", WindowFrom: "10:00", WindowTo: "12:00", BagIDs: []string{"TEB-7K3MQ9XR-4"},
		Note: "close_failed", Link: base + "/portal/in/abcdefghijklmnopqrstuvwxyz0123456789abcdefg", Code: "731904"}
	w := &Worker{PublicURL: base}
	type situation struct {
		name string
		kind string
		edit func(*Data)
		// code: the day's code must be in the text; noCode: no word for
		// a code may be.
		code, noCode bool
		want         func(lang string) []string // further facts, per language
	}
	situations := []situation{
		{name: "shipped, passcode ahead", kind: "shipped", edit: func(d *Data) { d.NeedsCode = true }},
		{name: "shipped, cash on delivery", kind: "shipped", edit: func(d *Data) { d.COD, d.BagIDs = true, nil }, noCode: true},
		{name: "out with code", kind: "out_for_delivery", edit: func(d *Data) { d.NeedsCode, d.Passcode = true, "042917" }, code: true,
			want: func(l string) []string { return []string{dates[l][1], "10:00", "12:00"} }},
		{name: "out with code, to the gift buyer", kind: "out_for_delivery", edit: func(d *Data) { d.NeedsCode, d.Passcode, d.ToBuyer, d.BuyerName = true, "042917", true, "Luis" },
			code: true},
		{name: "out without code", kind: "out_for_delivery", edit: func(d *Data) { d.BagIDs = nil }, noCode: true,
			want: func(l string) []string { return []string{dates[l][1]} }},
		{name: "out, cash on delivery", kind: "out_for_delivery", edit: func(d *Data) { d.COD, d.BagIDs = true, nil }, noCode: true},
		{name: "resend", kind: "resend", edit: func(d *Data) { d.NeedsCode, d.Passcode = true, "042917" }, code: true},
		{name: "resend to the gift buyer", kind: "resend", edit: func(d *Data) { d.NeedsCode, d.Passcode, d.ToBuyer, d.BuyerName = true, "042917", true, "Luis" }, code: true},
		{name: "delivered with code", kind: "delivered", edit: func(d *Data) { d.DetailCode = "DeliveredWithOTP" }},
		{name: "delivered to the porch, photo", kind: "delivered", edit: func(d *Data) { d.DetailCode, d.PhotoURL = "DeliveredToPorch", "photo" }, noCode: true,
			want: func(string) []string { return []string{"/portal/parcels/HO1A2B3C4D5E6F/photo"} }},
		{name: "delivered to the garage", kind: "delivered", edit: func(d *Data) { d.DetailCode = "DeliveredToGarage" }, noCode: true},
		{name: "delivered to a neighbour", kind: "delivered", edit: func(d *Data) { d.DetailCode = "DeliveredToNeighbor" }, noCode: true},
		{name: "failed, code not given", kind: "attempt_failed", edit: func(d *Data) { d.NeedsCode, d.DetailCode = true, "OtpNotAvailable" },
			want: func(l string) []string { return []string{dates[l][0]} }},
		{name: "failed, cash on delivery", kind: "attempt_failed", edit: func(d *Data) { d.COD, d.DetailCode, d.BagIDs = true, "CustomerUnavailable", nil }, noCode: true,
			want: func(l string) []string { return []string{dates[l][0]} }},
		{name: "failed, no next date", kind: "attempt_failed", edit: func(d *Data) { d.DetailCode, d.NextAttemptDate = "UnableToAccess", "" }, noCode: true},
		{name: "refused tampered bag", kind: "refused", edit: func(d *Data) { d.DetailCode = "RejectedByRecipientWithVerification" }, noCode: true},
		{name: "returning", kind: "returning", noCode: true},
		{name: "garage did not close", kind: "garage", noCode: true},
		{name: "sign-in", kind: "signin"},
	}
	kinds := map[string]bool{}
	for _, s := range situations {
		kinds[s.kind] = true
	}
	for _, k := range Kinds() {
		if !kinds[k] {
			t.Errorf("kind %s has no situation in this test", k)
		}
	}
	for _, s := range situations {
		for _, lang := range Languages() {
			for _, ch := range []string{SMS, Email} {
				d := base0
				if s.edit != nil {
					s.edit(&d)
				}
				photo := ""
				if d.PhotoURL != "" {
					photo = d.TrackingIDs[0]
				}
				w.links(&d, photo)
				subject, text, err := Render(s.kind, lang, ch, d)
				if err != nil {
					t.Fatalf("%s/%s/%s: %v", s.name, lang, ch, err)
				}
				where := s.name + "/" + lang + "/" + ch
				fold := func(x string) string {
					if ch == SMS {
						return FoldGSM(x)
					}
					return x
				}
				has := func(fact string) {
					t.Helper()
					if !strings.Contains(text, fold(fact)) {
						t.Errorf("%s does not say %q:\n%s", where, fact, text)
					}
				}
				lower := strings.ToLower(text)
				if strings.Contains(text, "OTP") {
					t.Errorf("%s says OTP:\n%s", where, text)
				}
				if s.kind == "signin" {
					has(d.Code)
					has(d.Link)
				} else {
					has("HO1A2B3C4D5E6F")
					has("HO7G8H9J0K1M2N")
					if s.kind == "garage" {
						has(d.PortalURL)
					} else {
						has(d.TrackURL)
					}
					if d.BagIDs != nil {
						has("TEB-7K3MQ9XR-4")
					}
					if ch == SMS && !strings.HasPrefix(text, d.Shipper) {
						t.Errorf("%s does not begin with the shipper's name:\n%s", where, text)
					}
					if ch == Email {
						has(d.Shipper)
						greeted := d.RecipientName
						if d.ToBuyer {
							greeted = d.BuyerName
							has(d.RecipientName) // the buyer is told whose gift it is
						}
						if first := strings.SplitN(text, "\n", 2)[0]; !strings.Contains(first, greeted) {
							t.Errorf("%s greets %q, not %q", where, first, greeted)
						}
					}
					if strings.Contains(text, "2026-") {
						t.Errorf("%s writes an ISO date:\n%s", where, text)
					}
				}
				if s.code != strings.Contains(text, "042917") {
					t.Errorf("%s: carries the code = %v", where, !s.code)
				}
				if s.noCode {
					for _, word := range codeWords[lang] {
						if strings.Contains(lower, word) && !strings.Contains(lower, "cod"+"e postal") {
							t.Errorf("%s mentions a code (%q) though none is needed:\n%s", where, word, text)
						}
					}
				}
				if s.want != nil {
					for _, f := range s.want(lang) {
						has(f)
					}
				}
				if ch == SMS {
					if n := Segments(text); n > 2 {
						t.Errorf("%s takes %d segments (%d chars):\n%s", where, n, len([]rune(text)), text)
					}
					if FoldGSM(text) != text {
						t.Errorf("%s is not folded", where)
					}
				} else if subject == "" || strings.Contains(subject, "042917") {
					t.Errorf("%s: subject %q (empty, or carrying the code)", where, subject)
				}
			}
		}
	}
	if _, _, err := Render("nope", "en", SMS, base0); err == nil {
		t.Error("unknown kind rendered")
	}
}

func TestSegments(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
	}{
		{strings.Repeat("a", 160), 1}, {strings.Repeat("a", 161), 2}, {strings.Repeat("a", 306), 2}, {strings.Repeat("a", 307), 3},
		{strings.Repeat("é", 160), 1}, {strings.Repeat("ê", 70), 1}, {strings.Repeat("ê", 71), 2}, {strings.Repeat("€", 80), 1}, {strings.Repeat("€", 81), 2},
		{strings.Repeat("😀", 35), 1}, {strings.Repeat("😀", 36), 2},
	} {
		if got := Segments(c.text); got != c.want {
			t.Errorf("Segments(%d × %q) = %d, want %d", len([]rune(c.text)), []rune(c.text)[0], got, c.want)
		}
	}
}

func TestFoldGSM(t *testing.T) {
	for in, want := range map[string]string{
		"código entregó miércoles": "codigo entrego miércoles", "fête à Noël, ça": "fete à Noel, ca", "martedì è": "martedì è",
		"l’accueil – ok…": "l'accueil - ok...", "Ñandú": "Ñandu",
	} {
		if got := FoldGSM(in); got != want {
			t.Errorf("FoldGSM(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkRender measures rendering an out-for-delivery message with its
// code, as a text and as an email.
func BenchmarkRender(b *testing.B) {
	d := Data{TrackingIDs: []string{"HO7Q2K9M4X1P3R"}, RecipientName: "Ada Lovelace", Shipper: "Acme", NeedsCode: true,
		Passcode: "482913", ServiceDate: "2026-11-23", WindowFrom: "10:00", WindowTo: "12:00", BagIDs: []string{"B-1234-5678"},
		TrackURL: "https://handoff.example/track?id=HO7Q2K9M4X1P3R", PortalURL: "https://handoff.example/portal"}
	for _, ch := range []string{SMS, Email} {
		b.Run(ch, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Render("out_for_delivery", "en", ch, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuild measures building a queued out-for-delivery email as the
// worker does before sending it: decoding its data, adding the links and
// rendering it.
func BenchmarkBuild(b *testing.B) {
	q := Queued{ID: "msg_1", Kind: "out_for_delivery", Channel: Email, To: "ada@example.com", Lang: "en",
		Data: []byte(`{"trackingIds":["HO7Q2K9M4X1P3R"],"recipientName":"Ada Lovelace","buyerName":"","shipper":"Acme","needsCode":true,` +
			`"cod":false,"photo":"","serviceDate":"2026-11-23","windowFrom":"10:00","windowTo":"12:00","bagIds":["B-1234-5678"],"toBuyer":false}`)}
	w := &Worker{PublicURL: "https://handoff.example"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Build(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}
