package auth

import (
	"strings"
	"testing"
)

func TestPasswords(t *testing.T) {
	pw := NewPassword()
	h := HashPassword(pw)
	if strings.Contains(h, pw) || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash = %q", h)
	}
	if ok, err := CheckPassword(h, pw); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := CheckPassword(h, pw+"x"); ok {
		t.Error("wrong password accepted")
	}
	if HashPassword(pw) == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if _, err := CheckPassword("$bcrypt$nope", pw); err != ErrBadHash {
		t.Errorf("malformed hash: %v", err)
	}
	if CheckNoAccount(pw) {
		t.Error("CheckNoAccount returned true")
	}
}

func TestTokens(t *testing.T) {
	k := NewAPIKey()
	if !strings.HasPrefix(k, "hk_") || len(k) != 43 || NewAPIKey() == k {
		t.Fatalf("api key %q", k)
	}
	if d := Digest(k); len(d) != 64 || strings.Contains(d, k[3:]) || Digest(k) != d {
		t.Fatalf("digest %q", d)
	}
	seen := map[byte]bool{}
	for _, c := range Random(4000) {
		seen[byte(c)] = true
	}
	if len(seen) != 32 {
		t.Errorf("%d distinct symbols, want 32", len(seen))
	}
}
