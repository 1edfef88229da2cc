package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// The rule of SPEC §1: knowing a code unlocks only parcels whose own label
// sent that code to you. These tests play the attack: a second shipper's
// label (or a gift order) naming the victim's mobile with the attacker's own
// email or buyer, both out on the same day.

// scopeDay is a delivery day with two shippers, A (the victim's merchant)
// and B (any other merchant, possibly the attacker's own account), and a dev
// outbox standing in for every phone and inbox.
type scopeDay struct {
	*day
	shipperB string
	outbox   *notify.DevOutbox
}

func newScopeDay(t *testing.T, e *env) *scopeDay {
	d := newDay(t, e, monday)
	_, b := e.shipper()
	e.otpOn(b)
	return &scopeDay{day: d, shipperB: b, outbox: notify.NewDevOutbox(1000)}
}

// labelFor creates a GB OTP parcel with shipper key for a recipient at an
// address, with the email given and, when buyer is not empty, as a gift
// order whose buyer has that email.
func (d *scopeDay) labelFor(key, name, line1, phone, email, buyer string) string {
	d.t.Helper()
	b := shipment("GB", "GBP", "500", phone)
	to := b["shipTo"].(map[string]any)
	to["name"], to["addressLine1"], to["email"] = name, line1, email
	if buyer != "" {
		b["gift"] = map[string]any{"buyer": map[string]any{"name": "Buyer", "email": buyer}}
	}
	r := d.do("POST", "/v1/shipments", key, b)
	if r.Status != 201 {
		d.t.Fatalf("label: %d %s", r.Status, r.Body)
	}
	return r.JSON(d.t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
}

// out receives the parcels, routes and loads them, and sends every queued
// message to the dev outbox. It returns the loaded route.
func (d *scopeDay) out(ids ...string) map[string]any {
	d.t.Helper()
	d.receive(ids...)
	var parcels []any
	for _, id := range ids {
		parcels = append(parcels, map[string]any{"trackingId": id})
	}
	rt := d.route("2026-11-23", parcels)
	w := &notify.Worker{Store: d.db, Senders: map[string]notify.Sender{notify.SMS: d.outbox, notify.Email: d.outbox}, Now: d.db.Now}
	if err := w.Drain(t0ctx); err != nil {
		d.t.Fatal(err)
	}
	return rt
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// codesTo returns the distinct codes the messages to an address carried.
func (d *scopeDay) codesTo(addr string) []string {
	var out []string
	for _, m := range d.outbox.List() {
		if m.To != addr {
			continue
		}
		for _, c := range sixDigits.FindAllString(m.Subject+" "+m.Text, -1) {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// verify enters a code at a stop and returns the answer.
func (d *scopeDay) verify(stopID, code string) resp {
	return d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": code})
}

// wrong reports whether the door took an entry as a wrong code: evaluated,
// and counted against the stop's attempts.
func wrong(t *testing.T, r resp) bool {
	t.Helper()
	return r.Status == http.StatusUnprocessableEntity && r.JSON(t)["code"] == "wrong_code"
}

// lastEvent returns the last tracking event of a parcel, as its shipper
// (key) sees it: "Code" or "Code/Detail".
func (d *scopeDay) lastEvent(key, trackingID string) string {
	d.t.Helper()
	r := d.do("GET", "/v1/tracking/"+trackingID, key, nil)
	if r.Status != 200 {
		d.t.Fatalf("tracking %s: %d %s", trackingID, r.Status, r.Body)
	}
	h := r.JSON(d.t)["eventHistory"].([]any)
	e := h[len(h)-1].(map[string]any)
	s := e["eventCode"].(string)
	if dc, ok := e["detailCode"].(string); ok {
		s += "/" + dc
	}
	return s
}

func deliveredIDs(t *testing.T, r resp) []string {
	t.Helper()
	var out []string
	for _, id := range r.JSON(t)["delivered"].([]any) {
		out = append(out, id.(string))
	}
	return out
}

func TestCodeOfAnotherLabelOpensNothingOfTheVictim(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newScopeDay(t, e)
		const mobile, victimEmail, attackerEmail = "+447700900444", "priya@example.com", "mallory@example.net"
		victim := d.labelFor(d.shipperKey, "Priya", "5 Elm St", "07700900444", victimEmail, "")
		// Shipper B's label: the victim's mobile, the attacker's email, sent
		// to the attacker's own address.
		bait := d.labelFor(d.shipperB, "Priya", "9 Far Rd", "07700900444", attackerEmail, "")
		rt := d.out(victim, bait)

		attackerCodes := d.codesTo(attackerEmail)
		if len(attackerCodes) != 1 {
			t.Fatalf("the attacker's inbox holds codes %v, want the one of their own label", attackerCodes)
		}
		victimCodes := d.codesTo(victimEmail)
		if len(victimCodes) != 1 {
			t.Fatalf("the victim's inbox holds codes %v, want one", victimCodes)
		}
		if attackerCodes[0] == victimCodes[0] {
			t.Fatal("the attacker's email received the victim's code")
		}
		// The victim's phone is on both labels: it gets both codes.
		if got := d.codesTo(mobile); len(got) != 2 || !slices.Contains(got, victimCodes[0]) || !slices.Contains(got, attackerCodes[0]) {
			t.Errorf("the victim's phone got codes %v, want both %v and %v", got, victimCodes, attackerCodes)
		}

		stop := stopOf(t, rt, victim)["stopId"].(string)
		for i := 1; i <= 2; i++ {
			r := d.verify(stop, attackerCodes[0])
			if !wrong(t, r) {
				t.Fatalf("the attacker's code at the victim's door, try %d: %d %s", i, r.Status, r.Body)
			}
			m := r.JSON(t)
			if left := int(m["attemptsLeft"].(float64)); left != 3-i {
				t.Fatalf("after %d wrong entries %d attempts are left, want %d", i, left, 3-i)
			}
		}
		if ev := d.events(victim); ev[len(ev)-1] != "OutForDelivery" {
			t.Fatalf("the victim's parcel moved: %v", ev)
		}
		// The victim's own code still delivers the victim's parcel.
		r := d.verify(stop, victimCodes[0])
		if r.Status != 200 || r.JSON(t)["correct"] != true {
			t.Fatalf("the victim's code: %d %s", r.Status, r.Body)
		}
		if got := deliveredIDs(t, r); !slices.Equal(got, []string{victim}) {
			t.Fatalf("delivered %v, want the victim's parcel", got)
		}
		// The portal shows the attacker, signed in with their email, only
		// their own label's parcel and code.
		ps, err := d.db.RecipientParcels(t0ctx, attackerEmail)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.TrackingID != bait {
				t.Errorf("the attacker's portal lists %s", p.TrackingID)
			}
			if p.Passcode == victimCodes[0] {
				t.Error("the attacker's portal shows the victim's code")
			}
		}
	})
}

func TestGiftBuyerLearnsOnlyTheGiftsCode(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newScopeDay(t, e)
		const victimEmail, buyerEmail = "priya@example.com", "buyer@example.net"
		victim := d.labelFor(d.shipperKey, "Priya", "5 Elm St", "07700900445", victimEmail, "")
		gift := d.labelFor(d.shipperB, "Priya", "5 Elm St", "07700900445", victimEmail, buyerEmail)
		rt := d.out(victim, gift)
		stop := stopOf(t, rt, victim)["stopId"].(string)
		if other := stopOf(t, rt, gift)["stopId"].(string); other != stop {
			t.Fatalf("the gift and the victim's parcel are at different stops")
		}

		buyerCodes := d.codesTo(buyerEmail)
		if len(buyerCodes) != 1 {
			t.Fatalf("the buyer got codes %v, want the gift's", buyerCodes)
		}
		// The buyer's code opens the gift and nothing else.
		r := d.verify(stop, buyerCodes[0])
		if r.Status != 200 || r.JSON(t)["correct"] != true {
			t.Fatalf("the gift's code: %d %s", r.Status, r.Body)
		}
		if got := deliveredIDs(t, r); !slices.Equal(got, []string{gift}) {
			t.Fatalf("the buyer's code delivered %v, want only the gift %s", got, gift)
		}
		// The stop still waits for the victim's own code, and says which
		// parcel needs it.
		st := r.JSON(t)["stop"].(map[string]any)
		if st["otpState"] != "pending" {
			t.Fatalf("otpState = %v after one of two codes", st["otpState"])
		}
		var waiting []string
		for _, p := range st["parcels"].([]any) {
			p := p.(map[string]any)
			if p["otpRequired"] == true && p["outcome"] == nil {
				waiting = append(waiting, p["trackingId"].(string))
			}
		}
		if !slices.Equal(waiting, []string{victim}) {
			t.Fatalf("parcels still waiting for a code: %v, want %s", waiting, victim)
		}
		// A right entry used no attempt: three remain for the other code.
		if left := int(st["attemptsLeft"].(float64)); left != 3 {
			t.Errorf("attemptsLeft = %d after a right entry, want 3", left)
		}
		victimCodes := d.codesTo(victimEmail)
		var own string
		for _, c := range victimCodes {
			if c != buyerCodes[0] {
				own = c
			}
		}
		if len(victimCodes) != 2 || own == "" {
			t.Fatalf("the victim's inbox holds %v: want the gift's code and their own", victimCodes)
		}
		// The buyer's code again is now a wrong guess for what is left, as
		// is any other; after two of them the stop's third evaluation is
		// still there for the victim's code (the right entry used none).
		other := "000000"
		if slices.Contains(victimCodes, other) {
			other = "000001"
		}
		for i, c := range []string{buyerCodes[0], other} {
			r := d.verify(stop, c)
			if !wrong(t, r) {
				t.Fatalf("a wrong entry after the gift's code: %d %s", r.Status, r.Body)
			}
			if left := int(r.JSON(t)["attemptsLeft"].(float64)); left != 2-i {
				t.Fatalf("after %d wrong entries %d attempts are left, want %d", i+1, left, 2-i)
			}
		}
		r = d.verify(stop, own)
		if r.Status != 200 {
			t.Fatalf("the victim's code after two wrong entries: %d %s", r.Status, r.Body)
		}
		if got := deliveredIDs(t, r); !slices.Equal(got, []string{victim}) {
			t.Fatalf("the victim's code delivered %v", got)
		}
		if st := r.JSON(t)["stop"].(map[string]any); st["otpState"] != "verified" {
			t.Errorf("otpState = %v once every code was entered", st["otpState"])
		}
		// The buyer's portal lists only the gift.
		ps, err := d.db.RecipientParcels(t0ctx, buyerEmail)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].TrackingID != gift {
			t.Errorf("the buyer's portal lists %v", ps)
		}
	})
}

func TestSameContactsShareOneCode(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newScopeDay(t, e)
		const email = "tom@example.com"
		a := d.labelFor(d.shipperKey, "Tom", "7 Oak Rd", "07700900446", email, "")
		b := d.labelFor(d.shipperB, "Tom", "7 Oak Rd", "07700900446", "Tom@Example.com", "")
		rt := d.out(a, b)
		codes := d.codesTo(email)
		if len(codes) != 1 {
			t.Fatalf("Tom's inbox holds codes %v, want one for both parcels", codes)
		}
		if got := d.codesTo("+447700900446"); !slices.Equal(got, codes) {
			t.Fatalf("Tom's phone holds codes %v, his inbox %v", got, codes)
		}
		r := d.verify(stopOf(t, rt, a)["stopId"].(string), codes[0])
		got := deliveredIDs(t, r)
		slices.Sort(got)
		want := []string{a, b}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("one entry delivered %v, want both %v", got, want)
		}
	})
}

// TestTwoCodesUnderRacingGuesses: a stop with parcels under two codes; 50
// wrong guesses race with the first code. At most three guesses are ever
// evaluated at the stop, however many codes it has; the right code, when
// evaluated before the third wrong one, delivers exactly its own parcels.
func TestTwoCodesUnderRacingGuesses(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newScopeDay(t, e)
		e.db.Policy.WrongCodeLimit = 1000 // the associate's own budget is another test's
		own := d.labelFor(d.shipperKey, "Ann", "3 Ash Rd", "07700900447", "ann@example.com", "")
		gift := d.labelFor(d.shipperB, "Ann", "3 Ash Rd", "07700900447", "ann@example.com", "giver@example.net")
		rt := d.out(own, gift)
		stop := stopOf(t, rt, own)["stopId"].(string)
		giftCode := d.codesTo("giver@example.net")[0]
		var ownCode string
		for _, c := range d.codesTo("ann@example.com") {
			if c != giftCode {
				ownCode = c
			}
		}

		const n = 51
		results := make([]resp, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := wrongCode(ownCode, i)
				for code == giftCode {
					code = wrongCode(ownCode, i+n)
				}
				if i == 25 {
					code = giftCode
				}
				<-start
				results[i] = d.do("POST", "/v1/associate/stops/"+stop+"/verify", d.da1Key, map[string]any{"code": code})
			}()
		}
		close(start)
		wg.Wait()
		wrongEvaluated := 0
		for i, r := range results {
			switch {
			case i != 25 && r.Status == http.StatusOK:
				t.Fatalf("a wrong code was taken: %s", r.Body)
			case i != 25 && wrong(t, r):
				wrongEvaluated++
			case r.Status == http.StatusOK, r.Status == http.StatusConflict:
			default:
				t.Fatalf("guess %d: unexpected %d %s", i, r.Status, r.Body)
			}
		}
		if wrongEvaluated > 3 {
			t.Fatalf("%d wrong guesses were evaluated at one stop; at most 3", wrongEvaluated)
		}
		giftRes := results[25]
		last := d.lastEvent(d.shipperB, gift)
		switch giftRes.Status {
		case http.StatusOK:
			if giftRes.JSON(t)["correct"] != true || !slices.Equal(deliveredIDs(t, giftRes), []string{gift}) {
				t.Fatalf("the gift's code was evaluated but delivered %s", giftRes.Body)
			}
			if last != "Delivered/DeliveredWithOTP" {
				t.Fatalf("the gift's last event is %s", last)
			}
		case http.StatusConflict:
			// It came after the third wrong guess: refused, and the attempt
			// is over for both parcels.
			if wrongEvaluated != 3 {
				t.Fatalf("the gift's code was refused with only %d wrong guesses evaluated: %s", wrongEvaluated, giftRes.Body)
			}
			if last != "DeliveryAttempted/OtpNotAvailable" {
				t.Fatalf("the gift's last event is %s", last)
			}
		}
		ownEvents := d.events(own)
		if ol := ownEvents[len(ownEvents)-1]; ol == "Delivered/DeliveredWithOTP" {
			t.Fatal("the other code's parcel was delivered without its code")
		}
		if wrongEvaluated < 3 {
			// The attempt is still open: the other parcel needs its own code.
			r := d.verify(stop, ownCode)
			if r.Status != 200 || !slices.Equal(deliveredIDs(t, r), []string{own}) {
				t.Fatalf("the own code after the race: %d %s", r.Status, r.Body)
			}
		}
	})
}

// TestDoorRefusalsCarryReasons: a client branches on the reason of a
// refusal at the door, not on its words.
func TestDoorRefusalsCarryReasons(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newScopeDay(t, e)
		id := d.labelFor(d.shipperKey, "Rae", "4 Bay Rd", "07700900448", "rae@example.com", "")
		d.receive(id)
		r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{id}})
		if r.Status != 201 {
			t.Fatalf("route: %d %s", r.Status, r.Body)
		}
		rt := r.JSON(t)
		stop := stopOf(t, rt, id)["stopId"].(string)
		reason := func(r resp, status int, want string) {
			t.Helper()
			if p := problem(t, r, status, ""); p["reason"] != want {
				t.Errorf("reason %v, want %s: %s", p["reason"], want, r.Body)
			}
		}
		reason(d.verify(stop, "123456"), 409, "route_not_loaded")
		if l := d.do("POST", "/v1/associate/routes/"+rt["routeId"].(string)+"/load", d.da1Key, nil); l.Status != 200 {
			t.Fatalf("load: %d %s", l.Status, l.Body)
		}
		reason(d.do("POST", "/v1/associate/routes/"+rt["routeId"].(string)+"/load", d.da1Key, nil), 409, "route_loaded")
		for range 3 {
			if r := d.do("POST", "/v1/associate/stops/"+stop+"/resend", d.da1Key, nil); r.Status != 202 {
				t.Fatalf("resend: %d %s", r.Status, r.Body)
			}
		}
		reason(d.do("POST", "/v1/associate/stops/"+stop+"/resend", d.da1Key, nil), 429, "resend_limit")
		reason(d.do("POST", "/v1/associate/stops/"+stop+"/deliver", d.da1Key, map[string]any{"place": "DeliveredToCustomer"}), 409, "nothing_to_deliver")
		code := sqlstoretest.ContactCode(t, e.db, "rae@example.com")
		if r := d.verify(stop, code); r.Status != 200 {
			t.Fatalf("the right code: %d %s", r.Status, r.Body)
		}
		reason(d.verify(stop, code), 409, "already_delivered")
	})
}
