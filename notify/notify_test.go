package notify_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/station"
)

var ctx = context.Background()

// smsBox is a local HTTP server speaking Twilio's Messages API.
type smsBox struct {
	mu    sync.Mutex
	msgs  []sms
	delay atomic.Int64 // nanoseconds to hang before answering
	srv   *httptest.Server
}

type sms struct{ To, From, Body string }

func startSMS(t *testing.T) *smsBox {
	t.Helper()
	b := &smsBox{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "AC123" || pass != "secret-token" || r.URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" {
			http.Error(w, `{"code":20003,"message":"Authenticate"}`, 401)
			return
		}
		if d := time.Duration(b.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		r.ParseForm()
		b.mu.Lock()
		b.msgs = append(b.msgs, sms{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body")})
		n := len(b.msgs)
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"sid":"SM` + strconv.Itoa(n) + `","status":"queued"}`))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *smsBox) all() []sms {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sms(nil), b.msgs...)
}

func senders(t *testing.T, box *mailbox, sb *smsBox) map[string]notify.Sender {
	t.Helper()
	host, port, _ := net.SplitHostPort(box.addr)
	p, _ := strconv.Atoi(port)
	mail, err := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: p, From: "handoff@example.com", TLS: "none", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := notify.NewTwilio(notify.TwilioConfig{BaseURL: sb.srv.URL, AccountSID: "AC123", AuthToken: "secret-token", From: "+15005550006",
		Client: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]notify.Sender{notify.Email: mail, notify.SMS: tw}
}

// flow runs a delivery day on the store and returns the codes sent.
type flow struct {
	db                 *sqlstore.DB
	station, associate *handoff.Principal
	shipper            *handoff.Principal
	gb, fr, gift       string // tracking IDs
	gbStop, giftStop   string
}

var monday = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newFlow(t *testing.T, db *sqlstore.DB) *flow {
	t.Helper()
	db.Now = func() time.Time { return monday }
	f := &flow{db: db}
	f.shipper, _, _ = db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Shop"})
	on := true
	p := &handoff.SettingsPatch{}
	p.SecureDelivery = &handoff.SecureDeliveryPatch{OTPEnabled: &on}
	if _, err := db.UpdateSettings(ctx, f.shipper.ID, p); err != nil {
		t.Fatal(err)
	}
	f.station, _, _ = db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "Hub"})
	f.associate, _, _ = db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "Dee", StationID: f.station.ID})
	from := &handoff.Address{Name: "Shop", AddressLine1: "1 Dock", City: "London", PostalCode: "E1", CountryCode: "GB"}
	mk := func(in handoff.ShipmentInput) string {
		in.ShipFrom = from
		s, _, err := db.CreateShipment(ctx, f.shipper.ID, &in, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stationsOf(db).ReceiveParcel(ctx, f.station, s.Packages[0].TrackingID); err != nil {
			t.Fatal(err)
		}
		return s.Packages[0].TrackingID
	}
	pkg := func(v, cur string) []handoff.PackageInput {
		return []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: handoff.Decimal(v), Unit: cur}}}
	}
	f.gb = mk(handoff.ShipmentInput{ShipTo: &handoff.Address{Name: "Priya", AddressLine1: "12 Mare St", City: "London", PostalCode: "E8", CountryCode: "GB",
		PhoneNumber: "07700900123", Email: "priya@example.com"}, Packages: pkg("500", "GBP")})
	f.gift = mk(handoff.ShipmentInput{ShipTo: &handoff.Address{Name: "Ana", AddressLine1: "7 Roman Rd", City: "London", PostalCode: "E2", CountryCode: "GB",
		PhoneNumber: "07700900789", Email: "ana@example.com"}, Gift: &handoff.Gift{Buyer: &handoff.Party{Name: "Luis", Email: "luis@example.com", PhoneNumber: "07700900321"}},
		Packages: pkg("900", "GBP")})
	return f
}

// out plans and loads today's route for the GB parcels.
func (f *flow) out(t *testing.T) {
	t.Helper()
	r, err := stationsOf(f.db).CreateRoute(ctx, f.station, handoff.NewRoute{AssociateID: f.associate.ID, ServiceDate: "2026-11-23", TrackingIDs: []string{f.gb, f.gift}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstoretest.Door(f.db).LoadRoute(ctx, f.associate, r.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Stops {
		switch s.Parcels[0].TrackingID {
		case f.gb:
			f.gbStop = s.ID
		case f.gift:
			f.giftStop = s.ID
		}
	}
}

func count(xs []string, s string) (n int) {
	for _, x := range xs {
		if strings.Contains(x, s) {
			n++
		}
	}
	return
}

func TestDeliveryOfMessages(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		box, sb := startSMTP(t), startSMS(t)
		f := newFlow(t, db)
		// A French recipient gets French.
		frShip := &handoff.ShipmentInput{ShipTo: &handoff.Address{Name: "Léa", AddressLine1: "3 rue X", City: "Paris", PostalCode: "75001", CountryCode: "FR",
			PhoneNumber: "06 12 34 56 78", Email: "lea@example.fr"}, ShipFrom: &handoff.Address{Name: "S", AddressLine1: "1", City: "L", PostalCode: "1", CountryCode: "GB"},
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "20", Unit: "EUR"}}}}
		s, _, err := db.CreateShipment(ctx, f.shipper.ID, frShip, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stationsOf(db).ReceiveParcel(ctx, f.station, s.Packages[0].TrackingID); err != nil {
			t.Fatal(err)
		}
		f.out(t)
		code := sqlstoretest.ContactCode(t, db, "+447700900123")
		giftCode := sqlstoretest.ContactCode(t, db, "+447700900789")
		if _, err := sqlstoretest.Door(db).VerifyCode(ctx, f.associate, f.gbStop, code); err != nil {
			t.Fatal(err)
		}

		w := &notify.Worker{Store: db, Senders: senders(t, box, sb), Now: db.Now, PublicURL: "http://127.0.0.1:8080"}
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}

		var mails []string
		for _, m := range box.all() {
			mails = append(mails, m.To+"|"+m.Subject+"|"+m.Body)
			if !strings.HasPrefix(m.MessageID, "<msg_") || !strings.HasSuffix(m.MessageID, "@handoff>") {
				t.Errorf("Message-ID %q does not carry the message ID", m.MessageID)
			}
		}
		var texts []string
		for _, m := range sb.all() {
			texts = append(texts, m.To+"|"+m.Body)
			if segs := notify.Segments(m.Body); segs > 2 {
				t.Errorf("SMS of %d segments: %q", segs, m.Body)
			}
			if !strings.Contains(m.Body, "HO") {
				t.Errorf("SMS does not name the tracking ID: %q", m.Body)
			}
		}
		checks := []struct {
			list []string
			want string
			n    int
		}{
			{mails, "priya@example.com|Shop: your parcel " + f.gb + " is on its way", 1},
			{mails, "priya@example.com|Shop: " + f.gb + " arrives today", 1},
			{mails, "Your passcode is " + code, 1},
			{mails, "priya@example.com|Shop: " + f.gb + " delivered", 1},
			{mails, "was delivered with your passcode", 1},
			{mails, "lea@example.fr|Shop : votre colis", 1},
			{mails, "luis@example.com|Shop: " + f.gift + " arrives today|Hello Luis,", 1}, // the gift buyer gets the code too, greeted as himself
			{mails, "Your passcode is " + giftCode, 2},                                    // Ana and Luis
			{mails, "Follow it: http://127.0.0.1:8080/track?id=" + f.gb, 3},
			{texts, "+447700900123|Shop: " + f.gb + " arrives today, Monday 23 November", 1},
			{texts, "Passcode " + code + ": only for the driver", 1},
			{texts, "+447700900321|", 1}, // the buyer's phone: the code message only
			{texts, "+33612345678|Shop : votre colis", 1},
			{texts, "+447700900123|Shop: your parcel " + f.gb + " was delivered with your passcode. http://127.0.0.1:8080/track?id=" + f.gb, 1},
		}
		for _, c := range checks {
			if got := count(c.list, c.want); got != c.n {
				t.Errorf("%d messages contain %q, want %d\nall: %q", got, c.want, c.n, c.list)
			}
		}
		// Nothing is left and nothing is sent twice on another run.
		before := len(box.all()) + len(sb.all())
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if after := len(box.all()) + len(sb.all()); after != before {
			t.Errorf("a second drain sent %d more", after-before)
		}
		// The outbox holds no code.
		for _, e := range mustList(t, db, "") {
			if strings.Contains(e.LastError, code) {
				t.Error("a code in the outbox")
			}
		}
	})
}

// stationsOf returns the station's service over db, with db's policy.
func stationsOf(db *sqlstore.DB) *station.Service { return station.NewService(db, db.Policy) }

func mustList(t *testing.T, db *sqlstore.DB, status string) []notify.Entry {
	t.Helper()
	es, err := db.ListNotifications(ctx, status, 500)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestCrashBetweenClaimAndSend stops a "worker" after it claimed a batch and
// before it sent anything; once the lease ends, a fresh worker delivers every
// message. A worker that dies after sending but before marking makes the
// provider see the message twice, with the same message ID.
func TestCrashBetweenClaimAndSend(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		box, sb := startSMTP(t), startSMS(t)
		f := newFlow(t, db)
		f.out(t)
		pending := len(mustList(t, db, sqlstore.StatusPending))

		// The first worker claims everything and dies.
		claimed, _ := db.ClaimNotifications(ctx, notify.Email, 100, time.Minute)
		claimedSMS, _ := db.ClaimNotifications(ctx, notify.SMS, 100, time.Minute)
		if len(claimed)+len(claimedSMS) != pending {
			t.Fatalf("claimed %d of %d", len(claimed)+len(claimedSMS), pending)
		}
		// Its send of one message reached the provider, but it died before
		// marking it sent.
		w := &notify.Worker{Store: db, Senders: senders(t, box, sb), Now: db.Now}
		half, err := w.Build(ctx, claimed[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Senders[notify.Email].Send(ctx, half); err != nil {
			t.Fatal(err)
		}

		// A restarted worker finds nothing due while the lease holds…
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(box.all()) + len(sb.all()); n != 1 {
			t.Fatalf("%d sent under a live lease", n)
		}
		// …and everything once it ends.
		later := monday.Add(2 * time.Minute)
		db.Now = func() time.Time { return later }
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if left := len(mustList(t, db, sqlstore.StatusPending)); left != 0 {
			t.Fatalf("%d messages still pending", left)
		}
		if got := len(mustList(t, db, sqlstore.StatusSent)); got != pending {
			t.Fatalf("%d sent, want %d", got, pending)
		}
		ids := map[string]int{}
		for _, m := range box.all() {
			ids[m.MessageID]++
		}
		dups := 0
		for id, n := range ids {
			if n > 1 {
				dups++
				if id != "<"+half.ID+"@handoff>" {
					t.Errorf("unexpected duplicate %s", id)
				}
			}
		}
		if dups != 1 {
			t.Errorf("%d duplicated emails, want exactly the one sent before the crash", dups)
		}
	})
}

// TestFailingProviderDoesNotBlockOthers hangs the SMS provider: email still
// goes out, the SMS messages end as dead letters the operator can see and
// retry.
func TestFailingProviderDoesNotBlockOthers(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		box, sb := startSMTP(t), startSMS(t)
		sb.delay.Store(int64(5 * time.Second)) // longer than the client's timeout
		f := newFlow(t, db)
		f.out(t)
		w := &notify.Worker{Store: db, Senders: senders(t, box, sb), Now: db.Now, MaxAttempts: 1, SendTimeout: 300 * time.Millisecond, Poll: 50 * time.Millisecond}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() { w.Run(rctx); close(done) }()
		wantMail := 0
		for _, e := range mustList(t, db, "") {
			if e.Channel == notify.Email {
				wantMail++
			}
		}
		for len(box.all()) < wantMail && rctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		for rctx.Err() == nil {
			dead := mustList(t, db, sqlstore.StatusDead)
			if len(dead) > 0 && len(dead) == len(mustList(t, db, ""))-wantMail {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		if got := len(box.all()); got != wantMail {
			t.Fatalf("%d emails sent while SMS hung, want %d", got, wantMail)
		}
		dead := mustList(t, db, sqlstore.StatusDead)
		if len(dead) == 0 {
			t.Fatal("no dead letters")
		}
		for _, d := range dead {
			if d.Channel != notify.SMS || d.LastError == "" {
				t.Errorf("dead letter %+v", d)
			}
		}
		// The operator retries one once the provider is back, later than
		// any lease the stopped worker took: on PostgreSQL a claim it sent
		// just before it was cancelled may still run on the server after
		// the retry, and with the clock standing still that lease would
		// never end.
		sb.delay.Store(0)
		later := monday.Add(2 * w.Lease)
		db.Now = func() time.Time { return later }
		if err := db.RetryNotification(ctx, dead[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if len(sb.all()) != 1 {
			t.Errorf("retried dead letter not sent: %d SMS", len(sb.all()))
		}
	})
}
