package limit

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// Gate bounds the requests in flight and gives each a deadline. A request
// that finds no room is refused at once (Refuse answers it, 503 with
// Retry-After) rather than queued: queued requests would only wait for the
// same database connections and time out later, holding memory meanwhile.
type Gate struct {
	// Max is how many requests may be served at once.
	Max int
	// Timeout is each request's deadline for its work; a request with a
	// body gets its size at Pace.MinRate on top, as an upload takes that
	// long to arrive.
	Timeout time.Duration
	Pace    Pace
	// Refuse answers a request refused for lack of room.
	Refuse http.Handler
	// Exempt paths (health probes, metrics) are neither counted nor refused.
	Exempt []string
}

// Handler returns next behind the gate.
func (g *Gate) Handler(next http.Handler) http.Handler {
	slots := make(chan struct{}, g.Max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(g.Exempt, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			g.Refuse.ServeHTTP(w, r)
			return
		}
		timeout := g.Timeout
		if r.ContentLength > 0 && g.Pace.MinRate > 0 {
			timeout += g.Pace.For(min(r.ContentLength, 1<<30)) - g.Pace.Read
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		inner := r.WithContext(ctx)
		next.ServeHTTP(w, inner)
		// The mux names the route on the request it is given; the access
		// log and metrics around the gate read it from theirs.
		r.Pattern = inner.Pattern
	})
}
