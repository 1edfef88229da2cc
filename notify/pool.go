package notify

import (
	"context"
	"slices"
	"sync"
	"time"
)

// EndpointLimits bound how a node sends messages that go to many independent
// endpoints (shippers' webhooks), so that one that hangs or fails holds up
// only its own deliveries.
type EndpointLimits struct {
	Workers     int           // sends in flight on the node (default 16)
	PerEndpoint int           // sends in flight to one endpoint (default 2)
	BreakAfter  int           // failures in a row that pause an endpoint (default 5)
	CoolDown    time.Duration // how long a paused endpoint gets nothing (default 1 minute)
}

func (l *EndpointLimits) defaults() {
	if l.Workers <= 0 {
		l.Workers = 16
	}
	if l.PerEndpoint <= 0 {
		l.PerEndpoint = 2
	}
	if l.BreakAfter <= 0 {
		l.BreakAfter = 5
	}
	if l.CoolDown <= 0 {
		l.CoolDown = time.Minute
	}
}

// pool sends one channel's messages, each to the endpoint its To names,
// from up to Workers goroutines. A claimed message waits in its endpoint's
// queue for a free place; while an endpoint has a queue, is full or paused,
// claims leave its messages to other nodes. After BreakAfter failures in a
// row an endpoint is paused (a circuit breaker): its messages are put off
// until the cool-down ends without using an attempt, and then one send tries
// it again. Only the goroutine running run touches the pool's state.
type pool struct {
	w       *Worker
	channel string
	sender  Sender
	lim     EndpointLimits
	running int
	ends    map[string]*endpoint
	results chan result
}

type endpoint struct {
	inflight  int
	waiting   []waiting // claimed, oldest first
	fails     int       // in a row
	openUntil time.Time // paused until then
}

type waiting struct {
	c *claim
	i int
}

func (w waiting) q() Queued { return w.c.batch[w.i] }

type result struct {
	to  string
	err error
}

func newPool(w *Worker, channel string, s Sender) *pool {
	lim := w.Endpoints
	lim.defaults()
	return &pool{w: w, channel: channel, sender: s, lim: lim, ends: map[string]*endpoint{}, results: make(chan result, lim.Workers)}
}

// limit is how many sends an endpoint may have in flight: one while it is
// being tried again after a pause.
func (p *pool) limit(e *endpoint) int {
	if e.fails >= p.lim.BreakAfter {
		return 1
	}
	return p.lim.PerEndpoint
}

func (p *pool) end(to string) *endpoint {
	e, ok := p.ends[to]
	if !ok {
		e = &endpoint{}
		p.ends[to] = e
	}
	return e
}

// run sends until ctx ends, then waits for the sends in flight and gives
// back the messages still waiting.
func (p *pool) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		for to, e := range p.ends {
			p.giveBack(context.WithoutCancel(ctx), to, e, p.w.Now(), false)
		}
	}()
	t := time.NewTicker(p.w.Poll)
	defer t.Stop()
	for {
		for p.running < p.lim.Workers && ctx.Err() == nil {
			n, err := p.claim(ctx, &wg)
			if err != nil && ctx.Err() == nil {
				p.w.Log.Error("notification claim failed", "channel", p.channel, "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case r := <-p.results:
			p.finish(ctx, r)
			p.start(ctx, &wg)
		case <-t.C:
		}
	}
}

// claim claims as many messages as there are free places, queues them by
// endpoint and starts what it can. It returns how many it claimed.
func (p *pool) claim(ctx context.Context, wg *sync.WaitGroup) (int, error) {
	now := p.w.Now()
	var skip []string
	for to, e := range p.ends {
		if len(e.waiting) > 0 || e.inflight >= p.limit(e) || now.Before(e.openUntil) {
			skip = append(skip, to)
		}
	}
	batch, err := p.w.Store.ClaimNotifications(ctx, p.channel, min(p.lim.Workers-p.running, p.w.Batch), p.w.Lease, skip...)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	c := &claim{w: p.w, batch: batch, until: now.Add(p.w.Lease), done: map[string]bool{}}
	for i, q := range batch {
		e := p.end(q.To)
		e.waiting = append(e.waiting, waiting{c, i})
	}
	for to, e := range p.ends {
		if now.Before(e.openUntil) {
			p.giveBack(ctx, to, e, e.openUntil, true)
		}
	}
	p.start(ctx, wg)
	return len(batch), nil
}

// start starts the waiting messages that have a place, oldest first.
func (p *pool) start(ctx context.Context, wg *sync.WaitGroup) {
	for p.running < p.lim.Workers {
		var next *endpoint
		for _, e := range p.ends {
			if len(e.waiting) > 0 && e.inflight < p.limit(e) &&
				(next == nil || e.waiting[0].q().Created.Before(next.waiting[0].q().Created)) {
				next = e
			}
		}
		if next == nil {
			return
		}
		wt := next.waiting[0]
		next.waiting = next.waiting[1:]
		timeout, ok := wt.c.hold(ctx, wt.i)
		if !ok {
			continue
		}
		next.inflight++
		p.running++
		wg.Add(1)
		go func(q Queued) {
			defer wg.Done()
			p.results <- result{q.To, p.w.deliver(ctx, p.sender, q, timeout, nil)}
		}(wt.q())
	}
}

// finish settles the endpoint's account of a send: a success closes its
// breaker, a failure that may pass counts towards opening it. A definite
// refusal (4xx) shows the endpoint answers, and counts for nothing.
func (p *pool) finish(ctx context.Context, r result) {
	e := p.ends[r.to]
	e.inflight--
	p.running--
	switch {
	case r.err == nil:
		e.fails = 0
	case IsPermanent(r.err):
	default:
		e.fails++
		if e.fails >= p.lim.BreakAfter {
			now := p.w.Now()
			e.openUntil = now.Add(p.lim.CoolDown)
			p.giveBack(ctx, r.to, e, e.openUntil, true)
			n, err := p.w.Store.DeferRecipient(ctx, p.channel, r.to, e.openUntil)
			if err != nil {
				p.w.Log.Error("deliveries to a paused endpoint not put off", "channel", p.channel, "endpoint", r.to, "err", err)
			}
			for range n {
				p.w.observe(p.channel, "deferred")
			}
			p.w.Log.Warn("endpoint paused after failures in a row", "channel", p.channel, "endpoint", r.to, "failures", e.fails, "until", e.openUntil)
		}
	}
	if e.inflight == 0 && len(e.waiting) == 0 && e.fails == 0 {
		delete(p.ends, r.to)
	}
}

// giveBack releases the endpoint's waiting messages, due at until, without
// using their attempts; deferred says to count them as put off.
func (p *pool) giveBack(ctx context.Context, to string, e *endpoint, until time.Time, deferred bool) {
	for _, wt := range e.waiting {
		q := wt.q()
		wt.c.done[q.ID] = true
		if err := p.w.Store.ReleaseNotification(ctx, q.ID, q.Token, until); err != nil {
			p.w.Log.Warn("claimed message not given back; it goes when its lease ends", "message_id", q.ID, "endpoint", to, "err", err)
			continue
		}
		if deferred {
			p.w.observe(p.channel, "deferred")
		}
	}
	e.waiting = slices.Delete(e.waiting, 0, len(e.waiting))
}
