package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/egress"
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
			s := &notify.ShipperWebhooks{Client: egress.Client(15*time.Second, true), Resolve: func(context.Context, string) (string, [][]byte, error) {
				if c.resolve != nil {
					return "", nil, c.resolve
				}
				return srv.URL, [][]byte{[]byte("secret")}, nil
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
		resolve := func(ctx context.Context, id string) (string, [][]byte, error) {
			if down {
				return "", nil, handoff.Internal(errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)"), "resolve webhook")
			}
			return db.ResolveWebhook(ctx, id)
		}
		now := time.Now()
		db.Now = func() time.Time { return now }
		w := &notify.Worker{Store: db, Now: db.Now, Log: slog.New(slog.DiscardHandler),
			Senders: map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: resolve, Client: egress.Client(15*time.Second, true)}}}
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

// hanging is a shipper's endpoint that holds every delivery until the test
// ends, or the sender gives up.
type hanging struct {
	inflight, given atomic.Int32 // deliveries hanging, deliveries given up
	srv             *httptest.Server
}

func startHanging(t *testing.T) *hanging {
	t.Helper()
	h := &hanging{}
	release := make(chan struct{})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices when the sender hangs up
		h.inflight.Add(1)
		defer h.inflight.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
			h.given.Add(1)
		}
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(release) }) // first, so the server can close
	return h
}

// TestHangingEndpointHoldsOnlyItself hangs one shipper's endpoint: another
// shipper's delivery, queued after three to the hanging one, arrives while
// they still hang.
func TestHangingEndpointHoldsOnlyItself(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		stuck, fine := startHanging(t), startHook(t)
		_, _, stuckLabel := webhookShipper(t, db, stuck.srv.URL)
		_, _, fineLabel := webhookShipper(t, db, fine.srv.URL)
		for range 3 {
			stuckLabel()
		}
		fineLabel()
		arrived := make(chan struct{}, 1)
		w := &notify.Worker{Store: db, Log: slog.New(slog.DiscardHandler), SendTimeout: 30 * time.Second, Poll: 20 * time.Millisecond,
			Senders: map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: db.ResolveWebhook, Client: egress.Client(15*time.Second, true)}},
			Observe: func(_, outcome string) {
				if outcome == "sent" {
					arrived <- struct{}{}
				}
			}}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		done := make(chan struct{})
		go func() { w.Run(rctx); close(done) }()
		defer func() { cancel(); <-done }()
		select {
		case <-arrived:
		case <-rctx.Done():
			t.Fatal("the other shipper's delivery did not arrive")
		}
		// Sent before or while the hanging ones hang, never after one of
		// them timed out (the pool may well reach the other endpoint first).
		if stuck.given.Load() > 0 {
			t.Fatal("the other shipper's delivery waited for the hanging endpoint to time out")
		}
		if got := fine.got(); len(got) != 1 {
			t.Errorf("the other endpoint received %d deliveries", len(got))
		}
	})
}

// TestFailingEndpointIsPaused lets an endpoint fail fast: after BreakAfter
// failures in a row its other deliveries wait for the cool-down without
// using attempts, and it is not called meanwhile.
func TestFailingEndpointIsPaused(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(503)
		}))
		defer srv.Close()
		_, _, label := webhookShipper(t, db, srv.URL)
		const queued = 8
		for range queued {
			label()
		}
		outcomes := make(chan string, 2*queued)
		w := &notify.Worker{Store: db, Log: slog.New(slog.DiscardHandler), Poll: 20 * time.Millisecond,
			Endpoints: notify.EndpointLimits{PerEndpoint: 1, BreakAfter: 3, CoolDown: time.Hour},
			Senders:   map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: db.ResolveWebhook, Client: egress.Client(15*time.Second, true)}},
			Observe:   func(_, outcome string) { outcomes <- outcome }}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		done := make(chan struct{})
		go func() { w.Run(rctx); close(done) }()
		count := map[string]int{}
		for count["retry"]+count["deferred"] < queued {
			select {
			case o := <-outcomes:
				count[o]++
			case <-rctx.Done():
				t.Fatalf("outcomes so far: %v", count)
			}
		}
		cancel()
		<-done
		if count["retry"] != 3 || calls.Load() != 3 {
			t.Errorf("%d failed attempts, %d calls; want 3 before the pause", count["retry"], calls.Load())
		}
		for _, e := range mustList(t, db, "") {
			if e.Status != sqlstore.StatusPending || e.Attempts > 1 {
				t.Errorf("delivery %+v", e)
			}
			if e.Attempts == 0 && e.NextTry.Before(time.Now().Add(50*time.Minute)) {
				t.Errorf("paused delivery due at %v, before the cool-down ends", e.NextTry)
			}
		}
	})
}

// TestSMSWebhookKeepsConnectionsForConcurrentSends sends 16 texts at a
// time, four rounds, through the SMS webhook sender as served (its own HTTP
// client): the connections of the first round carry the next ones, instead
// of all but two being opened again for every message. A send returns
// before Go's transport has put its connection back in the pool, so the
// next round may dial a few more: with Go's default of two idle
// connections the 64 texts take about 58, kept connections at most 16 and
// a handful.
func TestSMSWebhookKeepsConnectionsForConcurrentSends(t *testing.T) {
	var conns atomic.Int64
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s, err := notify.NewWebhook(notify.WebhookConfig{URL: srv.URL + "/sms", Secret: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				errs <- s.Send(context.Background(), notify.Message{ID: fmt.Sprintf("msg_%d_%d", round, i), Kind: "shipped", Channel: notify.SMS,
					To: fmt.Sprintf("+4477009%05d", i), Text: "Your parcel is on its way"})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if got.Load() != 64 {
		t.Fatalf("%d texts arrived, want 64", got.Load())
	}
	if n := conns.Load(); n > 24 {
		t.Errorf("64 texts, 16 at a time, took %d connections; want at most 24 (16 and a few dialled while a connection was on its way back to the pool)", n)
	}
}
