package locale

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

var verb = regexp.MustCompile(`%(\[\d+\])?[sdv]`)

// TestCatalogueComplete fails when a key lacks a translation in any
// language, is listed twice, or loses a verb in translation.
func TestCatalogueComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Entries() {
		if seen[e.en] {
			t.Errorf("key %q is listed twice", e.en)
		}
		seen[e.en] = true
		want := verb.FindAllString(e.en, -1)
		for lang, s := range e.Translations() {
			if s == "" {
				t.Errorf("key %q has no %s translation", e.en, lang)
			}
			got := verb.FindAllString(s, -1)
			slices.Sort(got)
			w := slices.Clone(want)
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("key %q in %s has verbs %v, want %v", e.en, lang, got, w)
			}
		}
	}
	for _, p := range plurals {
		for i, forms := range [][2]string{p.en, p.fr, p.it, p.es} {
			if forms[0] == "" || forms[1] == "" {
				t.Errorf("plural %q lacks a form in %s", p.key, Languages()[i])
			}
		}
	}
}

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		lang string
		n    int
		want string
	}{{EN, 1, "1 parcel"}, {EN, 2, "2 parcels"}, {FR, 0, "0 colis"}, {IT, 1, "1 pacco"}, {IT, 3, "3 pacchi"}, {ES, 2, "2 paquetes"}} {
		if got := T(c.lang, "%d parcels", c.n); got != c.want {
			t.Errorf("%s %d parcels = %q, want %q", c.lang, c.n, got, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct{ chosen, accept, want string }{
		{"", "", EN}, {"", "fr-FR,fr;q=0.9,en;q=0.8", FR}, {"", "it", IT}, {"", "es-ES", ES}, {"", "de-DE", EN},
		{"", "de-DE,es;q=0.5", ES}, {"it", "fr", IT}, {"xx", "fr", FR}, {"", "en-IN", EN}, {"", "garbage;;q", EN},
	} {
		if got := Match(c.chosen, c.accept); got != c.want {
			t.Errorf("Match(%q, %q) = %q, want %q", c.chosen, c.accept, got, c.want)
		}
	}
}

func TestDay(t *testing.T) {
	d := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for lang, want := range map[string]string{EN: "Tuesday 1 December", FR: "mardi 1 décembre", IT: "martedì 1 dicembre", ES: "martes 1 de diciembre"} {
		if got := Day(lang, d); got != want {
			t.Errorf("Day(%s) = %q, want %q", lang, got, want)
		}
	}
	if got := ServiceDay(FR, "2026-12-01"); got != "mardi 1 décembre" {
		t.Errorf("ServiceDay = %q", got)
	}
	if got := When(FR, time.Date(2026, 12, 1, 13, 5, 0, 0, time.UTC), "FR"); got != "mardi 1 décembre 2026, 14:05" {
		t.Errorf("When = %q", got)
	}
}

func TestDecimals(t *testing.T) {
	for _, c := range []struct{ lang, in, want string }{
		{FR, "12,50", "12.50"}, {FR, "12.50", "12.50"}, {FR, "1 234,5", "1234.5"}, {IT, "1.234,50", "1234.50"}, {ES, "100", "100"},
		{EN, "12.50", "12.50"}, {EN, "1,234.50", "1234.50"}, {FR, "1,234.50", "1234.50"}, {EN, "1.234,50", "1234.50"}, {FR, " 7,5 ", "7.5"}, {FR, "12\u202f000,00", "12000.00"},
	} {
		got, err := ParseDecimal(c.lang, c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDecimal(%s, %q) = %q, %v; want %q", c.lang, c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "abc", "1,2,3", "1.2.3", "12,5x", ","} {
		if got, err := ParseDecimal(FR, bad); err == nil {
			t.Errorf("ParseDecimal(fr, %q) = %q, want an error", bad, got)
		}
	}
	if got := FormatDecimal(FR, "12.50"); got != "12,50" {
		t.Errorf("FormatDecimal(fr) = %q", got)
	}
	if got := FormatDecimal(EN, "12.50"); got != "12.50" {
		t.Errorf("FormatDecimal(en) = %q", got)
	}
}
