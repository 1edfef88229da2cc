package garage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OpenGarage speaks the OpenGarage HTTP API: GET /jc for the controller's
// state ("door": 0 closed, 1 open), GET /cc?dkey=…&open=1 or &close=1 to act.
type OpenGarage struct {
	BaseURL   string
	DeviceKey string
	Client    *http.Client
	Retries   int
}

func getJSON(ctx context.Context, c *http.Client, u string, hdr http.Header, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("garage: HTTP %d", res.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(v)
}

// retry runs f up to 1+n times while it fails and ctx lives.
func retry(ctx context.Context, n int, f func() error) error {
	var err error
	for i := 0; i <= n; i++ {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	return err
}

// State implements Device.
func (o *OpenGarage) State(ctx context.Context) (State, error) {
	var jc struct {
		Door *int `json:"door"`
	}
	err := retry(ctx, o.Retries, func() error {
		return getJSON(ctx, o.Client, strings.TrimRight(o.BaseURL, "/")+"/jc", nil, &jc)
	})
	if err != nil {
		return Unknown, fmt.Errorf("opengarage: %w", err)
	}
	switch {
	case jc.Door == nil:
		return Unknown, fmt.Errorf("opengarage: no door state")
	case *jc.Door == 0:
		return Closed, nil
	case *jc.Door == 1:
		return Open, nil
	}
	return Unknown, nil
}

func (o *OpenGarage) command(ctx context.Context, action string) error {
	q := url.Values{"dkey": {o.DeviceKey}, action: {"1"}}
	var res struct {
		Result int `json:"result"`
	}
	if err := getJSON(ctx, o.Client, strings.TrimRight(o.BaseURL, "/")+"/cc?"+q.Encode(), nil, &res); err != nil {
		// The URL holds the device key: never let it into an error.
		return fmt.Errorf("opengarage %s: %s", action, scrub(err, o.DeviceKey))
	}
	if res.Result != 1 {
		return fmt.Errorf("opengarage %s: refused (result %d)", action, res.Result)
	}
	return nil
}

// Open implements Device.
func (o *OpenGarage) Open(ctx context.Context) error { return o.command(ctx, "open") }

// CheckCredentials implements Checker: /jc answers anyone, so only /cc with
// the key and no action tells whether the key is right.
func (o *OpenGarage) CheckCredentials(ctx context.Context) error {
	q := url.Values{"dkey": {o.DeviceKey}}
	var res struct {
		Result int `json:"result"`
	}
	if err := getJSON(ctx, o.Client, strings.TrimRight(o.BaseURL, "/")+"/cc?"+q.Encode(), nil, &res); err != nil {
		return fmt.Errorf("opengarage: %s", scrub(err, o.DeviceKey))
	}
	if res.Result != 1 {
		return fmt.Errorf("opengarage: the device key was refused")
	}
	return nil
}

// Close implements Device.
func (o *OpenGarage) Close(ctx context.Context) error { return o.command(ctx, "close") }

// scrub removes a secret from an error's text.
func scrub(err error, secret string) string {
	s := err.Error()
	if secret != "" {
		s = strings.ReplaceAll(s, url.QueryEscape(secret), "…")
		s = strings.ReplaceAll(s, secret, "…")
	}
	return s
}

// HomeAssistant speaks Home Assistant's REST API for a cover entity:
// GET /api/states/<entity> for the state, POST /api/services/cover/open_cover
// or close_cover with {"entity_id": …} to act, bearer token.
type HomeAssistant struct {
	BaseURL  string
	Token    string
	EntityID string
	Client   *http.Client
	Retries  int
}

func (h *HomeAssistant) auth() http.Header {
	return http.Header{"Authorization": {"Bearer " + h.Token}, "Content-Type": {"application/json"}}
}

// State implements Device.
func (h *HomeAssistant) State(ctx context.Context) (State, error) {
	var st struct {
		State string `json:"state"`
	}
	err := retry(ctx, h.Retries, func() error {
		return getJSON(ctx, h.Client, strings.TrimRight(h.BaseURL, "/")+"/api/states/"+url.PathEscape(h.EntityID), h.auth(), &st)
	})
	if err != nil {
		return Unknown, fmt.Errorf("homeassistant: %s", scrub(err, h.Token))
	}
	switch st.State {
	case "open":
		return Open, nil
	case "closed":
		return Closed, nil
	case "opening", "closing":
		return Moving, nil
	}
	return Unknown, nil
}

func (h *HomeAssistant) service(ctx context.Context, name string) error {
	body, _ := json.Marshal(map[string]string{"entity_id": h.EntityID})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(h.BaseURL, "/")+"/api/services/cover/"+name, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h.auth()
	res, err := h.Client.Do(req)
	if err != nil {
		return fmt.Errorf("homeassistant %s: %s", name, scrub(err, h.Token))
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("homeassistant %s: HTTP %d", name, res.StatusCode)
	}
	return nil
}

// Open implements Device.
func (h *HomeAssistant) Open(ctx context.Context) error { return h.service(ctx, "open_cover") }

// Close implements Device.
func (h *HomeAssistant) Close(ctx context.Context) error { return h.service(ctx, "close_cover") }

// Simulators holds the simulated doors of this process, for demos and tests.
type Simulators struct {
	mu    sync.Mutex
	doors map[string]*Simulator
}

// NewSimulators returns an empty set.
func NewSimulators() *Simulators { return &Simulators{doors: map[string]*Simulator{}} }

// Get returns the simulated door of an ID, creating it closed.
func (s *Simulators) Get(id string) *Simulator {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.doors[id]
	if !ok {
		d = &Simulator{state: Closed}
		s.doors[id] = d
	}
	return d
}

// Simulator is a door in memory. It moves at once unless told to stick.
type Simulator struct {
	mu        sync.Mutex
	state     State
	stuckOpen bool // it opens but never closes again (an obstruction)
	offline   bool
	Commands  []string
}

// SetStuckOpen makes the door ignore close commands.
func (s *Simulator) SetStuckOpen(v bool) { s.mu.Lock(); s.stuckOpen = v; s.mu.Unlock() }

// SetOffline makes every call fail.
func (s *Simulator) SetOffline(v bool) { s.mu.Lock(); s.offline = v; s.mu.Unlock() }

// State implements Device.
func (s *Simulator) State(context.Context) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline {
		return Unknown, fmt.Errorf("simulator: offline")
	}
	return s.state, nil
}

// Open implements Device.
func (s *Simulator) Open(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline {
		return fmt.Errorf("simulator: offline")
	}
	s.Commands = append(s.Commands, "open")
	s.state = Open
	return nil
}

// Close implements Device.
func (s *Simulator) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline {
		return fmt.Errorf("simulator: offline")
	}
	s.Commands = append(s.Commands, "close")
	if !s.stuckOpen {
		s.state = Closed
	}
	return nil
}
