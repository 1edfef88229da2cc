package notify

import (
	"strings"
	"testing"
)

// TestTemplates renders every kind in every language for both channels, with
// two parcels, a code and a bag: each names the tracking IDs, carries the code
// where it should, and fits in two SMS segments.
func TestTemplates(t *testing.T) {
	d := Data{TrackingIDs: []string{"HO1A2B3C4D5E6F", "HO7G8H9J0K1M2N"}, RecipientName: "Ana", Passcode: "042917", ServiceDate: "2026-11-23",
		DetailCode: "OtpNotAvailable", Note: "close_failed", NextAttemptDate: "2026-11-24", BagIDs: []string{"TEB-7K3MQ9XR-4"}, Link: "http://127.0.0.1:8080/portal/in/abcdefghijklmnopqrstuvwxyz0123456789abcdefg", Code: "731904"}
	for _, lang := range Languages() {
		for _, kind := range Kinds() {
			for _, ch := range []string{SMS, Email} {
				subject, text, err := Render(kind, lang, ch, d)
				if err != nil {
					t.Fatalf("%s/%s/%s: %v", lang, kind, ch, err)
				}
				if kind != "signin" && !strings.Contains(text, "HO1A2B3C4D5E6F") {
					t.Errorf("%s/%s/%s does not name the tracking ID: %q", lang, kind, ch, text)
				}
				carries := kind == "out_for_delivery" || kind == "resend"
				if strings.Contains(text, d.Passcode) != carries {
					t.Errorf("%s/%s/%s: carries code = %v", lang, kind, ch, !carries)
				}
				if ch == SMS {
					if n := Segments(text); n > 2 {
						t.Errorf("%s/%s SMS takes %d segments (%d chars): %q", lang, kind, n, len([]rune(text)), text)
					}
				} else if subject == "" {
					t.Errorf("%s/%s email has no subject", lang, kind)
				}
			}
		}
	}
	if _, text, _ := Render("delivered", "fr", SMS, Data{TrackingIDs: []string{"HO1"}, DetailCode: "DeliveredWithOTP"}); !strings.Contains(text, "Livré avec code") {
		t.Errorf("French delivered SMS = %q", text)
	}
	if _, _, err := Render("nope", "en", SMS, d); err == nil {
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
	} {
		if got := Segments(c.text); got != c.want {
			t.Errorf("Segments(%d × %q) = %d, want %d", len([]rune(c.text)), []rune(c.text)[0], got, c.want)
		}
	}
}
