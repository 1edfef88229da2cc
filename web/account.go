package web

import (
	"net/http"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// landing sends a signed-in visitor to their home and shows everyone else
// what handoff is, with the way in.
func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	v, err := s.lookVisitor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != nil {
		if home, ok := homes[v.principal.Kind]; ok {
			http.Redirect(w, r, home, http.StatusSeeOther)
			return
		}
		r = r.WithContext(withVisitor(r.Context(), v))
	}
	s.render(w, r, http.StatusOK, "landing", newView(r, "Secure parcel delivery", "", nil))
}

// signinPage is the content of the sign-in form.
type signinPage struct {
	Token     string // the form's CSRF token, bound to the sign-in cookie
	Next      string
	AccountID string
	Error     string
	SignedOut bool
}

// signinForm shows the sign-in form, giving the browser the cookie its CSRF
// token is bound to. A visitor already signed in goes straight on.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	v, err := s.lookVisitor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != nil {
		if dest := destination(next, v.principal.Kind); dest != "" {
			http.Redirect(w, r, dest, http.StatusSeeOther)
			return
		}
	}
	p := signinPage{Next: next, SignedOut: r.URL.Query().Get("signedout") == "1"}
	p.Token = s.signinCookie(w, r)
	s.render(w, r, http.StatusOK, "signin", newView(r, "Sign in", "signin", p))
}

// signinCookie returns the token for a sign-in form, reusing the browser's
// sign-in cookie when it has a well-formed one so that two open tabs both
// work.
func (s *Server) signinCookie(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(signinCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return s.signinToken(c.Value)
	}
	val := auth.NewToken()
	setCookie(w, signinCookie, val, 0, http.SameSiteStrictMode)
	return s.signinToken(val)
}

// badCredentials is the one message for every failed sign-in, so that it
// never tells which of the ID and password was wrong.
const badCredentials = "The account ID or password is wrong."

// signinRefusals are the errors of a sign-in that show the form again, and
// their statuses.
var signinRefusals = map[string]int{
	handoff.EUNAUTHORIZED: http.StatusUnauthorized,
	handoff.ERATELIMITED:  http.StatusTooManyRequests,
	handoff.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// signin checks the form's CSRF token, then the credentials, and starts a
// session. The password is never written back into the page or a log.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !s.checkMAC(purposeSigninCSRF, c.Value, r.PostForm.Get(csrfField)) {
		s.renderError(w, r, http.StatusForbidden, "Form expired",
			"This sign-in form has expired or did not come from this site. Open the sign-in page again and retry.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	id := r.PostForm.Get("account")
	p, err := s.Principals.AuthenticatePassword(r.Context(), id, r.PostForm.Get("password"), s.clientAddress(r))
	// A refused sign-in shows the form again with why, so the person can
	// retry from it: wrong credentials, or too many tries or sign-ins now.
	if status, ok := signinRefusals[handoff.ErrorCode(err)]; ok {
		msg := badCredentials
		if status != http.StatusUnauthorized {
			msg = handoff.ErrorMessage(err)
		}
		setRetryAfter(w, err)
		page := signinPage{Token: s.signinToken(c.Value), Next: next, AccountID: clipField(id), Error: msg}
		s.render(w, r, status, "signin", newView(r, "Sign in", "signin", page))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A session the browser already had is ended, so one browser holds one.
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		if err := s.Sessions.DeleteSession(r.Context(), old.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	token, _, err := s.Sessions.CreateSession(r.Context(), p.ID, sessionTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setCookie(w, sessionCookie, token, int(sessionTTL.Seconds()), http.SameSiteLaxMode)
	clearCookie(w, signinCookie)
	dest := destination(next, p.Kind)
	if dest == "" {
		dest = "/"
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

// destination is where a principal goes after signing in: the page it asked
// for, or its home; "" when it has neither.
func destination(next string, k auth.Kind) string {
	if next != "" {
		return next
	}
	return homes[k]
}

// clipField shortens what a visitor typed before it is shown back, so a
// pasted essay does not fill the page.
func clipField(s string) string { return clipRunes(s, 64) }

// clipRunes shortens s to at most n characters.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// signout ends the session. It needs the session's CSRF token like any form,
// so another site cannot sign a visitor out.
func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	v, err := s.lookVisitor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	r = r.WithContext(withVisitor(r.Context(), v))
	if !s.parseForm(w, r) {
		return
	}
	if !s.validCSRF(v.token, r.PostForm.Get(csrfField)) {
		s.renderError(w, r, http.StatusForbidden, "Form expired",
			"This form has expired or did not come from this site, so you are still signed in. Reload the page and try again.")
		return
	}
	if err := s.Sessions.DeleteSession(r.Context(), v.token); err != nil {
		s.fail(w, r, err)
		return
	}
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/signin?signedout=1", http.StatusSeeOther)
}
