package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/api/apitest"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/station"
	"github.com/handoff-dev/handoff/tracking"
	"github.com/handoff-dev/handoff/web"
)

const sessionCookie = "__Host-handoff_session"

// env is a running server on a real store, with the fixture.
type env struct {
	db       *sqlstore.DB
	stations *station.Service
	seed     *fixture
	srv      *httptest.Server
	log      *syncBuffer

	// now is the store's clock when set; nil is the real time. It is read
	// atomically so a test can move the day while the server runs.
	now atomic.Pointer[time.Time]

	mu     sync.Mutex
	bodies []string // every body a browser of this env read, to search for secrets
}

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts the pages and the API on one mux over TLS, as a browser
// would reach them in production (the cookies are Secure). wrap may replace
// the services the pages use.
func newEnv(t *testing.T, engine string, wrap ...func(*web.Server)) *env {
	t.Helper()
	return newEnvWith(t, engine, nil, wrap...)
}

// newEnvWith is newEnv with prepare run on the store before the fixture is made and
// served, for a test that needs another delivery policy.
func newEnvWith(t *testing.T, engine string, prepare func(*sqlstore.DB), wrap ...func(*web.Server)) *env {
	t.Helper()
	db := sqlstoretest.Open(t, engine)
	e := &env{db: db, log: &syncBuffer{}}
	db.Now = func() time.Time {
		if now := e.now.Load(); now != nil {
			return *now
		}
		return time.Now().UTC()
	}
	if prepare != nil {
		prepare(db)
	}
	seed := newFixture(t, db)
	e.seed = seed
	e.stations = stationsOf(db)
	log := slog.New(slog.NewTextHandler(e.log, nil))
	db.Log = log
	sqlstoretest.Garages(db).Log = log
	ws := &web.Server{Principals: db, Sessions: db, Contacts: db, Settings: db, Shipments: db, Stations: e.stations, Doors: sqlstoretest.Door(db), Today: db.Today,
		Recipients: db, Photos: sqlstoretest.Photos(db), Garages: sqlstoretest.Garages(db), Bags: e.stations, Cases: db, Now: func() time.Time { return db.Now() }, Keys: sqlstoretest.Keys(t), Log: log}
	for _, w := range wrap {
		w(ws)
	}
	mux := http.NewServeMux()
	(&api.Server{Principals: db, Settings: db, Shipments: db, Stations: e.stations, Doors: sqlstoretest.Door(db), Today: db.Today, Log: log}).Register(mux)
	ws.Register(mux)
	e.srv = httptest.NewTLSServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// setNow sets the store's clock.
func (e *env) setNow(t time.Time) { e.now.Store(&t) }

// browser is an HTTP client with its own cookies that does not follow
// redirects, so that tests see each one.
type browser struct {
	t *testing.T
	e *env
	c *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, c: &http.Client{
		Transport:     apitest.Transport(t, e.srv.Client().Transport), // the API's answers match its document
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the response with its body read.
func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.e.mu.Lock()
	b.e.bodies = append(b.e.bodies, string(body))
	b.e.mu.Unlock()
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post submits a form; header pairs are added to the request.
func (b *browser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf returns the CSRF token of the first form in a page.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// signIn fills in the sign-in form and returns the response to it.
func (b *browser) signIn(id, password, next string) (*http.Response, string) {
	b.t.Helper()
	_, body := b.get("/signin")
	form := url.Values{"csrf": {csrf(b.t, body)}, "account": {id}, "password": {password}}
	if next != "" {
		form.Set("next", next)
	}
	return b.post("/signin", form)
}

// signedIn returns a browser signed in as a.
func (e *env) signedIn(t *testing.T, a account) *browser {
	t.Helper()
	b := e.browser(t)
	resp, body := b.signIn(a.Principal.ID, a.Credentials.Password, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d\n%s", a.Principal.ID, resp.StatusCode, body)
	}
	return b
}

func wantStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

func wantRedirect(t *testing.T, resp *http.Response, body, want string) {
	t.Helper()
	wantStatus(t, resp, body, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != want {
		t.Fatalf("%s %s: redirect to %q, want %q", resp.Request.Method, resp.Request.URL.Path, got, want)
	}
}

func TestSignIn(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		s := e.seed
		tests := []struct {
			name     string
			id, pw   string
			wantHome string // "" for a refused sign-in
		}{
			{"shipper", s.Shipper.Principal.ID, s.Shipper.Credentials.Password, "/shipments"},
			{"station", s.Station.Principal.ID, s.Station.Credentials.Password, "/station"},
			{"associate", s.Associates[0].Principal.ID, s.Associates[0].Credentials.Password, "/associate"},
			{"agent", s.Agent.Principal.ID, s.Agent.Credentials.Password, "/agent"},
			{"wrong password", s.Shipper.Principal.ID, "not-the-password-42", ""},
			{"another account's password", s.Shipper.Principal.ID, s.Station.Credentials.Password, ""},
			{"unknown account", "shp_doesnotexist000", s.Shipper.Credentials.Password, ""},
			{"empty", "", "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := e.browser(t)
				resp, body := b.signIn(tt.id, tt.pw, "")
				if tt.wantHome == "" {
					wantStatus(t, resp, body, http.StatusUnauthorized)
					if !strings.Contains(body, "The account ID or password is wrong.") {
						t.Errorf("no sign-in error message in page:\n%s", body)
					}
					if tt.pw != "" && strings.Contains(body, tt.pw) {
						t.Error("the page shows the password that was typed")
					}
					if b.cookie(sessionCookie) != "" {
						t.Error("a refused sign-in set a session cookie")
					}
					return
				}
				wantRedirect(t, resp, body, tt.wantHome)
				var c *http.Cookie
				for _, x := range resp.Cookies() {
					if x.Name == sessionCookie {
						c = x
					}
				}
				if c == nil {
					t.Fatal("no session cookie")
				}
				if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
					t.Errorf("session cookie %s: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", c.String())
				}
				if c.MaxAge != int((12 * time.Hour).Seconds()) {
					t.Errorf("session cookie Max-Age %d, want 12h", c.MaxAge)
				}
				if strings.Contains(resp.Header.Get("Location"), c.Value) || strings.Contains(body, c.Value) {
					t.Error("the session token appears in the redirect or the page")
				}
				// Signed in, the landing and sign-in pages go straight home.
				resp, body = b.get("/")
				wantRedirect(t, resp, body, tt.wantHome)
				resp, body = b.get("/signin")
				wantRedirect(t, resp, body, tt.wantHome)
				resp, body = b.get(tt.wantHome)
				wantStatus(t, resp, body, http.StatusOK)
			})
		}
		if strings.Contains(e.log.String(), s.Shipper.Credentials.Password) {
			t.Error("a password reached the log")
		}
	})
}

func TestSignInFormToken(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		sh := e.seed.Shipper
		creds := url.Values{"account": {sh.Principal.ID}, "password": {sh.Credentials.Password}}
		with := func(token string) url.Values {
			f := url.Values{}
			for k, v := range creds {
				f[k] = v
			}
			if token != "" {
				f.Set("csrf", token)
			}
			return f
		}
		t.Run("no cookie", func(t *testing.T) {
			// A token from one browser does not work in another, which lacks
			// the cookie it is bound to.
			_, page := e.browser(t).get("/signin")
			b := e.browser(t)
			resp, body := b.post("/signin", with(csrf(t, page)))
			wantStatus(t, resp, body, http.StatusForbidden)
			if b.cookie(sessionCookie) != "" {
				t.Error("signed in without a valid form token")
			}
		})
		for _, tc := range []struct{ name, token string }{{"missing token", ""}, {"wrong token", strings.Repeat("ab", 32)}, {"not hex", "zz"}} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.browser(t)
				b.get("/signin")
				resp, body := b.post("/signin", with(tc.token))
				wantStatus(t, resp, body, http.StatusForbidden)
				if b.cookie(sessionCookie) != "" {
					t.Error("signed in without a valid form token")
				}
			})
		}
		t.Run("cookie attributes", func(t *testing.T) {
			resp, _ := e.browser(t).get("/signin")
			for _, c := range resp.Cookies() {
				if c.Name == "__Host-handoff_signin" {
					if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
						t.Errorf("sign-in cookie %s: want HttpOnly, Secure, SameSite=Strict, Path=/", c.String())
					}
					return
				}
			}
			t.Error("the sign-in page set no sign-in cookie")
		})
	})
}

// settingsForm returns the settings form as the page fills it for the demo
// shipper, with changes applied.
func settingsForm(token string, change map[string]string) url.Values {
	f := url.Values{"csrf": {token}, "email": {"on"}, "sms": {"on"}, "otp": {"on"}, "categories": {"smartphone, laptop, tablet"}}
	for _, m := range market.All() {
		f.Set("threshold_"+string(m.Code), map[market.Code]string{"IN": "500.00"}[m.Code])
		if m.Code != "IN" {
			f.Set("threshold_"+string(m.Code), "100.00")
		}
	}
	for k, v := range change {
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
	}
	return f
}

func (e *env) settings(t *testing.T) handoff.Settings {
	t.Helper()
	s, err := e.db.Settings(context.Background(), e.seed.Shipper.Principal.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCSRF(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		_, page := b.get("/settings")
		token := csrf(t, page)
		other := e.signedIn(t, e.seed.Shipper) // same shipper, another browser
		_, otherPage := other.get("/settings")
		otherToken := csrf(t, otherPage)
		if otherToken == token {
			t.Fatal("two sessions share a CSRF token")
		}

		smsOff := map[string]string{"sms": ""}
		tests := []struct {
			name   string
			form   url.Values
			header []string
		}{
			{"missing token", settingsForm("", smsOff), nil},
			{"wrong token", settingsForm(strings.Repeat("0", len(token)), smsOff), nil},
			{"another session's token", settingsForm(otherToken, smsOff), nil},
			{"truncated token", settingsForm(token[:len(token)-2], smsOff), nil},
			{"cross-site request", settingsForm(token, smsOff), []string{"Sec-Fetch-Site", "cross-site"}},
			{"foreign origin", settingsForm(token, smsOff), []string{"Origin", "https://evil.example"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := b.post("/settings", tt.form, tt.header...)
				wantStatus(t, resp, body, http.StatusForbidden)
				if !e.settings(t).Notifications.SMS {
					t.Fatal("a refused form changed the settings")
				}
			})
		}
		t.Run("sign out needs the token", func(t *testing.T) {
			resp, body := b.post("/signout", url.Values{})
			wantStatus(t, resp, body, http.StatusForbidden)
			resp, body = b.get("/shipments")
			wantStatus(t, resp, body, http.StatusOK)
		})
		t.Run("valid token", func(t *testing.T) {
			resp, body := b.post("/settings", settingsForm(token, smsOff), "Sec-Fetch-Site", "same-origin")
			wantRedirect(t, resp, body, "/settings?saved=1")
			if e.settings(t).Notifications.SMS {
				t.Fatal("the form with a valid token did not save")
			}
		})
	})
}

func TestSignOut(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		token := b.cookie(sessionCookie)
		_, page := b.get("/shipments")
		resp, body := b.post("/signout", url.Values{"csrf": {csrf(t, page)}})
		wantRedirect(t, resp, body, "/signin?signedout=1")
		if b.cookie(sessionCookie) != "" {
			t.Error("the session cookie is still set")
		}
		if _, err := e.db.FindSession(context.Background(), token); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
			t.Errorf("session still live after signing out: %v", err)
		}
		resp, body = b.get("/signin?signedout=1")
		if !strings.Contains(body, "You have signed out.") {
			t.Errorf("no signed-out message:\n%s", body)
		}
		resp, body = b.get("/shipments")
		wantRedirect(t, resp, body, "/signin?next=%2Fshipments")
	})
}

func TestAccess(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		ctx := context.Background()
		other, _, err := e.db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Other Shop"})
		if err != nil {
			t.Fatal(err)
		}
		foreign, _, err := e.db.CreateShipment(ctx, other.ID, &handoff.ShipmentInput{
			ShipTo:   &handoff.Address{Name: "Zed Foreign", AddressLine1: "1 Rue X", City: "Paris", PostalCode: "75001", CountryCode: "FR"},
			ShipFrom: &handoff.Address{Name: "Other Shop", AddressLine1: "2 Rue Y", City: "Lyon", PostalCode: "69001", CountryCode: "FR"},
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "20", Unit: "EUR"}}},
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		anon := e.browser(t)
		shipper := e.signedIn(t, e.seed.Shipper)
		station := e.signedIn(t, e.seed.Station)
		agent := e.signedIn(t, e.seed.Agent)

		tests := []struct {
			name     string
			b        *browser
			path     string
			status   int
			location string // for redirects
			contains string
			absent   string
		}{
			{"anonymous to parcels", anon, "/shipments", 303, "/signin?next=%2Fshipments", "", ""},
			{"anonymous keeps the query", anon, "/settings?saved=1", 303, "/signin?next=%2Fsettings%3Fsaved%3D1", "", ""},
			{"anonymous to a station home", anon, "/station", 303, "/signin?next=%2Fstation", "", ""},
			{"anonymous landing", anon, "/", 200, "", `href="/signin"`, ""},
			{"station to parcels", station, "/shipments", 403, "", "This page is for shipper accounts", ""},
			{"agent to settings", agent, "/settings", 403, "", "This page is for shipper accounts", ""},
			{"shipper to station home", shipper, "/station", 403, "", "This page is for station accounts", ""},
			{"station home", station, "/station", 200, "", e.seed.Station.Principal.Name, ""},
			{"agent home", agent, "/agent", 200, "", "Open cases", ""},
			{"another shipper's shipment", shipper, "/shipments/" + foreign.ID, 404, "", "Shipment not found.", "Zed Foreign"},
			{"unknown shipment", shipper, "/shipments/sh_nosuchshipment", 404, "", "Shipment not found.", ""},
			{"own shipment", shipper, "/shipments/" + e.seed.Shipments[0].ID, 200, "", "Priya Shah", ""},
			{"unknown page", anon, "/no/such/page", 404, "", "Page not found", ""},
			{"unknown page signed in", shipper, "/nowhere", 404, "", `action="/signout"`, ""},
			{"unknown asset", anon, "/static/nope.css", 404, "", "Page not found", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := tt.b.get(tt.path)
				wantStatus(t, resp, body, tt.status)
				if tt.location != "" && resp.Header.Get("Location") != tt.location {
					t.Errorf("redirect to %q, want %q", resp.Header.Get("Location"), tt.location)
				}
				if tt.contains != "" && !strings.Contains(body, tt.contains) {
					t.Errorf("page lacks %q:\n%s", tt.contains, body)
				}
				if tt.absent != "" && strings.Contains(body, tt.absent) {
					t.Errorf("page shows %q", tt.absent)
				}
				if tt.status >= 400 && !strings.Contains(body, `class="brand"`) {
					t.Error("error page is not in the layout")
				}
			})
		}
		t.Run("POST to an unknown page", func(t *testing.T) {
			resp, body := shipper.post("/nowhere", url.Values{})
			wantStatus(t, resp, body, http.StatusNotFound)
		})
		t.Run("API paths stay JSON", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/nothing", nil)
			resp, body := anon.do(apitest.Undocumented(req))
			wantStatus(t, resp, body, http.StatusNotFound)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("content type %q", ct)
			}
		})
	})
}

func TestNextRedirect(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		sh := e.seed.Shipper
		tests := []struct{ next, want string }{
			{"", "/shipments"},
			{"/settings", "/settings"},
			{"/settings?saved=1", "/settings?saved=1"},
			{"/shipments/" + e.seed.Shipments[1].ID, "/shipments/" + e.seed.Shipments[1].ID},
			{"//evil.example/phish", "/shipments"},
			{"https://evil.example/", "/shipments"},
			{"http:evil.example", "/shipments"},
			{"/\\evil.example", "/shipments"},
			{"/\t/evil.example", "/shipments"},
			{"\\\\evil.example", "/shipments"},
			{"javascript:alert(1)", "/shipments"},
			{"evil.example", "/shipments"},
			{"/%2F/evil.example", "/%2F/evil.example"}, // stays a path on this site
		}
		for _, tt := range tests {
			t.Run(tt.next, func(t *testing.T) {
				b := e.browser(t)
				resp, body := b.get("/signin?next=" + url.QueryEscape(tt.next))
				if strings.Contains(body, "evil.example") && tt.want == "/shipments" {
					t.Error("the sign-in page carries a foreign next")
				}
				form := url.Values{"csrf": {csrf(t, body)}, "account": {sh.Principal.ID}, "password": {sh.Credentials.Password}, "next": {tt.next}}
				resp, body = b.post("/signin", form)
				wantRedirect(t, resp, body, tt.want)
			})
		}
	})
}

func TestShipmentList(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		resp, body := b.get("/shipments")
		wantStatus(t, resp, body, http.StatusOK)
		refs := []string{"order-1005-watch", "order-1004-cod", "order-1003-laptop", "order-1002-book", "order-1001-phone"}
		last := -1
		for _, ref := range refs {
			i := strings.Index(body, ref)
			if i < 0 {
				t.Fatalf("parcel %s missing:\n%s", ref, body)
			}
			if i < last {
				t.Errorf("parcel %s is out of order: want newest first", ref)
			}
			last = i
		}
		row := func(ref string) string {
			i := strings.Index(body, ref)
			start := strings.LastIndex(body[:i], "<tr")
			end := strings.Index(body[i:], "</tr>")
			return body[start : i+end]
		}
		for _, tc := range []struct {
			ref       string
			otp, bag  bool
			recipient string
		}{
			{"order-1001-phone", true, true, "Priya Shah"},
			{"order-1002-book", false, false, "Tom Baker"},
			{"order-1003-laptop", true, true, "Ana Lopez"},
			{"order-1004-cod", false, false, "Ben Okafor"},
			{"order-1005-watch", false, false, "Chloe Martin"},
		} {
			r := row(tc.ref)
			if got := strings.Contains(r, "OTP required"); got != tc.otp {
				t.Errorf("%s: OTP badge shown %v, want %v", tc.ref, got, tc.otp)
			}
			if got := strings.Contains(r, "Bag required"); got != tc.bag {
				t.Errorf("%s: bag badge shown %v, want %v", tc.ref, got, tc.bag)
			}
			if !strings.Contains(r, tc.recipient) || !strings.Contains(r, "London") || !strings.Contains(r, "Label created") {
				t.Errorf("%s: row lacks recipient, city or status:\n%s", tc.ref, r)
			}
		}
	})
}

// deliveredWithOTP shows one parcel, picked by its reference, as the store
// will once an associate has delivered it with the passcode.
type deliveredWithOTP struct {
	handoff.ShipmentService
	ref string
}

func (d deliveredWithOTP) ListPackages(ctx context.Context, f handoff.ShipmentFilter) ([]handoff.PackageView, error) {
	pkgs, err := d.ShipmentService.ListPackages(ctx, f)
	for i := range pkgs {
		if pkgs[i].ClientRef == d.ref {
			pkgs[i].Status, pkgs[i].Detail = tracking.StatusDelivered, tracking.DeliveredWithOTP
		}
	}
	return pkgs, err
}

func TestDeliveredWithOTPText(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, func(s *web.Server) {
			s.Shipments = deliveredWithOTP{ShipmentService: s.Shipments, ref: "order-1001-phone"}
		})
		b := e.signedIn(t, e.seed.Shipper)
		_, body := b.get("/shipments")
		phone := e.seed.Shipments[0].Packages[0].TrackingID
		i := strings.Index(body, `id="parcel-`+phone+`"`)
		if i < 0 {
			t.Fatalf("no row for %s:\n%s", phone, body)
		}
		r := body[i : i+strings.Index(body[i:], "</tr>")]
		if !strings.Contains(r, "Delivered with OTP") {
			t.Errorf("row shows no \"Delivered with OTP\":\n%s", r)
		}
	})
}

func TestShipmentDetail(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		sh := e.seed.Shipments
		tests := []struct {
			name string
			id   string
			want []string
		}{
			{"OTP and bag", sh[0].ID, []string{
				"Priya Shah", "12 Mare Street", "Demo Gadgets Warehouse", "Prepaid", "899.00 GBP", "order-1001-phone",
				"OTP required", "The declared value is above your OTP threshold for this marketplace.",
				"Bag required", "An item is in one of your bag categories.",
				"Label created", "London E16 1AA, GB", sh[0].Packages[0].TrackingID,
			}},
			{"below threshold", sh[1].ID, []string{"No passcode", "The declared value is not above your OTP threshold", "No bag", "None of your bag rules matched."}},
			{"gift", sh[2].ID, []string{"Gift buyer", "Luis Lopez"}},
			{"cash on delivery", sh[3].ID, []string{"Cash on delivery", "Cash-on-delivery shipments never use a passcode."}},
			{"no phone", sh[4].ID, []string{"The label has no recipient phone number."}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := b.get("/shipments/" + tt.id)
				wantStatus(t, resp, body, http.StatusOK)
				for _, w := range tt.want {
					if !strings.Contains(body, w) {
						t.Errorf("page lacks %q", w)
					}
				}
				if strings.Contains(body, "OTP_DISABLED") || strings.Contains(body, "ABOVE_THRESHOLD") {
					t.Error("page shows raw reason codes")
				}
			})
		}
	})
}

func TestSettings(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		resp, page := b.get("/settings")
		wantStatus(t, resp, page, http.StatusOK)
		for _, w := range []string{"GBP", "EUR", "INR", `value="500.00"`, "much weaker than the passcode", `name="sms" id="sms" checked`} {
			if !strings.Contains(page, w) {
				t.Errorf("settings page lacks %q", w)
			}
		}
		token := csrf(t, page)
		before := e.settings(t)

		long := strings.Repeat("x", 70)
		invalid := []struct {
			name   string
			change map[string]string
			field  string // id of the input the message belongs to
			msg    string
		}{
			{"not a number", map[string]string{"threshold_GB": "abc"}, "threshold_GB", "The threshold must be a decimal number."},
			{"two decimal commas", map[string]string{"threshold_FR": "99,5,0"}, "threshold_FR", "The threshold must be a decimal number."},
			{"negative", map[string]string{"threshold_IN": "-5"}, "threshold_IN", "The threshold must not be negative."},
			{"too many decimals", map[string]string{"threshold_IT": "1.234"}, "threshold_IT", "The threshold has more decimals than the currency allows."},
			{"empty", map[string]string{"threshold_ES": ""}, "threshold_ES", "The threshold is required."},
			{"long category", map[string]string{"categories": "phone, " + long}, "categories", "must be a non-empty name of at most 64 characters"},
		}
		for _, tt := range invalid {
			t.Run(tt.name, func(t *testing.T) {
				change := map[string]string{"sms": "", "email": ""} // would switch both off
				for k, v := range tt.change {
					change[k] = v
				}
				form := settingsForm(token, change)
				resp, body := b.post("/settings", form)
				wantStatus(t, resp, body, http.StatusBadRequest)
				i := strings.Index(body, `id="`+tt.field+`"`)
				j := strings.Index(body, tt.msg)
				if i < 0 || j < 0 {
					t.Fatalf("no field %s or message %q in page:\n%s", tt.field, tt.msg, body)
				}
				if j < i || strings.Contains(body[i:j], "<input") {
					t.Errorf("message %q is not next to field %s", tt.msg, tt.field)
				}
				if !strings.Contains(body, "Nothing was saved") {
					t.Error("no 'Nothing was saved' notice")
				}
				if v := form.Get(tt.field); v != "" && !strings.Contains(body, `value="`+v+`"`) && tt.field != "categories" {
					t.Errorf("the value typed (%q) is not shown back", v)
				}
				after := e.settings(t)
				if !after.Notifications.SMS || !after.Notifications.Email || after.SecureDelivery.Thresholds[0].Value != before.SecureDelivery.Thresholds[0].Value {
					t.Errorf("a refused form changed the settings: %+v", after)
				}
			})
		}

		t.Run("save", func(t *testing.T) {
			form := settingsForm(token, map[string]string{
				"sms": "", "fallback": "on", "threshold_GB": "150", "threshold_IN": " 750.5 ", "categories": "Phone, watch,, phone ",
			})
			resp, body := b.post("/settings", form)
			wantRedirect(t, resp, body, "/settings?saved=1")
			resp, body = b.get("/settings?saved=1")
			if !strings.Contains(body, "Saved.") {
				t.Error("no Saved message")
			}
			if !strings.Contains(body, `value="150.00"`) || !strings.Contains(body, `value="750.50"`) {
				t.Error("the form does not show the new thresholds")
			}
			s := e.settings(t)
			gb, _ := market.Lookup("GB")
			in, _ := market.Lookup("IN")
			if s.Notifications.SMS || !s.Notifications.Email || !s.SecureDelivery.OTPEnabled || !s.SecureDelivery.PhoneDigitsFallback {
				t.Errorf("switches not saved: %+v", s)
			}
			if s.OTPThreshold(gb) != 15000 || s.OTPThreshold(in) != 75050 {
				t.Errorf("thresholds GB %d, IN %d; want 15000, 75050", s.OTPThreshold(gb), s.OTPThreshold(in))
			}
			if !slices.Equal(s.TamperEvidentBag.Categories, []string{"phone", "watch"}) {
				t.Errorf("categories %q", s.TamperEvidentBag.Categories)
			}
		})
	})
}

func TestSecurityHeaders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		anon := e.browser(t)
		shipper := e.signedIn(t, e.seed.Shipper)
		station := e.signedIn(t, e.seed.Station)
		associate := e.signedIn(t, e.seed.Associates[0])
		_, landing := anon.get("/")
		css := regexp.MustCompile(`href="(/static/handoff\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(landing)
		if css == nil {
			t.Fatal("no stylesheet link")
		}
		tests := []struct {
			name  string
			b     *browser
			path  string
			cache string
		}{
			{"landing", anon, "/", "no-store"},
			{"sign-in", anon, "/signin", "no-store"},
			{"parcels", shipper, "/shipments", "no-store"},
			{"settings", shipper, "/settings", "no-store"},
			{"shipment", shipper, "/shipments/" + e.seed.Shipments[0].ID, "no-store"},
			{"station", station, "/station", "no-store"},
			{"itinerary", associate, "/associate", "no-store"},
			{"not found", shipper, "/nope", "no-store"},
			{"stylesheet", anon, css[1], "public, max-age=31536000, immutable"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := tt.b.get(tt.path)
				h := resp.Header
				csp := h.Get("Content-Security-Policy")
				for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
					if !strings.Contains(csp, d) {
						t.Errorf("CSP %q lacks %q", csp, d)
					}
				}
				if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
					t.Errorf("CSP %q is not strict", csp)
				}
				for k, v := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": tt.cache} {
					if got := h.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				if strings.HasPrefix(tt.path, "/static/") {
					if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
						t.Errorf("stylesheet served as %q", ct)
					}
				} else if !strings.Contains(body, `name="viewport"`) {
					t.Error("page has no viewport meta")
				}
				if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
					t.Error("page has inline script or style, which the CSP would block")
				}
			})
		}
	})
}

// brokenShipments fails as a store does when its database is gone.
type brokenShipments struct{ handoff.ShipmentService }

func (brokenShipments) ListPackages(context.Context, handoff.ShipmentFilter) ([]handoff.PackageView, error) {
	return nil, handoff.Internal(errors.New("disk I/O error at page 4711"), "list packages")
}

func TestInternalError(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, func(s *web.Server) { s.Shipments = brokenShipments{s.Shipments} })
		b := e.signedIn(t, e.seed.Shipper)
		resp, body := b.get("/shipments")
		wantStatus(t, resp, body, http.StatusInternalServerError)
		if strings.Contains(body, "4711") || strings.Contains(body, "disk") {
			t.Errorf("the page shows the internal detail:\n%s", body)
		}
		if !strings.Contains(body, "An internal error occurred.") {
			t.Errorf("no generic message:\n%s", body)
		}
		if !strings.Contains(e.log.String(), "disk I/O error at page 4711") {
			t.Errorf("the detail was not logged:\n%s", e.log.String())
		}
		if tok := b.cookie(sessionCookie); strings.Contains(e.log.String(), tok) {
			t.Error("the session token reached the log")
		}
	})
}

// stationsOf returns the station's service over db, with db's policy.
func stationsOf(db *sqlstore.DB) *station.Service { return station.NewService(db, db.Policy) }
