package api

import (
	"net/http"

	"github.com/handoff-dev/handoff"
)

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	set, err := s.Settings.Settings(r.Context(), PrincipalFrom(r.Context()).ID)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, set)
}

func (s *Server) patchSettings(w http.ResponseWriter, r *http.Request) {
	var p handoff.SettingsPatch
	if err := Decode(w, r, &p); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	set, err := s.Settings.UpdateSettings(r.Context(), PrincipalFrom(r.Context()).ID, &p)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, set)
}
