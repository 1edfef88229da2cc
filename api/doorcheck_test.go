package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// drawnSignature is a signature as the associate's screen sends it.
func drawnSignature(t *testing.T, name, relationship string) map[string]any {
	t.Helper()
	png, err := os.ReadFile(filepath.Join("..", "photo", "testdata", "plain.png"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kind": "DRAWN", "image": png, "signerName": name, "relationship": relationship}
}

// TestSignatureAndAgeCheck hands parcels over against a signature and an
// age check (SPEC §7), and shows what is refused: no signature, a typed name
// the shipper refuses, a recipient under age, and any unattended delivery.
func TestSignatureAndAgeCheck(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		signed := d.label("Ann", "1 A St", "07700900101", "20", "books", map[string]any{"signature": "ANY"})
		typed := d.label("Ben", "2 B St", "07700900202", "20", "books", map[string]any{"signature": "ANY"})
		adult := d.label("Cat", "3 C St", "07700900303", "20", "wine", map[string]any{"signature": "ADULT"})
		age21 := d.label("Dan", "4 D St", "07700900404", "20", "wine", map[string]any{"minimumAge": 21})
		minor := d.label("Eve", "5 E St", "07700900505", "20", "wine", map[string]any{"minimumAge": 18})
		// The shipper refuses typed names from now on: labels made before
		// keep the setting they were made with.
		if r := d.do("PATCH", "/v1/account/settings", d.shipperKey, `{"secureDelivery":{"typedSignatureRefused":true}}`); r.Status != 200 {
			t.Fatalf("settings: %d %s", r.Status, r.Body)
		}
		strict := d.label("Fay", "6 F St", "07700900606", "20", "books", map[string]any{"signature": "ANY"})
		d.receive(signed, typed, adult, age21, minor, strict)
		rt, stop := d.routeAll("2026-11-23", signed, typed, adult, age21, minor, strict)

		s := stopOf(t, rt, adult)
		if n := s["needs"].(map[string]any); n["signature"] != true || n["ageCheck"] != true || n["photo"] != false {
			t.Fatalf("adult stop needs %v", n)
		}
		if p := s["parcels"].([]any)[0].(map[string]any); p["signatureRequired"] != "ADULT" || p["minimumAge"] != float64(18) {
			t.Fatalf("adult parcel %v", p)
		}
		deliver := func(id string, body map[string]any) resp {
			return d.do("POST", "/v1/associate/stops/"+stop(id)+"/deliver", d.da1Key, body)
		}

		// Never unattended, with or without a photo.
		for _, id := range []string{signed, age21} {
			if p := problem(t, d.deliverWithPhoto(stop(id), "DeliveredToPorch", "gps-orientation6.jpg"), 403, ""); p["reason"] != "attended_only" {
				t.Fatalf("porch with photo: %v", p)
			}
			if p := problem(t, deliver(id, map[string]any{"place": "DeliveredToMailRoom"}), 403, ""); p["reason"] != "attended_only" {
				t.Fatalf("mail room: %v", p)
			}
		}

		// Signature required: refused without, delivered with.
		if p := problem(t, deliver(signed, map[string]any{"place": "DeliveredToCustomer"}), 409, ""); p["reason"] != "signature_required" {
			t.Fatalf("no signature: %v", p)
		}
		if r := deliver(signed, map[string]any{"place": "DeliveredToHouseholdMember", "signature": drawnSignature(t, "TOM LEE", "HOUSEHOLD_MEMBER")}); r.Status != 200 {
			t.Fatalf("signed: %d %s", r.Status, r.Body)
		}
		if ev := d.events(signed); ev[len(ev)-1] != "Delivered/DeliveredWithSignature" {
			t.Fatalf("events %v", ev)
		}
		jwks := d.do("GET", "/.well-known/jwks.json", "", nil).Body
		rec := verifiedRecord(t, jwks, d.proofOf(signed)["proof"].(string))
		sig, _ := rec["signature"].(map[string]any)
		if rec["method"] != "DeliveredWithSignature" || sig["signerName"] != "TOM LEE" || sig["relationship"] != "HOUSEHOLD_MEMBER" || sig["kind"] != "DRAWN" {
			t.Fatalf("proof %v", rec)
		}
		img := d.do("GET", "/v1/tracking/"+signed+"/signature", d.shipperKey, nil)
		if sum := sha256.Sum256(img.Body); img.Status != 200 || hex.EncodeToString(sum[:]) != sig["sha256"] {
			t.Fatalf("signature image: %d, sha256 %x, proof %v", img.Status, sum, sig["sha256"])
		}

		// A typed name: accepted where the label allows it, recorded as such;
		// refused where the shipper refused it.
		if r := deliver(typed, map[string]any{"place": "DeliveredToNeighbor", "signature": map[string]any{"kind": "TYPED", "signerName": "NED", "relationship": "NEIGHBOUR"}}); r.Status != 200 {
			t.Fatalf("typed: %d %s", r.Status, r.Body)
		}
		if sig := verifiedRecord(t, jwks, d.proofOf(typed)["proof"].(string))["signature"].(map[string]any); sig["kind"] != "TYPED" || sig["sha256"] != nil {
			t.Fatalf("typed proof %v", sig)
		}
		typedName := map[string]any{"kind": "TYPED", "signerName": "FAY", "relationship": "RECIPIENT"}
		if p := problem(t, deliver(strict, map[string]any{"place": "DeliveredToCustomer", "signature": typedName}), 403, ""); p["reason"] != "typed_signature_refused" {
			t.Fatalf("typed refused: %v", p)
		}
		if r := deliver(strict, map[string]any{"place": "DeliveredToCustomer", "signature": drawnSignature(t, "FAY", "RECIPIENT")}); r.Status != 200 {
			t.Fatalf("strict drawn: %d %s", r.Status, r.Body)
		}

		// Adult signature: the age check too.
		if p := problem(t, deliver(adult, map[string]any{"place": "DeliveredToCustomer", "signature": drawnSignature(t, "CAT", "RECIPIENT")}), 409, ""); p["reason"] != "age_check_required" {
			t.Fatalf("adult without ID: %v", p)
		}
		if r := deliver(adult, map[string]any{"place": "DeliveredToCustomer", "signature": drawnSignature(t, "CAT", "RECIPIENT"),
			"idCheck": map[string]any{"documentType": "PASSPORT", "dateOfBirth": "1990-04-01"}}); r.Status != 200 {
			t.Fatalf("adult: %d %s", r.Status, r.Body)
		}
		if a := verifiedRecord(t, jwks, d.proofOf(adult)["proof"].(string))["ageCheck"].(map[string]any); a["documentType"] != "PASSPORT" || a["minimumAge"] != float64(18) || a["verified"] != true {
			t.Fatalf("adult proof %v", a)
		}

		// Minimum age 21: the 21st birthday is the delivery day itself.
		if r := deliver(age21, map[string]any{"place": "DeliveredToCustomer", "idCheck": map[string]any{"documentType": "DRIVING_LICENCE", "dateOfBirth": "2005-11-23"}}); r.Status != 200 {
			t.Fatalf("age 21: %d %s", r.Status, r.Body)
		}

		// Under age: refused, back to the station with its own detail code.
		if p := problem(t, deliver(minor, map[string]any{"place": "DeliveredToCustomer", "idCheck": map[string]any{"documentType": "NATIONAL_ID_CARD", "dateOfBirth": "2008-11-24"}}), 403, ""); p["reason"] != "age_not_verified" {
			t.Fatalf("minor: %v", p)
		}
		if ev := d.events(minor); ev[len(ev)-1] != "Rejected/RejectedAgeNotVerified" {
			t.Fatalf("minor events %v", ev)
		}
		problem(t, deliver(minor, map[string]any{"place": "DeliveredToCustomer", "idCheck": map[string]any{"documentType": "PASSPORT", "dateOfBirth": "1990-04-01"}}), 409, "")

		// The dates of birth were compared and discarded: none is stored.
		if at := sqlstoretest.FindText(t, e.db, "1990-04-01", "2005-11-23", "2008-11-24", "19900401", "01/04/1990"); len(at) > 0 {
			t.Fatalf("a date of birth is stored in %v", at)
		}
		if at := sqlstoretest.FindText(t, e.db, "NATIONAL_ID_CARD"); !slices.Equal(at, []string{"audit_log.detail", "door_checks.document_type"}) {
			t.Fatalf("the document type is kept in %v", at)
		}
	})
}

// TestNeverInAGarage: a parcel that needs a signature or an age check is not
// left in the recipient's garage, even with key delivery on.
func TestNeverInAGarage(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		for _, prefs := range []map[string]any{{"signature": "ANY"}, {"minimumAge": 18}} {
			g := newGarageDay(t, e, prefs)
			if p := problem(t, g.open(g.da1Key), 403, ""); p["reason"] != "attended_only" {
				t.Fatalf("%v: garage open: %v", prefs, p)
			}
		}
	})
}

// TestPasscodeAndSignature: a passcode parcel whose label also asks for a
// signature is not delivered by its code alone. The right code opens it; it
// is then handed over only with the signature, never unattended.
func TestPasscodeAndSignature(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		id := d.label("Gus", "7 G St", "07700900707", "500", "books", map[string]any{"signature": "ANY"})
		d.receive(id)
		rt := d.route("2026-11-23", []any{map[string]any{"trackingId": id}})
		stop := stopOf(t, rt, id)["stopId"].(string)
		deliver := func(body map[string]any) resp {
			return d.do("POST", "/v1/associate/stops/"+stop+"/deliver", d.da1Key, body)
		}
		// Before the code: never by hand, with or without a signature.
		problem(t, deliver(map[string]any{"place": "DeliveredToCustomer", "trackingIds": []string{id},
			"signature": drawnSignature(t, "GUS", "RECIPIENT")}), 403, "")

		r := d.do("POST", "/v1/associate/stops/"+stop+"/verify", d.da1Key, map[string]any{"code": d.code("+447700900707", "2026-11-23")})
		if r.Status != 200 || r.JSON(t)["correct"] != true {
			t.Fatalf("the right code: %d %s", r.Status, r.Body)
		}
		if got := deliveredIDs(t, r); len(got) != 0 {
			t.Fatalf("the code alone delivered %v, which needs a signature", got)
		}
		p := r.JSON(t)["stop"].(map[string]any)["parcels"].([]any)[0].(map[string]any)
		if p["passcodeVerified"] != true || p["outcome"] != nil {
			t.Fatalf("after its code the parcel is %v", p)
		}
		if ev := d.events(id); ev[len(ev)-1] != "OutForDelivery" {
			t.Fatalf("the parcel moved on its code alone: %v", ev)
		}
		// Opened by its code, it still needs its signature, in person.
		if p := problem(t, deliver(map[string]any{"place": "DeliveredToCustomer"}), 409, ""); p["reason"] != "signature_required" {
			t.Fatalf("no signature: %v", p)
		}
		if p := problem(t, deliver(map[string]any{"place": "DeliveredToMailRoom"}), 403, ""); p["reason"] != "attended_only" {
			t.Fatalf("mail room: %v", p)
		}
		if r := deliver(map[string]any{"place": "DeliveredToCustomer", "signature": drawnSignature(t, "GUS", "RECIPIENT")}); r.Status != 200 {
			t.Fatalf("signed: %d %s", r.Status, r.Body)
		}
		if ev := d.events(id); ev[len(ev)-1] != "Delivered/DeliveredWithSignature" {
			t.Fatalf("after the signature the parcel's events are %v", ev)
		}
	})
}
