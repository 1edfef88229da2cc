package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/egress"
	"github.com/handoff-dev/handoff/notify"
)

// endpoint is a shipper's webhook receiver that checks signatures.
type endpoint struct {
	mu       sync.Mutex
	secret   string
	events   []map[string]any
	keys     []string
	failNext atomic.Int32 // answer 500 this many times
	badSig   int
	srv      *httptest.Server
}

func startEndpoint(t *testing.T) *endpoint {
	t.Helper()
	ep := &endpoint{}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ep.failNext.Load() > 0 {
			ep.failNext.Add(-1)
			w.WriteHeader(500)
			return
		}
		ep.mu.Lock()
		defer ep.mu.Unlock()
		// Handoff-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>
		parts := map[string]string{}
		for _, kv := range strings.Split(r.Header.Get("Handoff-Signature"), ",") {
			k, v, _ := strings.Cut(kv, "=")
			parts[k] = v
		}
		mac := hmac.New(sha256.New, []byte(ep.secret))
		mac.Write([]byte(parts["t"] + "."))
		mac.Write(body)
		if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(parts["v1"])) {
			ep.badSig++
			w.WriteHeader(401)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		ep.events = append(ep.events, m)
		ep.keys = append(ep.keys, r.Header.Get("Idempotency-Key"))
		w.WriteHeader(204)
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func TestShipperWebhooks(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		_, other := e.shipper()
		ep := startEndpoint(t)
		// https only, unless the server allows http.
		problem(t, e.do("POST", "/v1/account/webhooks", key, map[string]any{"url": ep.srv.URL}), 400, "url")
		e.hooks.AllowHTTP = true
		r := e.do("POST", "/v1/account/webhooks", key, map[string]any{"url": ep.srv.URL})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		wh := r.JSON(t)
		ep.secret = wh["secret"].(string)
		list := e.do("GET", "/v1/account/webhooks", key, nil)
		if strings.Contains(string(list.Body), ep.secret) {
			t.Fatal("the secret is shown again")
		}
		problem(t, e.do("DELETE", "/v1/account/webhooks/"+wh["webhookId"].(string), other, nil), 404, "")

		// A label is an event; the endpoint fails twice, then acknowledges.
		ep.failNext.Store(2)
		id := e.do("POST", "/v1/shipments", key, shipment("GB", "GBP", "20", "")).JSON(t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
		w := &notify.Worker{Store: e.db, Senders: map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: e.db.ResolveWebhook, Client: egress.Client(15*time.Second, true)}},
			Now: e.db.Now, Log: slog.New(slog.DiscardHandler)}
		clock := time.Now()
		for range 3 {
			if err := w.Drain(t0ctx); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(2 * time.Hour) // past any backoff
			now := clock
			e.db.Now = func() time.Time { return now }
		}
		ep.mu.Lock()
		got := append([]map[string]any(nil), ep.events...)
		ep.mu.Unlock()
		if len(got) != 1 || got[0]["trackingId"] != id || got[0]["event"].(map[string]any)["eventCode"] != "ReadyForReceive" || ep.badSig != 0 {
			t.Fatalf("endpoint received %v (bad signatures %d)", got, ep.badSig)
		}
		// After deletion nothing more is sent.
		if r := e.do("DELETE", "/v1/account/webhooks/"+wh["webhookId"].(string), key, nil); r.Status != 204 {
			t.Fatalf("delete: %d", r.Status)
		}
		e.do("POST", "/v1/shipments", key, shipment("GB", "GBP", "21", ""))
		w.Drain(t0ctx)
		ep.mu.Lock()
		defer ep.mu.Unlock()
		if len(ep.events) != 1 {
			t.Errorf("%d deliveries after deletion", len(ep.events)-1)
		}
	})
}

// TestWebhooksRefusePrivateAddresses checks a shipper's URL cannot make the
// server call into its own network.
func TestWebhooksRefusePrivateAddresses(t *testing.T) {
	ep := startEndpoint(t)
	s := &notify.ShipperWebhooks{Client: egress.Client(15*time.Second, false), Resolve: func(context.Context, string) (string, [][]byte, error) { return ep.srv.URL, [][]byte{[]byte("k")}, nil }}
	if err := s.Send(t0ctx, notify.Message{ID: "whd_1", To: "wh_1", Text: "{}"}); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("delivery to %s: %v", ep.srv.URL, err)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.events) != 0 || ep.badSig != 0 {
		t.Error("the private endpoint was reached")
	}
}

// TestWebhookPrivateTarget checks that an endpoint on a loopback, private or
// link-local address is refused when it is registered, naming the field,
// unless the server allows private networks.
func TestWebhookPrivateTarget(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		e.hooks.AllowHTTP = true
		e.hooks.AllowPrivate = false
		for _, u := range []string{"http://127.0.0.1:9/hook", "https://10.1.2.3/hook", "https://192.168.0.7/", "https://[::1]:8443/hook",
			"http://169.254.169.254/latest/meta-data/", "https://localhost/hook", "https://0.0.0.0/"} {
			p := problem(t, e.do("POST", "/v1/account/webhooks", key, map[string]any{"url": u}), 400, "url")
			if !strings.Contains(p["detail"].(string), "public address") {
				t.Errorf("%s: detail %q does not say why", u, p["detail"])
			}
		}
		if r := e.do("POST", "/v1/account/webhooks", key, map[string]any{"url": "https://203.0.113.10/hook"}); r.Status != 201 {
			t.Errorf("a public address: %d %s", r.Status, r.Body)
		}
		e.hooks.AllowPrivate = true
		if r := e.do("POST", "/v1/account/webhooks", key, map[string]any{"url": "http://127.0.0.1:9/hook"}); r.Status != 201 {
			t.Errorf("loopback on a server that allows private networks: %d %s", r.Status, r.Body)
		}
	})
}
