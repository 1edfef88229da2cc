package handoff

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text is what a free-text field a client sends may hold: names, address
// lines, descriptions, reasons, notes. Control characters are never kept —
// they hide text from the people who read it, break the lines of labels,
// logs and CSV exports, and NUL is refused by PostgreSQL outright — except
// line breaks and tabs in a multi-line field (a note typed in a text area).
type Text struct {
	Max       int  // characters at most; 0 means MaxTextLen
	Required  bool // an empty (or all-blank) value is an error
	Multiline bool // line breaks and tabs are allowed; "\r\n" is kept as "\n"
}

// Check trims *s (and, in multi-line text, makes every line break "\n") and
// records on fe why it cannot be kept as field: missing when required, not
// valid UTF-8, too long, or holding a control character.
func (t Text) Check(fe *FieldErrors, field string, s *string) {
	*s = strings.TrimSpace(*s)
	if t.Multiline {
		*s = strings.ReplaceAll(*s, "\r\n", "\n")
	}
	limit := t.Max
	if limit == 0 {
		limit = MaxTextLen
	}
	switch {
	case *s == "" && t.Required:
		fe.Add(field, "is required")
	case !utf8.ValidString(*s):
		fe.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(*s) > limit:
		fe.Add(field, "must be at most %d characters", limit)
	case strings.ContainsFunc(*s, func(r rune) bool { return isControl(r) && !(t.Multiline && (r == '\n' || r == '\t')) }):
		if t.Multiline {
			fe.Add(field, "must not contain control characters other than line breaks and tabs")
		} else {
			fe.Add(field, "must be one line without control characters")
		}
	}
}

// isControl reports whether r is a control character (C0, DEL, C1) or a
// Unicode line or paragraph separator, which break lines just as well.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// hasControl reports whether s holds a control character.
func hasControl(s string) bool { return strings.ContainsFunc(s, isControl) }
