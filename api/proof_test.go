package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// verifiedRecord checks a proof as a shipper would, offline, with a JOSE
// library other than the server's signer, against the published key set;
// it returns the verified record, or nil when the proof does not verify.
func verifiedRecord(t *testing.T, jwks []byte, token string) map[string]any {
	t.Helper()
	var keys jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &keys); err != nil {
		t.Fatalf("go-jose cannot read /.well-known/jwks.json: %v", err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("not a JWS: %v", err)
	}
	found := keys.Key(jws.Signatures[0].Header.KeyID)
	if len(found) != 1 {
		return nil
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		return nil
	}
	var rec map[string]any
	if err := json.Unmarshal(payload, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// proofOf returns the proof of a delivered parcel as its shipper gets it.
func (d *day) proofOf(trackingID string) map[string]any {
	d.t.Helper()
	r := d.do("GET", "/v1/shipments/"+d.shipmentOf[trackingID]+"/proof", d.shipperKey, nil)
	if r.Status != 200 {
		d.t.Fatalf("proof of %s: %d %s", trackingID, r.Status, r.Body)
	}
	for _, p := range r.JSON(d.t)["proofs"].([]any) {
		if p := p.(map[string]any); p["trackingId"] == trackingID {
			return p
		}
	}
	d.t.Fatalf("no proof of %s", trackingID)
	return nil
}

func TestProofOfDeliveryByEachMethod(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		if r := d.do("POST", "/v1/account/webhooks", d.shipperKey, map[string]any{"url": "https://hooks.example/pod"}); r.Status != 201 {
			t.Fatalf("webhook: %d %s", r.Status, r.Body)
		}
		if r := d.do("PATCH", "/v1/account/settings", d.shipperKey, `{"secureDelivery":{"phoneDigitsFallback":true}}`); r.Status != 200 {
			t.Fatal(r.Status)
		}
		code := d.label("Ann", "1 A St", "07700900101", "500", "books")
		digits := d.label("Ben", "2 B St", "07700900202", "500", "books")
		bagged := d.label("Cat", "3 C St", "07700900303", "899", "smartphone")
		photo := d.label("Dan", "4 D St", "07700900404", "20", "books")
		handed := d.label("Eve", "5 E St", "07700900505", "20", "books")
		d.receive(code, digits, bagged, photo, handed)
		bagID := d.seal(bagged)
		_, stop := d.routeAll("2026-11-23", code, digits, bagged, photo, handed)

		// Nothing delivered yet: no proof; another shipper's shipment is 404.
		if r := d.do("GET", "/v1/shipments/"+d.shipmentOf[code]+"/proof", d.shipperKey, nil); r.Status != 200 || len(r.JSON(t)["proofs"].([]any)) != 0 {
			t.Fatalf("proofs before delivery: %d %s", r.Status, r.Body)
		}
		_, other := e.shipper()
		problem(t, d.do("GET", "/v1/shipments/"+d.shipmentOf[code]+"/proof", other, nil), 404, "")

		verify := func(id, code string) {
			if r := d.do("POST", "/v1/associate/stops/"+stop(id)+"/verify", d.da1Key, map[string]any{"code": code}); r.Status != 200 {
				t.Fatalf("verify %s: %d %s", id, r.Status, r.Body)
			}
		}
		verify(code, d.code("+447700900101", "2026-11-23"))
		if r := d.do("POST", "/v1/associate/stops/"+stop(digits)+"/phone-digits", d.da1Key, map[string]any{"digits": "02"}); r.Status != 200 {
			t.Fatalf("digits: %d %s", r.Status, r.Body)
		}
		d.scan(stop(bagged), bagID)
		verify(bagged, d.code("+447700900303", "2026-11-23"))
		if r := d.deliverWithPhoto(stop(photo), "DeliveredToPorch", "gps-orientation6.jpg"); r.Status != 200 {
			t.Fatalf("photo: %d %s", r.Status, r.Body)
		}
		g := newGarageDay(t, e)
		gr := g.open(g.da1Key)
		if gr.Status != 200 {
			t.Fatalf("garage open: %d %s", gr.Status, gr.Body)
		}
		if c := g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": gr.JSON(t)["grantId"]}); c.Status != 200 {
			t.Fatalf("garage close: %d %s", c.Status, c.Body)
		}
		jwks := d.do("GET", "/.well-known/jwks.json", "", nil)
		if jwks.Status != 200 || !strings.Contains(jwks.Header.Get("Cache-Control"), "public") {
			t.Fatalf("jwks: %d %s", jwks.Status, jwks.Body)
		}

		photoBytes := d.do("GET", "/v1/tracking/"+photo+"/photo", d.shipperKey, nil).Body
		photoSum := sha256.Sum256(photoBytes)
		tokens := map[string]string{}
		for _, c := range []struct {
			day    *day
			id     string
			method string
			check  func(rec map[string]any) bool
		}{
			{d, code, tracking.DeliveredWithOTP, func(rec map[string]any) bool { return rec["bag"] == nil && rec["photo"] == nil }},
			{d, digits, tracking.DeliveredWithPhoneDigits, func(rec map[string]any) bool { return rec["bag"] == nil }},
			{d, bagged, tracking.DeliveredWithOTP, func(rec map[string]any) bool {
				b, _ := rec["bag"].(map[string]any)
				return b["bagId"] == bagID && b["scannedAndMatched"] == true && b["scannedAt"] != nil
			}},
			{d, photo, tracking.DeliveredToPorch, func(rec map[string]any) bool {
				return rec["photo"].(map[string]any)["sha256"] == hex.EncodeToString(photoSum[:])
			}},
			{g.day, g.parcel, tracking.DeliveredToGarage, func(rec map[string]any) bool {
				gg, _ := rec["garage"].(map[string]any)
				return gg["openedAt"] != nil && gg["closedAt"] != nil && gg["grantId"] != ""
			}},
		} {
			p := c.day.proofOf(c.id)
			tok := p["proof"].(string)
			rec := verifiedRecord(t, jwks.Body, tok)
			if rec == nil {
				t.Fatalf("%s: the proof does not verify with the published keys", c.method)
			}
			if rec["trackingId"] != c.id || rec["method"] != c.method || rec["associateId"] == "" || rec["routeId"] == "" ||
				rec["recipient"].(map[string]any)["shipmentId"] != c.day.shipmentOf[c.id] || !c.check(rec) {
				t.Errorf("%s: record = %v", c.method, rec)
			}
			// The recipient is named by the label only.
			if s := strings.Join(strings.Fields(string(mustJSON(rec))), ""); strings.Contains(s, "7700900") || strings.Contains(s, "rec@example.com") {
				t.Errorf("%s: the record holds contact data: %s", c.method, s)
			}
			tokens[c.id] = tok
		}

		// A changed byte of the record fails verification.
		parts := strings.Split(tokens[code], ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte("DeliveredWithOTP"), []byte("DeliveredWithOTQ"), 1)) + "." + parts[2]
		if verifiedRecord(t, jwks.Body, forged) != nil {
			t.Error("a changed record verified")
		}

		// The delivered webhook carries the proof.
		msgs := sqlstoretest.Notifications(t, e.db, code)
		var hooked bool
		for _, m := range msgs {
			if m.Kind == "tracking_event" && m.Data["proof"] == tokens[code] {
				hooked = true
			}
		}
		if !hooked {
			t.Error("the Delivered webhook does not carry the proof")
		}

		// After the keys rotate, new proofs use the new key and old ones
		// still verify against the published keys.
		oldKid := d.proofOf(code)["keyId"]
		e.db.Keys.Rotate(monday)
		if r := d.do("POST", "/v1/associate/stops/"+stop(handed)+"/deliver", d.da1Key, map[string]any{"place": "DeliveredToCustomer"}); r.Status != 200 {
			t.Fatalf("deliver: %d %s", r.Status, r.Body)
		}
		fresh := d.proofOf(handed)
		if fresh["keyId"] == oldKid {
			t.Errorf("the proof after rotation is signed with the old key %v", oldKid)
		}
		jwks = d.do("GET", "/.well-known/jwks.json", "", nil)
		tokens[handed] = fresh["proof"].(string)
		for id, tok := range tokens {
			if verifiedRecord(t, jwks.Body, tok) == nil {
				t.Errorf("after rotation the proof of %s does not verify", id)
			}
		}

		// The one-page PDF.
		pdf := d.do("GET", "/v1/shipments/"+d.shipmentOf[photo]+"/proof/"+photo+"/pdf", d.shipperKey, nil)
		if pdf.Status != 200 || pdf.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) {
			t.Fatalf("pdf: %d %s", pdf.Status, pdf.Header.Get("Content-Type"))
		}
		problem(t, d.do("GET", "/v1/shipments/"+d.shipmentOf[photo]+"/proof/"+code+"/pdf", d.shipperKey, nil), 404, "")
		problem(t, d.do("GET", "/v1/shipments/"+d.shipmentOf[photo]+"/proof/"+photo+"/pdf", other, nil), 404, "")
	})
}
