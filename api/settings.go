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

// previewSettings is the dry run of a settings change: the decision the
// sample label would get under the settings with the patch applied.
func (s *Server) previewSettings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Settings *handoff.SettingsPatch `json:"settings"`
		Shipment *handoff.ShipmentInput `json:"shipment"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	sh, err := s.Settings.PreviewSettings(r.Context(), PrincipalFrom(r.Context()).ID, req.Settings, req.Shipment)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, shipmentOut(sh, false))
}
