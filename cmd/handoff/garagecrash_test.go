package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/garage/garagetest"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// How soon a step whose node died is taken over, and how often the sweeper
// looks: it acts within seconds of the restart.
const (
	garageStepBound  = "2s"
	garageSweepEvery = "100ms"
)

// TestGarageCrashWhileOpening is issue 12's garage crash as an operator
// would meet it: an associate asks the server to open a recipient's garage
// (an OpenGarage that reports its real door state, and moves slowly); the
// device takes the open command and the server is killed -9 while the door
// moves. On restart the sweeper, once the step's deadline
// has passed, reads the door, finds it open with no live grant, and closes
// it; the parcel's history says the access failed, and the associate can
// open and close again and deliver.
func TestGarageCrashWhileOpening(t *testing.T) {
	for _, engine := range sqlstoretest.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel() // mostly waiting for the door and the deadline
			const dkey, mobile = "dkey-crash-test", "+447700900777"
			og := garagetest.StartOpenGarage(t, dkey)
			d := newDeployment(t, engine, "--garage-step-deadline", garageStepBound, "--garage-sweep-interval", garageSweepEvery)
			n := d.start(t)
			tm := onboard(t, n.base, 1, false)
			da := tm.associates[0]
			parcel := trackingIDOf(must(t, n.base, "POST", "/v1/shipments", tm.shipperKey, label("garage-1", "07700 900777", "77 Garage Lane", "40"), 201))

			// The recipient enrols the opener in the portal and switches key
			// delivery on; the parcel goes out to her garage.
			p := signIn(t, n.base, d.phones, mobile)
			gid := p.enrolOpenGarage(t, og.Srv.URL, dkey)
			must(t, n.base, "POST", "/v1/station/parcels/"+parcel+"/receive", tm.stationKey, nil, 200)
			rt := must(t, n.base, "POST", "/v1/station/routes", tm.stationKey, map[string]any{"associateId": da.id, "serviceDate": today(),
				"parcels": []any{map[string]any{"trackingId": parcel}}}, 201)
			loaded := must(t, n.base, "POST", "/v1/associate/routes/"+rt["routeId"].(string)+"/load", da.key, nil, 200)
			stop := stopOf(loaded, parcel)
			if !strings.Contains(p.page(t, "/portal/settings"), gid) {
				t.Fatal("the garage is not on the recipient's settings page")
			}

			// The open request reaches the door; the node dies while it moves.
			// The door takes longer than the server waits for it, so it still
			// moves when the kill lands, and it opens fully after.
			og.SetTravel(time.Hour)
			died := make(chan error, 1)
			go func() {
				_, err := callAPI(context.Background(), n.base, "POST", "/v1/associate/stops/"+stop+"/garage/open", da.key, nil)
				died <- err
			}()
			awaitCommand(t, og, "open")
			n.kill()
			if err := <-died; err == nil {
				t.Fatal("the open request was answered: the kill came too late")
			}
			og.SetTravel(300 * time.Millisecond) // from now on it moves briskly
			og.Arrive()
			if door, _ := og.Snapshot(); door != 1 {
				t.Fatal("the door did not open")
			}

			// Restarted, the sweeper closes the door once the dead node's step
			// deadline has passed.
			n = d.start(t)
			awaitCommand(t, og, "close")
			door, cmds := awaitDoor(t, og, 0)
			if door != 0 || !slices.Equal(cmds, []string{"open", "close"}) {
				t.Fatalf("door %d after commands %v, want closed after open, close", door, cmds)
			}
			// The sweeper records the failed access once the door reads closed.
			var ev []string
			for i := 0; i < 200 && !slices.Contains(ev, "GarageAccessFailed"); i++ {
				if i > 0 {
					time.Sleep(25 * time.Millisecond) // polling the record, bounded by the loop
				}
				ev, _ = events(t, n.base, tm.shipperKey, parcel)
			}
			if !slices.Contains(ev, "GarageAccessFailed") || slices.Contains(ev, "Delivered/DeliveredToGarage") {
				t.Fatalf("events after the sweep: %v", ev)
			}

			// The stop is free again: the associate opens, drops the parcel
			// and closes, and the parcel is delivered (the door now moves at
			// once: its speed is not what this part is about).
			og.SetTravel(0)
			open := must(t, n.base, "POST", "/v1/associate/stops/"+stop+"/garage/open", da.key, nil, 200)
			closed := must(t, n.base, "POST", "/v1/associate/stops/"+stop+"/garage/close", da.key, map[string]any{"grantId": open["grantId"]}, 200)
			if ds, _ := closed["delivered"].([]any); len(ds) != 1 {
				t.Errorf("close delivered %v", closed["delivered"])
			}
			if door, _ := og.Snapshot(); door != 0 {
				t.Error("the door is open after the associate's close")
			}
			if _, status := events(t, n.base, tm.shipperKey, parcel); status != "Delivered" {
				t.Errorf("status %s after the garage delivery", status)
			}
		})
	}
}

// awaitCommand waits, at most half a minute, for the device to take cmd.
func awaitCommand(t *testing.T, og *garagetest.FakeOpenGarage, cmd string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case c := <-og.Commanded():
			if c == cmd {
				return
			}
		case <-deadline:
			_, cmds := og.Snapshot()
			t.Fatalf("the door was never told to %s (commands %v)", cmd, cmds)
		}
	}
}

// awaitDoor polls the door, within a bound, until it reads want, and
// returns what it read last and the commands it took.
func awaitDoor(t *testing.T, og *garagetest.FakeOpenGarage, want int) (int, []string) {
	t.Helper()
	for i := 0; ; i++ {
		door, cmds := og.Snapshot()
		if door == want || i == 200 {
			return door, cmds
		}
		time.Sleep(25 * time.Millisecond) // the door's travel, polled within the loop's bound
	}
}

// portal is a recipient's browser, signed in to the portal.
type portal struct {
	base   string
	client *http.Client
}

var (
	csrfRE       = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
	signinCodeRE = regexp.MustCompile(`sign-in code is (\d{6})`)
)

// signIn signs a recipient in to the portal with the code texted to their
// mobile, as they would: ask, read the phone, type the code.
func signIn(t *testing.T, base string, ph *phones, mobile string) *portal {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	p := &portal{base: base, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	page := p.form(t, "/portal", csrfOf(t, p.page(t, "/portal")), http.StatusOK, "contact", mobile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := ph.await(ctx, mobile, signinCodeRE)
	if err != nil {
		t.Fatal(err)
	}
	p.form(t, "/portal/code", csrfOf(t, page), http.StatusSeeOther, "contact", mobile, "code", code)
	return p
}

// enrolOpenGarage enrols an OpenGarage at url with its device key, switches
// key delivery on, and returns the garage's ID.
func (p *portal) enrolOpenGarage(t *testing.T, url, dkey string) string {
	t.Helper()
	token := csrfOf(t, p.page(t, "/portal/settings"))
	p.form(t, "/portal/garages", token, http.StatusSeeOther, "kind", "opengarage", "label", "Home", "addressLine1", "77 Garage Lane",
		"postalCode", "E3 4DH", "url", url, "deviceKey", dkey)
	m := regexp.MustCompile(`id="garage-(gar_[a-z0-9]+)"`).FindStringSubmatch(p.page(t, "/portal/settings"))
	if m == nil {
		t.Fatal("the enrolled garage is not on the settings page")
	}
	p.form(t, "/portal/garages/"+m[1]+"/key", token, http.StatusSeeOther, "on", "1")
	return m[1]
}

// page returns the body of a portal page that must answer 200.
func (p *portal) page(t *testing.T, path string) string {
	t.Helper()
	res, err := p.client.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

// form posts a portal form with its CSRF token and the fields, and returns
// the answer's body, which must come with status want.
func (p *portal) form(t *testing.T, path, token string, want int, fields ...string) string {
	t.Helper()
	v := url.Values{"csrf": {token}}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	res, err := p.client.PostForm(p.base+path, v)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", path, res.StatusCode, b, want)
	}
	return string(b)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}
