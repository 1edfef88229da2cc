package bag

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	id := New()
	for _, in := range []string{id, strings.ToLower(id), Format(id), " " + Format(id) + " ", strings.ReplaceAll(Format(id), "-", " ")} {
		got, err := Parse(in)
		if err != nil || got != id {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, id)
		}
	}
	for _, bad := range []string{"", "TEB", "XYZ" + id[3:], id + "A", id[:len(id)-1], "TEB-0000000000-*-extra-long-string-here"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestEverySingleErrorIsCaught checks, for many IDs, that every substitution
// of one character (by any character a scanner or a person could produce)
// and every swap of two different neighbours is refused.
func TestEverySingleErrorIsCaught(t *testing.T) {
	chars := checkSet + "ILOU"
	for range 300 {
		id := New()
		if _, err := Parse(id); err != nil {
			t.Fatalf("fresh ID %s refused: %v", id, err)
		}
		for i := len(Prefix); i < len(id); i++ {
			for j := 0; j < len(chars); j++ {
				if chars[j] == id[i] {
					continue
				}
				mut := id[:i] + string(chars[j]) + id[i+1:]
				if _, err := Parse(mut); err == nil {
					t.Fatalf("substitution %s -> %s accepted", id, mut)
				}
			}
		}
		for i := len(Prefix); i+1 < len(id); i++ {
			if id[i] == id[i+1] {
				continue
			}
			mut := id[:i] + string(id[i+1]) + string(id[i]) + id[i+2:]
			if _, err := Parse(mut); err == nil {
				t.Fatalf("transposition %s -> %s accepted", id, mut)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(New())
	f.Add("teb-7k3mq-9xr4d-c")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(Format(id))
		if err != nil || again != id {
			t.Fatalf("%q parsed to %q but its printed form does not parse back", s, id)
		}
	})
}
