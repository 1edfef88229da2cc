// Package locale is handoff's language support: which languages it speaks
// (English, French, Italian and Spanish, for the marketplaces GB, FR, IT and
// ES; IN reads English), how a person's language is chosen, and how dates,
// times, numbers and money are written and read in it. Words live in a
// golang.org/x/text message catalogue (catalog.go), so plural rules and number
// formatting come from CLDR rather than from hand-made tables; only the names
// of days and months, which x/text does not carry, are catalogue entries of
// their own. It has no I/O.
package locale

import (
	"errors"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/handoff-dev/handoff/market"
)

// The languages handoff speaks, as BCP 47 primary language codes.
const (
	EN = "en"
	FR = "fr"
	IT = "it"
	ES = "es"
)

// Languages lists the languages handoff speaks, English first.
func Languages() []string { return []string{EN, FR, IT, ES} }

// Names are each language's name in itself, for a language chooser.
var Names = map[string]string{EN: "English", FR: "Français", IT: "Italiano", ES: "Español"}

var tags = []language.Tag{language.English, language.French, language.Italian, language.Spanish}

var matcher = language.NewMatcher(tags)

// Supported reports whether lang is one of Languages.
func Supported(lang string) bool { return Names[lang] != "" }

// Match returns the language to use: chosen when it is one handoff speaks,
// else the best match for an Accept-Language header, else English.
func Match(chosen, acceptLanguage string) string {
	if Supported(chosen) {
		return chosen
	}
	if acceptLanguage == "" {
		return EN
	}
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return EN
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return EN
	}
	return Languages()[i]
}

// ForMarket returns the language of a marketplace's messages; English for
// one handoff does not serve.
func ForMarket(code string) string {
	if m, ok := market.Lookup(code); ok && Supported(m.Language) {
		return m.Language
	}
	return EN
}

// Zone returns a marketplace's time zone, UTC for an unknown one or a host
// without the zone data.
func Zone(code string) *time.Location {
	m, _ := market.Lookup(code)
	return m.Location()
}

// Printer returns the catalogue's printer for lang (English for one handoff
// does not speak): its Sprintf translates a catalogue key and writes numbers
// the language's way.
func Printer(lang string) *message.Printer {
	if p, ok := printers[lang]; ok {
		return p
	}
	return printers[EN]
}

var printers = func() map[string]*message.Printer {
	out := map[string]*message.Printer{}
	for i, l := range Languages() {
		out[l] = message.NewPrinter(tags[i], message.Catalog(catalogue))
	}
	return out
}()

// T translates a catalogue key into lang, formatting args into it.
func T(lang, key string, args ...any) string {
	if len(args) == 0 {
		// A page says dozens of plain keys: read them from a map made
		// once rather than through the printer's formatting each time.
		if s, ok := plain[lang][key]; ok {
			return s
		}
	}
	return Printer(lang).Sprintf(key, args...)
}

// plain holds, per language, the translation of every catalogue key that
// takes no arguments.
var plain = func() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, l := range Languages() {
		m := map[string]string{}
		for _, e := range Entries() {
			if !strings.Contains(e.en, "%") {
				m[e.en] = Printer(l).Sprintf(e.en)
			}
		}
		out[l] = m
	}
	return out
}()

var weekdays = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

var months = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// Day writes a day the way a person says it in lang, without the year:
// "Tuesday 1 December", "mardi 1 décembre", "martedì 1 dicembre",
// "martes 1 de diciembre".
func Day(lang string, t time.Time) string {
	p := Printer(lang)
	return p.Sprintf("%[1]s %[2]d %[3]s", p.Sprintf(weekdays[t.Weekday()]), t.Day(), p.Sprintf(months[t.Month()-1]))
}

// LongDate writes a day with its year: "Tuesday 1 December 2026".
func LongDate(lang string, t time.Time) string {
	return Day(lang, t) + " " + t.Format("2006")
}

// ServiceDay writes a service date (YYYY-MM-DD) as Day does, and leaves
// anything else as it is.
func ServiceDay(lang, date string) string {
	t, err := time.Parse("2006-01-02", date)
	if err != nil {
		return date
	}
	return Day(lang, t)
}

// Clock writes minutes after midnight as a 24-hour time, "09:30", the way
// all four languages write it.
func Clock(minute int) string {
	return time.Date(2000, 1, 1, minute/60, minute%60, 0, 0, time.UTC).Format("15:04")
}

// When writes an instant in a marketplace's zone and lang: "Tuesday 1
// December 2026, 14:05".
func When(lang string, t time.Time, marketplace string) string {
	t = t.In(Zone(marketplace))
	return LongDate(lang, t) + ", " + t.Format("15:04")
}

// decimalMark is the character lang writes between whole and fraction.
func decimalMark(lang string) byte {
	if lang == FR || lang == IT || lang == ES {
		return ','
	}
	return '.'
}

// FormatDecimal writes a plain decimal ("1234.50", as money.Amount writes
// it) with lang's decimal mark: "1234,50". Thousands are not grouped, so what
// is shown can be typed back as it is.
func FormatDecimal(lang, plain string) string {
	if decimalMark(lang) == ',' {
		return strings.Replace(plain, ".", ",", 1)
	}
	return plain
}

// ErrNotDecimal is ParseDecimal's answer to anything that is not a number.
var ErrNotDecimal = errors.New("must be a number such as 12.50")

// ParseDecimal reads a number typed in lang and returns it in plain form
// ("12.50"). Spaces are dropped. When both marks appear, the last one is the
// decimal mark ("1.234,50", "1,234.50"). A lone comma is the decimal mark in
// French, Italian and Spanish ("12,50") and groups thousands in English; a
// lone dot is the decimal mark, as in numbers copied from elsewhere.
func ParseDecimal(lang, s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\u00a0', '\u202f', '\'':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	comma, dot := strings.LastIndex(s, ","), strings.LastIndex(s, ".")
	switch {
	case comma >= 0 && dot >= 0 && comma > dot, comma >= 0 && dot < 0 && decimalMark(lang) == ',':
		// "1.234,50", or "12,50" where a comma is the decimal mark.
		s = strings.ReplaceAll(s, ".", "")
		if strings.Count(s, ",") > 1 {
			return "", ErrNotDecimal
		}
		s = strings.Replace(s, ",", ".", 1)
	default:
		// "1,234.50", "12.50", or "1,234" in English.
		s = strings.ReplaceAll(s, ",", "")
	}
	if s == "" || strings.Count(s, ".") > 1 {
		return "", ErrNotDecimal
	}
	digits := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
		case c == '-' && i == 0:
		default:
			return "", ErrNotDecimal
		}
	}
	if digits == 0 {
		return "", ErrNotDecimal
	}
	return s, nil
}
