package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/money"
	"github.com/handoff-dev/handoff/route"
)

//go:embed templates static
var files embed.FS

// view is what every page template gets: the shared layout reads the common
// fields, the page's own content reads Data.
type view struct {
	Lang    string // the page's language: see langOf
	Path    string // the page's own path and query, for the language chooser to come back to
	Title   string
	Visitor *handoff.Principal // nil when nobody is signed in
	CSRF    string             // the token for forms, "" when not signed in
	Nav     string             // the nav entry to mark as current
	Data    any
}

// pages holds one template set per page: the shared layout plus the page's
// "content". A new page is a new file in templates/pages.
var pages = mustParsePages()

// assetHash is the content hash of each static file, so that links to them
// change when the file does and browsers may cache them for good.
var assetHash = mustHashAssets()

var funcs = template.FuncMap{
	"asset":     assetURL,
	"kindLabel": func(k auth.Kind) string { return kindLabels[k] },
	"home":      func(k auth.Kind) string { return homes[k] },
	"money":     formatMoney,
	"when":      formatTime,
	"payment":   paymentWords,
	"otpReason": func(code string) string { return reasonWords(otpReasonWords, code) },
	"bagReason": func(code string) string { return reasonWords(bagReasonWords, code) },
	"event":     eventWords,
	"detail":    detailWords,
	"place":     place,
	"date":      formatDate,
	"status":    parcelStatus,
	"otpState":  func(code string) string { return codeWords(otpStateWords, code) },
	"plural":    plural,
	"dict":      dict,
}

func mustParsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	names, err := fs.Glob(files, "templates/pages/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		t := template.Must(template.Must(base.Clone()).ParseFS(files, n))
		out[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return out
}

func mustHashAssets() map[string]string {
	out := map[string]string{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}

// assetURL returns the versioned URL of a static file.
func assetURL(name string) string {
	return "/static/" + name + "?v=" + assetHash[name]
}

// static serves the embedded assets. A request carrying the current version
// may be cached for a year; anything else is revalidated by ETag.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	hash, ok := assetHash[name]
	if !ok {
		s.notFound(w, r)
		return
	}
	b, _ := files.ReadFile("static/" + name)
	if r.URL.Query().Get("v") == hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+hash+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// T translates a catalogue key into the page's language (package locale);
// a key the catalogue lacks reads as itself, in English.
func (v view) T(key string, args ...any) string { return locale.T(v.Lang, key, args...) }

// Languages offers the languages of the chooser, each in itself.
// Footer is the page's footer: the product line and the language chooser,
// which comes back to this page.
func (v view) Footer() template.HTML {
	f := footers[v.Lang]
	return template.HTML(f[0] + html.EscapeString(v.Path) + f[1])
}

// AnonymousNav is the header's links for a visitor who is not signed in.
func (v view) AnonymousNav() template.HTML { return anonymousNav[v.Lang] }

// footers and anonymousNav are made once per language: every page
// has them, and each action a template runs costs more than the text it
// writes (a flood of refused sign-ins renders thousands of pages).
var footers, anonymousNav = func() (map[string][2]string, map[string]template.HTML) {
	foot, nav := map[string][2]string{}, map[string]template.HTML{}
	for _, cur := range locale.Languages() {
		var b strings.Builder
		for _, l := range locale.Languages() {
			sel := ""
			if l == cur {
				sel = " selected"
			}
			fmt.Fprintf(&b, `<option value="%s" lang="%s"%s>%s</option>`, l, l, sel, html.EscapeString(locale.Names[l]))
		}
		t := func(key string) string { return html.EscapeString(locale.T(cur, key)) }
		foot[cur] = [2]string{`<footer class="foot">
  <span>handoff · ` + t("secure last-mile delivery") + `</span>
  <form method="get" action="/lang" class="lang-choice">
    <input type="hidden" name="next" value="`, `">
    <label for="lang-select">` + t("Language") + `</label>
    <select id="lang-select" name="lang">` + b.String() + `</select>
    <button type="submit" class="link">` + t("Change") + `</button>
  </form>
</footer>`}
		nav[cur] = template.HTML(fmt.Sprintf(`<a href="/track">%s</a> <a href="/portal">%s</a> <a href="/signin">%s</a>`,
			html.EscapeString(locale.T(cur, "Track a parcel")), html.EscapeString(locale.T(cur, "Your parcels")), html.EscapeString(locale.T(cur, "Staff sign-in"))))
	}
	return foot, nav
}()

// langCookie keeps the language a person chose, for a year.
const langCookie = "handoff_lang"

// langOf returns the language of a request's pages: the one the person
// chose (the cookie the chooser sets), else the best of their browser's
// Accept-Language, else English.
func langOf(r *http.Request) string {
	chosen := ""
	if c, err := r.Cookie(langCookie); err == nil {
		chosen = c.Value
	}
	return locale.Match(chosen, r.Header.Get("Accept-Language"))
}

// chooseLanguage keeps the language chosen in the footer's chooser and goes
// back to the page it was chosen on (a path of this site only).
func (s *Server) chooseLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("lang")
	if !locale.Supported(lang) {
		s.renderError(w, r, http.StatusBadRequest, "Not valid", "No such language.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteLaxMode})
	next := safeNext(r.URL.Query().Get("next"))
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// chooserPath is where the language chooser comes back to: the page with its
// query, less a ?next= (the sign-in page's), which the page itself checks
// and the chooser need not carry.
func chooserPath(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.EscapedPath()
	}
	q := r.URL.Query()
	if len(q) == 0 {
		return r.URL.EscapedPath()
	}
	q.Del("next")
	if len(q) == 0 {
		return r.URL.EscapedPath()
	}
	return r.URL.EscapedPath() + "?" + q.Encode()
}

// newView starts the view of a page for the request's visitor, if any.
func newView(r *http.Request, title, nav string, data any) view {
	v := view{Title: title, Nav: nav, Data: data, Lang: langOf(r), Path: chooserPath(r)}
	if vis := visitorFrom(r.Context()); vis != nil {
		v.Visitor, v.CSRF = vis.principal, vis.csrf
	}
	return v
}

// render writes a page. The page is rendered in full before anything is sent,
// so a template fault becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	t, ok := pages[page]
	var buf bytes.Buffer
	var err error
	if !ok {
		err = handoff.Internal(nil, "no page template "+page)
	} else {
		err = t.ExecuteTemplate(&buf, "layout.html", v)
	}
	if err != nil {
		s.Log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("An internal error occurred.\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang)
	w.Header().Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the content of the error page.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

// renderError shows the error page in the layout.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	s.render(w, r, status, "error", newView(r, heading, "", errorPage{Status: status, Heading: heading, Message: message}))
}

// pageStatus maps the error codes a page can meet to statuses and headings.
var pageStatus = map[string]struct {
	status  int
	heading string
}{
	handoff.EINVALID:      {http.StatusBadRequest, "Not valid"},
	handoff.EUNAUTHORIZED: {http.StatusUnauthorized, "Please sign in"},
	handoff.EFORBIDDEN:    {http.StatusForbidden, "Not allowed"},
	handoff.ENOTFOUND:     {http.StatusNotFound, "Not found"},
	handoff.ECONFLICT:     {http.StatusConflict, "Changed meanwhile"},
	handoff.ERATELIMITED:  {http.StatusTooManyRequests, "Too many attempts"},
	handoff.ELOCKED:       {http.StatusLocked, "Locked"},
	handoff.EPRECONDITION: {http.StatusConflict, "Not yet"},
	handoff.EUNAVAILABLE:  {http.StatusServiceUnavailable, "Unavailable"},
	handoff.EGONE:         {http.StatusGone, "No longer here"},
	handoff.EUNSUPPORTED:  {http.StatusUnsupportedMediaType, "Not understood"},
}

// fail shows the page for a service error: the error's client-safe message
// for the codes above; for anything else a log line with the detail and a 500
// page that says nothing more.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ps, ok := pageStatus[handoff.ErrorCode(err)]; ok {
		if ps.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5") // as the API's
		}
		setRetryAfter(w, err)
		s.renderError(w, r, ps.status, ps.heading, handoff.ErrorMessage(err))
		return
	}
	s.Log.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	s.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"An internal error occurred. It has been logged; please try again later.")
}

// setRetryAfter tells the browser when a refused request may be retried,
// if err says.
func setRetryAfter(w http.ResponseWriter, err error) {
	if secs := handoff.RetryAfterSeconds(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
}

// notFound is the page for any path no other page claims.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if v, err := s.lookVisitor(w, r); err == nil && v != nil {
		r = r.WithContext(withVisitor(r.Context(), v))
	}
	s.renderError(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
}

// formatMoney writes an amount with all the currency's decimals and its
// code: "899.00 GBP".
func formatMoney(a money.Amount) string {
	return fixedDecimals(a) + " " + a.Currency
}

// fixedDecimals writes an amount as a decimal with exactly the currency's
// number of decimals ("100.00"), the form a person types into a field.
func fixedDecimals(a money.Amount) string {
	exp, ok := money.Exponent(a.Currency)
	if !ok {
		exp = 2
	}
	s := a.String()
	if exp == 0 {
		return s
	}
	whole, frac, _ := strings.Cut(s, ".")
	return whole + "." + frac + strings.Repeat("0", exp-len(frac))
}

// formatTime writes a time in the marketplace's own zone, as the recipient
// and the driver there saw it.
func formatTime(t time.Time, m market.Market) string {
	return t.In(m.Location()).Format("2 Jan 2006, 15:04 MST")
}

// formatDate writes a service date (YYYY-MM-DD) the way a person says it,
// "Tuesday 24 November 2026", and leaves anything else as it is.
func formatDate(date string) string {
	t, err := route.ParseDate(date)
	if err != nil {
		return date
	}
	return t.Format("Monday 2 January 2006")
}
