package api

import (
	"net/http"

	"github.com/handoff-dev/handoff"
)

// board answers the station's day at a glance (?date=, today by default).
func (s *Server) board(w http.ResponseWriter, r *http.Request) {
	out, err := s.Stations.Board(r.Context(), PrincipalFrom(r.Context()), r.URL.Query().Get("date"))
	s.reply(w, r, http.StatusOK, out, err)
}

// waiting lists the parcels waiting for a route (?postcode= prefix,
// ?needs=passcode|bag|garage).
func (s *Server) waiting(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out, err := s.Stations.Waiting(r.Context(), PrincipalFrom(r.Context()), handoff.WaitingFilter{PostcodePrefix: q.Get("postcode"), Needs: q.Get("needs")})
	s.reply(w, r, http.StatusOK, map[string]any{"parcels": out}, err)
}

// reorderStop moves a stop one place earlier or later on a route not loaded
// yet.
func (s *Server) reorderStop(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Direction string `json:"direction"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	if req.Direction != "up" && req.Direction != "down" {
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "direction", Message: `must be "up" or "down"`}))
		return
	}
	out, err := s.Stations.ReorderStop(r.Context(), PrincipalFrom(r.Context()), r.PathValue("routeId"), r.PathValue("stopId"), req.Direction == "up")
	s.reply(w, r, http.StatusOK, out, err)
}
