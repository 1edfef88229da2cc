package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/deliveryphoto"
	"github.com/handoff-dev/handoff/demo"
	"github.com/handoff-dev/handoff/door"
	"github.com/handoff-dev/handoff/egress"
	"github.com/handoff-dev/handoff/keydelivery"
	"github.com/handoff-dev/handoff/limit"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/observe"
	"github.com/handoff-dev/handoff/photo"
	"github.com/handoff-dev/handoff/shipperhooks"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/station"
	"github.com/handoff-dev/handoff/web"
	"github.com/klauspost/compress/gzhttp"
)

// writeTimeout bounds a request from its headers to the end of its
// response; a photo upload gets it on top of its read time.
const writeTimeout = 60 * time.Second

// app is the wired server, ready to serve.
type app struct {
	db       *sqlstore.DB
	stations *station.Service
	garages  *keydelivery.Service
	photos   *deliveryphoto.Service
	handler  http.Handler
	health   *observe.Health
	log      *slog.Logger
	worker   *notify.Worker
	// devOutbox is true when messages land on the /dev/outbox page.
	devOutbox bool
}

// build opens the store and keys and wires every part together.
func build(ctx context.Context, c *config, stderr io.Writer) (*app, error) {
	var h slog.Handler
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	} else {
		h = slog.NewTextHandler(stderr, opts)
	}
	log := slog.New(h)

	db, err := sqlstore.Open(ctx, dsnOf(c.DataDir, c.DB))
	if err != nil {
		return nil, err
	}
	keys, err := loadKeys(ctx, db, c.DataDir, c.SecretKeys, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	if c.DBMaxConns > 0 {
		db.SetMaxConns(c.DBMaxConns)
	}
	db.Log = log
	db.Keys = keys
	// Before this node signs a proof of delivery, every node can publish
	// its key.
	if err := db.PublishProofKeys(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.Policy = c.Policy
	blobs, err := c.Photos.store(ctx, c.DataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	log.Info("database ready", "engine", db.Engine)

	senders, dev, err := c.Channels.senders(log)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Shippers' webhooks always go to their own endpoints, dev outbox or not.
	private := c.Demo || getenvBool(c.AllowPrivateNetwork)
	garages := newGarages(db, keys, log, c.Policy.ContactHours, private, c.GarageStepDeadline)
	hooks := shipperhooks.New(db, c.Demo || getenvBool(c.AllowHTTPWebhooks), private)
	senders[notify.ShipperWebhook] = &notify.ShipperWebhooks{Resolve: db.ResolveWebhook, Client: egress.Client(15*time.Second, private)}
	publicURL := c.Channels.PublicURL
	if publicURL == "" {
		publicURL = "http://" + c.Addr
	}

	worker := &notify.Worker{Store: db, Senders: senders, Log: log, PublicURL: publicURL, Concurrency: c.SendConcurrency,
		Unseal: func(purpose, sealed string) ([]byte, error) { return keys.Open("message/"+purpose, sealed, nil) }}

	metrics := observe.NewMetrics()
	limits := photo.Limits{MaxBytes: c.Photos.MaxBytes, MaxPixels: c.Photos.MaxPixels}
	photos := deliveryphoto.New(db, blobs, limits, func() time.Time { return db.Now() }, log)
	doors := door.New(db, keys, blobs, limits, &db.Policy, func() time.Time { return db.Now() }, db.Today, log)
	doors.OnCodeCheck = metrics.CodeCheck
	worker.Observe = metrics.Message
	health := &observe.Health{Ping: db.Ping, Checks: []observe.Check{{Name: "database disk", Run: db.Writable}}}
	if dirs := c.localDirs(); len(dirs) > 0 {
		health.Checks = append(health.Checks, observe.Check{Name: "data disk", Run: diskRoom(dirs...)})
	}
	mux := http.NewServeMux()
	health.Register(mux)
	mux.Handle("GET /metrics", metrics.Handler())
	pace := limit.Pace{Read: c.ReadTimeout, Write: writeTimeout, MinRate: c.UploadMinRate}
	stations := station.NewService(db, db.Policy)
	(&api.Server{Principals: db, Settings: db, Shipments: db, Stations: stations, Doors: doors, Outbox: db, Bags: stations, Cases: db, Contacts: db, Photos: photos, Garages: garages, Webhooks: hooks, APIKeys: db, Proofs: db, Today: db.Today, AdminToken: c.AdminToken, Log: log, Pace: pace}).Register(mux)
	(&web.Server{Principals: db, Sessions: db, Contacts: db, Settings: db, Shipments: db, Stations: stations, Doors: doors, Today: db.Today,
		Recipients: db, Photos: photos, Garages: garages, Bags: stations, Cases: db, Webhooks: hooks, APIKeys: db, PublicURL: publicURL, DevOutbox: dev != nil, Keys: keys, TrustedProxies: c.TrustedProxies, Log: log, Pace: pace}).Register(mux)
	if dev != nil {
		mux.Handle("GET /dev/outbox", dev)
		log.Info("no email or SMS provider configured: messages go only to the dev outbox page, which answers only this machine at a loopback address",
			"path", "/dev/outbox")
	}
	gate := &limit.Gate{Max: c.MaxInFlight, Timeout: c.RequestTimeout, Pace: pace, Exempt: []string{"/healthz", "/readyz", "/metrics"},
		Refuse: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			api.WriteError(w, r, log, handoff.Errorf(handoff.EUNAVAILABLE, "The server is at its limit of requests; try again shortly."))
		})}
	return &app{db: db, stations: stations, garages: garages, photos: photos, handler: metrics.Middleware(log, gate.Handler(compress(mux))), health: health, log: log, worker: worker, devOutbox: dev != nil}, nil
}

// localDirs are the directories of local data the node writes: the SQLite
// database's and the photos', when they are on this machine.
func (c *config) localDirs() []string {
	var dirs []string
	if c.DB == "" {
		dirs = append(dirs, c.DataDir)
	}
	if c.Photos.S3.Endpoint == "" && c.Photos.Dir != "" {
		dirs = append(dirs, c.Photos.Dir)
	}
	return dirs
}

// serve runs the server until ctx ends, then drains: readiness fails first,
// the listener closes DrainDelay later, in-flight requests finish (up to
// ShutdownIn), and the database closes.
func serve(ctx context.Context, c *config, stdout, stderr io.Writer) error {
	if c.Demo && c.AdminToken == "" {
		c.AdminToken = "adm_" + auth.Random(32)
	}
	if c.MemoryLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(c.MemoryLimitMiB) << 20)
	}
	// Collecting at twice the live heap instead of Go's once cost 9 % less
	// CPU over a load-test day, for 15–30 MB more at the peak, which the
	// memory limit still bounds.
	if c.GCPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.GCPercent)
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	a, err := build(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer a.db.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	if c.Demo {
		seeded, err := demo.Ensure(ctx, a.db)
		if err != nil {
			ln.Close()
			return fmt.Errorf("seed demo: %w", err)
		}
		var day *demo.Day
		if len(seeded.Shipments) > 0 { // a fresh seed, not new credentials for an old one
			today := a.db.Today("GB")
			if day, err = demo.Stage(ctx, dayStore{a.stations, a.stations, a.garages}, seeded, today); err != nil {
				ln.Close()
				return fmt.Errorf("seed demo: %w", err)
			}
		}
		printDemo(stdout, base, c.AdminToken, seeded, day, a.devOutbox)
	} else {
		fmt.Fprintf(stdout, "handoff is listening on %s\n", base)
		if c.AdminToken == "" {
			a.log.Warn("HANDOFF_ADMIN_TOKEN is not set: the admin API is disabled")
		}
	}

	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Photo uploads move both deadlines by their size (limit.Pace).
		ReadTimeout:  c.ReadTimeout,
		WriteTimeout: writeTimeout,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	wctx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() { a.worker.Run(wctx); close(workerDone) }()
	go purgePhotos(wctx, a.photos, a.log, 10*time.Minute)
	go sweepGarages(wctx, a.garages, a.log, c.GarageSweep)
	go pruneRetained(wctx, a.db, a.log, time.Hour, c.Retention)
	defer func() { stopWorker(); <-workerDone }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Readiness fails first, while the listener still accepts, so that a
	// load balancer stops sending before connections are refused.
	a.health.Drain()
	a.log.Info("shutting down: not ready; closing the listener after the drain delay", "delay", c.DrainDelay)
	select {
	case <-time.After(c.DrainDelay):
	case err := <-errc:
		return err
	}
	a.log.Info("shutting down: finishing in-flight requests", "timeout", c.ShutdownIn)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownIn)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.log.Info("stopped")
	return nil
}

func printDemo(w io.Writer, base, adminToken string, s *demo.Seeded, day *demo.Day, devOutbox bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nhandoff demo is running at %s\n\n", base)
	fmt.Fprintf(&b, "Sign in at %s/signin with an account ID and password:\n", base)
	row := func(role string, a demo.Account) {
		if a.Principal == nil {
			return
		}
		fmt.Fprintf(&b, "  %-20s %-24s id %-22s password %s\n", role, a.Principal.Name, a.Principal.ID, a.Credentials.Password)
	}
	row("shipper", s.Shipper)
	row("station", s.Station)
	for _, a := range s.Associates {
		row("delivery associate", a)
	}
	row("customer service", s.Agent)
	if day != nil {
		fmt.Fprintf(&b, "\nDelivery day %s: parcels received at the station, %d bagged parcel(s) sealed", day.ServiceDate, day.Sealed)
		fmt.Fprintf(&b, ", route %s planned for %s (load the van in the associate app)", day.RouteID, s.Associates[0].Principal.Name)
		fmt.Fprintf(&b, ".\n")
		if day.Garage != "" {
			fmt.Fprintf(&b, "%s has a simulated garage with key delivery on.\n", day.Garage)
		}
	}
	fmt.Fprintf(&b, "\nRecipient portal: %s/portal (sign in with 07700 900123 or priya@example.com)\n", base)
	if devOutbox {
		fmt.Fprintf(&b, "Messages (dev outbox, no provider configured): %s/dev/outbox\n", base)
	}
	fmt.Fprintf(&b, "\nShipper API key: %s\n", s.Shipper.Credentials.APIKey)
	fmt.Fprintf(&b, "Admin token:     %s\n\n", adminToken)
	fmt.Fprintf(&b, "Try:\n  curl -H 'Authorization: Bearer %s' %s/v1/shipments\n", s.Shipper.Credentials.APIKey, base)
	fmt.Fprintf(&b, "  API description: %s/v1/openapi.json\n", base)
	fmt.Fprintf(&b, "\nThese credentials are shown only now; start with --demo again for new ones.\n\n")
	io.WriteString(w, b.String())
}

// compress serves pages, JSON and the OpenAPI document gzip-compressed to
// clients that accept it; images, already compressed, go as they are.
func compress(h http.Handler) http.Handler {
	wrap, err := gzhttp.NewWrapper(gzhttp.ExceptContentTypes([]string{"image/jpeg", "image/png", "image/webp", "image/gif"}))
	if err != nil {
		panic(err) // the options are fixed
	}
	return wrap(h)
}
