package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/handoff-dev/handoff/observe"
)

// This file is "handoff loadtest": it drives a running server through a
// delivery day of N parcels over its public API, as the people of the day
// would — the operator onboards shippers, stations and associates; shippers
// create labels (with idempotency keys, some sent twice); stations receive
// them and plan routes; associates load their vans, get wrong and right
// codes, ask for re-sends, deliver with and without a photo and record
// failed attempts — and reports, phase by phase, what each request cost the
// server. It only talks to the URL it is given (and listens, when asked, on
// the sink addresses where that server sends its messages).

// loadConfig is the load test's configuration.
type loadConfig struct {
	URL, AdminToken string
	URLs            []string // the nodes of URL, comma-separated there
	Parcels         int
	Concurrency     int
	Duration        time.Duration
	DrainTimeout    time.Duration
	RouteSize       int
	Stations        int
	Shippers        int
	OTPShare        float64       // recipients whose parcels need the passcode
	MultiShare      float64       // recipients who get two parcels
	WrongShare      float64       // passcode stops where a wrong code is entered first
	ResendShare     float64       // passcode stops where the code is re-sent
	FailShare       float64       // stops where the attempt fails
	PhotoShare      float64       // plain stops left at the porch with a photo
	ReplayShare     float64       // labels sent again with the same idempotency key
	WrongLimit      int           // the server's --wrong-code-limit
	SMSSink         string        // where the server's SMS webhook posts, when set
	SMTPSink        string        // where the server's SMTP sender connects, when set
	SinkLatency     time.Duration // how long the sinks take to answer each message, as a provider across a network does
	JSON            string        // file the report is written to
	Seed            uint64
}

func parseLoadtest(args []string, stderr io.Writer, getenv func(string) string) (*loadConfig, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &loadConfig{}
	fs.StringVar(&c.URL, "url", envOr(getenv, "HANDOFF_URL", "http://127.0.0.1:8080"), "base URL of the server to drive, or of each node of one deployment, comma-separated: requests go to each in turn (env HANDOFF_URL)")
	fs.StringVar(&c.AdminToken, "admin-token", getenv("HANDOFF_ADMIN_TOKEN"), "the server's admin token (env HANDOFF_ADMIN_TOKEN)")
	fs.IntVar(&c.Parcels, "parcels", 2000, "parcels in the day")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "requests in flight at most")
	fs.DurationVar(&c.Duration, "duration", time.Hour, "the whole run stops issuing requests after this")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 10*time.Minute, "how long to wait for the server to send its queued messages after a phase")
	fs.IntVar(&c.RouteSize, "route-size", 250, "parcels per route (at most 300)")
	fs.IntVar(&c.Stations, "stations", 2, "stations")
	fs.IntVar(&c.Shippers, "shippers", 4, "shippers")
	fs.Float64Var(&c.OTPShare, "otp-share", 0.5, "share of recipients whose parcels need the passcode")
	fs.Float64Var(&c.MultiShare, "multi-share", 0.2, "share of recipients who get two parcels")
	fs.Float64Var(&c.WrongShare, "wrong-share", 0.1, "share of passcode stops where a wrong code is entered before the right one")
	fs.Float64Var(&c.ResendShare, "resend-share", 0.05, "share of passcode stops where the associate has the code re-sent")
	fs.Float64Var(&c.FailShare, "fail-share", 0.03, "share of stops where nobody is in (a failed attempt)")
	fs.Float64Var(&c.PhotoShare, "photo-share", 0.5, "share of stops without a passcode left at the porch with a photo (the others are handed over)")
	fs.Float64Var(&c.ReplayShare, "replay-share", 0.01, "share of labels sent again with the same idempotency key")
	fs.IntVar(&c.WrongLimit, "wrong-code-limit", 10, "the server's --wrong-code-limit: each associate enters fewer wrong codes than this")
	fs.StringVar(&c.SMSSink, "sms-sink", "", "listen here for the server's SMS webhook (serve --sms-provider webhook --sms-webhook-url http://ADDR/sms) and read codes from it")
	fs.StringVar(&c.SMTPSink, "smtp-sink", "", "listen here as the server's SMTP server (serve --smtp-host/--smtp-port ADDR --smtp-tls none)")
	fs.DurationVar(&c.SinkLatency, "sink-latency", 0, "how long the sinks take to answer each message, as a provider across a network does (e.g. 100ms), to size --send-concurrency")
	fs.StringVar(&c.JSON, "json", "", "also write the report as JSON to this file")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed (0: from the clock)")
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("loadtest: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.AdminToken == "":
		return nil, errors.New("loadtest: --admin-token (or HANDOFF_ADMIN_TOKEN) is required")
	case c.Parcels < 1 || c.Concurrency < 1 || c.Stations < 1 || c.Shippers < 1 || c.WrongLimit < 1:
		return nil, errors.New("loadtest: --parcels, --concurrency, --stations, --shippers and --wrong-code-limit must be positive")
	case c.RouteSize < 2 || c.RouteSize > 300:
		return nil, errors.New("loadtest: --route-size must be 2 to 300")
	}
	for _, f := range []float64{c.OTPShare, c.MultiShare, c.WrongShare, c.ResendShare, c.FailShare, c.PhotoShare, c.ReplayShare} {
		if f < 0 || f > 1 {
			return nil, errors.New("loadtest: shares must be between 0 and 1")
		}
	}
	for u := range strings.SplitSeq(c.URL, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("loadtest: --url: %q is not an http(s) URL", u)
		}
		c.URLs = append(c.URLs, u)
	}
	if len(c.URLs) == 0 {
		return nil, errors.New("loadtest: --url: no URL given")
	}
	c.URL = strings.Join(c.URLs, ",")
	if len(c.URLs) > 1 && (c.SMSSink == "" || c.SMTPSink == "") {
		// Each node's dev outbox holds only the messages it sent.
		return nil, errors.New("loadtest: several nodes need --sms-sink and --smtp-sink, which every node sends to")
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c, nil
}

// account is a principal the load test created, with its API key.
type account struct {
	ID  string `json:"id"`
	Key string `json:"apiKey"`
}

// recipient is a person at an address who gets one or two parcels.
type recipient struct {
	n       int
	mobile  string
	email   string
	otp     bool
	shipper int
	station int
	parcels []string // tracking IDs, filled by the label phase
	labels  int
}

// ltStop is a stop of a planned route and what the day does there.
type ltStop struct {
	id      string
	da      *account
	rcpt    *recipient
	parcels []string
	wrong   bool // a wrong code first
	resend  bool
	fail    bool
	photo   bool
}

// ltRoute is a route the load test plans: its station, associate and
// recipients.
type ltRoute struct {
	station int
	da      *account
	rcpts   []*recipient
	id      string
	stops   []*ltStop
}

// loadtest is one run.
type loadtest struct {
	cfg *loadConfig
	out io.Writer
	// progress is told, while the run goes on, each phase's progress every
	// progressEvery and its outcome when it ends, so that a long day is not
	// silent until its report.
	progress io.Writer
	client   *http.Client
	rng      *rand.Rand
	run      string // distinguishes this run's recipients and keys from earlier runs'

	shippers, stations []account
	rcpts              []*recipient
	routes             []*ltRoute
	date               string
	codes              *codeBook
	photo              []byte
	turn               atomic.Uint64 // which node the next request goes to

	report loadReport
}

// phaseResult is what one phase cost.
type phaseResult struct {
	Name          string         `json:"name"`
	Requests      int            `json:"requests"`
	Seconds       float64        `json:"seconds"`
	PerSecond     float64        `json:"requestsPerSecond"`
	P50ms         float64        `json:"p50Ms"`
	P99ms         float64        `json:"p99Ms"`
	MaxMs         float64        `json:"maxMs"`
	Errors        map[string]int `json:"errors"`
	CPUSeconds    float64        `json:"serverCpuSeconds"`
	CPUPerRequest float64        `json:"serverCpuPerRequestUs"`
	Unit          string         `json:"unit,omitempty"`
	Units         int            `json:"units,omitempty"`
	CPUPerUnit    float64        `json:"serverCpuPerUnitUs,omitempty"`
	PeakRSSMB     float64        `json:"peakRssMb"`
	MessagesSent  int            `json:"messagesSent"`
	// Setup marks the onboarding of shippers, stations and associates,
	// which a carrier does once, not every day.
	Setup bool `json:"setup,omitempty"`
}

// setupPrefix begins the names of the onboarding phases.
const setupPrefix = "setup: "

// loadReport is the whole run's report.
type loadReport struct {
	URL          string         `json:"url"`
	Parcels      int            `json:"parcels"`
	Concurrency  int            `json:"concurrency"`
	Seed         uint64         `json:"seed"`
	Phases       []*phaseResult `json:"phases"`
	Seconds      float64        `json:"seconds"`
	CPUSeconds   float64        `json:"serverCpuSeconds"`
	CPUPerParcel float64        `json:"serverCpuPerParcelUs"`
	// The delivery day alone, labels to the last message sent: the CPU of
	// every phase but the onboarding.
	DayCPUSeconds   float64 `json:"deliveryDayCpuSeconds"`
	DayCPUPerParcel float64 `json:"deliveryDayCpuPerParcelUs"`
	PeakRSSMB       float64 `json:"peakRssMb"`
	Errors          int     `json:"errors"`
	Delivered       int     `json:"parcelsDelivered"`
	Failed          int     `json:"parcelsFailed"`
	NoCode          int     `json:"stopsWithoutCode"`
	Complete        bool    `json:"complete"` // every phase ran to its end
}

func loadtestCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := parseLoadtest(args, stderr, getenv)
	if err != nil {
		return err
	}
	lt := &loadtest{cfg: cfg, out: stdout, progress: stderr, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>1|1)), codes: newCodeBook(),
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2,
			IdleConnTimeout: time.Minute}}}
	lt.run = strconv.Itoa(10 + int(cfg.Seed%90))
	lt.report = loadReport{URL: cfg.URL, Parcels: cfg.Parcels, Concurrency: cfg.Concurrency, Seed: cfg.Seed}
	if lt.photo, err = samplePhoto(); err != nil {
		return err
	}
	lt.codes.latency = cfg.SinkLatency
	stopSinks, err := lt.codes.listen(cfg.SMSSink, cfg.SMTPSink)
	if err != nil {
		return err
	}
	defer stopSinks()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	runErr := lt.day(ctx)
	lt.report.Seconds = time.Since(start).Seconds()
	lt.report.Complete = runErr == nil
	lt.summarise()
	lt.print()
	if cfg.JSON != "" {
		b, _ := json.MarshalIndent(lt.report, "", "  ")
		if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return runErr
}

// day runs the phases in the order of a delivery day.
func (lt *loadtest) day(ctx context.Context) error {
	lt.plan()
	steps := []func(context.Context) error{lt.setup, lt.labels, lt.receive, lt.planRoutes, lt.load, lt.door}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("loadtest: stopped after --duration %s", lt.cfg.Duration)
		}
	}
	return nil
}

// plan draws the day: recipients, their parcels and stations, and the
// routes they go on.
func (lt *loadtest) plan() {
	c := lt.cfg
	for n := 0; lt.parcelCount() < c.Parcels; n++ {
		r := &recipient{n: n, mobile: fmt.Sprintf("+447%s%07d", lt.run, n), email: fmt.Sprintf("r%s-%d@example.com", lt.run, n), otp: lt.rng.Float64() < c.OTPShare,
			shipper: n % c.Shippers, station: n % c.Stations, labels: 1}
		if lt.rng.Float64() < c.MultiShare && lt.parcelCount()+2 <= c.Parcels {
			r.labels = 2
		}
		lt.rcpts = append(lt.rcpts, r)
	}
	for st := range c.Stations {
		var cur *ltRoute
		size := 0
		for _, r := range lt.rcpts {
			if r.station != st {
				continue
			}
			if cur == nil || size+r.labels > c.RouteSize {
				cur = &ltRoute{station: st}
				lt.routes = append(lt.routes, cur)
				size = 0
			}
			cur.rcpts = append(cur.rcpts, r)
			size += r.labels
		}
	}
}

func (lt *loadtest) parcelCount() int {
	n := 0
	for _, r := range lt.rcpts {
		n += r.labels
	}
	return n
}

// setup onboards the shippers (with secure delivery on), the stations and
// one associate per route.
func (lt *loadtest) setup(ctx context.Context) error {
	c := lt.cfg
	lt.shippers = make([]account, c.Shippers)
	lt.stations = make([]account, c.Stations)
	das := make([]account, len(lt.routes))
	n := c.Shippers + c.Stations
	lt.phase(ctx, setupPrefix+"shippers and stations", n, func(i int) *call {
		if i < c.Shippers {
			return &call{method: "POST", path: "/v1/admin/shippers", token: c.AdminToken, want: 201,
				body: jsonBody(map[string]any{"name": fmt.Sprintf("Loadtest shipper %s-%d", lt.run, i)}), into: &lt.shippers[i]}
		}
		i -= c.Shippers
		return &call{method: "POST", path: "/v1/admin/stations", token: c.AdminToken, want: 201,
			body: jsonBody(map[string]any{"name": fmt.Sprintf("Loadtest station %s-%d", lt.run, i), "marketplace": "GB"}), into: &lt.stations[i]}
	})
	lt.phase(ctx, setupPrefix+"associates", len(lt.routes), func(i int) *call {
		return &call{method: "POST", path: "/v1/admin/associates", token: c.AdminToken, want: 201,
			body: jsonBody(map[string]any{"name": fmt.Sprintf("Loadtest associate %s-%d", lt.run, i), "stationId": lt.stations[lt.routes[i].station].ID}), into: &das[i]}
	})
	for i, r := range lt.routes {
		r.da = &das[i]
	}
	on := map[string]any{"secureDelivery": map[string]any{"otpEnabled": true}}
	lt.phase(ctx, setupPrefix+"shipper settings", c.Shippers, func(i int) *call {
		return &call{method: "PATCH", path: "/v1/account/settings", token: lt.shippers[i].Key, want: 200, body: jsonBody(on)}
	})
	var today struct {
		ServiceDate string `json:"serviceDate"`
	}
	if _, err := lt.do(ctx, &call{method: "GET", path: "/v1/station/routes", token: lt.stations[0].Key, want: 200, into: &today}); err != nil {
		return fmt.Errorf("loadtest: setup: %w", err)
	}
	lt.date = today.ServiceDate
	for _, a := range slices.Concat(lt.shippers, lt.stations, das) {
		if a.Key == "" {
			return errors.New("loadtest: setup failed; see the errors above")
		}
	}
	return nil
}

// labels creates one label per parcel, each with its idempotency key, then
// sends a share of them again.
func (lt *loadtest) labels(ctx context.Context) error {
	type job struct {
		r *recipient
		k int
	}
	var jobs []job
	for _, r := range lt.rcpts {
		for k := range r.labels {
			jobs = append(jobs, job{r, k})
		}
	}
	var mu sync.Mutex
	bodies := make([][]byte, len(jobs))
	res := lt.phase(ctx, "labels", len(jobs), func(i int) *call {
		j := jobs[i]
		bodies[i] = lt.label(j.r, j.k)
		var out shipmentOut
		return &call{method: "POST", path: "/v1/shipments", token: lt.shippers[j.r.shipper].Key, want: 201, body: bodies[i],
			idemKey: fmt.Sprintf("lt-%s-%d-%d", lt.run, j.r.n, j.k), into: &out, after: func() {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range out.Packages {
					j.r.parcels = append(j.r.parcels, p.TrackingID)
				}
			}}
	})
	res.Unit, res.Units = "parcel", len(jobs)
	replays := int(float64(len(jobs)) * lt.cfg.ReplayShare)
	lt.phase(ctx, "label replays (same idempotency key)", replays, func(i int) *call {
		i = i * len(jobs) / max(replays, 1)
		j := jobs[i]
		return &call{method: "POST", path: "/v1/shipments", token: lt.shippers[j.r.shipper].Key, want: 201, body: bodies[i],
			idemKey: fmt.Sprintf("lt-%s-%d-%d", lt.run, j.r.n, j.k)}
	})
	return nil
}

type shipmentOut struct {
	Packages []struct {
		TrackingID string `json:"trackingId"`
	} `json:"packages"`
}

// label is the request body of a recipient's k-th label: above the GB
// threshold when the recipient's parcels need the passcode.
func (lt *loadtest) label(r *recipient, k int) []byte {
	value := "49.90"
	if r.otp {
		value = "349.00"
	}
	return jsonBody(map[string]any{
		"shipTo": map[string]any{"name": fmt.Sprintf("Recipient %d", r.n), "addressLine1": fmt.Sprintf("%d Load Street", r.n),
			"city": "London", "postalCode": fmt.Sprintf("E%d %dLT", r.n%20+1, r.n%9+1), "countryCode": "GB",
			"phoneNumber": r.mobile, "email": r.email},
		"shipFrom": map[string]any{"name": "Loadtest warehouse", "addressLine1": "1 Depot Way", "city": "Reading", "postalCode": "RG1 1AA", "countryCode": "GB"},
		"packages": []any{map[string]any{
			"packageClientReferenceId": fmt.Sprintf("lt-%d-%d", r.n, k),
			"insuredValue":             map[string]any{"value": json.Number(value), "unit": "GBP"},
			"weight":                   map[string]any{"value": 1.2, "unit": "KILOGRAM"},
			"items":                    []any{map[string]any{"description": "Goods", "quantity": 1, "category": "electronics"}},
		}},
	})
}

// receive has each parcel received at its station.
func (lt *loadtest) receive(ctx context.Context) error {
	type job struct {
		id      string
		station int
	}
	var jobs []job
	for _, r := range lt.rcpts {
		for _, id := range r.parcels {
			jobs = append(jobs, job{id, r.station})
		}
	}
	res := lt.phase(ctx, "receive", len(jobs), func(i int) *call {
		return &call{method: "POST", path: "/v1/station/parcels/" + jobs[i].id + "/receive", token: lt.stations[jobs[i].station].Key, want: 200}
	})
	res.Unit, res.Units = "parcel", len(jobs)
	lt.drain(ctx, "send: picked-up messages")
	return nil
}

// planRoutes plans every route at its station.
func (lt *loadtest) planRoutes(ctx context.Context) error {
	stops := make([][]ltStopOut, len(lt.routes))
	res := lt.phase(ctx, "plan routes", len(lt.routes), func(i int) *call {
		r := lt.routes[i]
		var ids []string
		for _, rc := range r.rcpts {
			ids = append(ids, rc.parcels...)
		}
		var out routeOut
		return &call{method: "POST", path: "/v1/station/routes", token: lt.stations[r.station].Key, want: 201,
			body: jsonBody(map[string]any{"associateId": r.da.ID, "serviceDate": lt.date, "trackingIds": ids}), into: &out,
			after: func() { r.id, stops[i] = out.RouteID, out.Stops }}
	})
	byParcel := map[string]*recipient{}
	for _, rc := range lt.rcpts {
		for _, id := range rc.parcels {
			byParcel[id] = rc
		}
	}
	n := 0
	for i, r := range lt.routes {
		for _, s := range stops[i] {
			st := &ltStop{id: s.StopID, da: r.da}
			for _, p := range s.Parcels {
				st.parcels = append(st.parcels, p.TrackingID)
				st.rcpt = byParcel[p.TrackingID]
			}
			if st.rcpt != nil {
				r.stops = append(r.stops, st)
			}
		}
		n += len(r.stops)
	}
	res.Unit, res.Units = "stop", n
	return nil
}

type routeOut struct {
	RouteID string      `json:"routeId"`
	Stops   []ltStopOut `json:"stops"`
}

type ltStopOut struct {
	StopID  string `json:"stopId"`
	Parcels []struct {
		TrackingID string `json:"trackingId"`
	} `json:"parcels"`
}

// load has each associate load their van; the day's codes go out, and the
// load test reads them where the server sends them.
func (lt *loadtest) load(ctx context.Context) error {
	stopPoll := lt.codes.poll(ctx, lt)
	defer stopPoll()
	res := lt.phase(ctx, "load vans", len(lt.routes), func(i int) *call {
		r := lt.routes[i]
		if r.id == "" {
			return nil
		}
		return &call{method: "POST", path: "/v1/associate/routes/" + r.id + "/load", token: r.da.Key, want: 200}
	})
	res.Unit, res.Units = "stop", lt.stopCount()
	lt.drain(ctx, "send: out-for-delivery messages with codes")
	return nil
}

func (lt *loadtest) stopCount() int {
	n := 0
	for _, r := range lt.routes {
		n += len(r.stops)
	}
	return n
}

// acrossRoutes lists the stops of routes a round at a time: each route's
// first stop, in the routes' order, then each one's second, and so on.
func acrossRoutes(routes []*ltRoute) []*ltStop {
	var out []*ltStop
	for i := 0; ; i++ {
		n := len(out)
		for _, r := range routes {
			if i < len(r.stops) {
				out = append(out, r.stops[i])
			}
		}
		if len(out) == n {
			return out
		}
	}
}

// door runs the associates' work at the doors, one kind of request per
// phase so that each is measured alone.
func (lt *loadtest) door(ctx context.Context) error {
	c := lt.cfg
	var otp, plain []*ltStop
	wrongs := map[*account]int{}
	// The stops are taken a round at a time: every route's first stop,
	// then every route's second, and so on, so that requests at once are
	// at different associates' doors, as in a day where each associate is
	// at one door at a time, rather than dozens at one associate's.
	for _, s := range acrossRoutes(lt.routes) {
		s.fail = lt.rng.Float64() < c.FailShare
		if !s.rcpt.otp {
			s.photo = !s.fail && lt.rng.Float64() < c.PhotoShare
			plain = append(plain, s)
			continue
		}
		otp = append(otp, s)
		if s.fail {
			continue
		}
		if _, ok := lt.codes.of(s.rcpt); !ok {
			lt.report.NoCode++
			s.fail = true // no code reached the recipient: nobody can give it
			continue
		}
		// An associate who enters too many wrong codes is locked; the
		// day keeps each under the limit.
		if lt.rng.Float64() < c.WrongShare && wrongs[s.da] < c.WrongLimit-1 {
			s.wrong = true
			wrongs[s.da]++
		}
		s.resend = lt.rng.Float64() < c.ResendShare
	}
	pick := func(from []*ltStop, keep func(*ltStop) bool) []*ltStop {
		var out []*ltStop
		for _, s := range from {
			if keep(s) {
				out = append(out, s)
			}
		}
		return out
	}
	wrong := pick(otp, func(s *ltStop) bool { return s.wrong })
	lt.phase(ctx, "wrong code", len(wrong), func(i int) *call {
		code, _ := lt.codes.of(wrong[i].rcpt)
		return lt.verify(wrong[i], wrongCode(code), 422)
	})
	resend := pick(otp, func(s *ltStop) bool { return s.resend })
	lt.phase(ctx, "resend code", len(resend), func(i int) *call {
		return &call{method: "POST", path: "/v1/associate/stops/" + resend[i].id + "/resend", token: resend[i].da.Key, want: 202}
	})
	right := pick(otp, func(s *ltStop) bool { return !s.fail })
	var delivered atomic.Int64
	lt.phase(ctx, "correct code", len(right), func(i int) *call {
		code, _ := lt.codes.of(right[i].rcpt)
		c := lt.verify(right[i], code, 200)
		c.after = func() { delivered.Add(int64(len(right[i].parcels))) }
		return c
	})
	photo := pick(plain, func(s *ltStop) bool { return s.photo })
	lt.phase(ctx, "deliver with photo", len(photo), func(i int) *call {
		c := lt.photoDelivery(photo[i])
		c.after = func() { delivered.Add(int64(len(photo[i].parcels))) }
		return c
	})
	hand := pick(plain, func(s *ltStop) bool { return !s.photo && !s.fail })
	lt.phase(ctx, "deliver in hand", len(hand), func(i int) *call {
		return &call{method: "POST", path: "/v1/associate/stops/" + hand[i].id + "/deliver", token: hand[i].da.Key, want: 200,
			body: jsonBody(map[string]any{"place": "DeliveredToCustomer"}), after: func() { delivered.Add(int64(len(hand[i].parcels))) }}
	})
	fail := pick(slices.Concat(otp, plain), func(s *ltStop) bool { return s.fail })
	var failed atomic.Int64
	lt.phase(ctx, "failed attempt", len(fail), func(i int) *call {
		return &call{method: "POST", path: "/v1/associate/stops/" + fail[i].id + "/attempt", token: fail[i].da.Key, want: 200,
			body: jsonBody(map[string]any{"reason": "CustomerUnavailable"}), after: func() { failed.Add(int64(len(fail[i].parcels))) }}
	})
	lt.drain(ctx, "send: delivered and failed-attempt messages")
	lt.report.Delivered, lt.report.Failed = int(delivered.Load()), int(failed.Load())
	return nil
}

func (lt *loadtest) verify(s *ltStop, code string, want int) *call {
	return &call{method: "POST", path: "/v1/associate/stops/" + s.id + "/verify", token: s.da.Key, want: want,
		body: jsonBody(map[string]any{"code": code})}
}

// wrongCode returns a well-formed code that is not code.
func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}

// photoDelivery is a delivery at the porch with a photo, as the app uploads
// it: a multipart form.
func (lt *loadtest) photoDelivery(s *ltStop) *call {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("place", "DeliveredToPorch")
	fw, _ := mw.CreateFormFile("photo", "porch.jpg")
	fw.Write(lt.photo)
	mw.Close()
	return &call{method: "POST", path: "/v1/associate/stops/" + s.id + "/deliver", token: s.da.Key, want: 200,
		body: b.Bytes(), contentType: mw.FormDataContentType()}
}

// call is one request of a phase.
type call struct {
	method, path, token string
	body                []byte
	contentType         string // application/json when empty and there is a body
	idemKey             string
	want                int
	into                any    // the answer is decoded into it when it has the wanted status
	after               func() // runs after into is filled
}

// do sends one request and returns its status; an answer with another
// status than wanted is an error.
func (lt *loadtest) do(ctx context.Context, c *call) (int, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, lt.node()+c.path, body)
	if err != nil {
		return 0, err
	}
	if c.body != nil {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.idemKey != "" {
		req.Header.Set("Idempotency-Key", c.idemKey)
	}
	res, err := lt.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != c.want {
		return res.StatusCode, fmt.Errorf("%s %s: HTTP %d: %.300s", c.method, c.path, res.StatusCode, b)
	}
	if c.into != nil {
		if err := json.Unmarshal(b, c.into); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", c.method, c.path, err)
		}
	}
	if c.after != nil {
		c.after()
	}
	return res.StatusCode, nil
}

// phase sends n requests, at most Concurrency at once, and records their
// latency and what they cost the server. next returns the i-th request, nil
// to skip it.
func (lt *loadtest) phase(ctx context.Context, name string, n int, next func(i int) *call) *phaseResult {
	res := &phaseResult{Name: name, Errors: map[string]int{}}
	lt.report.Phases = append(lt.report.Phases, res)
	if n == 0 || ctx.Err() != nil {
		return res
	}
	before := lt.scrape(ctx)
	peak := lt.watchRSS(ctx)
	start := time.Now()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		firstErr = map[string]bool{}
		idx      atomic.Int64
		wg       sync.WaitGroup
	)
	stopTicking := lt.tick(name, func() string {
		mu.Lock()
		done := len(lat)
		mu.Unlock()
		return fmt.Sprintf("%d of %d requests, %.0f/s", done, n, float64(done)/time.Since(start).Seconds())
	})
	for range min(lt.cfg.Concurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(idx.Add(1) - 1)
				if i >= n {
					return
				}
				c := next(i)
				if c == nil {
					continue
				}
				t := time.Now()
				status, err := lt.do(ctx, c)
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && ctx.Err() == nil {
					key := "transport"
					if status != 0 {
						key = strconv.Itoa(status)
					}
					res.Errors[key]++
					if !firstErr[key] {
						firstErr[key] = true
						fmt.Fprintf(lt.out, "  %s: %v\n", name, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	after := lt.scrape(ctx)
	res.PeakRSSMB = max(peak(), after.rss) / (1 << 20)
	res.Requests = len(lat)
	res.PerSecond = float64(len(lat)) / res.Seconds
	slices.Sort(lat)
	res.P50ms, res.P99ms, res.MaxMs = quantileMs(lat, 0.5), quantileMs(lat, 0.99), quantileMs(lat, 1)
	res.CPUSeconds = after.cpu - before.cpu
	if res.Requests > 0 {
		res.CPUPerRequest = res.CPUSeconds / float64(res.Requests) * 1e6
	}
	res.MessagesSent = int(after.sent - before.sent)
	stopTicking()
	lt.say("%s: %d requests in %.1fs, p99 %.0f ms, %.0f µs of server CPU each, %d errors", name, res.Requests, res.Seconds, res.P99ms, res.CPUPerRequest, errorCount(res.Errors))
	return res
}

// progressEvery is how often a phase in progress says how far it got.
const progressEvery = 10 * time.Second

// say writes one progress line.
func (lt *loadtest) say(format string, args ...any) {
	if lt.progress != nil {
		fmt.Fprintf(lt.progress, "loadtest: "+format+"\n", args...)
	}
}

// tick says how far the phase name got, as status tells, every
// progressEvery until the returned function is called.
func (lt *loadtest) tick(name string, status func() string) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				lt.say("%s: %s", name, status())
			}
		}
	}()
	return func() { close(done); <-ended }
}

func errorCount(errs map[string]int) int {
	n := 0
	for _, c := range errs {
		n += c
	}
	return n
}

func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// drain waits until the server has no message left to send (or
// --drain-timeout passes) and records that as a phase of its own: the
// server's CPU per message sent.
func (lt *loadtest) drain(ctx context.Context, name string) {
	if ctx.Err() != nil {
		return
	}
	res := &phaseResult{Name: name, Errors: map[string]int{}, Unit: "message"}
	lt.report.Phases = append(lt.report.Phases, res)
	before := lt.scrape(ctx)
	peak := lt.watchRSS(ctx)
	start := time.Now()
	deadline := start.Add(lt.cfg.DrainTimeout)
	var pending struct {
		Notifications []json.RawMessage `json:"notifications"`
	}
	var waiting atomic.Int64
	stopTicking := lt.tick(name, func() string {
		return fmt.Sprintf("%d messages sent, %d or more still waiting", int(lt.scrape(ctx).sent-before.sent), waiting.Load())
	})
	defer stopTicking()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pending.Notifications = nil
		if _, err := lt.do(ctx, &call{method: "GET", path: "/v1/admin/notifications?status=pending", token: lt.cfg.AdminToken, want: 200, into: &pending}); err != nil {
			res.Errors["transport"]++
		} else if len(pending.Notifications) == 0 {
			break
		}
		waiting.Store(int64(len(pending.Notifications)))
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if len(pending.Notifications) > 0 {
		res.Errors["still pending"] = len(pending.Notifications)
	}
	res.Seconds = time.Since(start).Seconds()
	after := lt.scrape(ctx)
	res.PeakRSSMB = max(peak(), after.rss) / (1 << 20)
	res.CPUSeconds = after.cpu - before.cpu
	res.MessagesSent = int(after.sent - before.sent)
	res.Units = res.MessagesSent
	if res.Units > 0 {
		res.CPUPerUnit = res.CPUSeconds / float64(res.Units) * 1e6
		res.PerSecond = float64(res.Units) / res.Seconds
	}
	lt.say("%s: %d messages in %.1fs, %.0f µs of server CPU each", name, res.MessagesSent, res.Seconds, res.CPUPerUnit)
}

// serverStats are the figures the load test reads from /metrics.
type serverStats struct {
	cpu, rss float64
	sent     float64 // messages handed to a provider
}

// scrape reads the server's process CPU, resident memory and messages
// sent from its Prometheus metrics.
// node returns the base URL of the node the next request goes to: each in
// turn.
func (lt *loadtest) node() string {
	urls := lt.cfg.URLs
	if len(urls) == 1 {
		return urls[0]
	}
	return urls[int(lt.turn.Add(1)%uint64(len(urls)))]
}

// scrape reads the servers' metrics: the CPU and the messages sent of all
// nodes together, and the resident memory of the largest.
func (lt *loadtest) scrape(ctx context.Context) serverStats {
	var s serverStats
	for _, u := range lt.cfg.URLs {
		n := scrapeNode(ctx, lt.client, u)
		s.cpu += n.cpu
		s.sent += n.sent
		s.rss = max(s.rss, n.rss)
	}
	return s
}

// scrapeNode reads one node's metrics.
func scrapeNode(ctx context.Context, client *http.Client, base string) serverStats {
	var s serverStats
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "GET", base+"/metrics", nil)
	res, err := client.Do(req)
	if err != nil {
		return s
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	fine := false // the CPU to the microsecond was read: it wins over the 10 ms ticks
	for line := range strings.Lines(string(b)) {
		name, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch {
		case name == observe.CPUMetric:
			s.cpu, fine = v, true
		case name == "process_cpu_seconds_total" && !fine:
			s.cpu = v
		case name == "process_resident_memory_bytes":
			s.rss = v
		case strings.HasPrefix(name, "handoff_notifications_total{") && strings.Contains(name, `outcome="sent"`):
			s.sent += v
		}
	}
	return s
}

// watchRSS samples the server's resident memory until the returned
// function is called, which returns the highest sample.
func (lt *loadtest) watchRSS(ctx context.Context) func() float64 {
	var peak atomic.Uint64
	stop := every(ctx, 500*time.Millisecond, func() {
		if r := uint64(lt.scrape(ctx).rss); r > peak.Load() {
			peak.Store(r)
		}
	})
	return func() float64 { stop(); return float64(peak.Load()) }
}

// every runs fn every d until ctx ends or the returned function is called,
// which returns once fn has run a last time.
func every(ctx context.Context, d time.Duration, fn func()) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				fn()
				return
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// summarise adds up the day.
func (lt *loadtest) summarise() {
	r := &lt.report
	for _, p := range r.Phases {
		if p.Unit != "" && p.Units > 0 && p.CPUPerUnit == 0 {
			p.CPUPerUnit = p.CPUSeconds / float64(p.Units) * 1e6
		}
		r.CPUSeconds += p.CPUSeconds
		if p.Setup = strings.HasPrefix(p.Name, setupPrefix); !p.Setup {
			r.DayCPUSeconds += p.CPUSeconds
		}
		r.PeakRSSMB = max(r.PeakRSSMB, p.PeakRSSMB)
		for _, n := range p.Errors {
			r.Errors += n
		}
	}
	if r.Parcels > 0 {
		r.CPUPerParcel = r.CPUSeconds / float64(r.Parcels) * 1e6
		r.DayCPUPerParcel = r.DayCPUSeconds / float64(r.Parcels) * 1e6
	}
}

// print writes the report as a table.
func (lt *loadtest) print() {
	r := lt.report
	w := lt.out
	fmt.Fprintf(w, "\nhandoff loadtest: %d parcels against %s, %d at once (seed %d)\n\n", r.Parcels, r.URL, r.Concurrency, r.Seed)
	fmt.Fprintf(w, "%-44s %8s %8s %9s %9s %9s %10s %12s %10s %6s %6s  %s\n",
		"phase", "requests", "req/s", "p50", "p99", "max", "cpu/req", "cpu/unit", "sent", "rss", "secs", "errors")
	for _, p := range r.Phases {
		perUnit := ""
		if p.Unit != "" && p.Units > 0 {
			perUnit = fmt.Sprintf("%.0fµs/%s", p.CPUPerUnit, p.Unit)
		}
		perReq := ""
		if p.Requests > 0 {
			perReq = fmt.Sprintf("%.0fµs", p.CPUPerRequest)
		}
		errs := "-"
		if len(p.Errors) > 0 {
			var parts []string
			for k, n := range p.Errors {
				parts = append(parts, fmt.Sprintf("%s×%d", k, n))
			}
			slices.Sort(parts)
			errs = strings.Join(parts, " ")
		}
		fmt.Fprintf(w, "%-44s %8d %8.0f %7.1fms %7.1fms %7.1fms %10s %12s %10d %4.0fMB %6.1f  %s\n",
			p.Name, p.Requests, p.PerSecond, p.P50ms, p.P99ms, p.MaxMs, perReq, perUnit, p.MessagesSent, p.PeakRSSMB, p.Seconds, errs)
	}
	fmt.Fprintf(w, "\nday: %.1fs, server CPU %.1fs = %.0fµs per parcel, peak RSS %.0f MB; %d parcels delivered, %d failed attempts, %d stops without a code, %d errors\n",
		r.Seconds, r.CPUSeconds, r.CPUPerParcel, r.PeakRSSMB, r.Delivered, r.Failed, r.NoCode, r.Errors)
	fmt.Fprintf(w, "delivery day (labels to the last message, without the onboarding): server CPU %.1fs = %.0fµs per parcel\n",
		r.DayCPUSeconds, r.DayCPUPerParcel)
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
