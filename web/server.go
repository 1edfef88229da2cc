// Package web serves handoff's server-rendered pages: sign-in, the shipper's
// parcels, shipments and settings ("shipper central"), the station's routes,
// receiving desk and tamper-evident bags (batches, printable labels, sealing),
// the delivery associate's mobile app (the itinerary and its stops, with the
// passcode check, the bag scan and the garage at the door), and customer
// service's case queue, cases and parcels with their logged photos. Pages
// are html/template files embedded in the binary, styled by
// one embedded CSS file, so they work on a phone and under a strict
// Content-Security-Policy. Every form works without JavaScript; two small
// embedded scripts only add what a browser may offer on top (scanning a bag
// with the camera, sending the phone's position when opening a garage).
//
// A browser signs in with an account ID and password and gets a session
// cookie; every form carries a CSRF token derived from the session (or, on the
// sign-in form, bound to a cookie), and every page handler also sits behind
// Go's cross-origin protection.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/limit"
)

// Server holds what the pages need. Fill it in cmd/handoff and call Register.
type Server struct {
	Principals handoff.PrincipalService
	Sessions   handoff.SessionService
	Settings   handoff.SettingsService
	Shipments  handoff.ShipmentService
	// Stations serves the station pages: receiving parcels, planning and
	// moving routes, and unlocking associates.
	Stations handoff.StationService
	// Doors serves the delivery associate's app: the itinerary, loading the
	// van and everything done at a stop.
	Doors handoff.DoorService
	// Today returns the service date now in a marketplace, the day a
	// station's route list opens on. It is a function rather than the clock
	// so that the pages and the store agree on where "today" ends.
	Today func(marketplace string) string
	// Recipients serves the recipient portal: sign-in by one-time link or
	// code, the recipient's parcels, today's passcode and their settings.
	Recipients handoff.RecipientService
	// Photos shows proof-of-delivery photos (logging staff views).
	Photos handoff.PhotoService
	// Garages serves garage enrolment in the portal and the associate's
	// open and close.
	Garages handoff.GarageService
	// Bags serves the station's bag inventory and sealing.
	Bags handoff.BagService
	// Cases serves customer service's case queue.
	Cases handoff.CaseService
	// Contacts serves customer service's parcel search and the logged
	// reveal of a recipient's contacts.
	Contacts handoff.ContactService
	// Webhooks and APIKeys serve shipper central's webhooks and API keys
	// pages; without both, those pages are left out.
	Webhooks handoff.WebhookService
	APIKeys  handoff.APIKeyService
	// Now is the clock the customer-service queue measures the age of a
	// case by; nil means the system clock. Tests set the store's.
	Now func() time.Time
	// PublicURL is the base URL people reach the server at; the portal's
	// sign-in links point there.
	PublicURL string
	// DevOutbox is true when messages go to the local dev outbox
	// (/dev/outbox), which the portal's sign-in page then links to.
	DevOutbox bool
	// Keys derive the CSRF tokens, so that they cannot be forged without the
	// server's secret.
	Keys *keyring.Ring
	// TrustedProxies are the reverse proxies (load balancers) in front of
	// the server whose X-Forwarded-For is believed. Empty means none: the
	// client is the connection's peer, whatever the headers claim.
	TrustedProxies []netip.Prefix
	// Pace gives photo uploads time in proportion to their size; the zero
	// Pace leaves the server's read timeout as it is.
	Pace limit.Pace
	// Log receives internal errors; nil means slog.Default().
	Log *slog.Logger

	cop *http.CrossOriginProtection
}

// Register adds the page routes to mux: everything outside /v1/, including a
// catch-all that answers unknown paths with the 404 page. It panics when Keys
// is nil (no form could be protected), when Stations, Doors, Today, Bags,
// Cases, Photos or Garages is nil (the station, associate and customer-service
// pages would fail on every request), or when
// another handler already owns "/" or one of the page paths, as ServeMux does
// for any conflict.
func (s *Server) Register(mux *http.ServeMux) {
	if s.Keys == nil {
		panic("web: Server.Keys is nil; the CSRF tokens need the server's keys")
	}
	if s.Stations == nil || s.Doors == nil || s.Today == nil {
		panic("web: Server.Stations, Doors and Today must be set for the station and associate pages")
	}
	if s.Bags == nil || s.Cases == nil || s.Photos == nil || s.Garages == nil || s.Contacts == nil {
		panic("web: Server.Bags, Cases, Photos, Garages and Contacts must be set for the bag, garage and customer-service pages")
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.cop = http.NewCrossOriginProtection()
	s.cop.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))

	page := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, securityHeaders(s.cop.Handler(s.identityBody(h))))
	}
	// "GET /" would match every path; {$} keeps the landing page to "/" alone.
	page("GET /{$}", s.landing)
	page("GET /lang", s.chooseLanguage)
	page("GET /signin", s.signinForm)
	page("POST /signin", s.signin)
	page("POST /signout", s.signout)
	page("GET /docs", s.apiReference)

	page("GET /shipments", s.as(auth.KindShipper, s.shipmentList))
	page("GET /shipments/{shipmentId}", s.as(auth.KindShipper, s.shipmentDetail))
	page("GET /shipments/{shipmentId}/label.pdf", s.as(auth.KindShipper, s.shipmentLabels(label.PDF)))
	page("GET /shipments/{shipmentId}/label.zpl", s.as(auth.KindShipper, s.shipmentLabels(label.ZPL)))
	page("GET /shipments/new", s.as(auth.KindShipper, s.labelNew))
	page("POST /shipments/new", s.as(auth.KindShipper, s.labelCreate))
	page("GET /shipments/export.csv", s.as(auth.KindShipper, s.exportCSV))
	page("GET /dashboard", s.as(auth.KindShipper, s.dashboard))
	page("GET /settings", s.as(auth.KindShipper, s.settingsForm))
	page("POST /settings", s.as(auth.KindShipper, s.saveSettings))
	s.registerShipperSettings(page)

	st := func(pattern string, h http.HandlerFunc) { page(pattern, s.as(auth.KindStation, h)) }
	st("GET /station", s.stationHome)
	st("POST /station/receive", s.receiveParcel)
	st("POST /station/routes", s.planRoute)
	st("GET /station/routes/{routeId}", s.routeDetail)
	st("POST /station/routes/{routeId}/stops/{stopId}/move", s.moveStop)
	st("POST /station/routes/{routeId}/stops/{stopId}/order", s.reorderStop)
	st("POST /station/plan", s.planSelected)
	st("POST /station/associates/{associateId}/unlock", s.unlockAssociate)
	st("GET /station/bags", s.bagsHome)
	st("POST /station/bags/batches", s.issueBatch)
	st("GET /station/bags/batches/{batchId}", s.batchDetail)
	st("GET /station/bags/batches/{batchId}/labels.png", s.batchLabels)
	st("GET /station/bags/batches/{batchId}/labels.pdf", s.batchLabelsPDF)
	st("POST /station/bags/seal", s.sealParcel)
	st("POST /station/bags/void", s.voidBag)

	da := func(pattern string, h http.HandlerFunc) { page(pattern, s.as(auth.KindAssociate, h)) }
	da("GET /associate", s.itinerary)
	da("POST /associate/routes/{routeId}/load", s.loadVan)
	da("GET /associate/stops/{stopId}", s.stopDetail)
	da("POST /associate/stops/{stopId}/verify", s.verifyCode)
	da("POST /associate/stops/{stopId}/digits", s.verifyDigits)
	da("POST /associate/stops/{stopId}/resend", s.resendCode)
	page("POST /associate/stops/{stopId}/deliver", s.asUpload(auth.KindAssociate, s.deliverParcels))
	da("POST /associate/stops/{stopId}/attempt", s.recordAttempt)
	da("POST /associate/stops/{stopId}/scan", s.scanBag)
	da("POST /associate/stops/{stopId}/refuse", s.refuseParcels)
	da("POST /associate/stops/{stopId}/garage/open", s.openGarage)
	da("POST /associate/stops/{stopId}/garage/close", s.closeGarage)

	cs := func(pattern string, h http.HandlerFunc) { page(pattern, s.as(auth.KindAgent, h)) }
	cs("GET /agent", s.caseQueue)
	cs("GET /agent/cases/{caseId}", s.caseDetail)
	cs("POST /agent/cases/{caseId}/close", s.closeCase)
	cs("POST /agent/cases/{caseId}/notes", s.addCaseNote)
	cs("POST /agent/parcels/{trackingId}/cases", s.openCase)
	cs("GET /agent/parcels", s.findParcel)
	cs("GET /agent/parcels/{trackingId}", s.agentParcel)
	cs("GET /agent/parcels/{trackingId}/photo", s.parcelPhoto)
	cs("GET /agent/parcels/{trackingId}/signature", s.parcelSignature)
	cs("POST /agent/parcels/{trackingId}/contacts", s.revealContacts)

	s.registerPortal(page)

	mux.Handle("GET /static/", securityHeaders(http.HandlerFunc(s.static)))
	page("/", s.notFound)
}

// homes is where each kind of principal lands after signing in.
var homes = map[auth.Kind]string{
	auth.KindShipper:   "/shipments",
	auth.KindStation:   "/station",
	auth.KindAssociate: "/associate",
	auth.KindAgent:     "/agent",
}

// kindLabels name each kind of principal the way a person says it.
var kindLabels = map[auth.Kind]string{
	auth.KindShipper:   "shipper",
	auth.KindStation:   "station",
	auth.KindAssociate: "delivery associate",
	auth.KindAgent:     "customer service",
	auth.KindOperator:  "operator",
	auth.KindRecipient: "recipient",
}

// contentSecurityPolicy allows nothing but this origin's own files: no inline
// script or style, no framing, forms posting only back here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every page and asset carries. Pages are
// never cached: they show one account's data and carry its CSRF token. The
// static handler replaces Cache-Control for its immutable files.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// visitor is the signed-in principal of a request and the CSRF token its
// forms carry.
type visitor struct {
	principal *handoff.Principal
	csrf      string
	token     string // the session token, kept only to end the session
}

type visitorKey struct{}

func withVisitor(ctx context.Context, v *visitor) context.Context {
	return context.WithValue(ctx, visitorKey{}, v)
}

func visitorFrom(ctx context.Context) *visitor {
	v, _ := ctx.Value(visitorKey{}).(*visitor)
	return v
}

// lookVisitor returns the request's live session, or nil when there is none.
// A stale cookie is cleared so the browser stops sending it. The error is
// only for faults of the store.
func (s *Server) lookVisitor(w http.ResponseWriter, r *http.Request) (*visitor, error) {
	if v := visitorFrom(r.Context()); v != nil {
		return v, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.Sessions.FindSession(r.Context(), c.Value)
	if handoff.ErrorCode(err) == handoff.EUNAUTHORIZED {
		clearCookie(w, sessionCookie)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &visitor{principal: sess.Principal, csrf: s.csrfToken(c.Value), token: c.Value}, nil
}

// identityBody refuses a form whose body comes in a content coding (gzip and
// the like), which would otherwise be read as an empty or garbled form.
func (s *Server) identityBody(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Body != http.NoBody {
			if err := handoff.CheckBodyEncoding(r.Header.Values("Content-Encoding")); err != nil {
				w.Header().Set("Accept-Encoding", "identity")
				s.fail(w, r, err)
				return
			}
		}
		h(w, r)
	}
}

// maxFormBytes bounds a form body; the largest form, settings, is far below.
const maxFormBytes = 64 << 10

// maxUploadBytes bounds a form that carries a photo: above any phone
// camera's picture. The store checks the photo's own, configurable limit
// when it cleans it; this only keeps a request from being endless.
const maxUploadBytes = 20 << 20

// as lets only signed-in principals of one kind through. Others are sent to
// sign in (and back here afterwards) or shown the 403 page. A POST must carry
// the session's CSRF token, or it is refused before the handler runs.
func (s *Server) as(kind auth.Kind, h http.HandlerFunc) http.HandlerFunc {
	return s.guard(kind, false, h)
}

// asUpload is as for the one kind of form that carries a file: a
// multipart/form-data body up to maxUploadBytes. Every other form is read as
// a small URL-encoded body, so a multipart one finds no token there and is
// refused.
func (s *Server) asUpload(kind auth.Kind, h http.HandlerFunc) http.HandlerFunc {
	return s.guard(kind, true, h)
}

// guard is as and asUpload.
func (s *Server) guard(kind auth.Kind, upload bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.lookVisitor(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if v == nil {
			next := r.URL.Path
			if r.Method == http.MethodGet && r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		ctx := withVisitor(r.Context(), v)
		r = r.WithContext(ctx)
		if v.principal.Kind != kind {
			s.renderError(w, r, http.StatusForbidden, "Not for this account",
				"This page is for "+kindLabels[kind]+" accounts; you are signed in as "+article(kindLabels[v.principal.Kind])+" account.")
			return
		}
		if r.Method == http.MethodPost {
			if upload && isMultipart(r) {
				if !s.parseUpload(w, r) {
					return
				}
			} else if !s.parseForm(w, r) {
				return
			}
			if !s.validCSRF(v.token, r.PostForm.Get(csrfField)) {
				s.Log.InfoContext(ctx, "form refused: bad CSRF token", "path", r.URL.Path, "principal", v.principal.ID)
				s.renderError(w, r, http.StatusForbidden, "Form expired",
					"This form has expired or did not come from this site, so nothing was changed. Go back, reload the page and try again.")
				return
			}
		}
		h(w, r)
	}
}

// parseForm reads a bounded form body; on failure it has answered with the
// 400 page.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad form", "The form could not be read. Go back, reload the page and try again.")
		return false
	}
	return true
}

// isMultipart reports whether a request's body is multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// parseUpload reads a bounded multipart form, its fields into r.PostForm and
// its file into r.MultipartForm; on failure it has answered with the 413 or
// 400 page. The file is held in memory and never written to a temporary
// file, as a photo still carries its location until the store cleans it.
func (s *Server) parseUpload(w http.ResponseWriter, r *http.Request) bool {
	s.Pace.Allow(w, r, maxUploadBytes)
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	if err := r.ParseMultipartForm(maxUploadBytes); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.renderError(w, r, http.StatusRequestEntityTooLarge, "Photo too large",
				fmt.Sprintf("The photo is larger than %d MiB, so nothing was changed. Go back and take it again at a lower resolution.", maxUploadBytes>>20))
			return false
		}
		if limit.CutOff(err) {
			s.renderError(w, r, http.StatusRequestTimeout, "Upload cut off",
				"The connection was too slow: the photo did not all arrive in time, so nothing was changed. Go back and send it again where the signal is better.")
			return false
		}
		s.renderError(w, r, http.StatusBadRequest, "Bad form", "The form could not be read. Go back, reload the page and try again.")
		return false
	}
	return true
}

// crossOriginDenied answers a POST another site made the browser send.
func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusForbidden, "Cross-site request refused",
		"This form was sent from another site, so nothing was changed.")
}

// safeNext returns next when it is a path on this site, and "" otherwise, so
// that ?next= can never send a signed-in browser to another origin. Browsers
// read "\" as "/" and drop tabs and newlines, so "/\evil" and "/\t/evil" are
// refused along with "//evil" and "https://evil".
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return ""
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return ""
	}
	if strings.ContainsFunc(next, func(c rune) bool { return c == '\\' || c < 0x20 || c == 0x7f }) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return next
}

// article puts "a" or "an" before a noun phrase.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
