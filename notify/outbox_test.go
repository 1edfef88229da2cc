package notify_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// slowProvider is an in-process SMS provider that takes 20–50 ms a message,
// as a real one does, and records every message it accepts.
type slowProvider struct {
	mu  sync.Mutex
	got map[string]int // by message ID
}

func (p *slowProvider) Name() string { return "slow" }

func (p *slowProvider) Send(ctx context.Context, m notify.Message) error {
	t := time.NewTimer(time.Duration(20+rand.IntN(31)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	// A provider that is cut off at the deadline has not accepted.
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got[m.ID]++
	return nil
}

// TestThreeNodesSendEachMessageOnce runs three nodes on one database against
// a backlog that takes longer to send than a lease lasts: every message
// reaches the provider exactly once.
func TestThreeNodesSendEachMessageOnce(t *testing.T) {
	const n = 300
	for _, engine := range sqlstoretest.Engines() {
		t.Run(engine, func(t *testing.T) {
			nodes := sqlstoretest.Nodes(t, engine, 3)
			sqlstoretest.QueueSMS(t, nodes[0], n)
			p := &slowProvider{got: map[string]int{}}
			sent := make(chan struct{}, 3*n)
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			for _, db := range nodes {
				w := &notify.Worker{Store: db, Senders: map[string]notify.Sender{notify.SMS: p}, Log: slog.New(slog.DiscardHandler),
					// The margin a sent message has to be marked in before
					// its lease ends is (Lease-SendTimeout)/2: 400 ms, which
					// the race detector on a busy machine needs; a batch
					// still outlasts the part of a lease a send may start in,
					// so leases are renewed as they are in production.
					Lease: time.Second, SendTimeout: 200 * time.Millisecond, Poll: 20 * time.Millisecond,
					Observe: func(_, outcome string) {
						if outcome == "sent" {
							sent <- struct{}{}
						}
					}}
				wg.Add(1)
				go func() { defer wg.Done(); w.Run(rctx) }()
			}
			for range n {
				select {
				case <-sent:
				case <-rctx.Done():
					t.Fatalf("not every message was sent: %v", rctx.Err())
				}
			}
			cancel()
			wg.Wait()
			p.mu.Lock()
			defer p.mu.Unlock()
			twice := 0
			for _, c := range p.got {
				if c > 1 {
					twice++
				}
			}
			if len(p.got) != n || twice > 0 {
				t.Errorf("the provider got %d different messages of %d, %d of them more than once", len(p.got), n, twice)
			}
			if left := len(mustList(t, nodes[0], sqlstore.StatusPending)); left != 0 {
				t.Errorf("%d messages left pending", left)
			}
		})
	}
}

// TestEmailsOfABatchShareAConnection sends a batch of emails over one SMTP
// connection, and the next batch over that same one while messages keep
// coming; once nothing is due the connection is closed, and the batch after
// that opens a new one.
func TestEmailsOfABatchShareAConnection(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		box, sb := startSMTP(t), startSMS(t)
		f := newFlow(t, db)
		w := &notify.Worker{Store: db, Senders: senders(t, box, sb), Now: db.Now, Log: slog.New(slog.DiscardHandler)}
		if _, err := w.RunOnce(ctx, notify.Email); err != nil {
			t.Fatal(err)
		}
		first := len(box.all())
		f.out(t)
		if _, err := w.RunOnce(ctx, notify.Email); err != nil {
			t.Fatal(err)
		}
		second := len(box.all())
		box.mu.Lock()
		sessions := box.sessions
		box.mu.Unlock()
		if first < 2 || second <= first || sessions != 1 {
			t.Fatalf("%d then %d emails over %d connections, want two batches of at least two over 1", first, second-first, sessions)
		}
		// Nothing is due: Drain finds that and lets the connection go.
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		box.waitClosed(t, 1)
		if _, err := sqlstoretest.Door(db).ResendCode(ctx, f.associate, f.gbStop); err != nil {
			t.Fatal(err)
		}
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		box.mu.Lock()
		defer box.mu.Unlock()
		if len(box.msgs) <= second || box.sessions != 2 {
			t.Errorf("a third batch after an idle queue: %d emails over %d connections, want more than %d over 2", len(box.msgs), box.sessions, second)
		}
	})
}

// TestIdleWorkerLetsConnectionsGo runs the worker: once what was due is
// sent and a poll finds nothing more, it closes its SMTP connection, and
// no email is left behind.
func TestIdleWorkerLetsConnectionsGo(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		box, sb := startSMTP(t), startSMS(t)
		newFlow(t, db)
		w := &notify.Worker{Store: db, Senders: senders(t, box, sb), Now: db.Now, Poll: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.Run(rctx) }()
		box.waitClosed(t, 1)
		cancel()
		<-done
		if n := len(box.all()); n < 2 {
			t.Errorf("%d emails sent before the connection closed, want the queue's (at least 2)", n)
		}
		// Only the emails: the texts go out side by side on their own
		// connections and may still be on their way when the SMTP one closes.
		for _, e := range mustList(t, db, sqlstore.StatusPending) {
			if e.Channel == notify.Email {
				t.Errorf("email %s left pending after the SMTP connection closed", e.ID)
			}
		}
	})
}

// TestNoSendAfterTheLeaseIsLost stalls a worker past its lease right after
// the provider accepted its first message, and lets another node claim
// what is left (the first message too: the stalled worker had not marked
// it): the worker sends nothing more.
func TestNoSendAfterTheLeaseIsLost(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		sqlstoretest.QueueSMS(t, a, 3)
		var mu sync.Mutex // the clock is read by the worker's marks too
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		a.Now, b.Now = clock, clock
		p := &slowProvider{got: map[string]int{}}
		var taken []notify.Queued
		stall := &stallingProvider{slowProvider: p, stall: func() {
			mu.Lock()
			now = now.Add(2 * time.Minute)
			mu.Unlock()
			var err error
			if taken, err = b.ClaimNotifications(ctx, notify.SMS, 10, time.Minute); err != nil {
				t.Error(err)
			}
		}}
		w := &notify.Worker{Store: a, Senders: map[string]notify.Sender{notify.SMS: stall}, Now: clock, Log: slog.New(slog.DiscardHandler)}
		if n, err := w.RunOnce(ctx, notify.SMS); err != nil || n != 3 {
			t.Fatalf("claimed %d: %v", n, err)
		}
		if len(p.got) != 1 || len(taken) != 3 {
			t.Errorf("the stalled worker sent %d, the other node took over %d; want 1 and 3", len(p.got), len(taken))
		}
	})
}

// stallingProvider is a slowProvider that stalls once, after it accepts
// the first message.
type stallingProvider struct {
	*slowProvider
	stall func()
	once  sync.Once
}

func (p *stallingProvider) Send(ctx context.Context, m notify.Message) error {
	err := p.slowProvider.Send(ctx, m)
	if err == nil {
		p.once.Do(p.stall)
	}
	return err
}

// markCounter counts the worker's marks and tells each one.
type markCounter struct {
	notify.Store
	mu     sync.Mutex
	groups [][]string
	marked chan struct{}
}

func (m *markCounter) MarkSentAll(ctx context.Context, token string, ids []string) ([]string, error) {
	out, err := m.Store.MarkSentAll(ctx, token, ids)
	m.mu.Lock()
	m.groups = append(m.groups, ids)
	m.mu.Unlock()
	select {
	case m.marked <- struct{}{}:
	default:
	}
	return out, err
}

// gateProvider accepts every message at once, except that it holds the
// message numbered hold until release is closed.
type gateProvider struct {
	mu      sync.Mutex
	got     []string
	hold    int
	release chan struct{}
}

func (p *gateProvider) Name() string { return "gate" }

func (p *gateProvider) Send(ctx context.Context, m notify.Message) error {
	p.mu.Lock()
	n := len(p.got)
	p.mu.Unlock()
	if n == p.hold && p.release != nil {
		select {
		case <-p.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m.ID)
	return nil
}

// TestSentMessagesAreMarkedTogether: the messages of a claim that go out
// quickly are marked sent in one statement, not one each; and a message
// does not wait for the rest of its claim to be marked: while a later send
// hangs, the ones before it are marked.
func TestSentMessagesAreMarkedTogether(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		sqlstoretest.QueueSMS(t, db, 10)
		store := &markCounter{Store: db, marked: make(chan struct{}, 1)}
		p := &gateProvider{hold: -1}
		w := &notify.Worker{Store: store, Senders: map[string]notify.Sender{notify.SMS: p}, Log: slog.New(slog.DiscardHandler), Batch: 10}
		if n, err := w.RunOnce(ctx, notify.SMS); err != nil || n != 10 {
			t.Fatalf("claimed %d, %v; want 10", n, err)
		}
		if len(p.got) != 10 || len(store.groups) != 1 || len(store.groups[0]) != 10 {
			t.Fatalf("sent %d, marked in %d statements (%v); want 10 in one", len(p.got), len(store.groups), store.groups)
		}
		if left := len(mustList(t, db, sqlstore.StatusPending)); left != 0 {
			t.Errorf("%d messages left pending", left)
		}

		// The fourth send of the next claim hangs until the first three
		// are marked.
		sqlstoretest.QueueSMS(t, db, 6)
		store.groups, store.marked = nil, make(chan struct{}, 1)
		p = &gateProvider{hold: 3, release: make(chan struct{})}
		w.Senders = map[string]notify.Sender{notify.SMS: p}
		go func() {
			select {
			case <-store.marked:
			case <-time.After(time.Minute):
			}
			close(p.release)
		}()
		if n, err := w.RunOnce(ctx, notify.SMS); err != nil || n != 6 {
			t.Fatalf("claimed %d, %v; want 6", n, err)
		}
		if len(store.groups) < 2 || len(store.groups[0]) != 3 {
			t.Errorf("marked in groups %v; want the first three before the fourth was sent", store.groups)
		}
		if left := len(mustList(t, db, sqlstore.StatusPending)); left != 0 {
			t.Errorf("%d messages left pending", left)
		}
	})
}
