package api

import (
	"net/http"

	"github.com/handoff-dev/handoff/auth"
)

func (s *Server) registerWebhooks(mux *http.ServeMux) {
	sh := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindShipper, h) }
	s.handle(mux, "GET /v1/account/webhooks", sh(s.listWebhooks))
	s.handle(mux, "POST /v1/account/webhooks", sh(s.createWebhook))
	s.handle(mux, "DELETE /v1/account/webhooks/{webhookId}", sh(s.deleteWebhook))
}

// createWebhook registers an endpoint; the answer carries its signing secret,
// the only time it is shown.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL string `json:"url"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	wh, err := s.Webhooks.CreateWebhook(r.Context(), PrincipalFrom(r.Context()).ID, req.URL)
	if err == nil {
		w.Header().Set("Location", "/v1/account/webhooks/"+wh.ID)
	}
	s.reply(w, r, http.StatusCreated, wh, err)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.Webhooks.ListWebhooks(r.Context(), PrincipalFrom(r.Context()).ID)
	s.reply(w, r, http.StatusOK, map[string]any{"webhooks": list}, err)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.Webhooks.DeleteWebhook(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("webhookId")); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
