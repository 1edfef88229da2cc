package auth

import (
	"context"
	"errors"
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

// TestGateFull checks that a full gate refuses at once, that a caller who
// gives up waiting leaves, and that one in the waiting room gets the next
// free slot.
func TestGateFull(t *testing.T) {
	g := NewGate(1)
	ctx := context.Background()
	leave, err := g.Enter(ctx) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	g.room <- struct{}{} // and the waiting room's one place
	if _, err := g.Enter(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("full gate: %v, want ErrBusy", err)
	}
	<-g.room
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Enter(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("a waiter whose caller left: %v", err)
	}
	waiting := make(chan error, 1)
	go func() {
		l, err := g.Enter(ctx)
		if err == nil {
			l()
		}
		waiting <- err
	}()
	leave()
	if err := <-waiting; err != nil {
		t.Errorf("the waiter: %v", err)
	}
	if len(g.slots) != 0 || len(g.room) != 0 {
		t.Errorf("after everyone left: %d slots, %d waiting", len(g.slots), len(g.room))
	}
}

// New passwords are hashed a few at a time: while every slot is taken a
// caller whose caller leaves gets its context's error, and a waiter gets
// its hash once a slot is free.
func TestHashPasswordTakesTurns(t *testing.T) {
	ctx := context.Background()
	for range cap(hashSlots) {
		hashSlots <- struct{}{} // every slot busy
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if h, err := HashPasswordContext(cancelled, "pw"); !errors.Is(err, context.Canceled) || h != "" {
		t.Errorf("with every slot taken and the caller gone: %q, %v", h, err)
	}
	done := make(chan string, 1)
	go func() {
		h, err := HashPasswordContext(ctx, "correct horse")
		if err != nil {
			t.Error(err)
		}
		done <- h
	}()
	<-hashSlots // one slot comes free
	if h := <-done; !checks(h, "correct horse") {
		t.Errorf("the waiter's hash does not check: %q", h)
	}
	for len(hashSlots) > 0 {
		<-hashSlots
	}
}

func checks(hash, password string) bool {
	ok, err := CheckPassword(hash, password)
	return ok && err == nil
}
