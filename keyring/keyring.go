// Package keyring holds the server's secret keys. Each key has an ID so that
// whatever is derived from it (passcodes, encrypted payloads, session MACs)
// records which key it used, and keys can be rotated: a new key becomes active
// for new work while older ones still open what they sealed.
//
// Keys come from HANDOFF_SECRET_KEYS ("id:base64,id:base64", the first active)
// when set, which is how several nodes share them; otherwise from keys.json in
// the data directory, created with 0600 permissions on first start. Whether a
// new key may be created is not this package's call: the database records the
// key IDs its data depends on (see cmd/handoff).
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileName is the name of the key file inside the data directory.
const FileName = "keys.json"

// Key is one secret with its ID. The secret never leaves this package except
// as derived subkeys.
type Key struct {
	ID      string    `json:"id"`
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created"`
}

// String hides the secret from any accidental log line.
func (k Key) String() string { return "key(" + k.ID + ")" }

// Ring is a set of keys with one active. It is safe for concurrent reads.
type Ring struct {
	active string
	keys   map[string]Key
	order  []string
}

type file struct {
	Active string `json:"active"`
	Keys   []Key  `json:"keys"`
}

// New returns a ring of the given keys, the first active. It fails when there
// are none, an ID repeats or a secret is shorter than 32 bytes.
func New(keys ...Key) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no keys")
	}
	r := &Ring{active: keys[0].ID, keys: map[string]Key{}}
	for _, k := range keys {
		if k.ID == "" || strings.ContainsAny(k.ID, ".:, ") {
			return nil, fmt.Errorf("keyring: bad key id %q", k.ID)
		}
		if len(k.Secret) < 32 {
			return nil, fmt.Errorf("keyring: key %s is shorter than 32 bytes", k.ID)
		}
		if _, dup := r.keys[k.ID]; dup {
			return nil, fmt.Errorf("keyring: key id %s repeats", k.ID)
		}
		r.keys[k.ID] = k
		r.order = append(r.order, k.ID)
	}
	return r, nil
}

// Generate returns a fresh random key with an ID made from the date and a
// random suffix.
func Generate(now time.Time) Key {
	secret := make([]byte, 32)
	rand.Read(secret)
	suffix := make([]byte, 3)
	rand.Read(suffix)
	return Key{ID: fmt.Sprintf("k%s%x", now.UTC().Format("20060102"), suffix), Secret: secret, Created: now.UTC()}
}

// Parse reads the HANDOFF_SECRET_KEYS form "id:base64,id:base64".
func Parse(spec string) (*Ring, error) {
	var keys []Key
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, errors.New("keyring: HANDOFF_SECRET_KEYS entries must be id:base64")
		}
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %s is not base64", id)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return New(keys...)
}

// Load returns the ring stored in dir. It never creates one: when there is
// no key file the error wraps os.ErrNotExist, and the caller decides whether
// a new key is safe (nothing was sealed yet) or a lost file must be restored.
func Load(dir string) (*Ring, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: %s is readable by others (mode %o); chmod 600 it", path, fi.Mode().Perm())
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("keyring: %s: %w", path, err)
	}
	// The active key goes first.
	keys := make([]Key, 0, len(f.Keys))
	for _, k := range f.Keys {
		if k.ID == f.Active {
			keys = append([]Key{k}, keys...)
		} else {
			keys = append(keys, k)
		}
	}
	r, err := New(keys...)
	if err != nil {
		return nil, err
	}
	if r.active != f.Active {
		return nil, fmt.Errorf("keyring: active key %q is not in %s", f.Active, path)
	}
	return r, nil
}

// Create makes dir (0700) and a key file in it with one new key. It fails,
// changing nothing, when a key file is already there.
func Create(dir string, now time.Time) (*Ring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	r, _ := New(Generate(now))
	if err := r.write(dir, false); err != nil {
		return nil, err
	}
	return r, nil
}

// Save writes the ring to dir/keys.json with 0600 permissions, atomically
// and durably: a crash leaves the old file or the new one, never none.
func (r *Ring) Save(dir string) error { return r.write(dir, true) }

// write puts the ring in a temporary file of dir, syncs it, moves it to
// keys.json (over an old one only when replace) and syncs the directory, so
// that the name survives a power cut as well as the content.
func (r *Ring) write(dir string, replace bool) error {
	f := file{Active: r.active}
	for _, id := range r.order {
		f.Keys = append(f.Keys, r.keys[id])
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".keys-*")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		// A hard link never replaces an existing name: two processes
		// creating keys at once cannot overwrite each other's.
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyring: sync %s: %w", dir, err)
	}
	return nil
}

// Rotate adds a new key and makes it active; older keys stay for opening what
// they sealed. Call Save to keep it.
func (r *Ring) Rotate(now time.Time) Key {
	k := Generate(now)
	r.keys[k.ID] = k
	r.order = append([]string{k.ID}, r.order...)
	r.active = k.ID
	return k
}

// ActiveID returns the ID of the key used for new work.
func (r *Ring) ActiveID() string { return r.active }

// IDs returns the key IDs, active first.
func (r *Ring) IDs() []string { return append([]string(nil), r.order...) }

// Subkey derives a 32-byte key for one purpose from the key with the given ID
// (HKDF-SHA256). ok is false for an unknown ID.
func (r *Ring) Subkey(id, purpose string) (sub []byte, ok bool) {
	k, ok := r.keys[id]
	if !ok {
		return nil, false
	}
	sub, err := hkdf.Key(sha256.New, k.Secret, nil, "handoff/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce; 32 always works
	}
	return sub, true
}

// MAC returns HMAC-SHA256 of the parts under the active key's subkey for
// purpose, and that key's ID. Parts are length-prefixed so that no two lists
// of parts collide.
func (r *Ring) MAC(purpose string, parts ...[]byte) (kid string, mac []byte) {
	mac, _ = r.MACWith(r.active, purpose, parts...)
	return r.active, mac
}

// MACWith is MAC under a named key; ok is false for an unknown ID.
func (r *Ring) MACWith(kid, purpose string, parts ...[]byte) (mac []byte, ok bool) {
	sub, ok := r.Subkey(kid, purpose)
	if !ok {
		return nil, false
	}
	h := hmac.New(sha256.New, sub)
	var n [4]byte
	for _, p := range parts {
		l := len(p)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil), true
}

// Seal encrypts plaintext with AES-256-GCM under the active key's subkey for
// purpose, binding aad. The result names the key: "kid.base64url(nonce|ct)".
func (r *Ring) Seal(purpose string, plaintext, aad []byte) string {
	sub, _ := r.Subkey(r.active, "seal/"+purpose)
	block, _ := aes.NewCipher(sub)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	ct := gcm.Seal(nonce, nonce, plaintext, aad)
	return r.active + "." + base64.RawURLEncoding.EncodeToString(ct)
}

// ErrOpen is returned when a sealed value cannot be opened: unknown key,
// tampering, or the wrong purpose or aad.
var ErrOpen = errors.New("keyring: cannot open sealed value")

// Open decrypts what Seal produced, with any key still in the ring.
func (r *Ring) Open(purpose, sealed string, aad []byte) ([]byte, error) {
	kid, b64, ok := strings.Cut(sealed, ".")
	if !ok {
		return nil, ErrOpen
	}
	sub, ok := r.Subkey(kid, "seal/"+purpose)
	if !ok {
		return nil, ErrOpen
	}
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return nil, ErrOpen
	}
	block, _ := aes.NewCipher(sub)
	gcm, _ := cipher.NewGCM(block)
	if len(ct) < gcm.NonceSize() {
		return nil, ErrOpen
	}
	pt, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
