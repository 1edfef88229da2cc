package handoff

import "testing"

func TestTextCheck(t *testing.T) {
	line, required, note := Text{}, Text{Required: true}, Text{Max: 20, Multiline: true}
	tests := []struct {
		name string
		t    Text
		in   string
		want string // the value kept, when ok
		ok   bool
	}{
		{"trimmed", line, "  Priya Shah ", "Priya Shah", true},
		{"empty but optional", line, "  ", "", true},
		{"empty but required", required, " ", "", false},
		{"accents and scripts", line, "Zoë Ñúñez 李 प्रिया", "Zoë Ñúñez 李 प्रिया", true},
		{"NUL", line, "a\x00b", "", false},
		{"escape", line, "a\x1b[2Jb", "", false},
		{"DEL", line, "a\x7fb", "", false},
		{"C1", line, "a\u0085b", "", false},
		{"line separator", line, "a\u2028b", "", false},
		{"newline on one line", line, "a\nb", "", false},
		{"tab on one line", line, "a\tb", "", false},
		{"newline in a note", note, "a\r\nb\n\tc", "a\nb\n\tc", true},
		{"a lone CR in a note", note, "a\rb", "", false},
		{"NUL in a note", note, "a\x00b", "", false},
		{"too long", note, "123456789012345678901", "", false},
		{"long in bytes, not in characters", note, "ééééééééééééééééééé", "ééééééééééééééééééé", true},
		{"not UTF-8", line, "a\xffb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fe FieldErrors
			s := tt.in
			tt.t.Check(&fe, "f", &s)
			if ok := len(fe) == 0; ok != tt.ok {
				t.Fatalf("Check(%q) errors %v, want ok %v", tt.in, fe, tt.ok)
			}
			if !tt.ok && fe[0].Field != "f" {
				t.Errorf("error names %q", fe[0].Field)
			}
			if tt.ok && s != tt.want {
				t.Errorf("kept %q, want %q", s, tt.want)
			}
		})
	}
}
