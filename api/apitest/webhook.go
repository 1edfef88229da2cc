package apitest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tolerance is how far a delivery's webhook-timestamp may be from the
// receiver's clock, the Standard Webhooks libraries' default.
const Tolerance = 5 * time.Minute

// VerifyStandardWebhook checks a delivery the way the Standard Webhooks
// specification (https://www.standardwebhooks.com) tells a receiver to,
// written here from the specification and not from the server's signing
// code: the three headers must be present; webhook-timestamp (Unix seconds)
// within Tolerance of now; the key is the base64 after "whsec_" in the
// secret; and one of the space-separated "v1,<base64>" entries of
// webhook-signature must equal, compared in constant time, the base64
// HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>".
func VerifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("a webhook-id, webhook-timestamp or webhook-signature header is missing")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not whole seconds")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp is too far from now")
	}
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return errors.New(`the secret does not start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return errors.New("the secret is not standard base64 after whsec_")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, s := range strings.Split(sigs, " ") {
		if version, sig, ok := strings.Cut(s, ","); ok && version == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return errors.New("no v1 signature matches")
}

// Delivery is one request a Receiver took.
type Delivery struct {
	Header  http.Header
	Body    []byte
	Payload map[string]any
	// Verified lists the secrets (as given to SetSecrets) the delivery
	// verified with.
	Verified []string
}

// Receiver is a shipper's webhook endpoint on 127.0.0.1 that verifies each
// delivery with VerifyStandardWebhook against every secret it knows. It
// answers 204 when one verifies, 401 when none does, and 500 while Fail has
// failures left; every request is sent on Got.
type Receiver struct {
	URL string
	Got chan Delivery

	mu      sync.Mutex
	secrets []string
	fail    int
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	rc := &Receiver{Got: make(chan Delivery, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		secrets, fail := append([]string(nil), rc.secrets...), rc.fail > 0
		if fail {
			rc.fail--
		}
		rc.mu.Unlock()
		d := Delivery{Header: r.Header.Clone(), Body: body}
		json.Unmarshal(body, &d.Payload)
		for _, s := range secrets {
			if VerifyStandardWebhook(s, r.Header, body, time.Now()) == nil {
				d.Verified = append(d.Verified, s)
			}
		}
		switch {
		case fail:
			w.WriteHeader(http.StatusInternalServerError)
		case len(d.Verified) == 0:
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
		rc.Got <- d
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL + "/hooks"
	return rc
}

// SetSecrets sets the secrets deliveries are verified with.
func (rc *Receiver) SetSecrets(secrets ...string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets = secrets
}

// Fail makes the next n deliveries answer 500.
func (rc *Receiver) Fail(n int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.fail = n
}

// Next returns the next delivery, failing t when none comes within wait.
func (rc *Receiver) Next(t testing.TB, wait time.Duration) Delivery {
	t.Helper()
	select {
	case d := <-rc.Got:
		return d
	case <-time.After(wait):
		t.Fatalf("no webhook delivery within %s", wait)
		return Delivery{}
	}
}
