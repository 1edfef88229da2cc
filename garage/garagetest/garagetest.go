// Package garagetest runs local HTTP servers that speak the garage-opener
// APIs handoff drives (OpenGarage, Home Assistant), for tests.
package garagetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeOpenGarage is a local HTTP server speaking the OpenGarage API.
type FakeOpenGarage struct {
	mu       sync.Mutex
	Door     int // 0 closed, 1 open
	Key      string
	Stuck    bool          // a close command is acknowledged but the door stays open
	Hang     time.Duration // every answer waits this long
	Commands []string
	Srv      *httptest.Server
	arrived  chan string // see Notify

	travel    time.Duration // how long the door takes to move
	target    int           // where a moving door is going
	arrives   time.Time     // when it gets there; zero when it is still
	commanded chan string
}

// StartOpenGarage runs a fake OpenGarage on 127.0.0.1.
func StartOpenGarage(t testing.TB, key string) *FakeOpenGarage {
	t.Helper()
	f := &FakeOpenGarage{Key: key, commanded: make(chan string, 16)}
	f.Srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hang, arrived := f.Hang, f.arrived
		f.mu.Unlock()
		if arrived != nil {
			select {
			case arrived <- r.URL.Path:
			default:
			}
		}
		if hang > 0 {
			select {
			case <-time.After(hang):
			case <-r.Context().Done():
				return
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.settle()
		switch r.URL.Path {
		case "/jc":
			json.NewEncoder(w).Encode(map[string]any{"dist": 120, "door": f.Door, "vehicle": 0, "rcnt": 3, "name": "OG"})
		case "/cc":
			if r.URL.Query().Get("dkey") != f.Key {
				json.NewEncoder(w).Encode(map[string]any{"result": 2})
				return
			}
			switch {
			case r.URL.Query().Get("open") == "1":
				f.command("open", 1)
			case r.URL.Query().Get("close") == "1":
				if f.Stuck {
					f.command("close", f.Door)
				} else {
					f.command("close", 0)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"result": 1})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Srv.Close)
	return f
}

// FakeHomeAssistant is a local HTTP server speaking Home Assistant's REST API
// for one cover.
type FakeHomeAssistant struct {
	mu     sync.Mutex
	State  string
	Token  string
	Entity string
	Srv    *httptest.Server
}

// StartHomeAssistant runs a fake Home Assistant on 127.0.0.1.
func StartHomeAssistant(t testing.TB, token, entity string) *FakeHomeAssistant {
	t.Helper()
	f := &FakeHomeAssistant{State: "closed", Token: token, Entity: entity}
	f.Srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.Token {
			w.WriteHeader(401)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/states/"+f.Entity:
			json.NewEncoder(w).Encode(map[string]any{"entity_id": f.Entity, "state": f.State})
		case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/api/services/cover/"):
			var body struct {
				EntityID string `json:"entity_id"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			if body.EntityID != f.Entity {
				w.WriteHeader(400)
				return
			}
			if strings.HasSuffix(r.URL.Path, "open_cover") {
				f.State = "open"
			} else {
				f.State = "closed"
			}
			w.Write([]byte("[]"))
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(f.Srv.Close)
	return f
}

// command records a command and sets the door moving to target (at once
// when the door has no travel time); f.mu is held.
func (f *FakeOpenGarage) command(name string, target int) {
	f.Commands = append(f.Commands, name)
	select {
	case f.commanded <- name:
	default: // nobody is listening
	}
	if f.travel == 0 {
		f.Door = target
		return
	}
	f.target, f.arrives = target, time.Now().Add(f.travel)
}

// settle ends a move whose time is up; f.mu is held.
func (f *FakeOpenGarage) settle() {
	if !f.arrives.IsZero() && !time.Now().Before(f.arrives) {
		f.Door, f.arrives = f.target, time.Time{}
	}
}

// Set changes the door, whether it sticks open and how long answers hang.
func (f *FakeOpenGarage) Set(door int, stuck bool, hang time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Door, f.Stuck, f.Hang, f.arrives = door, stuck, hang, time.Time{}
}

// Notify makes the opener tell ch the path of every request as it arrives,
// before any Hang: a test waits on it to act while the server is talking to
// the door. Sends never block; a full channel misses one.
func (f *FakeOpenGarage) Notify(ch chan string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arrived = ch
}

// SetTravel makes the door take d to move after a command: until then it
// reads as before, as a real door's sensor does while the door moves.
func (f *FakeOpenGarage) SetTravel(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.travel = d
}

// Arrive ends a move at once, as if its travel time were up.
func (f *FakeOpenGarage) Arrive() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.arrives.IsZero() {
		f.Door, f.arrives = f.target, time.Time{}
	}
}

// Commanded receives each command ("open", "close") as the device takes
// it, so that a test can act while the door moves. Commands nobody reads
// beyond the first 16 are not queued.
func (f *FakeOpenGarage) Commanded() <-chan string { return f.commanded }

// Snapshot returns the door and the commands received so far.
func (f *FakeOpenGarage) Snapshot() (door int, commands []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	return f.Door, append([]string(nil), f.Commands...)
}

// Current returns the cover's state.
func (f *FakeHomeAssistant) Current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.State
}
