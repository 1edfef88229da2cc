// Package auth makes and checks credentials: API keys (high-entropy bearer
// tokens, stored as a SHA-256 digest so they can be looked up), passwords for
// the web sign-in (stored as argon2id hashes), and session tokens. Nothing here
// keeps a secret in plain text.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Kind is the kind of principal a credential belongs to.
type Kind string

// The kinds of principal.
const (
	KindShipper   Kind = "shipper"
	KindStation   Kind = "station"
	KindAssociate Kind = "associate"
	KindAgent     Kind = "agent"
	KindOperator  Kind = "operator"
	KindRecipient Kind = "recipient"
)

// Alphabet is the tokens' and IDs' alphabet: Crockford-like base32 without
// look-alike letters, in ASCII order.
const Alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Random returns n characters of uniformly random lowercase base32.
func Random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = Alphabet[b[i]&31]
	}
	return string(b)
}

// NewAPIKey returns a new API key ("hk_" + 40 random characters, 200 bits).
func NewAPIKey() string { return "hk_" + Random(40) }

// NewPassword returns a new random password of 20 characters (100 bits) for
// the web sign-in.
func NewPassword() string { return Random(20) }

// NewToken returns a random token for sessions, sign-in links and the like.
func NewToken() string { return Random(43) }

// Digest returns the hex SHA-256 of a high-entropy token, the form in which API
// keys and session tokens are stored and looked up.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Argon2id parameters (RFC 9106 / OWASP: m=19 MiB, t=2, p=1).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashSlots bounds how many new passwords the process hashes at once, as
// the Gate bounds checks: each hash holds 19 MiB, so twenty accounts made
// at once would otherwise take 380 MiB. Making accounts is rare and done
// by staff, so a caller waits for its turn rather than being refused.
var hashSlots = make(chan struct{}, GateSize())

// HashPasswordContext is HashPassword taking its turn among the hashes in
// progress; it returns ctx's error when the caller gives up waiting.
func HashPasswordContext(ctx context.Context, password string) (string, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-hashSlots }()
	return HashPassword(password), nil
}

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// ErrBadHash is returned for a stored hash that is not in the expected format.
var ErrBadHash = errors.New("auth: malformed password hash")

// CheckPassword reports whether password matches the PHC-format hash,
// comparing in constant time.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when no account matches, so that a sign-in for
// an unknown account takes as long as one with a wrong password.
var dummyHash = sync.OnceValue(func() string { return HashPassword(Random(20)) })

// CheckNoAccount spends the time of one password check and returns false.
func CheckNoAccount(password string) bool {
	CheckPassword(dummyHash(), password)
	return false
}

// ErrBusy is returned by a Gate whose slots and waiting room are all taken:
// the caller should answer "try again shortly" rather than queue.
var ErrBusy = errors.New("auth: too many password checks at once")

// Gate bounds how many password checks run at once. Each argon2id check
// holds 19 MiB and a core for tens of milliseconds, so a flood of sign-ins
// with no bound takes the node's memory and starves every other request. A
// caller waits only while the waiting room has space; past that it is
// refused at once, before it has allocated or asked anything.
type Gate struct {
	slots chan struct{}
	room  chan struct{}
}

// NewGate returns a gate that lets n checks run at once (at least one) and
// as many again wait for a slot.
func NewGate(n int) *Gate {
	n = max(n, 1)
	return &Gate{slots: make(chan struct{}, n), room: make(chan struct{}, n)}
}

// GateSize is the number of checks a node runs at once: half its cores, at
// least one, so that the other half keeps serving everything else.
func GateSize() int { return max(runtime.GOMAXPROCS(0)/2, 1) }

// Enter takes a slot, waiting only if the waiting room has space, and
// returns the function that gives it back. It returns ErrBusy when the room
// is full, or ctx's error when the caller gives up waiting.
func (g *Gate) Enter(ctx context.Context) (leave func(), err error) {
	leave = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return leave, nil
	default:
	}
	select {
	case g.room <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	defer func() { <-g.room }()
	select {
	case g.slots <- struct{}{}:
		return leave, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
