package web

import (
	"io/fs"
	"regexp"
	"testing"

	"github.com/handoff-dev/handoff/locale"
)

// TestPageKeysTranslated fails when a page says a catalogue key (a
// template's T "…", a title, a tracking word) that the catalogue lacks, and
// so would show it in English whatever the language.
func TestPageKeysTranslated(t *testing.T) {
	key := regexp.MustCompile(`\.T "((?:[^"\\]|\\.)*)"`)
	err := fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range key.FindAllStringSubmatch(string(b), -1) {
			if !locale.Has(m[1]) {
				t.Errorf("%s: %q is not in the catalogue", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, s := range trackStages {
		words = append(words, s.label)
	}
	for _, table := range []map[string]string{trackStatusWords, eventNames, recordedEventNames} {
		for _, w := range table {
			words = append(words, w)
		}
	}
	words = append(words, "Your parcels: sign in", "Secure parcel delivery", "Sign-in link expired", "Your settings", "Track a parcel", "Your parcels",
		"between %[1]s and %[2]s")
	for _, w := range words {
		if !locale.Has(w) {
			t.Errorf("%q is not in the catalogue", w)
		}
	}
}
