// Package garage talks to smart garage-door openers. Every adapter is a
// Device: read the door's state, open, close. The server never trusts a
// command's answer alone (OpenGarage's own documentation warns that success
// does not prove the door moved): Confirm polls the state until it is what
// was asked, within a bound. Timeouts and retries are bounded, and any doubt
// fails closed: an error means "do not proceed".
package garage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/handoff-dev/handoff/egress"
)

// State is a door's state as a device reports it.
type State string

// States.
const (
	Open    State = "open"
	Closed  State = "closed"
	Moving  State = "moving"
	Unknown State = "unknown"
)

// Device is one garage-door opener.
type Device interface {
	// State reads the door.
	State(ctx context.Context) (State, error)
	// Open asks the door to open; it does not wait for it.
	Open(ctx context.Context) error
	// Close asks the door to close; it does not wait for it.
	Close(ctx context.Context) error
}

// Checker is a Device that can tell whether its credentials are right
// without moving the door.
type Checker interface {
	CheckCredentials(ctx context.Context) error
}

// Kinds of device.
const (
	KindOpenGarage    = "opengarage"
	KindHomeAssistant = "homeassistant"
	KindSimulator     = "simulator"
)

// Config is what a recipient enters to connect a device. Secret fields are
// kept sealed at rest and never shown again.
type Config struct {
	Kind      string `json:"kind"`
	URL       string `json:"url,omitempty"`       // base URL of the device or Home Assistant
	DeviceKey string `json:"deviceKey,omitempty"` // OpenGarage's dkey (secret)
	Token     string `json:"token,omitempty"`     // Home Assistant long-lived token (secret)
	EntityID  string `json:"entityId,omitempty"`  // Home Assistant cover entity
	// SimulatorID names a simulated door (demos and tests).
	SimulatorID string `json:"simulatorId,omitempty"`
}

// Errors.
var (
	ErrConfig  = errors.New("garage: incomplete connection details")
	ErrTimeout = errors.New("garage: the door did not reach the state asked for in time")
)

// Timeouts bound every device call.
type Timeouts struct {
	Call    time.Duration // one HTTP call
	Retries int           // extra tries of a state read
	// AllowPrivate lets the server reach openers on loopback or private
	// addresses (tests, a server inside the recipient's own network);
	// otherwise a recipient's URL cannot point the server at its own network.
	AllowPrivate bool
}

// DefaultTimeouts are 5 seconds a call and two retries of reads.
var DefaultTimeouts = Timeouts{Call: 5 * time.Second, Retries: 2}

// New returns the Device a Config describes. sims resolves simulator IDs.
func New(c Config, t Timeouts, sims *Simulators) (Device, error) {
	client := egress.Client(t.Call, t.AllowPrivate)
	switch c.Kind {
	case KindOpenGarage:
		if c.URL == "" || c.DeviceKey == "" {
			return nil, fmt.Errorf("%w: OpenGarage needs its URL and device key", ErrConfig)
		}
		return &OpenGarage{BaseURL: c.URL, DeviceKey: c.DeviceKey, Client: client, Retries: t.Retries}, nil
	case KindHomeAssistant:
		if c.URL == "" || c.Token == "" || c.EntityID == "" {
			return nil, fmt.Errorf("%w: Home Assistant needs its URL, a token and the cover entity", ErrConfig)
		}
		return &HomeAssistant{BaseURL: c.URL, Token: c.Token, EntityID: c.EntityID, Client: client, Retries: t.Retries}, nil
	case KindSimulator:
		if sims == nil || c.SimulatorID == "" {
			return nil, fmt.Errorf("%w: no simulator", ErrConfig)
		}
		return sims.Get(c.SimulatorID), nil
	}
	return nil, fmt.Errorf("%w: unknown kind %q (opengarage, homeassistant or simulator)", ErrConfig, c.Kind)
}

// Confirm polls the door until it reads want, every interval, for at most
// within; ErrTimeout when it never does. Read errors count as "not yet".
func Confirm(ctx context.Context, d Device, want State, within, interval time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if s, err := d.State(ctx); err == nil && s == want {
			return nil
		}
		if time.Now().Add(interval).After(deadline) {
			return ErrTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
