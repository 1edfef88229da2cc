// Package api serves handoff's JSON API under /v1: the operator's admin API,
// the shipper's settings, shipments and tracking. Handlers decode, call a
// domain service, and answer through WriteJSON or WriteError; every failure is
// application/problem+json. The OpenAPI document of every route is embedded
// and served at /v1/openapi.json.
package api

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/limit"
	"github.com/handoff-dev/handoff/notify"
)

// Server holds what the handlers need. Fill it in cmd/handoff.
type Server struct {
	Principals handoff.PrincipalService
	Settings   handoff.SettingsService
	Shipments  handoff.ShipmentService
	Stations   handoff.StationService
	Doors      handoff.DoorService
	Outbox     notify.Admin
	Bags       handoff.BagService
	Cases      handoff.CaseService
	Contacts   handoff.ContactService
	Photos     handoff.PhotoService
	Garages    handoff.GarageService
	Webhooks   handoff.WebhookService
	APIKeys    handoff.APIKeyService
	Proofs     handoff.ProofService
	// Today returns the service date now in a marketplace (for defaults).
	Today func(marketplace string) string
	// AdminToken is the operator's bearer token; empty disables the admin API.
	AdminToken string
	Log        *slog.Logger
	// Pace gives photo uploads time in proportion to their size; the zero
	// Pace leaves the server's read timeout as it is.
	Pace limit.Pace

	routes []string
}

// Route is one registered method and path pattern.
type Route struct{ Method, Path string }

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.handle(mux, "GET /v1/openapi.json", s.openAPI)

	for _, kind := range adminKinds {
		for _, path := range kind.paths {
			s.handle(mux, "POST "+path, s.admin(s.createPrincipal(kind)))
		}
	}

	s.handle(mux, "GET /v1/admin/notifications", s.admin(s.listNotifications))
	s.handle(mux, "POST /v1/admin/notifications/{notificationId}/retry", s.admin(s.retryNotification))

	s.handle(mux, "GET /v1/account/settings", s.as(auth.KindShipper, s.getSettings))
	s.handle(mux, "PATCH /v1/account/settings", s.as(auth.KindShipper, s.patchSettings))
	s.handle(mux, "POST /v1/account/settings/preview", s.as(auth.KindShipper, s.previewSettings))

	s.handle(mux, "POST /v1/shipments", s.as(auth.KindShipper, s.createShipment))
	s.handle(mux, "GET /v1/shipments", s.as(auth.KindShipper, s.listShipments))
	s.handle(mux, "POST /v1/shipments/eligibility", s.as(auth.KindShipper, s.eligibility))
	s.handle(mux, "GET /v1/shipments/{shipmentId}", s.as(auth.KindShipper, s.getShipment))
	s.handle(mux, "GET /v1/shipments/{shipmentId}/label.pdf", s.as(auth.KindShipper, s.shipmentLabels(label.PDF)))
	s.handle(mux, "GET /v1/shipments/{shipmentId}/label.zpl", s.as(auth.KindShipper, s.shipmentLabels(label.ZPL)))
	s.handle(mux, "GET /v1/tracking/{trackingId}", s.as(auth.KindShipper, s.getTracking))
	s.registerDelivery(mux)
	s.registerBags(mux)
	s.registerPhotos(mux)
	s.registerGarage(mux)
	s.registerWebhooks(mux)
	s.registerAPIKeys(mux)
	s.registerProofs(mux)

	// Anything else under /v1 is a JSON 404 or 405, not the HTML pages' 404.
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			WriteError(w, r, s.Log, handoff.Errorf(handoff.EMETHOD, "%s is not allowed here; use %s.", r.Method, strings.Join(allow, " or ")))
			return
		}
		WriteError(w, r, s.Log, handoff.Errorf(handoff.ENOTFOUND, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
}

// allowed returns the methods that do have a route for r's path.
func (s *Server) allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/v1/" {
			out = append(out, m)
		}
	}
	return out
}

// Routes returns every route Register added, for the OpenAPI check.
func (s *Server) Routes() []Route {
	var out []Route
	for _, p := range s.routes {
		m, path, _ := strings.Cut(p, " ")
		out = append(out, Route{Method: m, Path: path})
	}
	return out
}

func (s *Server) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if r.Body != http.NoBody {
			if err := handoff.CheckBodyEncoding(r.Header.Values("Content-Encoding")); err != nil {
				w.Header().Set("Accept-Encoding", "identity")
				WriteError(w, r, s.Log, err)
				return
			}
		}
		h(w, r)
	})
}

type ctxKey struct{}

// PrincipalFrom returns the authenticated principal of a request, or nil.
func PrincipalFrom(ctx context.Context) *handoff.Principal {
	p, _ := ctx.Value(ctxKey{}).(*handoff.Principal)
	return p
}

// WithPrincipal returns ctx carrying p, as the auth middleware does.
func WithPrincipal(ctx context.Context, p *handoff.Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// as authenticates the API key and lets only principals of the given kinds in.
func (s *Server) as(kind auth.Kind, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Principals.AuthenticateAPIKey(r.Context(), bearer(r))
		if err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
		if p.Kind != kind {
			WriteError(w, r, s.Log, handoff.Errorf(handoff.EFORBIDDEN, "This endpoint is for %s accounts.", kind))
			return
		}
		h(w, r.WithContext(WithPrincipal(r.Context(), p)))
	}
}

// admin lets only the operator's token in, compared in constant time.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if s.AdminToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) != 1 {
			WriteError(w, r, s.Log, handoff.Errorf(handoff.EUNAUTHORIZED, "The operator's admin token is required."))
			return
		}
		h(w, r)
	}
}
