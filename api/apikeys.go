package api

import (
	"net/http"

	"github.com/handoff-dev/handoff/auth"
)

func (s *Server) registerAPIKeys(mux *http.ServeMux) {
	sh := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindShipper, h) }
	s.handle(mux, "GET /v1/account/api-keys", sh(s.listAPIKeys))
	s.handle(mux, "POST /v1/account/api-keys", sh(s.createAPIKey))
	s.handle(mux, "DELETE /v1/account/api-keys/{apiKeyId}", sh(s.revokeAPIKey))
}

// createAPIKey issues a named key; the answer carries the key, the only time
// it is shown.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	k, err := s.APIKeys.CreateAPIKey(r.Context(), PrincipalFrom(r.Context()).ID, req.Name)
	if err == nil {
		w.Header().Set("Location", "/v1/account/api-keys/"+k.ID)
	}
	s.reply(w, r, http.StatusCreated, k, err)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	list, err := s.APIKeys.ListAPIKeys(r.Context(), PrincipalFrom(r.Context()).ID)
	s.reply(w, r, http.StatusOK, map[string]any{"apiKeys": list}, err)
}

// revokeAPIKey stops a key at once; the key used for this very request may
// be the one revoked.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := s.APIKeys.RevokeAPIKey(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("apiKeyId")); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
