package web

import (
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"time"
)

// Cookie names. The __Host- prefix makes the browser refuse the cookie unless
// it is Secure, has Path=/ and no Domain, so a sibling subdomain can neither
// plant nor overwrite it.
const (
	sessionCookie = "__Host-handoff_session"
	signinCookie  = "__Host-handoff_signin"
)

// sessionTTL is how long a sign-in lasts: one working day.
const sessionTTL = 12 * time.Hour

// csrfField is the name of the hidden input every form carries.
const csrfField = "csrf"

// MAC purposes, kept apart so a token made for one use is worthless for the
// other.
const (
	purposeCSRF       = "csrf"
	purposeSigninCSRF = "csrf-signin"
)

// csrfToken returns the CSRF token of a session: a MAC of the session token,
// so it is fixed for the session, needs no storage, and reveals nothing of the
// token itself.
func (s *Server) csrfToken(sessionToken string) string {
	_, mac := s.Keys.MAC(purposeCSRF, []byte(sessionToken))
	return hex.EncodeToString(mac)
}

// validCSRF reports whether got is the CSRF token of the session, comparing in
// constant time. Every key in the ring is tried, so that forms opened before a
// key rotation still submit.
func (s *Server) validCSRF(sessionToken, got string) bool {
	return s.checkMAC(purposeCSRF, sessionToken, got)
}

// signinToken returns the token of the sign-in form, bound to the value of the
// sign-in cookie (a signed double-submit cookie: a forged form needs both the
// cookie and the server's key).
func (s *Server) signinToken(cookieValue string) string {
	_, mac := s.Keys.MAC(purposeSigninCSRF, []byte(cookieValue))
	return hex.EncodeToString(mac)
}

func (s *Server) checkMAC(purpose, value, got string) bool {
	if value == "" || got == "" {
		return false
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	ok := 0
	for _, kid := range s.Keys.IDs() {
		want, _ := s.Keys.MACWith(kid, purpose, []byte(value))
		ok |= subtle.ConstantTimeCompare(want, gotMAC)
	}
	return ok == 1
}

// setCookie sets a cookie the way every cookie here is set: HttpOnly so no
// script reads it, Secure, and SameSite so another site's form or link does
// not carry it in a POST. maxAge 0 makes it last until the browser closes.
func setCookie(w http.ResponseWriter, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: sameSite,
	})
}

// clearCookie tells the browser to drop a cookie.
func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
}
