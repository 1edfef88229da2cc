package api

import (
	"net/http"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

func (s *Server) registerGarage(mux *http.ServeMux) {
	da := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindAssociate, h) }
	s.handle(mux, "POST /v1/associate/stops/{stopId}/garage/open", da(s.openGarage))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/garage/close", da(s.closeGarage))
}

// openGarage asks the server to open the stop's garage. The body may carry
// the phone's position; it never carries, and the answer never shows, any
// device credential.
func (s *Server) openGarage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Lat *float64 `json:"lat,omitempty"`
		Lon *float64 `json:"lon,omitempty"`
	}
	if err := Decode(w, r, &req); err != nil && !emptyBody(err) {
		WriteError(w, r, s.Log, err)
		return
	}
	var pos *handoff.Position
	if (req.Lat == nil) != (req.Lon == nil) {
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "lat", Message: "give both lat and lon, or neither"}))
		return
	}
	if req.Lat != nil {
		if *req.Lat < -90 || *req.Lat > 90 || *req.Lon < -180 || *req.Lon > 180 {
			WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "lat", Message: "lat must be within ±90 and lon within ±180 degrees"}))
			return
		}
		pos = &handoff.Position{Lat: *req.Lat, Lon: *req.Lon}
	}
	g, err := s.Garages.OpenGarage(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), pos)
	s.reply(w, r, http.StatusOK, g, err)
}

func (s *Server) closeGarage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantID string `json:"grantId"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	if req.GrantID == "" {
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "grantId", Message: "is required: the grant the open request returned"}))
		return
	}
	g, err := s.Garages.CloseGarage(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), req.GrantID)
	s.reply(w, r, http.StatusOK, g, err)
}
