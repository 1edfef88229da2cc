package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestWebhookRefusalsAndFaults sorts what a delivery meets into definite
// refusals, which retrying will not cure, and faults that may pass.
func TestWebhookRefusalsAndFaults(t *testing.T) {
	status := 204
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	dropped := handoff.Internal(errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"), "resolve webhook")
	for _, c := range []struct {
		name      string
		status    int
		resolve   error
		permanent bool
	}{
		{"endpoint deleted", 204, handoff.NotFound("Webhook"), true},
		{"connection dropped while resolving", 204, dropped, false},
		{"resolve cancelled", 204, fmt.Errorf("resolve: %w", context.Canceled), false},
		{"400", 400, nil, true},
		{"404", 404, nil, true},
		{"410", 410, nil, true},
		{"408", 408, nil, false},
		{"429", 429, nil, false},
		{"500", 500, nil, false},
		{"503", 503, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			status = c.status
			s := &notify.ShipperWebhooks{AllowPrivate: true, Resolve: func(context.Context, string) (string, []byte, error) {
				if c.resolve != nil {
					return "", nil, c.resolve
				}
				return srv.URL, []byte("secret"), nil
			}}
			err := s.Send(ctx, notify.Message{ID: "whd_1", To: "wh_1", Text: "{}"})
			if err == nil || notify.IsPermanent(err) != c.permanent {
				t.Errorf("error %v, permanent %v; want permanent %v", err, notify.IsPermanent(err), c.permanent)
			}
		})
	}
}

// hook is a shipper's endpoint that records the deliveries it acknowledges.
type hook struct {
	mu   sync.Mutex
	keys []string
	srv  *httptest.Server
}

func startHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
		h.mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.keys...)
}

// webhookShipper registers a shipper with a webhook to url and returns the
// shipper, the webhook, and a function that makes a label, which queues one
// delivery.
func webhookShipper(t *testing.T, db *sqlstore.DB, url string) (string, string, func()) {
	t.Helper()
	db.AllowHTTPWebhooks = true
	p, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := db.CreateWebhook(ctx, p.ID, url)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID, wh.ID, func() {
		t.Helper()
		in := &handoff.ShipmentInput{ShipFrom: &handoff.Address{Name: "Shop", AddressLine1: "1 Dock", City: "London", PostalCode: "E1", CountryCode: "GB"},
			ShipTo:   &handoff.Address{Name: "R", AddressLine1: "2 High St", City: "London", PostalCode: "E8", CountryCode: "GB", PhoneNumber: "07700900123"},
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "20", Unit: "GBP"}}}}
		if _, _, err := db.CreateShipment(ctx, p.ID, in, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebhookResolveFaultIsRetried drops the database connection while a
// delivery resolves its endpoint: the delivery is retried later and arrives.
// A delivery to an endpoint deleted since is dead at once.
func TestWebhookResolveFaultIsRetried(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := startHook(t)
		shipper, wh, label := webhookShipper(t, db, h.srv.URL)
		label()
		down := true
		resolve := func(ctx context.Context, id string) (string, []byte, error) {
			if down {
				return "", nil, handoff.Internal(errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"), "resolve webhook")
			}
			return db.ResolveWebhook(ctx, id)
		}
		now := time.Now()
		db.Now = func() time.Time { return now }
		w := &notify.Worker{Store: db, Now: db.Now, Log: slog.New(slog.DiscardHandler),
			Senders: map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: resolve, AllowPrivate: true}}}
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		es := mustList(t, db, "")
		if len(es) != 1 || es[0].Status != sqlstore.StatusPending || es[0].Attempts != 1 || !strings.Contains(es[0].LastError, "terminating connection") {
			t.Fatalf("after a dropped connection: %+v", es)
		}
		down = false
		now = now.Add(time.Hour)
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := h.got(); len(got) != 1 || got[0] != es[0].ID {
			t.Fatalf("endpoint received %v, want %s once", got, es[0].ID)
		}

		label()
		if err := db.DeleteWebhook(ctx, shipper, wh); err != nil {
			t.Fatal(err)
		}
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if dead := mustList(t, db, sqlstore.StatusDead); len(dead) != 1 || dead[0].Attempts != 1 {
			t.Errorf("delivery to a deleted endpoint: %+v", dead)
		}
	})
}
