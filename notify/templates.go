package notify

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"text/template"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/handoff-dev/handoff/locale"
)

// Message texts live in templates/, one file per kind and channel
// (<kind>.sms.gotmpl, <kind>.email.gotmpl), each defining the text per
// language ("en", "fr", …) and, for email, the subject ("en.subject", …);
// common.gotmpl holds what they share (greeting, links, signature).
//
//go:embed templates
var templateFS embed.FS

// Data is what a message template can say. Passcode is filled only at the
// moment of sending; the links are made by the worker from its public URL.
type Data struct {
	TrackingIDs   []string
	RecipientName string
	// BuyerName greets a gift buyer by their own name (ToBuyer).
	BuyerName string
	ToBuyer   bool
	// Shipper is the shipper's display name, which every parcel message is
	// signed with and every SMS begins with.
	Shipper string
	// NeedsCode says a parcel of the message needs a passcode at the door;
	// COD that one is paid on delivery (and so needs none).
	NeedsCode, COD bool
	Passcode       string
	ServiceDate    string // YYYY-MM-DD
	// WindowFrom and WindowTo are the planned delivery window, "HH:MM".
	WindowFrom, WindowTo string
	DetailCode           string
	NextAttemptDate      string // YYYY-MM-DD
	BagIDs               []string
	// TrackURL is the public tracking page of the first parcel, PortalURL
	// the portal's sign-in, PhotoURL the delivery photo (behind sign-in),
	// empty when there is none.
	TrackURL, PortalURL, PhotoURL string
	Link                          string // a portal sign-in link (sign-in messages)
	Code                          string // a portal sign-in code
	Note                          string // the garage step

	// Written by Render from the rest, in the message's language (what a
	// caller puts here is replaced): who the message greets, the service
	// date ("Monday 23 November") and the next attempt's, likewise. They
	// are fields of Data itself rather than of a struct embedding it,
	// because text/template finds a promoted field by a search through
	// the embedded structs on every use: a quarter of rendering.
	Name, Day, NextDay string
}

// IDs joins the tracking IDs for a sentence.
func (d Data) IDs() string { return strings.Join(d.TrackingIDs, ", ") }

// Bags joins the bag IDs.
func (d Data) Bags() string { return strings.Join(d.BagIDs, ", ") }

// days remembers service dates written out, by language and date: a
// morning's messages all name the same day, and writing it costs more
// than the rest of a text.
var days struct {
	sync.Mutex
	m map[[2]string]string
}

// serviceDay is locale.ServiceDay, remembered.
func serviceDay(lang, date string) string {
	if date == "" {
		return ""
	}
	k := [2]string{lang, date}
	days.Lock()
	defer days.Unlock()
	if s, ok := days.m[k]; ok {
		return s
	}
	if days.m == nil || len(days.m) >= 4096 {
		days.m = map[[2]string]string{}
	}
	s := locale.ServiceDay(lang, date)
	days.m[k] = s
	return s
}

// templates are the parsed message templates by "<kind>.<channel>".
var templates = mustParseTemplates()

func mustParseTemplates() map[string]*template.Template {
	common, err := templateFS.ReadFile("templates/common.gotmpl")
	if err != nil {
		panic(err)
	}
	names, err := fs.Glob(templateFS, "templates/*.*.gotmpl")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		body, err := templateFS.ReadFile(n)
		if err != nil {
			panic(err)
		}
		key := strings.TrimSuffix(path.Base(n), ".gotmpl")
		t := template.Must(template.New(key).Option("missingkey=error").Parse(string(common)))
		out[key] = template.Must(t.Parse(string(body)))
	}
	return out
}

// Kinds lists the message kinds there are templates for.
func Kinds() []string {
	seen := map[string]bool{}
	var out []string
	for k := range templates {
		kind, _, _ := strings.Cut(k, ".")
		if !seen[kind] {
			seen[kind] = true
			out = append(out, kind)
		}
	}
	sort.Strings(out)
	return out
}

// Languages lists the languages there are templates for.
func Languages() []string { return locale.Languages() }

// Render returns the text of a message of kind in lang (English when the
// language has no templates) for channel: for SMS the subject is empty, and
// the text is folded into the GSM 7-bit alphabet where it strays from it
// (accents the alphabet lacks are dropped, as SMS commonly do), so it is
// counted in 160-character segments rather than 70.
func Render(kind, lang, channel string, d Data) (subject, text string, err error) {
	t, ok := templates[kind+"."+channel]
	if !ok {
		return "", "", fmt.Errorf("notify: no %s template for %q", channel, kind)
	}
	if !locale.Supported(lang) {
		lang = locale.EN
	}
	v := d
	v.Name, v.Day, v.NextDay = d.RecipientName, serviceDay(lang, d.ServiceDate), serviceDay(lang, d.NextAttemptDate)
	if d.ToBuyer {
		v.Name = d.BuyerName
	}
	if v.Shipper == "" {
		v.Shipper = "handoff"
	}
	exec := func(name string) (string, error) {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, name, v); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	}
	if channel == SMS {
		text, err = exec(lang)
		return "", FoldGSM(text), err
	}
	if subject, err = exec(lang + ".subject"); err != nil {
		return "", "", err
	}
	text, err = exec(lang)
	return subject, text + "\n", err
}

// gsm7 is the GSM 03.38 basic character set; an SMS in it packs 160
// characters a segment, anything else falls back to UCS-2 at 70.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7ext are the characters that cost two septets (escape + char).
const gsm7ext = "^{}\\[~]|€"

// gsmASCII marks the ASCII characters of the GSM alphabet or its extension,
// which most of a text is: FoldGSM keeps them without searching the
// alphabets.
var gsmASCII = func() (t [utf8.RuneSelf]bool) {
	for _, r := range gsm7 + gsm7ext {
		if r < utf8.RuneSelf {
			t[r] = true
		}
	}
	return t
}()

// gsmPunct replaces typographic punctuation the alphabet lacks.
var gsmPunct = strings.NewReplacer("’", "'", "‘", "'", "“", "\"", "”", "\"", "–", "-", "—", "-", "…", "...", "\u00a0", " ", "\u202f", " ")

// FoldGSM returns text in the GSM 7-bit alphabet: each character the
// alphabet lacks becomes its letter without the accent ("á" → "a", "ê" →
// "e", "ç" → "c"), typographic punctuation its plain form. A character with
// no such form is kept, and the message is sent as UCS-2.
func FoldGSM(text string) string {
	text = gsmPunct.Replace(text)
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		if r < utf8.RuneSelf && gsmASCII[r] || strings.ContainsRune(gsm7, r) || strings.ContainsRune(gsm7ext, r) {
			b.WriteRune(r)
			continue
		}
		base := []rune(norm.NFD.String(string(r)))
		if len(base) > 1 && !unicode.Is(unicode.Mn, base[0]) && strings.ContainsRune(gsm7, base[0]) {
			b.WriteRune(base[0])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Segments returns how many SMS segments text takes.
func Segments(text string) int {
	septets, ucs2 := 0, false
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			ucs2 = true
		}
	}
	if ucs2 {
		// UCS-2 counts 16-bit units: a character beyond the basic plane
		// (an emoji) takes two.
		n := 0
		for _, r := range text {
			n += utf16Len(r)
		}
		if n <= 70 {
			return 1
		}
		return (n + 66) / 67
	}
	if septets <= 160 {
		return 1
	}
	return (septets + 152) / 153
}

func utf16Len(r rune) int {
	if r > 0xFFFF && r <= utf8.MaxRune {
		return 2
	}
	return 1
}
