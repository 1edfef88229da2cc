package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/proof"
)

func TestProofVerifyCommand(t *testing.T) {
	ring, _ := keyring.New(keyring.Generate(time.Now()))
	_, token, err := proof.Sign(ring, proof.Record{Issuer: proof.Issuer, ID: "pod_1", TrackingID: "HOTEST", Method: "DeliveredWithOTP"})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := proof.PublicKey(ring, ring.ActiveID())
	set, _ := json.Marshal(proof.JWKS{Keys: []proof.JWK{proof.KeyOf(ring.ActiveID(), pub)}})
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwksFile := write("jwks.json", string(set))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(set) }))
	defer srv.Close()
	// As the API answers it: JSON with the proof in a "proof" member.
	answer := write("proofs.json", `{"shipmentId":"sh_1","proofs":[{"trackingId":"HOTEST","proof":"`+token+`"}]}`)
	parts := strings.Split(token, ".")
	forged := write("forged.jws", parts[0]+"."+parts[1]+"x."+parts[2])

	for _, c := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"bare JWS, key file", []string{"proof", "verify", write("pod.jws", token+"\n"), "--jwks", jwksFile}, true},
		{"API answer, key URL", []string{"proof", "verify", "--jwks", srv.URL, answer}, true},
		{"changed record", []string{"proof", "verify", forged, "--jwks", jwksFile}, false},
		{"no key set", []string{"proof", "verify", answer}, false},
	} {
		var out, errs bytes.Buffer
		err := run(context.Background(), c.args, &out, &errs, env(nil))
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v\n%s%s", c.name, err, out.String(), errs.String())
		}
		if c.ok && (!strings.Contains(out.String(), "verified: signed by key "+ring.ActiveID()) || !strings.Contains(out.String(), "HOTEST")) {
			t.Errorf("%s: output = %s", c.name, out.String())
		}
	}
}
