package handoff_test

import (
	"testing"
	"unicode/utf8"

	"github.com/handoff-dev/handoff"
)

// TestMaskedContacts: the masked email keeps its first letter whole, even
// when it is not ASCII (Go's address parser takes UTF-8 local parts), and
// the phone its country code and last three digits.
func TestMaskedContacts(t *testing.T) {
	for _, tt := range []struct{ in, want handoff.RecipientContacts }{
		{handoff.RecipientContacts{Phone: "+447700900123", Email: "priya@example.com"}, handoff.RecipientContacts{Phone: "+44 7••• •••123", Email: "p•••@example.com"}},
		{handoff.RecipientContacts{Email: "élodie@example.fr"}, handoff.RecipientContacts{Email: "é•••@example.fr"}},
		{handoff.RecipientContacts{Email: "渡辺@example.jp"}, handoff.RecipientContacts{Email: "渡•••@example.jp"}},
		{handoff.RecipientContacts{}, handoff.RecipientContacts{}},
	} {
		got := tt.in.Masked()
		if got != tt.want || !utf8.ValidString(got.Email) {
			t.Errorf("%+v masked = %+q, want %+q", tt.in, got, tt.want)
		}
	}
}
