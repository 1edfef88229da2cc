package web

import (
	"net/url"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/bag"
)

// TestWordsForBagsAndCases keeps the bag and customer-service pages in
// words: an outcome, state or kind added to the domain without words here
// would show up as a bare code.
func TestWordsForBagsAndCases(t *testing.T) {
	tables := []struct {
		name  string
		codes []string
		words map[string]string
	}{
		{"case outcome", handoff.CaseOutcomes, caseOutcomeWords},
		{"bag state", bagStates, bagStateWords},
		{"case kind", []string{handoff.CaseTamper, handoff.CaseScanMismatch}, caseKindWords},
		{"no-photo reason", []string{handoff.NoPhotoConfidential, handoff.NoPhotoGiftRegistry, handoff.NoPhotoOptedOut}, noPhotoWords},
	}
	for _, tt := range tables {
		for _, c := range tt.codes {
			if tt.words[c] == "" {
				t.Errorf("%s %q has no words", tt.name, c)
			}
		}
	}
	if got := historyEventWords("BagSealed"); got != "Sealed in a tamper-evident bag" {
		t.Errorf("BagSealed reads %q", got)
	}
	if got := historyEventWords("OutForDelivery"); got != "Out for delivery" {
		t.Errorf("OutForDelivery reads %q", got)
	}
}

func TestScanWords(t *testing.T) {
	id := bag.New()
	printed := bag.Format(id)
	wrong := printed[:len(printed)-1] + "*"
	if printed[len(printed)-1] == '*' {
		wrong = printed[:len(printed)-1] + "0"
	}
	tests := []struct{ typed, want string }{
		{"", "Scan the bag's barcode or type the ID printed under it."},
		{wrong, "That ID has a wrong character: it was misread or mistyped. Scan or type it again."},
		{"TEB-123", "That is not a bag ID: a bag ID looks like TEB-XXXXX-XXXXX-C."},
	}
	for _, tt := range tests {
		if got := scanWords(tt.typed); got != tt.want {
			t.Errorf("scanWords(%q) = %q, want %q", tt.typed, got, tt.want)
		}
	}
}

func TestAgeWords(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "under a minute"},
		{30 * time.Second, "under a minute"},
		{5 * time.Minute, "5 min"},
		{3*time.Hour + 59*time.Minute, "3 h"},
		{47 * time.Hour, "47 h"},
		{50 * time.Hour, "2 days"},
	}
	for _, tt := range tests {
		if got := ageWords(tt.d); got != tt.want {
			t.Errorf("ageWords(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormPosition(t *testing.T) {
	tests := []struct {
		lat, lon string
		want     *handoff.Position
	}{
		{"51.5265", "-0.0254", &handoff.Position{Lat: 51.5265, Lon: -0.0254}},
		{" 0 ", "0", &handoff.Position{}},
		{"", "", nil},
		{"51.5", "", nil},
		{"91", "0", nil},
		{"0", "-180.5", nil},
		{"NaN", "0", nil},
		{"north", "west", nil},
	}
	for _, tt := range tests {
		got := formPosition(url.Values{fieldLat: {tt.lat}, fieldLon: {tt.lon}})
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("formPosition(%q, %q) = %+v, want %+v", tt.lat, tt.lon, got, tt.want)
		}
	}
}
