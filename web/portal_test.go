package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/garage/garagetest"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
	"github.com/handoff-dev/handoff/web"
)

// portalCookie is the cookie of a recipient's session.
const portalCookie = "__Host-handoff_portal"

// portalBase is the public URL the sign-in links of the HTTP tests point
// at; the tests take the token from the link's path.
const portalBase = "https://handoff.test"

// tomEmail is the fixture's recipient Tom Baker's email, as the store holds it
// (tomMobile is his mobile).
const tomEmail = "tom@example.com"

// portalEnv is a server on a Monday morning whose messages go to a dev
// outbox, delivered by the real notification worker.
type portalEnv struct {
	*env
	outbox *notify.DevOutbox
	worker *notify.Worker
}

// newPortal starts the server; dev says whether it runs as a development
// server (messages shown at /dev/outbox, the garage simulator offered).
// Garage devices answer within 300 ms, so a test of a dead one is quick.
func newPortal(t *testing.T, engine string, dev bool) *portalEnv {
	t.Helper()
	e := newEnvWith(t, engine, func(db *sqlstore.DB) {
		sqlstoretest.Garages(db).Timeouts = garage.Timeouts{Call: 300 * time.Millisecond, AllowPrivate: true}
		sqlstoretest.Garages(db).OpenWithin, sqlstoretest.Garages(db).CloseWithin, sqlstoretest.Garages(db).PollInterval = 2*time.Second, 2*time.Second, 10*time.Millisecond
	}, func(s *web.Server) { s.PublicURL, s.DevOutbox = portalBase, dev })
	e.setNow(monday)
	// The clock ticks a microsecond a reading, so that the steps of one
	// garage delivery, logged within one call, keep their order.
	db := e.db
	frozen, ticks := db.Now, new(atomic.Int64)
	db.Now = func() time.Time { return frozen().Add(time.Duration(ticks.Add(1)) * time.Microsecond) }
	box := notify.NewDevOutbox(100)
	return &portalEnv{env: e, outbox: box, worker: &notify.Worker{Store: db, Log: db.Log, PublicURL: portalBase,
		Senders: map[string]notify.Sender{notify.Email: box, notify.SMS: box},
		Unseal:  func(p, s string) ([]byte, error) { return db.Keys.Open("message/"+p, s, nil) }}}
}

// The code and the link's token in a sign-in message.
var (
	signinCodeRE = regexp.MustCompile(`sign-in code is (\d{6})`)
	signinLinkRE = regexp.MustCompile(regexp.QuoteMeta(portalBase) + `/portal/in/(\S+)`)
)

// messages delivers what is queued and returns the sign-in messages the
// outbox holds for a contact (as stored: E.164 or lower-case email), newest
// first.
func (p *portalEnv) messages(t *testing.T, to string) []notify.Delivered {
	t.Helper()
	if err := p.worker.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out []notify.Delivered
	for _, m := range p.outbox.List() {
		if m.Kind == "signin" && m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// signinMessage returns the code and the link token of the newest sign-in
// message to a contact.
func (p *portalEnv) signinMessage(t *testing.T, to string) (code, token string) {
	t.Helper()
	ms := p.messages(t, to)
	if len(ms) == 0 {
		t.Fatalf("no sign-in message to %s", to)
	}
	c, l := signinCodeRE.FindStringSubmatch(ms[0].Text), signinLinkRE.FindStringSubmatch(ms[0].Text)
	if c == nil || l == nil {
		t.Fatalf("no code or link in the message to %s:\n%s", to, ms[0].Text)
	}
	return c[1], l[1]
}

// askSignin fills in the portal's sign-in form, as typed.
func (b *browser) askSignin(typed string) (*http.Response, string) {
	b.t.Helper()
	_, page := b.get("/portal")
	return b.formPost("/portal", csrf(b.t, page), "contact", typed)
}

// recipient returns a browser signed in to the portal by the link sent to
// a contact: typed as a person would, stored as the outbox shows it.
func (p *portalEnv) recipient(t *testing.T, typed, stored string) *browser {
	t.Helper()
	b := p.browser(t)
	resp, body := b.askSignin(typed)
	wantStatus(t, resp, body, http.StatusOK)
	_, token := p.signinMessage(t, stored)
	_, page := b.get("/portal/in/" + token)
	resp, body = b.formPost("/portal/in/"+token, csrf(t, page))
	wantRedirect(t, resp, body, "/portal/parcels")
	return b
}

// later moves the store's clock on, so that steps of the garage log are
// ordered as they happened.
func (p *portalEnv) later(d time.Duration) {
	p.setNow(p.now.Load().Add(d))
}

// TestPortalSigninSameAnswer: asking for a sign-in never tells whether a
// contact is on a label; only a contact that is, gets a message.
func TestPortalSigninSameAnswer(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		answer := "If this number or address is on a parcel's label, we have sent a sign-in link and a code to it."
		tests := []struct {
			name, typed, stored string
			known               bool
		}{
			{"known mobile", "07700 900123", priyaMobile, true},
			{"unknown mobile", "07700 900999", "+447700900999", false},
			{"known email", "Tom@Example.com", tomEmail, true},
			{"unknown email", "nobody@example.com", "nobody@example.com", false},
			{"gift buyer", "luis@example.com", "luis@example.com", true},
		}
		var first string
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := p.browser(t).askSignin(tt.typed)
				wantStatus(t, resp, body, http.StatusOK)
				wantText(t, "the answer", element(t, body, "portal-sent", "p"), answer)
				// Apart from the contact shown back and the form token bound
				// to this browser, the page is the same for everyone.
				same := strings.ReplaceAll(strings.ReplaceAll(body, csrf(t, body), "TOKEN"), tt.typed, "CONTACT")
				if first == "" {
					first = same
				} else if same != first {
					t.Errorf("the answer differs from the first contact's:\n%s\n----\n%s", same, first)
				}
				if n := len(p.messages(t, tt.stored)); (n == 1) != tt.known || n > 1 {
					t.Errorf("%d sign-in messages to %s; want one only when it is on a label", n, tt.stored)
				}
			})
		}

		t.Run("not a contact", func(t *testing.T) {
			resp, body := p.browser(t).askSignin("my parcel please")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "the refused form", element(t, body, "request-form", "form"),
				"Enter the mobile number or the email address exactly as it is on your parcel's label.")
		})
		t.Run("rate limited", func(t *testing.T) {
			b := p.browser(t)
			for range 5 {
				resp, body := b.askSignin("busy@example.com")
				wantStatus(t, resp, body, http.StatusOK)
			}
			resp, body := b.askSignin("busy@example.com")
			wantStatus(t, resp, body, http.StatusTooManyRequests)
			wantText(t, "the sixth answer", element(t, body, "portal-alert", "p"), "Too many sign-in requests for this contact; try again in 15 minutes.")
		})
		t.Run("dev outbox note", func(t *testing.T) {
			_, body := p.browser(t).get("/portal")
			wantText(t, "the sign-in page", element(t, body, "dev-note", "p"), "messages are shown at", `href="/dev/outbox"`)
		})
	})
}

// TestPortalLink: opening a sign-in link spends nothing (link scanners open
// it first); the button does, once, and starts a session of the portal's own.
func TestPortalLink(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		b := p.browser(t)
		resp, body := b.askSignin("07700 900123")
		wantStatus(t, resp, body, http.StatusOK)
		code, token := p.signinMessage(t, priyaMobile)

		// Opening the link, as a mail scanner would, twice, spends nothing.
		for range 2 {
			resp, body = b.get("/portal/in/" + token)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "the link page", body, "Press the button to sign in", `id="spend-link"`)
		}
		if b.cookie(portalCookie) != "" {
			t.Fatal("opening the link signed in")
		}
		page := body

		t.Run("form token needed", func(t *testing.T) {
			resp, body := b.formPost("/portal/in/"+token, "")
			wantStatus(t, resp, body, http.StatusForbidden)
			_, other := p.browser(t).get("/portal/in/" + token)
			resp, body = b.formPost("/portal/in/"+token, csrf(t, other))
			wantStatus(t, resp, body, http.StatusForbidden)
			if b.cookie(portalCookie) != "" {
				t.Fatal("signed in without the form's token")
			}
		})

		resp, body = b.formPost("/portal/in/"+token, csrf(t, page))
		wantRedirect(t, resp, body, "/portal/parcels")
		var c *http.Cookie
		for _, x := range resp.Cookies() {
			if x.Name == portalCookie {
				c = x
			}
			if x.Name == sessionCookie {
				t.Error("the portal set the staff session cookie")
			}
		}
		if c == nil {
			t.Fatal("no portal session cookie")
		}
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.MaxAge != int((12*time.Hour).Seconds()) {
			t.Errorf("portal cookie %s: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain, 12h", c.String())
		}
		resp, body = b.get("/portal/parcels")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "the parcels page", body, p.parcel(t, "order-1001-phone"), "Demo Gadgets", "Signed in as")
		resp, body = b.get("/portal")
		wantRedirect(t, resp, body, "/portal/parcels")

		t.Run("used once", func(t *testing.T) {
			other := p.browser(t)
			_, page := other.get("/portal/in/" + token)
			resp, body := other.formPost("/portal/in/"+token, csrf(t, page))
			wantStatus(t, resp, body, http.StatusUnauthorized)
			wantText(t, "the spent link", element(t, body, "link-expired", "p"), "This sign-in link has expired or was already used; ask for a new one.")
			if other.cookie(portalCookie) != "" {
				t.Error("a spent link signed in")
			}
			// The code of the same message went with it.
			_, page = other.get("/portal")
			resp, body = other.formPost("/portal/code", csrf(t, page), "contact", "07700 900123", "code", code)
			wantStatus(t, resp, body, http.StatusUnauthorized)
		})
		t.Run("not a token", func(t *testing.T) {
			resp, body := p.browser(t).get("/portal/in/" + strings.Repeat("x", 101))
			wantStatus(t, resp, body, http.StatusNotFound)
		})
		t.Run("a staff session is not a recipient's", func(t *testing.T) {
			resp, body := p.signedIn(t, p.seed.Shipper).get("/portal/parcels")
			wantRedirect(t, resp, body, "/portal")
		})
		t.Run("the token stays out of the log", func(t *testing.T) {
			if strings.Contains(p.log.String(), token) {
				t.Error("the sign-in token reached the log")
			}
		})
		t.Run("sign out", func(t *testing.T) {
			session := b.cookie(portalCookie)
			resp, body := b.formPost("/portal/signout", "")
			wantStatus(t, resp, body, http.StatusForbidden)
			_, page := b.get("/portal/parcels")
			resp, body = b.formPost("/portal/signout", csrf(t, page))
			wantRedirect(t, resp, body, "/portal?signedout=1")
			if b.cookie(portalCookie) != "" {
				t.Error("the portal cookie is still set")
			}
			_, body = b.get("/portal?signedout=1")
			wantText(t, "the sign-in page", body, "You have signed out.")
			if _, err := p.db.FindRecipientSession(context.Background(), session); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Errorf("the session outlived signing out: %v", err)
			}
			resp, body = b.get("/portal/parcels")
			wantRedirect(t, resp, body, "/portal")
		})
	})
}

func TestPortalCodeSignin(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		b := p.browser(t)
		resp, body := b.askSignin("Tom@Example.com")
		wantStatus(t, resp, body, http.StatusOK)
		form := element(t, body, "code-form", "form")
		wantText(t, "the code form after asking", form, `value="Tom@Example.com"`)
		code, _ := p.signinMessage(t, tomEmail)

		resp, body = b.formPost("/portal/code", csrf(t, body), "contact", "Tom@Example.com", "code", wrongCode(code))
		wantStatus(t, resp, body, http.StatusUnauthorized)
		wantText(t, "a wrong code", element(t, body, "code-error", "p"), "The code is wrong or has expired; ask for a new one.")
		if b.cookie(portalCookie) != "" {
			t.Fatal("a wrong code signed in")
		}
		// People copy a code in two groups of three.
		resp, body = b.formPost("/portal/code", csrf(t, body), "contact", "tom@example.com", "code", code[:3]+" "+code[3:])
		wantRedirect(t, resp, body, "/portal/parcels")
		_, body = b.get("/portal/parcels")
		wantText(t, "Tom's parcels", body, p.parcel(t, "order-1002-book"), "Label created")
		if strings.Contains(body, p.parcel(t, "order-1001-phone")) {
			t.Error("Tom sees Priya's parcel")
		}
	})
}

// TestPortalPasscode: today's code shows to its own recipient, for the
// parcel out today, until the parcel is delivered; to nobody else.
func TestPortalPasscode(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		ctx := context.Background()
		otp := p.priyaOTP(t)
		book := p.parcel(t, "order-1002-book")
		rt := p.plan(t, mondayDate, handoff.RouteParcel{TrackingID: otp}, handoff.RouteParcel{TrackingID: book})
		da := p.seed.Associates[0].Principal
		if _, err := sqlstoretest.Door(p.db).LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		code := p.code(t, priyaMobile, mondayDate)

		priya := p.recipient(t, "07700 900123", priyaMobile)
		resp, body := priya.get("/portal/parcels")
		wantStatus(t, resp, body, http.StatusOK)
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q on the parcels page", got)
		}
		box := element(t, body, "passcode-"+otp, "div")
		wantText(t, "the passcode box", box, "Today's delivery code for Monday 23 November 2026", `id="code-`+otp+`">`+code+`<`, "Give it to the driver at your door")
		if n := strings.Count(body, code); n != 1 {
			t.Errorf("the code shows %d times; want once, in its box", n)
		}
		// Priya's phone needs a passcode too, but is not out today.
		phone := p.parcel(t, "order-1001-phone")
		if strings.Contains(element(t, body, "parcel-"+phone, "li"), "passcode-box") {
			t.Error("a parcel not out today shows a code")
		}
		wantText(t, "the timeline", element(t, body, "timeline-"+otp, "div"), "Label created", "Out for delivery")

		tom := p.recipient(t, "07700 900456", tomMobile)
		_, body = tom.get("/portal/parcels")
		if strings.Contains(body, "passcode-box") || strings.Contains(body, code) || strings.Contains(body, otp) {
			t.Errorf("Tom's page shows a code or Priya's parcel:\n%s", body)
		}
		wantText(t, "Tom's parcel", element(t, body, "parcel-"+book, "li"), "Out for delivery")

		// The gift buyer sees the gift as such; it is not out, so no code.
		luis := p.recipient(t, "luis@example.com", "luis@example.com")
		_, body = luis.get("/portal/parcels")
		wantText(t, "the buyer's page", element(t, body, "parcel-"+p.parcel(t, "order-1003-laptop"), "li"), "A gift you sent to Ana Lopez, London.")

		// Once the code delivered the parcel, it is gone from the page.
		if res, err := sqlstoretest.Door(p.db).VerifyCode(ctx, da, stopOf(t, rt, otp).ID, code); err != nil || !res.Correct {
			t.Fatalf("verify: %+v %v", res, err)
		}
		_, body = priya.get("/portal/parcels")
		if strings.Contains(body, code) {
			t.Error("the code is still shown after delivery")
		}
		wantText(t, "the delivered parcel", element(t, body, "parcel-"+otp, "li"), "Delivered with OTP",
			"No photo: the parcel was not left unattended")
		p.assertNoInline(t)
	})
}

// photoFile reads a test photo of the photo package.
func photoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "photo", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPortalPhoto: the recipient sees the delivery photo, cleaned of its
// EXIF; nobody else can fetch it; an opt-out shows as the reason for none.
func TestPortalPhoto(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		ctx := context.Background()
		// Priya opts out of photos before her parcel is planned.
		priya := p.recipient(t, "07700 900123", priyaMobile)
		_, page := priya.get("/portal/settings")
		resp, body := priya.formPost("/portal/settings/photos", csrf(t, page), "optout", "on")
		wantRedirect(t, resp, body, "/portal/settings?done=photos")
		_, body = priya.follow(resp, body)
		wantText(t, "the saved opt-out", body, "Saved: no photo will be taken when a parcel is left for you.", `name="optout" id="optout" checked`)

		book := p.parcel(t, "order-1002-book")
		cheap := p.label(t, "Priya Shah", "12 Mare Street", "E8 1HR", "07700 900123", "40", false)
		rt := p.plan(t, mondayDate, handoff.RouteParcel{TrackingID: book}, handoff.RouteParcel{TrackingID: cheap})
		da := p.seed.Associates[0].Principal
		if _, err := sqlstoretest.Door(p.db).LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		shot := photoFile(t, "gps-orientation6.jpg")
		if _, err := sqlstoretest.Door(p.db).DeliverParcels(ctx, da, stopOf(t, rt, book).ID, handoff.Handover{Place: tracking.DeliveredToPorch, Photo: shot}); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstoretest.Door(p.db).DeliverParcels(ctx, da, stopOf(t, rt, cheap).ID, handoff.Handover{Place: tracking.DeliveredToPorch}); err != nil {
			t.Fatal(err)
		}

		tom := p.recipient(t, "tom@example.com", tomEmail)
		_, body = tom.get("/portal/parcels")
		card := element(t, body, "parcel-"+book, "li")
		thumb, full := "/portal/parcels/"+book+"/photo?size=thumb", "/portal/parcels/"+book+"/photo?size=full"
		wantText(t, "Tom's delivered parcel", card, "Delivered to porch", `src="`+thumb+`"`, `href="`+full+`"`, "Where the driver left it, photographed 23 Nov 2026, 10:00 GMT")

		var sizes []int
		for _, path := range []string{thumb, full} {
			resp, img := tom.get(path)
			wantStatus(t, resp, img, http.StatusOK)
			if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
				t.Errorf("%s served as %q", path, ct)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("%s: Cache-Control %q", path, cc)
			}
			if !strings.HasPrefix(img, "\xff\xd8") {
				t.Fatalf("%s is not a JPEG", path)
			}
			// The upload carried EXIF with a GPS position; none of it is left.
			if strings.Contains(img, "Exif\x00") || bytes.Contains([]byte(img), []byte("GPS")) {
				t.Errorf("%s still carries EXIF", path)
			}
			sizes = append(sizes, len(img))
		}
		if sizes[0] >= sizes[1] {
			t.Errorf("the thumbnail (%d bytes) is not smaller than the photo (%d bytes)", sizes[0], sizes[1])
		}

		t.Run("not another person's", func(t *testing.T) {
			resp, body := priya.get(full)
			wantStatus(t, resp, body, http.StatusNotFound)
			resp, body = priya.get("/portal/parcels/HONOSUCHPARCEL/photo")
			wantStatus(t, resp, body, http.StatusNotFound)
			resp, body = p.browser(t).get(full)
			wantRedirect(t, resp, body, "/portal")
			resp, body = tom.get("/portal/parcels/" + book + "/photo?size=huge")
			wantStatus(t, resp, body, http.StatusBadRequest)
		})
		t.Run("opted out", func(t *testing.T) {
			_, body := priya.get("/portal/parcels")
			wantText(t, "Priya's parcel left at the porch", element(t, body, "parcel-"+cheap, "li"),
				"Delivered to porch", "No photo was taken: you opted out of delivery photos.")
			if strings.Contains(body, "pod-thumb") {
				t.Error("Priya's page shows a photo")
			}
		})
	})
}

// TestTrackShowsStatusOnly: a tracking ID alone shows where the parcel is
// and when it comes (status, progress, timeline by town, the expected day
// and window, what to have ready) and nothing private; the bag ID and code
// are on the recipient's own page.
func TestTrackShowsStatusOnly(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		ctx := context.Background()
		phone := p.parcel(t, "order-1001-phone") // Priya's, bagged
		station := p.seed.Station.Principal
		batch, err := p.stations.IssueBatch(ctx, station, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.stations.ReceiveParcel(ctx, station, phone); err != nil {
			t.Fatal(err)
		}
		if _, err := p.stations.SealParcel(ctx, station, phone, batch.Bags[0].ID); err != nil {
			t.Fatal(err)
		}
		rt := p.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		if _, err := sqlstoretest.Door(p.db).LoadRoute(ctx, p.seed.Associates[0].Principal, rt.ID); err != nil {
			t.Fatal(err)
		}
		code := p.code(t, priyaMobile, mondayDate)
		anon := p.browser(t)

		resp, body := anon.get("/track")
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = anon.get("/track?id=" + strings.ToLower(phone))
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "the public status", element(t, body, "track-status", "p"), "Out for delivery")
		wantText(t, "the invitation", element(t, body, "track-invite", "p"), `href="/portal"`)
		wantText(t, "the expected day", element(t, body, "track-expected", "p"), "Monday 23 November, between")
		wantText(t, "what to have ready", element(t, body, "track-ready", "section"), "A passcode", "sealed bag")
		timeline := element(t, body, "track-timeline", "ol")
		if i, j := strings.Index(timeline, "Out for delivery"), strings.Index(timeline, "Label created"); i < 0 || j < 0 || i > j {
			t.Errorf("the timeline is not newest first:\n%s", timeline)
		}
		private := []string{code, "Priya", "Shah", "Mare Street", "E8 1HR", batch.Bags[0].Printed, "Demo Gadgets"}
		for _, s := range private {
			if strings.Contains(body, s) {
				t.Errorf("the public tracking page shows %q", s)
			}
		}

		resp, body = anon.get("/track?id=HONOSUCHPARCEL")
		wantStatus(t, resp, body, http.StatusNotFound)
		wantText(t, "an unknown ID", element(t, body, "track-error", "p"), "No parcel has this tracking ID.")
		resp, body = anon.get("/track?id=" + strings.Repeat("X", 70))
		wantStatus(t, resp, body, http.StatusNotFound)

		// Without signing in, the portal gives nothing either.
		resp, body = anon.get("/portal/parcels")
		wantRedirect(t, resp, body, "/portal")
		_, body = anon.get("/portal")
		for _, s := range private {
			if strings.Contains(body, s) {
				t.Errorf("the portal's sign-in page shows %q", s)
			}
		}
		// The bag ID is the recipient's to check against, on her own page.
		priya := p.recipient(t, "priya@example.com", "priya@example.com")
		_, body = priya.get("/portal/parcels")
		wantText(t, "Priya's bagged parcel", element(t, body, "parcel-"+phone, "li"), batch.Bags[0].Printed, code)
	})
}

func TestPortalCSRF(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		priya := p.recipient(t, "07700 900123", priyaMobile)
		_, page := priya.get("/portal/settings")
		token := csrf(t, page)
		other := p.recipient(t, "priya@example.com", "priya@example.com")
		_, otherPage := other.get("/portal/settings")
		otherToken := csrf(t, otherPage)
		if otherToken == token {
			t.Fatal("two sessions share a CSRF token")
		}
		staff := p.signedIn(t, p.seed.Shipper)
		_, staffPage := staff.get("/settings")

		optOut := func(tok string) url.Values { return url.Values{"csrf": {tok}, "optout": {"on"}} }
		tests := []struct {
			name   string
			form   url.Values
			header []string
		}{
			{"missing token", optOut(""), nil},
			{"wrong token", optOut(strings.Repeat("0", len(token))), nil},
			{"another session's token", optOut(otherToken), nil},
			{"a staff session's token", optOut(csrf(t, staffPage)), nil},
			{"cross-site request", optOut(token), []string{"Sec-Fetch-Site", "cross-site"}},
			{"foreign origin", optOut(token), []string{"Origin", "https://evil.example"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := priya.post("/portal/settings/photos", tt.form, tt.header...)
				wantStatus(t, resp, body, http.StatusForbidden)
				if prefs, _ := p.db.RecipientPrefs(context.Background(), priyaMobile); prefs.PhotoOptOut {
					t.Fatal("a refused form changed the opt-out")
				}
			})
		}
		t.Run("garage forms", func(t *testing.T) {
			for _, path := range []string{"/portal/garages", "/portal/garages/gar_x/key", "/portal/garages/gar_x/test", "/portal/garages/gar_x/remove",
				"/portal/parcels/HOX/key", "/portal/signout"} {
				resp, body := priya.post(path, url.Values{"csrf": {otherToken}, "on": {"1"}})
				wantStatus(t, resp, body, http.StatusForbidden)
			}
			if priya.cookie(portalCookie) == "" {
				t.Error("a refused sign-out signed out")
			}
		})
		t.Run("anonymous forms", func(t *testing.T) {
			b := p.browser(t)
			b.get("/portal")
			resp, body := b.formPost("/portal", "", "contact", "tom@example.com")
			wantStatus(t, resp, body, http.StatusForbidden)
			if n := len(p.messages(t, tomEmail)); n != 0 {
				t.Errorf("a refused form sent %d messages", n)
			}
			resp, body = b.formPost("/portal/code", strings.Repeat("ab", 32), "contact", "tom@example.com", "code", "123456")
			wantStatus(t, resp, body, http.StatusForbidden)
			_, page := b.get("/portal")
			resp, body = b.post("/portal", url.Values{"csrf": {csrf(t, page)}, "contact": {"tom@example.com"}}, "Sec-Fetch-Site", "cross-site")
			wantStatus(t, resp, body, http.StatusForbidden)
		})
		t.Run("valid token", func(t *testing.T) {
			resp, body := priya.post("/portal/settings/photos", optOut(token), "Sec-Fetch-Site", "same-origin")
			wantRedirect(t, resp, body, "/portal/settings?done=photos")
			if prefs, _ := p.db.RecipientPrefs(context.Background(), priyaMobile); !prefs.PhotoOptOut {
				t.Fatal("the form with a valid token did not save")
			}
		})
	})
}

// enrolForm is the enrolment form as a recipient fills it in.
func enrolForm(token string, fields ...string) url.Values {
	f := url.Values{"csrf": {token}}
	for i := 0; i+1 < len(fields); i += 2 {
		f.Set(fields[i], fields[i+1])
	}
	return f
}

// TestPortalGarageOpenGarage enrols a (fake) OpenGarage through the form,
// tests it, and switches key delivery off while the associate's open is in
// flight: the access is cancelled, the door ends closed, the log says so,
// and the device key never shows again.
func TestPortalGarageOpenGarage(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		const key = "dkey-s3cr3t-value"
		og := garagetest.StartOpenGarage(t, key)
		tom := p.recipient(t, "07700 900456", tomMobile)
		_, page := tom.get("/portal/settings")
		token := csrf(t, page)
		wantText(t, "the enrolment form", element(t, page, "enrol-form", "form"),
			`<option value="opengarage">OpenGarage</option>`, `<option value="homeassistant">Home Assistant</option>`, `<option value="simulator">`,
			`name="deviceKey" type="password"`)
		home := []string{"kind", "opengarage", "label", "Home", "addressLine1", "40 Bow Road", "postalCode", "E3 4DH", "url", og.Srv.URL, "deviceKey", key}

		t.Run("refused fields", func(t *testing.T) {
			resp, body := tom.post("/portal/garages", enrolForm(token, append(home, "label", " ", "lat", "51.5")...))
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "the refused form", element(t, body, "enrol-form", "form"),
				"Give both latitude and longitude in decimal degrees", `value="`+og.Srv.URL+`"`, "type them again")
			resp, body = tom.post("/portal/garages", enrolForm(token, append(home, "label", " ")...))
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "the refused form", element(t, body, "label-error", "p"), "Give the garage a name, such as Home.")
			resp, body = tom.post("/portal/garages", enrolForm(token, append(home, "deviceKey", "")...))
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "the form without a key", element(t, body, "device-error", "p"), "OpenGarage needs its address and its device key.")
			resp, body = tom.post("/portal/garages", enrolForm(token, append(home, "url", "http://127.0.0.1:1")...))
			wantStatus(t, resp, body, http.StatusServiceUnavailable)
			wantText(t, "the form of a dead opener", element(t, body, "enrol-alert", "p"), "The garage opener did not answer with its door state")
			if gs, _ := sqlstoretest.Garages(p.db).RecipientGarages(context.Background(), tomMobile); len(gs) != 0 {
				t.Fatalf("a refused form enrolled %d garages", len(gs))
			}
		})

		resp, body := tom.post("/portal/garages", enrolForm(token, home...))
		wantStatus(t, resp, body, http.StatusSeeOther)
		gs, err := sqlstoretest.Garages(p.db).RecipientGarages(context.Background(), tomMobile)
		if err != nil || len(gs) != 1 {
			t.Fatalf("garages: %v %v", gs, err)
		}
		g := gs[0]
		if want := "/portal/settings?done=enrolled&garage=" + g.ID + "#garage-" + g.ID; resp.Header.Get("Location") != want {
			t.Fatalf("enrolled, redirect to %q, want %q", resp.Header.Get("Location"), want)
		}
		_, body = tom.follow(resp, body)
		wantText(t, "the enrolled garage", element(t, body, "portal-flash", "p"), "Garage “Home” enrolled. The test reached it: door reads closed.")
		wantText(t, "the garage", element(t, body, "garage-"+g.ID, "li"), "Home", "OpenGarage", "40 Bow Road, E3 4DH", "Key delivery: <strong class=\"off\">off</strong>",
			"Switching key delivery off takes effect at once: any access the driver has asked for and not yet used is cancelled.")

		// The door is opened by hand; the test reads it.
		og.Set(1, false, 0)
		p.later(time.Minute)
		resp, body = tom.formPost("/portal/garages/"+g.ID+"/test", token)
		_, body = tom.follow(resp, body)
		wantText(t, "the test", element(t, body, "portal-flash", "p"), "Test of “Home”: door reads open.")
		og.Set(0, false, 0)

		t.Run("switching off cancels pending access at once", func(t *testing.T) {
			p.later(time.Minute)
			resp, body := tom.formPost("/portal/garages/"+g.ID+"/key", token, "on", "1")
			_, body = tom.follow(resp, body)
			wantText(t, "key delivery on", element(t, body, "portal-flash", "p"), "Key delivery is on for “Home”.")
			book := p.parcel(t, "order-1002-book")
			rt := p.plan(t, mondayDate, handoff.RouteParcel{TrackingID: book})
			ctx := context.Background()
			da := p.seed.Associates[0].Principal
			if _, err := sqlstoretest.Door(p.db).LoadRoute(ctx, da, rt.ID); err != nil {
				t.Fatal(err)
			}
			// The opener answers slowly: the switch lands while the server
			// is still opening the door for the associate.
			og.Set(0, false, 300*time.Millisecond)
			arrived := make(chan string, 16)
			og.Notify(arrived)
			sqlstoretest.Garages(p.db).Timeouts.Call = 2 * time.Second
			opened := make(chan error, 1)
			go func() {
				_, err := sqlstoretest.Garages(p.db).OpenGarage(ctx, da, stopOf(t, rt, book).ID, nil)
				opened <- err
			}()
			// The server is talking to the door when its first request
			// reaches the opener.
			select {
			case <-arrived:
			case err := <-opened:
				t.Fatalf("the open ended before it reached the opener: %v", err)
			}
			p.later(time.Minute)
			resp, body = tom.formPost("/portal/garages/"+g.ID+"/key", token, "on", "0")
			_, body = tom.follow(resp, body)
			wantText(t, "key delivery off", element(t, body, "portal-flash", "p"),
				"Key delivery is off for “Home”. Any access the driver had asked for was cancelled at once.")
			if err := <-opened; handoff.ErrorCode(err) != handoff.EFORBIDDEN {
				t.Fatalf("the open went on after key delivery was switched off: %v", err)
			}
			if door, _ := og.Snapshot(); door != 0 {
				t.Error("the door was left open")
			}
			_, body = tom.get("/portal/settings")
			log := element(t, body, "garage-log", "ol")
			wantText(t, "the garage log", log, "Pending access cancelled", "key delivery switched off by the recipient",
				"Key delivery switched off", "The driver asked for access", "Key delivery switched on", "Tested", "door reads open", "Enrolled and tested")
			if !strings.Contains(log, `class="alarm"`) {
				t.Error("the cancelled access is not marked")
			}
			if i, j := strings.Index(log, "Key delivery switched off"), strings.Index(log, "Enrolled and tested"); i > j {
				t.Error("the log is not newest first")
			}
			wantText(t, "the garage", element(t, body, "garage-"+g.ID, "li"), `Key delivery: <strong class="off">off</strong>`)
		})

		t.Run("Home Assistant", func(t *testing.T) {
			ha := garagetest.StartHomeAssistant(t, "ha-t0ken-secret", "cover.garage")
			resp, body := tom.post("/portal/garages", enrolForm(token, "kind", "homeassistant", "label", "Cottage", "addressLine1", "1 Lane",
				"postalCode", "E3 4DH", "url", ha.Srv.URL, "token", "ha-t0ken-secret", "entityId", "cover.garage"))
			_, body = tom.follow(resp, body)
			wantText(t, "the enrolled garage", element(t, body, "portal-flash", "p"), "Garage “Cottage” enrolled. The test reached it: door reads closed.")
			p.assertNoCode(t, "ha-t0ken-secret")
		})

		t.Run("remove", func(t *testing.T) {
			p.later(time.Minute)
			resp, body := tom.formPost("/portal/garages/"+g.ID+"/remove", token)
			_, body = tom.follow(resp, body)
			wantText(t, "the removal", element(t, body, "portal-flash", "p"), "Garage removed.")
			if strings.Contains(body, `id="garage-`+g.ID+`"`) {
				t.Error("the removed garage is still listed")
			}
			wantText(t, "the log", element(t, body, "garage-log", "ol"), "A removed garage")
			// Another recipient cannot touch a garage that is not theirs.
			priya := p.recipient(t, "07700 900123", priyaMobile)
			_, page := priya.get("/portal/settings")
			gs, _ := sqlstoretest.Garages(p.db).RecipientGarages(context.Background(), tomMobile)
			resp, body = priya.formPost("/portal/garages/"+gs[0].ID+"/key", csrf(t, page), "on", "1")
			wantStatus(t, resp, body, http.StatusNotFound)
		})

		// No page, redirect or log line shows the device key.
		p.assertNoCode(t, key)
		p.assertNoInline(t)
	})
}

// TestPortalGarageSimulator: key delivery chosen for one parcel reaches
// the associate's stop; switched on for the address, the associate opens and
// closes, and the portal shows the log and the parcel delivered to the garage.
func TestPortalGarageSimulator(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		ctx := context.Background()
		tom := p.recipient(t, "07700 900456", tomMobile)
		_, page := tom.get("/portal/settings")
		token := csrf(t, page)
		resp, body := tom.post("/portal/garages", enrolForm(token, "kind", "simulator", "label", "Home", "addressLine1", "40 Bow Road", "postalCode", "E3 4DH"))
		_, body = tom.follow(resp, body)
		wantText(t, "the enrolled simulator", element(t, body, "portal-flash", "p"), "Garage “Home” enrolled.")
		gs, _ := sqlstoretest.Garages(p.db).RecipientGarages(ctx, tomMobile)
		g := gs[0]
		book := p.parcel(t, "order-1002-book")

		// Key delivery for this parcel only.
		_, page = tom.get("/portal/parcels")
		form := element(t, page, "parcel-"+book, "li")
		wantText(t, "the parcel's key delivery choice", form, `action="/portal/parcels/`+book+`/key"`, "Key delivery into <strong>Home</strong>")
		resp, body = tom.formPost("/portal/parcels/"+book+"/key", token, "garage", g.ID, "on", "1")
		wantRedirect(t, resp, body, "/portal/parcels?saved=key#parcel-"+book)
		_, body = tom.follow(resp, body)
		wantText(t, "the saved choice", element(t, body, "portal-flash", "p"), "Saved your key delivery choice.")
		rt := p.plan(t, mondayDate, handoff.RouteParcel{TrackingID: book})
		da := p.seed.Associates[0].Principal
		stopID := stopOf(t, rt, book).ID
		if st, _ := sqlstoretest.Door(p.db).FindStop(ctx, da, stopID); !st.Needs.Garage {
			t.Fatal("the parcel's key delivery choice did not reach the stop")
		}
		tom.formPost("/portal/parcels/"+book+"/key", token, "garage", g.ID, "on", "0")
		if st, _ := sqlstoretest.Door(p.db).FindStop(ctx, da, stopID); st.Needs.Garage {
			t.Fatal("taking the choice back did not reach the stop")
		}
		priya := p.recipient(t, "07700 900123", priyaMobile)
		_, page = priya.get("/portal/parcels")
		resp, body = priya.formPost("/portal/parcels/"+book+"/key", csrf(t, page), "garage", g.ID, "on", "1")
		wantStatus(t, resp, body, http.StatusNotFound)

		// Key delivery for every parcel to the address; the associate opens
		// and closes.
		p.later(time.Minute)
		resp, body = tom.formPost("/portal/garages/"+g.ID+"/key", token, "on", "1")
		wantRedirect(t, resp, body, "/portal/settings?done=key-on&garage="+g.ID+"#garage-"+g.ID)
		if _, err := sqlstoretest.Door(p.db).LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		p.later(time.Minute)
		grant, err := sqlstoretest.Garages(p.db).OpenGarage(ctx, da, stopID, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.later(time.Minute)
		if _, err := sqlstoretest.Garages(p.db).CloseGarage(ctx, da, stopID, grant.ID); err != nil {
			t.Fatal(err)
		}
		_, body = tom.get("/portal/settings")
		log := element(t, body, "garage-log", "ol")
		wantText(t, "the garage log", log, "The driver asked for access", "Door opened for the delivery", "Door closed, and confirmed closed")
		steps := []string{"Door closed, and confirmed closed", "Door opened for the delivery", "The driver asked for access", "Key delivery switched on", "Enrolled and tested"}
		for i := 1; i < len(steps); i++ {
			if strings.Index(log, steps[i-1]) > strings.Index(log, steps[i]) {
				t.Errorf("the log shows %q before %q; want newest first", steps[i], steps[i-1])
			}
		}
		_, body = tom.get("/portal/parcels")
		card := element(t, body, "parcel-"+book, "li")
		wantText(t, "the parcel", card, "<strong>Delivered to garage</strong>", "Garage opened", "Garage closed")
		// The garage's steps are placed in its town, not just its country.
		if i := strings.Index(card, "Garage opened"); i < 0 || !strings.Contains(card[i:i+strings.Index(card[i:], "</li>")], "London, GB") {
			t.Errorf("the garage's steps have no town:\n%s", card)
		}
		if strings.Contains(card, "key-choice") {
			t.Error("a delivered parcel still offers key delivery")
		}

		t.Run("crafted messages", func(t *testing.T) {
			for _, q := range []string{"done=key-off&garage=" + g.ID, "done=removed&garage=" + g.ID, "done=key-on&garage=gar_nosuch",
				"done=removed&garage=gar_nosuch", "done=tested&garage=" + g.ID} {
				_, body := tom.get("/portal/settings?" + q)
				if strings.Contains(body, "portal-flash") {
					t.Errorf("?%s shows a message that did not happen", q)
				}
			}
		})
	})
}

// TestPortalSimulatorOnlyInDevelopment: a production server neither offers
// nor accepts the simulator, and does not mention the dev outbox.
func TestPortalSimulatorOnlyInDevelopment(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, false)
		tom := p.recipient(t, "07700 900456", tomMobile)
		_, page := tom.get("/portal/settings")
		if strings.Contains(page, `value="simulator"`) {
			t.Error("a production server offers the simulator")
		}
		resp, body := tom.post("/portal/garages", enrolForm(csrf(t, page), "kind", "simulator", "label", "Home", "addressLine1", "40 Bow Road", "postalCode", "E3 4DH"))
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "the refused kind", element(t, body, "kind-error", "p"), "Choose the kind of opener.")
		if gs, _ := sqlstoretest.Garages(p.db).RecipientGarages(context.Background(), tomMobile); len(gs) != 0 {
			t.Error("a simulator was enrolled on a production server")
		}
		_, body = p.browser(t).get("/portal")
		if strings.Contains(body, "/dev/outbox") {
			t.Error("a production server links to the dev outbox")
		}
	})
}
