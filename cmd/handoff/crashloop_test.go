package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// The crash loop's size: kill -9s per engine, shippers creating labels, and
// associates delivering passcode parcels, side by side.
const (
	crashCycles    = 5
	labelWorkers   = 2
	deliveryRounds = 3
)

// codeRE finds the day's passcode in the out-for-delivery text.
var codeRE = regexp.MustCompile(`Passcode (\d{6})`)

// TestCrashLoop kill -9s the server, crashCycles times on each engine,
// while shippers create labels (each with its Idempotency-Key) and
// associates take passcode parcels from the station to the door (receive,
// route, load, the recipient's code from their phone, verify). The kill
// comes after a seeded random number of acknowledged steps (and at least
// one delivery), with requests in flight. After each restart every write ever acknowledged is there:
// each 2xx label under its tracking ID, each acknowledged delivery
// Delivered; and a label whose request died with the node, retried with
// its key, makes exactly one label. HANDOFF_CRASH_SEED replays a run.
func TestCrashLoop(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HANDOFF_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("HANDOFF_CRASH_SEED: %v", err)
		}
	}
	t.Logf("HANDOFF_CRASH_SEED=%d", seed)
	for _, engine := range sqlstoretest.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel() // much of a cycle is waiting: for a start, a text
			start := time.Now()
			l := &ledger{labels: map[string]*labelWrite{}, steps: map[string][]string{}}
			rng := rand.New(rand.NewPCG(seed, uint64(len(engine))))
			d := newDeployment(t, engine)
			n := d.start(t)
			tm := onboard(t, n.base, deliveryRounds, true)
			for cycle := 1; cycle <= crashCycles; cycle++ {
				killAt := 5 + rng.IntN(12)
				l.run(t, d, n, tm, cycle, killAt)
				n = d.start(t)
				l.check(t, n.base, tm)
				if t.Failed() {
					t.Fatalf("cycle %d (killed after %d acknowledged steps) lost acknowledged writes", cycle, killAt)
				}
			}
			t.Logf("%d kills: %d labels (%d in doubt at a kill and retried, %d of those made by the request that died), %d parcels delivered (%d steps acknowledged); %d checks of acknowledged writes after restarts; %s",
				crashCycles, len(l.labels), l.retried, l.replayed, l.count("delivered"), l.acked, l.checked, time.Since(start).Round(time.Millisecond))
		})
	}
}

// ledger is what the clients were told: every label asked for (by key) and
// the steps acknowledged for each parcel.
type ledger struct {
	mu     sync.Mutex
	labels map[string]*labelWrite
	keys   []string            // in the order asked
	steps  map[string][]string // tracking ID → acknowledged steps
	mobile int                 // the last recipient's number

	// The kill comes once killAt delivery steps, one delivery among them,
	// were acknowledged in the cycle.
	acks, killAt, delivered int
	kill                    chan struct{}
	killed                  bool

	acked, retried, replayed, checked int
}

// labelWrite is one label asked for with an Idempotency-Key.
type labelWrite struct {
	body       []byte
	trackingID string // once acknowledged
}

// ask records a label about to be requested: from now on it may exist.
func (l *ledger) ask(key string, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.labels[key] = &labelWrite{body: body}
	l.keys = append(l.keys, key)
}

// ack records an acknowledged write; a delivery step counts towards the
// kill.
func (l *ledger) ack(key, trackingID, step string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if key != "" {
		l.labels[key].trackingID = trackingID
	}
	if step == "" {
		return
	}
	l.steps[trackingID] = append(l.steps[trackingID], step)
	l.acked++
	l.acks++
	if step == "delivered" {
		l.delivered++
	}
	if l.acks >= l.killAt && l.delivered > 0 && !l.killed {
		l.killed = true
		close(l.kill)
	}
}

func (l *ledger) nextMobile() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mobile++
	return fmt.Sprintf("+4477009%05d", l.mobile)
}

func (l *ledger) count(step string) (n int) {
	for _, s := range l.steps {
		if slices.Contains(s, step) {
			n++
		}
	}
	return n
}

// run loads the node until killAt delivery steps, one delivery among them,
// were acknowledged, then kills it with requests in flight, and waits for
// the clients to give up.
func (l *ledger) run(t *testing.T, d *deployment, n *node, tm *team, cycle, killAt int) {
	l.mu.Lock()
	l.acks, l.killAt, l.delivered, l.kill, l.killed = 0, killAt, 0, make(chan struct{}), false
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range labelWorkers {
		wg.Add(1)
		go func() { defer wg.Done(); l.labelLoop(ctx, t, n.base, tm, fmt.Sprintf("c%d-w%d", cycle, w)) }()
	}
	var deliveries sync.WaitGroup
	for w := range deliveryRounds {
		deliveries.Add(1)
		go func() {
			defer deliveries.Done()
			l.deliveryLoop(ctx, t, d.phones, n.base, tm, w, fmt.Sprintf("c%d-d%d", cycle, w))
		}()
	}
	// The deliveries end early only when one failed (and said so).
	ended := make(chan struct{})
	go func() { deliveries.Wait(); close(ended) }()
	select {
	case <-l.kill:
	case <-ended:
	case <-time.After(2 * time.Minute):
		t.Errorf("cycle %d: fewer than %d steps acknowledged in 2 minutes", cycle, killAt)
	}
	n.kill()
	cancel()
	wg.Wait()
	<-ended
}

// labelLoop creates labels, each with its own key, until the node dies.
func (l *ledger) labelLoop(ctx context.Context, t *testing.T, base string, tm *team, prefix string) {
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for i := 0; ; i++ {
		key := fmt.Sprintf("%s-%d", prefix, i)
		body := label(key, "07700 900000", "1 High St", "20")
		l.ask(key, body)
		r, err := callAPI(ctx, base, "POST", "/v1/shipments", tm.shipperKey, body, "Idempotency-Key", key)
		if err != nil {
			return // the node died: the label is in doubt
		}
		if r.status != 201 || trackingIDOf(r.body) == "" {
			t.Errorf("label %s: %d %s", key, r.status, r.raw)
			return
		}
		l.ack(key, trackingIDOf(r.body), "")
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
	}
}

// deliveryLoop takes passcode parcels, one at a time, from label to door
// with associate w until the node dies; a parcel whose step died with the
// node is left where it is.
func (l *ledger) deliveryLoop(ctx context.Context, t *testing.T, ph *phones, base string, tm *team, w int, prefix string) {
	da := tm.associates[w]
	for i := 0; ctx.Err() == nil; i++ {
		key, mobile := fmt.Sprintf("%s-%d", prefix, i), l.nextMobile()
		body := label(key, mobile, fmt.Sprintf("%d Mare St", i+1), "150")
		l.ask(key, body)
		// Each step: the request, the status that acknowledges it, and
		// the step recorded.
		step := func(method, path, token string, body any, want int, hdr ...string) (map[string]any, bool) {
			r, err := callAPI(ctx, base, method, path, token, body, hdr...)
			if err != nil {
				return nil, false
			}
			if r.status != want {
				t.Errorf("%s %s: %d %s, want %d", method, path, r.status, r.raw, want)
				return nil, false
			}
			return r.body, true
		}
		sh, ok := step("POST", "/v1/shipments", tm.shipperKey, body, 201, "Idempotency-Key", key)
		if !ok {
			return
		}
		id := trackingIDOf(sh)
		l.ack(key, id, "labelled")
		if _, ok := step("POST", "/v1/station/parcels/"+id+"/receive", tm.stationKey, nil, 200); !ok {
			return
		}
		l.ack("", id, "received")
		rt, ok := step("POST", "/v1/station/routes", tm.stationKey, map[string]any{"associateId": da.id, "serviceDate": today(),
			"parcels": []any{map[string]any{"trackingId": id}}}, 201)
		if !ok {
			return
		}
		l.ack("", id, "routed")
		loaded, ok := step("POST", "/v1/associate/routes/"+rt["routeId"].(string)+"/load", da.key, nil, 200)
		if !ok {
			return
		}
		l.ack("", id, "loaded")
		code, err := ph.await(ctx, mobile, codeRE)
		if err != nil {
			return
		}
		if _, ok := step("POST", "/v1/associate/stops/"+stopOf(loaded, id)+"/verify", da.key, map[string]any{"code": code}, 200); !ok {
			return
		}
		l.ack("", id, "delivered")
	}
}

// check reads back, from a restarted node, every write acknowledged so far;
// first it retries, with the same key and body, each label whose request
// died with a node, as a client would.
func (l *ledger) check(t *testing.T, base string, tm *team) {
	t.Helper()
	ctx := context.Background()
	for _, key := range l.keys {
		lw := l.labels[key]
		if lw.trackingID != "" {
			continue
		}
		r, err := callAPI(ctx, base, "POST", "/v1/shipments", tm.shipperKey, lw.body, "Idempotency-Key", key)
		if err != nil || r.status != 201 || trackingIDOf(r.body) == "" {
			t.Fatalf("retry of label %s: %d %s %v", key, r.status, r.raw, err)
		}
		lw.trackingID = trackingIDOf(r.body)
		l.retried++
		if r.header.Get("Idempotent-Replayed") == "true" {
			l.replayed++
		}
	}
	// A retry of an acknowledged label answers the same label.
	for _, key := range l.keys[max(0, len(l.keys)-5):] {
		lw := l.labels[key]
		r, err := callAPI(ctx, base, "POST", "/v1/shipments", tm.shipperKey, lw.body, "Idempotency-Key", key)
		if err != nil || r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" || trackingIDOf(r.body) != lw.trackingID {
			t.Errorf("replay of label %s (%s): %d %q %s %v", key, lw.trackingID, r.status, r.header.Get("Idempotent-Replayed"), r.raw, err)
		}
	}

	// The shipper's list holds each label once, under the tracking ID its
	// client was given, and nothing else.
	type listed struct{ trackingID, status string }
	seen := map[string][]listed{}
	cursor, total := "", 0
	for page := 0; page < 100; page++ {
		path := "/v1/shipments?limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		m := must(t, base, "GET", path, tm.shipperKey, nil, 200)
		for _, p := range m["packages"].([]any) {
			p := p.(map[string]any)
			ref := p["packageClientReferenceId"].(string)
			seen[ref] = append(seen[ref], listed{p["trackingId"].(string), p["status"].(string)})
			total++
		}
		if cursor, _ = m["nextCursor"].(string); cursor == "" {
			break
		}
	}
	for _, key := range l.keys {
		got := seen[key]
		switch {
		case len(got) == 0:
			t.Errorf("label %s (%s) is lost", key, l.labels[key].trackingID)
		case len(got) > 1:
			t.Errorf("label %s was made %d times: %v", key, len(got), got)
		case got[0].trackingID != l.labels[key].trackingID:
			t.Errorf("label %s is %s, its client was told %s", key, got[0].trackingID, l.labels[key].trackingID)
		}
	}
	if total != len(l.keys) {
		t.Errorf("the shipper has %d labels, asked for %d", total, len(l.keys))
	}

	// Each parcel's tracking shows every step acknowledged.
	want := map[string]string{"received": "ArrivedAtCarrierFacility", "loaded": "OutForDelivery", "delivered": "Delivered/DeliveredWithOTP"}
	for id, steps := range l.steps {
		codes, status := events(t, base, tm.shipperKey, id)
		for _, s := range steps {
			w, ok := want[s]
			if !ok {
				continue
			}
			if !slices.Contains(codes, w) {
				t.Errorf("parcel %s: acknowledged %s, tracking shows %v", id, s, codes)
			}
			l.checked++
		}
		if slices.Contains(steps, "delivered") && status != "Delivered" {
			t.Errorf("parcel %s: delivery acknowledged, status %s", id, status)
		}
	}
	l.checked += len(l.keys)
}
