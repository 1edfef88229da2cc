package proof

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/handoff-dev/handoff/keyring"
)

// purpose names the keyring subkey that seeds the Ed25519 signing key.
const purpose = "proof/ed25519"

// header is the JWS protected header. typ JWT lets JWT libraries read the
// record's claims directly.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// privateKey returns the signing key derived from the keyring key kid; ok
// is false for an unknown ID.
func privateKey(ring *keyring.Ring, kid string) (ed25519.PrivateKey, bool) {
	seed, ok := ring.Subkey(kid, purpose)
	if !ok {
		return nil, false
	}
	return ed25519.NewKeyFromSeed(seed), true
}

// PublicKey returns the public key of the keyring key kid; ok is false for
// an unknown ID.
func PublicKey(ring *keyring.Ring, kid string) (ed25519.PublicKey, bool) {
	k, ok := privateKey(ring, kid)
	if !ok {
		return nil, false
	}
	return k.Public().(ed25519.PublicKey), true
}

// Sign returns rec as a compact JWS (alg EdDSA) signed with the key derived
// from the ring's active key, and that key's ID.
func Sign(ring *keyring.Ring, rec Record) (kid, token string, err error) {
	kid = ring.ActiveID()
	sg, err := signerOf(ring, kid)
	if err != nil {
		return "", "", err
	}
	p, err := json.Marshal(rec)
	if err != nil {
		return "", "", err
	}
	input := sg.head + "." + b64(p)
	return kid, input + "." + b64(ed25519.Sign(sg.key, []byte(input))), nil
}

// signer is a ring key's signing key with its encoded JWS header, both
// fixed for the key: deriving the key (HKDF, then the Ed25519 expansion)
// cost about a third of a signature when done for each delivery.
type signer struct {
	key  ed25519.PrivateKey
	head string
}

// signers holds the signer of each ring key that has signed, by ring and
// key ID: a key ID always names the same secret in its ring.
var signers sync.Map // signerID → *signer

type signerID struct {
	ring *keyring.Ring
	kid  string
}

func signerOf(ring *keyring.Ring, kid string) (*signer, error) {
	id := signerID{ring, kid}
	if sg, ok := signers.Load(id); ok {
		return sg.(*signer), nil
	}
	key, ok := privateKey(ring, kid)
	if !ok {
		return nil, fmt.Errorf("proof: no key %q in the ring", kid)
	}
	h, err := json.Marshal(header{Alg: "EdDSA", Kid: kid, Typ: "JWT"})
	if err != nil {
		return nil, err
	}
	sg, _ := signers.LoadOrStore(id, &signer{key: key, head: b64(h)})
	return sg.(*signer), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is one public key in JWK form (RFC 8037: kty OKP, crv Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKS is a JWK Set, as published at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// KeyOf returns the JWK of an Ed25519 public key.
func KeyOf(kid string, pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub), Kid: kid, Use: "sig", Alg: "EdDSA"}
}

// Find returns the public key with the ID kid; ok is false when the set has
// none, or its key is not an Ed25519 signing key.
func (s JWKS) Find(kid string) (ed25519.PublicKey, bool) {
	for _, k := range s.Keys {
		if k.Kid != kid || k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, false
		}
		return ed25519.PublicKey(x), true
	}
	return nil, false
}

// Errors of Verify and Decode.
var (
	ErrMalformed = errors.New("proof: not a compact JWS of a proof of delivery")
	ErrUnknown   = errors.New("proof: signed with a key the key set does not have")
	ErrSignature = errors.New("proof: the signature does not match the record")
)

// Verify checks a compact JWS against the key set and returns its record
// and key ID. It fails with ErrMalformed, ErrUnknown or ErrSignature.
func Verify(token string, keys JWKS) (*Record, string, error) {
	h, rec, input, sig, err := split(token)
	if err != nil {
		return nil, "", err
	}
	pub, ok := keys.Find(h.Kid)
	if !ok {
		return nil, h.Kid, fmt.Errorf("%w (kid %q)", ErrUnknown, h.Kid)
	}
	if !ed25519.Verify(pub, []byte(input), sig) {
		return nil, h.Kid, ErrSignature
	}
	return rec, h.Kid, nil
}

// Decode returns the record of a compact JWS without checking its
// signature: for showing a record the server itself has just read from its
// database. Use Verify for anything received.
func Decode(token string) (*Record, error) {
	_, rec, _, _, err := split(token)
	return rec, err
}

// split parses a compact JWS: its header (alg EdDSA only), record, signing
// input and signature.
func split(token string) (header, *Record, string, []byte, error) {
	var h header
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return h, nil, "", nil, ErrMalformed
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return h, nil, "", nil, ErrMalformed
	}
	if err := strictJSON(hb, &h); err != nil || h.Alg != "EdDSA" || h.Kid == "" {
		return h, nil, "", nil, ErrMalformed
	}
	var rec Record
	if err := json.Unmarshal(pb, &rec); err != nil || rec.TrackingID == "" {
		return h, nil, "", nil, ErrMalformed
	}
	return h, &rec, parts[0] + "." + parts[1], sig, nil
}

// strictJSON decodes a header, refusing fields this package does not know
// (a "crit" header it would ignore, say).
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
