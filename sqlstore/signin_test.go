package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// addressLimit is the failures one client address may make in 15 minutes.
const addressLimit = 50

// TestSigninAddressLimit checks the per-address sign-in limit on two nodes
// sharing one database: failures for many accounts from one address are
// counted together whichever node answers, the excess is refused even with
// the right password, racing tries are never evaluated past the limit,
// other addresses and successful sign-ins are not held up, and the window
// ends.
func TestSigninAddressLimit(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		start := time.Now().UTC()
		for _, n := range nodes {
			n.Now = func() time.Time { return start }
			n.Passwords = auth.NewGate(8) // the race below wants parallel checks
		}
		p, cred, err := nodes[0].CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAgent, Name: "Ag"})
		if err != nil {
			t.Fatal(err)
		}
		const flooder, other = "198.51.100.7", "2001:db8:1:2::/64"
		// One failure each for many made-up accounts: the account limit never
		// bites, only the address's. Every other try goes to the other node.
		const raced = 8
		for i := range addressLimit - raced/2 {
			if _, err := nodes[i%2].AuthenticatePassword(ctx, fmt.Sprintf("da_made%03d", i), "guess", flooder); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Fatalf("try %d: %v, want unauthorized", i+1, err)
			}
		}
		// The last few tries race on both nodes: exactly the remaining ones
		// are evaluated.
		var wg sync.WaitGroup
		codes := make(chan string, raced)
		gate := make(chan struct{})
		for i := range raced {
			wg.Go(func() {
				<-gate
				_, err := nodes[i%2].AuthenticatePassword(ctx, fmt.Sprintf("da_race%d", i), "guess", flooder)
				codes <- handoff.ErrorCode(err)
			})
		}
		close(gate)
		wg.Wait()
		close(codes)
		count := map[string]int{}
		for c := range codes {
			count[c]++
		}
		if count[handoff.EUNAUTHORIZED] != raced/2 || count[handoff.ERATELIMITED] != raced/2 {
			t.Fatalf("racing tries past the limit: %v, want %d evaluated and %d refused", count, raced/2, raced/2)
		}
		_, err = nodes[1].AuthenticatePassword(ctx, p.ID, cred.Password, flooder)
		if handoff.ErrorCode(err) != handoff.ERATELIMITED {
			t.Fatalf("right password from a spent address: %v, want rate limited", err)
		}
		if ra := handoff.RetryAfterSeconds(err); ra < 1 || ra > 15*60 {
			t.Errorf("Retry-After %ds, want within the 15-minute window", ra)
		}
		// The refused try spent nothing of the account's: from another
		// address, which is not held up, it still has its own ten.
		for i := range 10 {
			if _, err := nodes[i%2].AuthenticatePassword(ctx, p.ID, "wrong", other); handoff.ErrorCode(err) != handoff.EUNAUTHORIZED {
				t.Fatalf("account try %d: %v, want unauthorized", i+1, err)
			}
		}
		// A success gives its address's try back: colleagues behind one
		// address all sign in, past the limit.
		colleague, cred2, err := nodes[0].CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAgent, Name: "Co"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range addressLimit - 10 + 2 {
			if _, err := nodes[i%2].AuthenticatePassword(ctx, colleague.ID, cred2.Password, other); err != nil {
				t.Fatalf("sign-in %d from a shared address: %v", i+1, err)
			}
		}
		if _, err := nodes[0].AuthenticatePassword(ctx, p.ID, cred.Password, other); handoff.ErrorCode(err) != handoff.ERATELIMITED {
			t.Errorf("the account's eleventh try: %v, want rate limited", err)
		}
		later := start.Add(16 * time.Minute)
		for _, n := range nodes {
			n.Now = func() time.Time { return later }
		}
		if _, err := nodes[0].AuthenticatePassword(ctx, p.ID, cred.Password, flooder); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}

// TestSigninGuardPruned checks that the counters a flood of made-up
// accounts leaves behind go once their window has ended, and only then.
func TestSigninGuardPruned(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		start := time.Now().UTC()
		db.Now = func() time.Time { return start }
		for i := range 3 {
			db.AuthenticatePassword(ctx, fmt.Sprintf("da_made%d", i), "guess", "198.51.100.7")
		}
		if n := db.GuardRows(ctx); n != 4 {
			t.Fatalf("%d counters, want 3 accounts and 1 address", n)
		}
		db.Now = func() time.Time { return start.Add(14 * time.Minute) }
		db.AuthenticatePassword(ctx, "da_fresh", "guess", "198.51.100.8")
		db.Now = func() time.Time { return start.Add(16 * time.Minute) }
		if err := db.PruneGuards(ctx); err != nil {
			t.Fatal(err)
		}
		if n := db.GuardRows(ctx); n != 2 {
			t.Errorf("%d counters after pruning, want the 2 whose window is open", n)
		}
	})
}
