package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/notify"
)

// batchStore is an outbox holding one claim's worth of messages, which it
// hands out once, and records what was marked sent.
type batchStore struct {
	mu     sync.Mutex
	batch  []notify.Queued
	marked []string
}

func (s *batchStore) ClaimNotifications(context.Context, string, int, time.Duration, ...string) ([]notify.Queued, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batch
	s.batch = nil
	return b, nil
}
func (s *batchStore) RenewNotifications(_ context.Context, _ string, ids []string, _ time.Duration) ([]string, error) {
	return ids, nil
}
func (s *batchStore) MarkSent(_ context.Context, id, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marked = append(s.marked, id)
	return nil
}
func (s *batchStore) MarkSentAll(_ context.Context, _ string, ids []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marked = append(s.marked, ids...)
	return ids, nil
}
func (s *batchStore) MarkFailed(context.Context, string, string, string, time.Time, bool) error {
	return nil
}
func (s *batchStore) ReleaseNotification(context.Context, string, string, time.Time) error {
	return nil
}
func (s *batchStore) DeferRecipient(context.Context, string, string, time.Time) (int, error) {
	return 0, nil
}
func (s *batchStore) Passcode(context.Context, string, string) (string, error) { return "", nil }

// queued returns a picked-up text to each of to, in that order.
func queued(to ...string) []notify.Queued {
	out := make([]notify.Queued, len(to))
	for i, r := range to {
		out[i] = notify.Queued{ID: fmt.Sprintf("msg_%02d", i), Token: "tok", Kind: "shipped", Channel: notify.SMS, To: r, Lang: "en",
			Data: []byte(`{"trackingIds":["HO0000000` + fmt.Sprint(i) + `"]}`), Attempts: 1, Created: time.Now()}
	}
	return out
}

// gatedSender is a provider whose answers wait: each send reports that it
// started and then waits for wait to say it may answer.
type gatedSender struct {
	started chan notify.Message
	wait    func(notify.Message)

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	busy        map[string]int // sends in flight by recipient
	overlap     bool           // two sends to one recipient were in flight at once
	order       map[string][]string
}

func newGatedSender(wait func(notify.Message)) *gatedSender {
	return &gatedSender{started: make(chan notify.Message, 100), wait: wait, busy: map[string]int{}, order: map[string][]string{}}
}

func (g *gatedSender) Name() string { return "gated" }

func (g *gatedSender) Send(_ context.Context, m notify.Message) error {
	g.mu.Lock()
	g.inFlight++
	g.maxInFlight = max(g.maxInFlight, g.inFlight)
	g.busy[m.To]++
	g.overlap = g.overlap || g.busy[m.To] > 1
	g.order[m.To] = append(g.order[m.To], m.ID)
	g.mu.Unlock()
	g.started <- m
	g.wait(m)
	g.mu.Lock()
	g.inFlight--
	g.busy[m.To]--
	g.mu.Unlock()
	return nil
}

// startedWithin waits for n sends to start, failing the test after a minute.
func startedWithin(t *testing.T, g *gatedSender, n int) []notify.Message {
	t.Helper()
	var got []notify.Message
	for len(got) < n {
		select {
		case m := <-g.started:
			got = append(got, m)
		case <-time.After(time.Minute):
			t.Fatalf("%d sends started, want %d at once", len(got), n)
		}
	}
	return got
}

// TestWorkerSendsSideBySide: with Concurrency 3, three messages to three
// recipients are in the providers' hands at once, while none has been
// answered; and never more than three.
func TestWorkerSendsSideBySide(t *testing.T) {
	release := make(chan struct{})
	g := newGatedSender(func(notify.Message) { <-release })
	store := &batchStore{batch: queued("+447700900001", "+447700900002", "+447700900003", "+447700900004", "+447700900005", "+447700900006")}
	w := &notify.Worker{Store: store, Senders: map[string]notify.Sender{notify.SMS: g}, Log: slog.New(slog.DiscardHandler), Concurrency: 3}
	done := make(chan error, 1)
	go func() {
		_, err := w.RunOnce(ctx, notify.SMS)
		done <- err
	}()
	startedWithin(t, g, 3)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.maxInFlight != 3 {
		t.Errorf("%d sends were in flight at once, want 3", g.maxInFlight)
	}
	if len(store.marked) != 6 {
		t.Errorf("%d of 6 messages marked sent", len(store.marked))
	}
}

// TestWorkerKeepsARecipientsOrder: sent side by side, a recipient's messages
// still go one after another in the order they were queued: the second
// message to a recipient whose first one waits for its answer is not sent
// meanwhile, while other recipients' are.
func TestWorkerKeepsARecipientsOrder(t *testing.T) {
	const a, b, c = "+447700900001", "+447700900002", "+447700900003"
	others := make(chan struct{})
	var once sync.Once
	g := newGatedSender(func(m notify.Message) {
		if m.ID == "msg_00" { // a's first: answered once b and c have both started
			<-others
		}
	})
	store := &batchStore{batch: queued(a, b, a, c, a, b)}
	w := &notify.Worker{Store: store, Senders: map[string]notify.Sender{notify.SMS: g}, Log: slog.New(slog.DiscardHandler), Concurrency: 4}
	done := make(chan error, 1)
	go func() {
		_, err := w.RunOnce(ctx, notify.SMS)
		done <- err
	}()
	seen := map[string]bool{}
	for !seen[b] || !seen[c] {
		m := startedWithin(t, g, 1)[0]
		seen[m.To] = true
	}
	once.Do(func() { close(others) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.overlap {
		t.Error("two messages to one recipient were in flight at once")
	}
	if want := []string{"msg_00", "msg_02", "msg_04"}; !slices.Equal(g.order[a], want) {
		t.Errorf("a's messages went in the order %v, want %v", g.order[a], want)
	}
	if want := []string{"msg_01", "msg_05"}; !slices.Equal(g.order[b], want) {
		t.Errorf("b's messages went in the order %v, want %v", g.order[b], want)
	}
	if len(store.marked) != 6 {
		t.Errorf("%d of 6 messages marked sent", len(store.marked))
	}
}

// refusing is a provider that refuses one recipient for good and takes the
// others.
type refusing struct{ to string }

func (refusing) Name() string { return "refusing" }
func (r refusing) Send(_ context.Context, m notify.Message) error {
	if m.To == r.to {
		return notify.Permanent("number not in service")
	}
	return nil
}

// TestWorkerLogsEachMessage: every message leaves one line in the log by
// its ID, kind, channel, provider and attempt, sent at INFO and dead at
// ERROR with the provider's reason, and never its text or recipient.
func TestWorkerLogsEachMessage(t *testing.T) {
	var buf bytes.Buffer
	store := &batchStore{batch: queued("+447700900001", "+447700900002")}
	w := &notify.Worker{Store: store, Senders: map[string]notify.Sender{notify.SMS: refusing{to: "+447700900002"}},
		Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	if _, err := w.RunOnce(ctx, notify.SMS); err != nil {
		t.Fatal(err)
	}
	lines := map[string]map[string]any{}
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if strings.Contains(line, "+4477009000") || strings.Contains(line, "HO0000000") {
			t.Errorf("a log line holds the message's recipient or text: %s", line)
		}
		if id, ok := rec["message_id"].(string); ok {
			lines[id] = rec
		}
	}
	want := map[string][2]string{"msg_00": {"INFO", "notification sent"}, "msg_01": {"ERROR", "notification dead"}}
	for id, lm := range want {
		rec, ok := lines[id]
		if !ok {
			t.Fatalf("no log line for %s in:\n%s", id, buf.String())
		}
		if rec["level"] != lm[0] || rec["msg"] != lm[1] || rec["kind"] != "shipped" || rec["channel"] != notify.SMS ||
			rec["provider"] != "refusing" || rec["attempt"] != float64(1) {
			t.Errorf("%s logged %v, want %s %q with its kind, channel, provider and attempt", id, rec, lm[0], lm[1])
		}
	}
	if err, _ := lines["msg_01"]["err"].(string); !strings.Contains(err, "not in service") {
		t.Errorf("the dead message's line says %q, want the provider's reason", err)
	}
}
