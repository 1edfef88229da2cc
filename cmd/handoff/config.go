package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/handoff-dev/handoff/keyring"
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
	Policy     sqlstore.Policy
	Channels   channelConfig
	Photos     photoConfig
	Retention  sqlstore.Retention
	// AllowHTTPWebhooks is HANDOFF_ALLOW_HTTP_WEBHOOKS: shippers may register
	// plain-http webhook endpoints (always allowed with --demo).
	AllowHTTPWebhooks string
	// AllowPrivateNetwork is HANDOFF_ALLOW_PRIVATE_NETWORK: webhooks and
	// garage openers may be on loopback or private addresses (a server
	// inside the network it serves; always allowed with --demo).
	AllowPrivateNetwork string
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
	c.Policy = sqlstore.DefaultPolicy()
	hours := fs.String("contact-hours", envOr(getenv, "HANDOFF_CONTACT_HOURS", c.Policy.ContactHours.String()), "local hours OTP stops should be planned in (env HANDOFF_CONTACT_HOURS)")
	days := fs.String("working-days", envOr(getenv, "HANDOFF_WORKING_DAYS", c.Policy.WorkingDays.String()), "days parcels go out (env HANDOFF_WORKING_DAYS)")
	fs.IntVar(&c.Policy.MaxFailedDays, "max-failed-days", c.Policy.MaxFailedDays, "failed delivery days before a parcel goes back to the shipper")
	fs.IntVar(&c.Policy.WrongCodeLimit, "wrong-code-limit", c.Policy.WrongCodeLimit, "wrong passcodes per associate per window before their checks lock")
	fs.DurationVar(&c.Policy.WrongCodeWindow, "wrong-code-window", c.Policy.WrongCodeWindow, "the window of --wrong-code-limit")
	fs.DurationVar(&c.ShutdownIn, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on SIGTERM")
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
	if c.Policy.MaxFailedDays < 1 || c.Policy.WrongCodeLimit < 1 || c.Policy.WrongCodeWindow <= 0 {
		return nil, errors.New("--max-failed-days, --wrong-code-limit and --wrong-code-window must be positive")
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

func rotateKeys(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", envOr(getenv, "HANDOFF_DATA_DIR", "./handoff-data"), "data directory holding keys.json")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if getenv("HANDOFF_SECRET_KEYS") != "" {
		return errors.New("keys come from HANDOFF_SECRET_KEYS here: rotate by putting a new id:base64 key first in that list")
	}
	r, _, err := keyring.LoadOrCreate(*dir, time.Now())
	if err != nil {
		return err
	}
	k := r.Rotate(time.Now())
	if err := r.Save(*dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new active key %s; older keys (%s) are kept to open what they sealed\n", k.ID, strings.Join(r.IDs()[1:], ", "))
	return nil
}

// getenvBool reads a boolean setting: 1, true, yes or on.
func getenvBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
