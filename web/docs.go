package web

import "net/http"

// apiReference shows the API reference, drawn in the browser from
// /v1/openapi.json by the vendored Swagger UI. It is public like the
// description it reads; a signed-in shipper sees it with their navigation.
func (s *Server) apiReference(w http.ResponseWriter, r *http.Request) {
	v, err := s.lookVisitor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != nil {
		r = r.WithContext(withVisitor(r.Context(), v))
	}
	s.render(w, r, http.StatusOK, "docs", newView(r, "API reference", "docs", nil))
}
