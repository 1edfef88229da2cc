package api

import (
	"net/http"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// adminKind describes one kind the operator onboards: its paths (the short
// one first, then a spelled-out alias) and the name of its ID in responses.
type adminKind struct {
	kind  auth.Kind
	paths []string
	idKey string
}

var adminKinds = []adminKind{
	{auth.KindShipper, []string{"/v1/admin/shippers"}, "shipperId"},
	{auth.KindStation, []string{"/v1/admin/stations"}, "stationId"},
	{auth.KindAssociate, []string{"/v1/admin/associates", "/v1/admin/delivery-associates"}, "associateId"},
	{auth.KindAgent, []string{"/v1/admin/agents", "/v1/admin/customer-service-agents"}, "agentId"},
}

type newPrincipalRequest struct {
	Name        string `json:"name"`
	StationID   string `json:"stationId,omitempty"`
	Marketplace string `json:"marketplace,omitempty"`
	City        string `json:"city,omitempty"`
}

// createPrincipal onboards one kind. The credentials are in this response
// only; the server keeps their hashes.
func (s *Server) createPrincipal(k adminKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req newPrincipalRequest
		if err := Decode(w, r, &req); err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
		var fe handoff.FieldErrors
		if req.StationID != "" && k.kind != auth.KindAssociate && k.kind != auth.KindAgent {
			fe.Add("stationId", "only associates and agents belong to a station")
		}
		if req.Marketplace != "" && k.kind != auth.KindStation {
			fe.Add("marketplace", "only stations have a marketplace")
		}
		if req.City != "" && k.kind != auth.KindStation {
			fe.Add("city", "only stations have a town")
		}
		if err := fe.Err(); err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
		p, cred, err := s.Principals.CreatePrincipal(r.Context(), handoff.NewPrincipal{
			Kind: k.kind, Name: req.Name, StationID: req.StationID, Market: req.Marketplace, City: req.City,
		})
		if err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
		s.Log.InfoContext(r.Context(), "principal created", "kind", p.Kind, "id", p.ID)
		out := map[string]any{
			k.idKey:    p.ID,
			"id":       p.ID,
			"kind":     p.Kind,
			"name":     p.Name,
			"apiKey":   cred.APIKey,
			"password": cred.Password,
		}
		if p.StationID != "" {
			out["stationId"] = p.StationID
		}
		if p.Market != "" {
			out["marketplace"] = p.Market
		}
		if p.City != "" {
			out["city"] = p.City
		}
		w.Header().Set("Location", k.paths[0]+"/"+p.ID)
		WriteJSON(w, http.StatusCreated, out)
	}
}

// listNotifications shows the operator the outbox, dead letters first in
// mind: ?status=dead|pending|sent. Message texts are never shown.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", "pending", "sent", "dead":
	default:
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "status", Message: "must be pending, sent or dead"}))
		return
	}
	list, err := s.Outbox.ListNotifications(r.Context(), status, 200)
	s.reply(w, r, http.StatusOK, map[string]any{"notifications": list}, err)
}

// retryNotification queues a dead letter again.
func (s *Server) retryNotification(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("notificationId")
	err := s.Outbox.RetryNotification(r.Context(), id)
	s.reply(w, r, http.StatusAccepted, map[string]any{"id": id, "status": "pending"}, err)
}
