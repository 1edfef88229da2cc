package keyring

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCreateLoadAndRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of no file = %v, want not exist", err)
	}
	r, err := Create(dir, now)
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	if _, err := Create(dir, now); err == nil {
		t.Fatal("Create replaced an existing key file")
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", fi.Mode().Perm(), err)
	}
	sealed := r.Seal("test", []byte("garage key"), []byte("gar_1"))
	if strings.Contains(sealed, "garage key") || !strings.HasPrefix(sealed, r.ActiveID()+".") {
		t.Fatalf("sealed = %q", sealed)
	}

	again, err := Load(dir)
	if err != nil || again.ActiveID() != r.ActiveID() {
		t.Fatalf("reload: %v %v", again.ActiveID(), err)
	}
	old := again.ActiveID()
	k := again.Rotate(now.Add(time.Hour))
	if err := again.Save(dir); err != nil {
		t.Fatal(err)
	}
	rotated, err := Load(dir)
	if err != nil || rotated.ActiveID() != k.ID || len(rotated.IDs()) != 2 {
		t.Fatalf("after rotation: %v %v", rotated.IDs(), err)
	}
	// What the old key sealed still opens; the wrong purpose or aad does not.
	if pt, err := rotated.Open("test", sealed, []byte("gar_1")); err != nil || string(pt) != "garage key" {
		t.Fatalf("open after rotation = %q, %v", pt, err)
	}
	if _, err := rotated.Open("other", sealed, []byte("gar_1")); err != ErrOpen {
		t.Error("opened under another purpose")
	}
	if _, err := rotated.Open("test", sealed, []byte("gar_2")); err != ErrOpen {
		t.Error("opened with another aad")
	}
	// MACs differ by key, and the old key's MAC can still be checked.
	m1, _ := rotated.MACWith(old, "p", []byte("x"))
	_, m2 := rotated.MAC("p", []byte("x"))
	if string(m1) == string(m2) {
		t.Error("two keys give the same MAC")
	}
	if err := os.Chmod(filepath.Join(dir, FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("a key file readable by others was accepted")
	}
}

func TestParse(t *testing.T) {
	r, err := Parse("k2:" + strings.Repeat("QUJD", 11) + ",k1:" + strings.Repeat("REVG", 11))
	if err != nil || r.ActiveID() != "k2" {
		t.Fatalf("Parse = %v, %v", r, err)
	}
	for _, bad := range []string{"", "k1", "k1:not-base64!", "k1:QUJD", "k1:" + strings.Repeat("QUJD", 11) + ",k1:" + strings.Repeat("QUJD", 11)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if s := (Key{ID: "k", Secret: []byte("secret")}).String(); strings.Contains(s, "secret") {
		t.Error("a key prints its secret")
	}
}
