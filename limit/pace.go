// Package limit bounds what one request may take from the server: the time
// to send its body (paced by its size, so a photo on a slow phone connection
// gets through while a client that stops sending is cut off), a place among
// the requests in flight, and a deadline for its work.
package limit

import (
	"errors"
	"net/http"
	"os"
	"time"
)

// Pace gives a request with a large body time to send it in proportion to
// its size. The zero Pace changes nothing.
type Pace struct {
	// Read is the time for any request (the server's ReadTimeout); an
	// upload gets it on top of its size at MinRate.
	Read time.Duration
	// Write is the time to answer once the body is in (the server's
	// WriteTimeout), counted from the end of the read allowance.
	Write time.Duration
	// MinRate is the slowest average upload, in bytes per second, that is
	// still let through; 0 leaves the server's timeouts as they are.
	MinRate int64
}

// For returns the time allowed to send a body of n bytes.
func (p Pace) For(n int64) time.Duration {
	if p.MinRate <= 0 {
		return p.Read
	}
	return p.Read + time.Duration(n)*time.Second/time.Duration(p.MinRate)
}

// Allow moves the read (and write) deadline of r's connection so that a
// body of up to max bytes — its declared Content-Length when smaller — can
// arrive at MinRate. Call it in the handler before reading the body. It does
// nothing for the zero Pace or a connection that has no deadlines.
func (p Pace) Allow(w http.ResponseWriter, r *http.Request, max int64) {
	if p.MinRate <= 0 {
		return
	}
	n := max
	if r.ContentLength >= 0 && r.ContentLength < max {
		n = r.ContentLength
	}
	end := time.Now().Add(p.For(n))
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(end)
	if p.Write > 0 {
		rc.SetWriteDeadline(end.Add(p.Write))
	}
}

// CutOff reports whether err, from reading a request body, means the body
// did not arrive before the connection's read deadline: a slow or stalled
// client, not a malformed request.
func CutOff(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
