package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

func (s *Server) registerWebhooks(mux *http.ServeMux) {
	sh := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindShipper, h) }
	s.handle(mux, "GET /v1/account/webhooks", sh(s.listWebhooks))
	s.handle(mux, "POST /v1/account/webhooks", sh(s.createWebhook))
	s.handle(mux, "DELETE /v1/account/webhooks/{webhookId}", sh(s.deleteWebhook))
	s.handle(mux, "POST /v1/account/webhooks/{webhookId}/rotate", sh(s.rotateWebhook))
	s.handle(mux, "POST /v1/account/webhooks/{webhookId}/test", sh(s.testWebhook))
	s.handle(mux, "GET /v1/account/webhooks/{webhookId}/deliveries", sh(s.webhookDeliveries))
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

// rotateWebhook gives the endpoint a new secret, shown this once; the body
// {"overlapHours": n} is optional (default 24).
func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	req := struct {
		OverlapHours *int `json:"overlapHours"`
	}{}
	if r.ContentLength != 0 {
		if err := Decode(w, r, &req); err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
	}
	overlap := handoff.DefaultSecretOverlap
	if req.OverlapHours != nil {
		if h := *req.OverlapHours; h < 0 || h > int(handoff.MaxSecretOverlap/time.Hour) {
			WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "overlapHours",
				Message: "must be from 0 to " + strconv.Itoa(int(handoff.MaxSecretOverlap/time.Hour))}))
			return
		}
		overlap = time.Duration(*req.OverlapHours) * time.Hour
	}
	wh, err := s.Webhooks.RotateWebhookSecret(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("webhookId"), overlap)
	s.reply(w, r, http.StatusOK, wh, err)
}

// testWebhook queues a webhook.test delivery; the answer is the delivery,
// whose progress the log shows.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) {
	d, err := s.Webhooks.SendTestEvent(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("webhookId"))
	s.reply(w, r, http.StatusAccepted, d, err)
}

// webhookDeliveries is the endpoint's delivery log, newest first (?limit=,
// at most 100, default 50).
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "limit", Message: "must be a whole number from 1 to 100"}))
			return
		}
		limit = n
	}
	list, err := s.Webhooks.ListDeliveries(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("webhookId"), limit)
	s.reply(w, r, http.StatusOK, map[string]any{"deliveries": list}, err)
}
