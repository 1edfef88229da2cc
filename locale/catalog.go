package locale

import (
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message/catalog"
)

// entry is one catalogue key (the English text, a fmt format) and its
// French, Italian and Spanish forms. Keep the verbs of a format in every
// language; use %[n]s to reorder them.
type entry struct{ en, fr, it, es string }

// catalogue holds every entry, and the plural messages, for the printers.
var catalogue = func() *catalog.Builder {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, e := range Entries() {
		for i, s := range []string{e.en, e.fr, e.it, e.es} {
			if err := b.SetString(tags[i], e.en, s); err != nil {
				panic(err)
			}
		}
	}
	for _, p := range plurals {
		for i, forms := range [][2]string{p.en, p.fr, p.it, p.es} {
			if err := b.Set(tags[i], p.key, plural.Selectf(1, "%d", plural.One, forms[0], plural.Other, forms[1])); err != nil {
				panic(err)
			}
		}
	}
	return b
}()

// pluralEntry is a message whose words follow a count, in each language's
// one and other forms (CLDR's rules decide which applies: French counts 0
// as one).
type pluralEntry struct {
	key            string
	en, fr, it, es [2]string
}

var plurals = append([]pluralEntry{
	{"%d parcels", [2]string{"%d parcel", "%d parcels"}, [2]string{"%d colis", "%d colis"}, [2]string{"%d pacco", "%d pacchi"}, [2]string{"%d paquete", "%d paquetes"}},
}, boardPlurals...)

// Entries returns the catalogue, for the test that every key has every
// language.
func Entries() []entry { return all }

// all is every entry: the days and months, then the pages'.
var all = append(append(append(append(append(append(append(append(append(append([]entry{}, entries...), pages...), portal...), work...), workCS...), customerService...), board...), label...), hooks...), assoc...)

// PluralKeys returns the keys of the plural messages.
func PluralKeys() []string {
	var out []string
	for _, p := range plurals {
		out = append(out, p.key)
	}
	return out
}

// Has reports whether key is in the catalogue.
func Has(key string) bool {
	for _, e := range all {
		if e.en == key {
			return true
		}
	}
	for _, p := range plurals {
		if p.key == key {
			return true
		}
	}
	return false
}

// Translations returns the French, Italian and Spanish forms of an entry,
// "" where one is missing.
func (e entry) Translations() map[string]string {
	return map[string]string{EN: e.en, FR: e.fr, IT: e.it, ES: e.es}
}

var entries = []entry{
	// Days and months, for Day.
	{"Sunday", "dimanche", "domenica", "domingo"},
	{"Monday", "lundi", "lunedì", "lunes"},
	{"Tuesday", "mardi", "martedì", "martes"},
	{"Wednesday", "mercredi", "mercoledì", "miércoles"},
	{"Thursday", "jeudi", "giovedì", "jueves"},
	{"Friday", "vendredi", "venerdì", "viernes"},
	{"Saturday", "samedi", "sabato", "sábado"},
	{"January", "janvier", "gennaio", "enero"},
	{"February", "février", "febbraio", "febrero"},
	{"March", "mars", "marzo", "marzo"},
	{"April", "avril", "aprile", "abril"},
	{"May", "mai", "maggio", "mayo"},
	{"June", "juin", "giugno", "junio"},
	{"July", "juillet", "luglio", "julio"},
	{"August", "août", "agosto", "agosto"},
	{"September", "septembre", "settembre", "septiembre"},
	{"October", "octobre", "ottobre", "octubre"},
	{"November", "novembre", "novembre", "noviembre"},
	{"December", "décembre", "dicembre", "diciembre"},
	{"%[1]s %[2]d %[3]s", "%[1]s %[2]d %[3]s", "%[1]s %[2]d %[3]s", "%[1]s %[2]d de %[3]s"},
}
