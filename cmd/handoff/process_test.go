package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/api/apitest"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// childEnv, set in its environment, makes the test binary "handoff" itself:
// tests start the server as a process of its own, which they can kill -9.
const childEnv = "HANDOFF_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// smsSecret signs the texts the server posts to the phones' webhook.
const smsSecret = "crash-test-sms-webhook-secret-0123456789"

// node is one "handoff serve" process.
type node struct {
	base string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  string        // the file its log goes to
}

// deployment is how the nodes of a test are started: one data directory
// and database, the phones' webhook, the admin token, and extra flags.
type deployment struct {
	dataDir, db string
	phones      *phones
	flags       []string
}

// newDeployment returns a deployment on a fresh database of engine (a
// SQLite file in the data directory, or a PostgreSQL schema).
func newDeployment(t *testing.T, engine string, flags ...string) *deployment {
	t.Helper()
	d := &deployment{dataDir: t.TempDir(), phones: startPhones(t), flags: flags}
	if engine == sqlstore.Postgres {
		d.db = sqlstoretest.DSN(t, engine)
	}
	return d
}

// start runs "handoff serve" as a process of its own (the test binary, see
// TestMain) on the deployment, and returns it once it is ready. It is
// killed when the test ends, and its log shown if the test failed.
func (d *deployment) start(t *testing.T) *node {
	t.Helper()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", d.dataDir, "--log-level", "warn",
		"--sms-provider", "webhook", "--sms-webhook-url", d.phones.srv.URL,
		// Any hour of any day is a delivery day, wherever the test runs.
		"--contact-hours", "00:00-23:59", "--working-days", "mon,tue,wed,thu,fri,sat,sun"}
	if d.db != "" {
		args = append(args, "--db", d.db)
	}
	cmd := exec.Command(os.Args[0], append(args, d.flags...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HANDOFF_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, childEnv+"=1", "HANDOFF_ADMIN_TOKEN="+testAdmin, "HANDOFF_SMS_WEBHOOK_SECRET="+smsSecret,
		"HANDOFF_ALLOW_PRIVATE_NETWORK=1")
	logs, err := os.CreateTemp(d.dataDir, "node-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close() // the process has its own descriptor
	n := &node{cmd: cmd, done: make(chan struct{}), log: logs.Name()}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("log of the node at %s:\n%s", n.base, n.logText())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "handoff is listening on ") {
				lines <- strings.TrimPrefix(sc.Text(), "handoff is listening on ")
			}
		}
		close(lines)
	}()
	select {
	case n.base = <-lines:
	case <-time.After(60 * time.Second):
	}
	if n.base == "" {
		t.Fatalf("the server did not start:\n%s", n.logText())
	}
	for i := 0; ; i++ {
		if res, _, err := get(n.base, "/readyz", ""); err == nil && res.StatusCode == 200 {
			return n
		}
		if i == 100 {
			t.Fatalf("the server at %s is not ready:\n%s", n.base, n.logText())
		}
		time.Sleep(50 * time.Millisecond) // polling readiness, bounded by the loop
	}
}

// logText returns what the node logged.
func (n *node) logText() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

// kill ends the process at once (SIGKILL: no drain, no deferred work) and
// waits until it is gone.
func (n *node) kill() {
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// phones are the recipients' phones: the server's SMS webhook posts every
// text here, as a provider would hand it to the phone.
type phones struct {
	srv   *httptest.Server
	mu    sync.Mutex
	texts map[string][]string // by number, E.164
	news  chan struct{}       // closed, and replaced, when a text arrives
}

func startPhones(t *testing.T) *phones {
	p := &phones{texts: map[string][]string{}, news: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ To, Text string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(400)
			return
		}
		p.mu.Lock()
		p.texts[m.To] = append(p.texts[m.To], m.Text)
		close(p.news)
		p.news = make(chan struct{})
		p.mu.Unlock()
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// await returns the first submatch of re in the newest text to a number
// that has one, waiting for it until ctx ends.
func (p *phones) await(ctx context.Context, to string, re *regexp.Regexp) (string, error) {
	for {
		p.mu.Lock()
		texts, news := p.texts[to], p.news
		p.mu.Unlock()
		for i := len(texts) - 1; i >= 0; i-- {
			if m := re.FindStringSubmatch(texts[i]); m != nil {
				return m[1], nil
			}
		}
		select {
		case <-news:
		case <-ctx.Done():
			return "", fmt.Errorf("no text to %s matching %s: %w", to, re, ctx.Err())
		}
	}
}

// reply is an API answer: its status, headers and JSON body.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// callAPI sends a JSON API request and returns the answer; err only when no
// answer came (the node died under it).
func callAPI(ctx context.Context, base, method, path, token string, body any, hdr ...string) (reply, error) {
	req, err := apitest.NewRequest(ctx, method, base+path, token, body, hdr...)
	if err != nil {
		return reply{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r, nil
}

// must is call for a step the test cannot go on without: the node is up,
// and the answer must have status want.
func must(t *testing.T, base, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	r, err := callAPI(context.Background(), base, method, path, token, body)
	if err != nil || r.status != want {
		t.Fatalf("%s %s: %d %s %v, want %d", method, path, r.status, r.raw, err, want)
	}
	return r.body
}

// team is what the operator onboards through the admin API: a shipper, a
// station in GB and its associates.
type team struct {
	shipperKey, stationKey string
	associates             []struct{ id, key string }
}

func onboard(t *testing.T, base string, associates int, otp bool) *team {
	t.Helper()
	tm := &team{shipperKey: newShipper(t, base)}
	if otp {
		must(t, base, "PATCH", "/v1/account/settings", tm.shipperKey, map[string]any{"secureDelivery": map[string]any{"otpEnabled": true}}, 200)
	}
	st := must(t, base, "POST", "/v1/admin/stations", testAdmin, map[string]any{"name": "East", "marketplace": "GB"}, 201)
	tm.stationKey = st["apiKey"].(string)
	for i := range associates {
		a := must(t, base, "POST", "/v1/admin/associates", testAdmin, map[string]any{"name": fmt.Sprint("DA ", i), "stationId": st["stationId"]}, 201)
		tm.associates = append(tm.associates, struct{ id, key string }{a["associateId"].(string), a["apiKey"].(string)})
	}
	return tm
}

// label is a GB label's body: one parcel of value GBP to a mobile at an
// address, with its client reference.
func label(ref, mobile, line1, value string) []byte {
	b, _ := json.Marshal(map[string]any{
		"shipTo": map[string]any{"name": "Rec " + ref, "addressLine1": line1, "city": "London", "postalCode": "E3 4DH",
			"countryCode": "GB", "phoneNumber": mobile},
		"shipFrom": map[string]any{"name": "Shop", "addressLine1": "2 Dock Rd", "city": "London", "postalCode": "E16 1AA", "countryCode": "GB"},
		"packages": []any{map[string]any{"packageClientReferenceId": ref,
			"insuredValue": map[string]any{"value": json.Number(value), "unit": "GBP"},
			"items":        []any{map[string]any{"description": "Book", "quantity": 1, "category": "books"}}}},
	})
	return b
}

// trackingIDOf returns the tracking ID of a label's one parcel.
func trackingIDOf(shipment map[string]any) string {
	pkgs, _ := shipment["packages"].([]any)
	if len(pkgs) != 1 {
		return ""
	}
	id, _ := pkgs[0].(map[string]any)["trackingId"].(string)
	return id
}

// today is the service date in GB now.
func today() string {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return time.Now().In(loc).Format(time.DateOnly)
}

// stopOf returns the ID of the stop of a loaded route holding a parcel.
func stopOf(route map[string]any, trackingID string) string {
	stops, _ := route["stops"].([]any)
	for _, s := range stops {
		s := s.(map[string]any)
		for _, p := range s["parcels"].([]any) {
			if p.(map[string]any)["trackingId"] == trackingID {
				id, _ := s["stopId"].(string)
				return id
			}
		}
	}
	return ""
}

// events returns a parcel's tracking events as the shipper reads them,
// "EventCode" or "EventCode/DetailCode", and its summary status.
func events(t *testing.T, base, shipperKey, trackingID string) (codes []string, status string) {
	t.Helper()
	tr := must(t, base, "GET", "/v1/tracking/"+trackingID, shipperKey, nil, 200)
	for _, e := range tr["eventHistory"].([]any) {
		e := e.(map[string]any)
		s := e["eventCode"].(string)
		if dc, ok := e["detailCode"].(string); ok {
			s += "/" + dc
		}
		codes = append(codes, s)
	}
	status, _ = tr["summary"].(map[string]any)["status"].(string)
	return codes, status
}
