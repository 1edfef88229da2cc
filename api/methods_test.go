package api_test

import "testing"

func TestUnknownRoutesAreJSON(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		r := e.undocumented("DELETE", "/v1/shipments", "")
		problem(t, r, 405, "")
		if allow := r.Header.Get("Allow"); allow != "GET, POST" {
			t.Errorf("Allow = %q", allow)
		}
		problem(t, e.undocumented("GET", "/v1/nothing-here", ""), 404, "")
	})
}
