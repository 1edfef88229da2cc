package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/sqlstore"
)

// config is the server's configuration, from flags with environment fallbacks.
type config struct {
	Addr       string
	DataDir    string
	DB         string
	Demo       bool
	AdminToken string
	SecretKeys string
	LogFormat  string
	LogLevel   slog.Level
	ShutdownIn time.Duration
	// ReadTimeout bounds reading a request; UploadMinRate (bytes per second)
	// extends it for a photo upload by its size.
	ReadTimeout   time.Duration
	UploadMinRate int64
	// MaxInFlight bounds the requests served at once (more are refused
	// 503); RequestTimeout is each one's deadline; DBMaxConns sizes the
	// database pool (0: the engine's default); DrainDelay is how long
	// readiness fails before the listener closes on SIGTERM.
	MaxInFlight int
	// SendConcurrency is how many texts, and how many emails, a node sends
	// at once (the notify worker's Concurrency).
	SendConcurrency int
	// MemoryLimitMiB is the Go runtime's soft memory limit in MiB (0: none;
	// GOMEMLIMIT, when set, wins).
	MemoryLimitMiB int
	// GCPercent is the Go collector's GOGC (GOGC, when set, wins).
	GCPercent int
	// CPUProfile, when set, is where the server writes a CPU profile of
	// its whole run when it stops.
	CPUProfile     string
	RequestTimeout time.Duration
	DBMaxConns     int
	DrainDelay     time.Duration
	// GarageSweep is how often the garage sweeper runs; GarageStepDeadline,
	// when positive, how long a node may drive one door step before the
	// sweeper takes it over (0: derived from the device timeouts).
	GarageSweep        time.Duration
	GarageStepDeadline time.Duration
	Policy             handoff.Policy
	Channels           channelConfig
	Photos             photoConfig
	Retention          sqlstore.Retention
	// AllowHTTPWebhooks is HANDOFF_ALLOW_HTTP_WEBHOOKS: shippers may register
	// plain-http webhook endpoints (always allowed with --demo).
	AllowHTTPWebhooks string
	// AllowPrivateNetwork is HANDOFF_ALLOW_PRIVATE_NETWORK: webhooks and
	// garage openers may be on loopback or private addresses (a server
	// inside the network it serves; always allowed with --demo).
	AllowPrivateNetwork string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client (--trusted-proxies, HANDOFF_TRUSTED_PROXIES); none by default.
	TrustedProxies []netip.Prefix
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func parseServe(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.Addr, "addr", envOr(getenv, "HANDOFF_ADDR", "127.0.0.1:8080"), "listen address (env HANDOFF_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", envOr(getenv, "HANDOFF_DATA_DIR", "./handoff-data"), "data directory: SQLite file, secret keys, local outbox (env HANDOFF_DATA_DIR)")
	fs.StringVar(&c.DB, "db", getenv("HANDOFF_DB"), "database: empty for SQLite in the data dir, or a postgres:// URL (env HANDOFF_DB)")
	fs.BoolVar(&c.Demo, "demo", false, "seed a demo shipper, station, associates and parcels, and print how to sign in")
	fs.StringVar(&c.LogFormat, "log-format", envOr(getenv, "HANDOFF_LOG_FORMAT", "text"), "log format: text or json (env HANDOFF_LOG_FORMAT)")
	level := fs.String("log-level", envOr(getenv, "HANDOFF_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env HANDOFF_LOG_LEVEL)")
	c.Channels.flags(fs, getenv)
	c.Photos.flags(fs, getenv)
	var retention retentionConfig
	retention.flags(fs, getenv)
	c.Policy = handoff.DefaultPolicy()
	hours := fs.String("contact-hours", envOr(getenv, "HANDOFF_CONTACT_HOURS", c.Policy.ContactHours.String()), "local hours OTP stops should be planned in (env HANDOFF_CONTACT_HOURS)")
	days := fs.String("working-days", envOr(getenv, "HANDOFF_WORKING_DAYS", c.Policy.WorkingDays.String()), "days parcels go out (env HANDOFF_WORKING_DAYS)")
	fs.IntVar(&c.Policy.MaxFailedDays, "max-failed-days", c.Policy.MaxFailedDays, "failed delivery days before a parcel goes back to the shipper")
	fs.IntVar(&c.Policy.WrongCodeLimit, "wrong-code-limit", c.Policy.WrongCodeLimit, "wrong passcodes per associate per window before their checks lock")
	fs.DurationVar(&c.Policy.WrongCodeWindow, "wrong-code-window", c.Policy.WrongCodeWindow, "the window of --wrong-code-limit")
	proxies := fs.String("trusted-proxies", getenv("HANDOFF_TRUSTED_PROXIES"), "comma-separated addresses or CIDR prefixes of the reverse proxies whose X-Forwarded-For is believed (env HANDOFF_TRUSTED_PROXIES)")
	fs.DurationVar(&c.ShutdownIn, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 30*time.Second, "time to read a request, headers and body (env HANDOFF_READ_TIMEOUT); a photo upload gets more by its size")
	fs.Int64Var(&c.UploadMinRate, "upload-min-rate", 16<<10, "slowest photo upload let through, in bytes per second: an upload may take --read-timeout plus its size at this rate (env HANDOFF_UPLOAD_MIN_RATE)")
	fs.IntVar(&c.MemoryLimitMiB, "memory-limit", 160, "soft memory limit of the Go heap in MiB, which the collector works to keep under so that garbage of a busy moment does not stay resident; 0 for none, GOMEMLIMIT wins when set (env HANDOFF_MEMORY_LIMIT)")
	fs.IntVar(&c.GCPercent, "gc-percent", 400, "how far the Go heap grows past what is live before the collector runs again, in percent; 0 for Go's default of 100; --memory-limit caps the heap either way, GOGC wins when set (env HANDOFF_GC_PERCENT)")
	fs.StringVar(&c.CPUProfile, "cpu-profile", "", "write a CPU profile of the server's run to this file when it stops, to see where its time goes under a load test (go tool pprof reads it)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 128, "requests served at once; more are answered 503 with Retry-After (env HANDOFF_MAX_IN_FLIGHT)")
	fs.IntVar(&c.SendConcurrency, "send-concurrency", 32, "texts, and emails, a node sends at once, each waiting for its provider's answer; a recipient's messages still go one after another (env HANDOFF_SEND_CONCURRENCY)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 30*time.Second, "deadline of a request's work, database waits included; past it the answer is 503 (env HANDOFF_REQUEST_TIMEOUT)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", 0, "database connections per node; 0 for 8 on SQLite, 32 on PostgreSQL (env HANDOFF_DB_MAX_CONNS)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 5*time.Second, "on SIGTERM, how long /readyz fails while requests are still served, before the listener closes (env HANDOFF_DRAIN_DELAY)")
	fs.DurationVar(&c.GarageSweep, "garage-sweep-interval", 30*time.Second, "how often garage grants past their time or step deadline are settled (env HANDOFF_GARAGE_SWEEP_INTERVAL)")
	fs.DurationVar(&c.GarageStepDeadline, "garage-step-deadline", 0, "how long a node may drive one garage door step before the sweeper reads the door and takes over; 0 derives it from the device timeouts (2m20s) (env HANDOFF_GARAGE_STEP_DEADLINE)")
	if err := setFromEnv(fs, getenv); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errUsage
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Policy.ContactHours, err = route.ParseHours(*hours); err != nil {
		return nil, fmt.Errorf("--contact-hours: %w", err)
	}
	if c.Policy.WorkingDays, err = route.ParseWorkingDays(*days); err != nil {
		return nil, fmt.Errorf("--working-days: %w", err)
	}
	c.Policy.PhotoRetention = time.Duration(c.Photos.RetentionDays) * 24 * time.Hour
	if c.Photos.RetentionDays < 1 || c.Photos.MaxBytes < 1 || c.Photos.MaxPixels < 1 {
		return nil, errors.New("--photo-retention-days, --photo-max-bytes and --photo-max-pixels must be positive")
	}
	if c.ReadTimeout <= 0 || c.UploadMinRate < 1 || c.MaxInFlight < 1 || c.RequestTimeout <= 0 || c.SendConcurrency < 1 {
		return nil, errors.New("--read-timeout, --upload-min-rate, --max-in-flight, --request-timeout and --send-concurrency must be positive")
	}
	if c.DBMaxConns < 0 || c.DrainDelay < 0 || c.GarageStepDeadline < 0 || c.MemoryLimitMiB < 0 || c.GCPercent < 0 {
		return nil, errors.New("--db-max-conns, --drain-delay, --garage-step-deadline, --memory-limit and --gc-percent must not be negative")
	}
	if c.GarageSweep <= 0 {
		return nil, errors.New("--garage-sweep-interval must be positive")
	}
	if c.Policy.MaxFailedDays < 1 || c.Policy.WrongCodeLimit < 1 || c.Policy.WrongCodeWindow <= 0 {
		return nil, errors.New("--max-failed-days, --wrong-code-limit and --wrong-code-window must be positive")
	}
	if c.TrustedProxies, err = parsePrefixes(*proxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.Retention, err = retention.retention(); err != nil {
		return nil, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("--log-format must be text or json")
	}
	c.AdminToken = getenv("HANDOFF_ADMIN_TOKEN")
	c.SecretKeys = getenv("HANDOFF_SECRET_KEYS")
	c.AllowHTTPWebhooks = getenv("HANDOFF_ALLOW_HTTP_WEBHOOKS")
	c.AllowPrivateNetwork = getenv("HANDOFF_ALLOW_PRIVATE_NETWORK")
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return nil, errors.New("HANDOFF_ADMIN_TOKEN must be at least 16 characters")
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return nil, errors.New("--db must be empty (SQLite in the data dir) or a postgres:// URL")
	}
	return c, nil
}

// envFlags are the flags whose environment fallback is set through the
// flag itself, so that a malformed value is refused, naming the variable,
// rather than silently replaced by the default.
var envFlags = []struct{ flag, env string }{
	{"read-timeout", "HANDOFF_READ_TIMEOUT"},
	{"upload-min-rate", "HANDOFF_UPLOAD_MIN_RATE"},
	{"max-in-flight", "HANDOFF_MAX_IN_FLIGHT"},
	{"send-concurrency", "HANDOFF_SEND_CONCURRENCY"},
	{"memory-limit", "HANDOFF_MEMORY_LIMIT"},
	{"gc-percent", "HANDOFF_GC_PERCENT"},
	{"request-timeout", "HANDOFF_REQUEST_TIMEOUT"},
	{"db-max-conns", "HANDOFF_DB_MAX_CONNS"},
	{"drain-delay", "HANDOFF_DRAIN_DELAY"},
	{"garage-sweep-interval", "HANDOFF_GARAGE_SWEEP_INTERVAL"},
	{"garage-step-deadline", "HANDOFF_GARAGE_STEP_DEADLINE"},
}

// setFromEnv sets each of envFlags from its variable when that is set;
// flags given on the command line, parsed afterwards, win.
func setFromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	for _, f := range envFlags {
		if v := getenv(f.env); v != "" {
			if err := fs.Set(f.flag, v); err != nil {
				return fmt.Errorf("%s: %w", f.env, err)
			}
		}
	}
	return nil
}

// parsePrefixes reads a comma-separated list of addresses (each its own
// prefix) and CIDR prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// getenvBool reads a boolean setting: 1, true, yes or on.
func getenvBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
