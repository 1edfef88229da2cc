package proof_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	pdfapi "github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/proof"
	"github.com/handoff-dev/handoff/tracking"
)

func init() { model.ConfigPath = "disable" } // pdfcpu: no config files in $HOME

func record() proof.Record {
	return proof.Record{Issuer: proof.Issuer, ID: "pod_1", IssuedAt: 1795000000, Subject: "HOABC", TrackingID: "HOABC", ShipperID: "pr_s",
		Recipient: proof.Recipient{ShipmentID: "sh_1", Reference: "order-7"}, DeliveredAt: "2026-11-23T10:00:00Z", Method: tracking.DeliveredToPorch,
		Location: tracking.Location{City: "London", PostalCode: "E8", CountryCode: "GB"},
		Bag:      &proof.Bag{BagID: "B123", ScannedAndMatched: true, ScannedAt: "2026-11-23T09:59:00Z"},
		Photo:    &proof.Photo{SHA256: strings.Repeat("ab", 32), TakenAt: "2026-11-23T10:00:00Z"}, AssociateID: "pr_da", RouteID: "rt_1"}
}

func ring(t testing.TB) *keyring.Ring {
	t.Helper()
	r, err := keyring.New(keyring.Generate(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// keySet returns the ring's public keys as the server publishes them.
func keySet(r *keyring.Ring) proof.JWKS {
	var s proof.JWKS
	for _, id := range r.IDs() {
		pub, _ := proof.PublicKey(r, id)
		s.Keys = append(s.Keys, proof.KeyOf(id, pub))
	}
	return s
}

// joseVerify checks a token as a shipper would with a standard JOSE
// library: the published JWKS, the key named by kid, alg EdDSA only.
func joseVerify(t *testing.T, token string, set proof.JWKS) (proof.Record, error) {
	t.Helper()
	raw, _ := json.Marshal(set)
	var keys jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatalf("go-jose cannot read the key set: %v", err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return proof.Record{}, err
	}
	found := keys.Key(jws.Signatures[0].Header.KeyID)
	if len(found) != 1 {
		return proof.Record{}, errors.New("no key for kid")
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		return proof.Record{}, err
	}
	var rec proof.Record
	return rec, json.Unmarshal(payload, &rec)
}

func TestSignedRecordVerifiesWithAnotherJOSELibrary(t *testing.T) {
	r := ring(t)
	kid, token, err := proof.Sign(r, record())
	if err != nil {
		t.Fatal(err)
	}
	if kid != r.ActiveID() {
		t.Errorf("kid = %s, want the active key %s", kid, r.ActiveID())
	}
	got, err := joseVerify(t, token, keySet(r))
	if err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if got.TrackingID != "HOABC" || got.Bag.BagID != "B123" || got.Photo.SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("record = %+v", got)
	}
	if _, k, err := proof.Verify(token, keySet(r)); err != nil || k != kid {
		t.Errorf("Verify = %s, %v", k, err)
	}

	// A changed byte of the record fails both verifiers.
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := bytes.Replace(payload, []byte("DeliveredToPorch"), []byte("DeliveredToPorcH"), 1)
	bad := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	if _, err := joseVerify(t, bad, keySet(r)); err == nil {
		t.Error("go-jose accepted a changed record")
	}
	if _, _, err := proof.Verify(bad, keySet(r)); !errors.Is(err, proof.ErrSignature) {
		t.Errorf("Verify of a changed record = %v", err)
	}
	// Another server's keys do not verify it.
	if _, _, err := proof.Verify(token, keySet(ring(t))); !errors.Is(err, proof.ErrUnknown) {
		t.Errorf("Verify with foreign keys = %v", err)
	}
}

func TestOldProofsVerifyAfterRotation(t *testing.T) {
	r := ring(t)
	oldKid, old, _ := proof.Sign(r, record())
	r.Rotate(time.Now())
	newKid, fresh, _ := proof.Sign(r, record())
	if oldKid == newKid {
		t.Fatal("rotation did not change the signing key")
	}
	for _, tok := range []string{old, fresh} {
		if _, err := joseVerify(t, tok, keySet(r)); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
}

func TestMalformedTokens(t *testing.T) {
	r := ring(t)
	_, token, _ := proof.Sign(r, record())
	parts := strings.Split(token, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"x"}`))
	for _, bad := range []string{"", "a.b", parts[0] + "." + parts[1] + ".!!", none + "." + parts[1] + "."} {
		if _, _, err := proof.Verify(bad, keySet(r)); !errors.Is(err, proof.ErrMalformed) {
			t.Errorf("Verify(%.20q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestPDFOpensWithOnePageOfTheFacts(t *testing.T) {
	r := ring(t)
	rec := record()
	kid, token, _ := proof.Sign(r, rec)
	doc, err := proof.PDF(&rec, kid, token, "https://handoff.example/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	if err := pdfapi.Validate(bytes.NewReader(doc), conf); err != nil {
		t.Fatalf("the PDF does not validate: %v", err)
	}
	if n, err := pdfapi.PageCount(bytes.NewReader(doc), conf); err != nil || n != 1 {
		t.Fatalf("pages = %d, %v", n, err)
	}
	var content string
	err = pdfapi.ExtractContent(bytes.NewReader(doc), nil, func(rd io.Reader, _ int) error {
		b, err := io.ReadAll(rd)
		content += string(b)
		return err
	}, conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Proof of delivery", "HOABC", "order-7", "DeliveredToPorch", "B123", strings.Repeat("ab", 32)[:64], kid, " re\n"} {
		if !strings.Contains(content, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

// BenchmarkSign measures signing one delivery's proof record, as each
// delivery does.
func BenchmarkSign(b *testing.B) {
	r := ring(b)
	rec := record()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := proof.Sign(r, rec); err != nil {
			b.Fatal(err)
		}
	}
}
