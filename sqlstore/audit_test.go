package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// Two nodes appending to the same chains at once keep every chain whole:
// each entry links to the one committed before it, none is lost or forked.
func TestAuditChainHoldsWithTwoNodes(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		const writers, each = 4, 15
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 2*writers*each)
		for n, db := range nodes {
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := range each {
						// Half the writers share one chain across nodes; the
						// others start a chain of their own at the same time.
						// Writer 2 appends three entries at once, to the
						// shared chain and its own, as a delivery does.
						chain := "shared"
						if w%2 == 1 {
							chain = fmt.Sprintf("own-%d", w)
						}
						e := func(chain, sub string) audit.Entry {
							return audit.Entry{Chain: chain, Action: audit.ActionCodeCheck, Actor: fmt.Sprint("node", n), Subject: fmt.Sprint(w, "/", i, sub)}
						}
						es := []audit.Entry{e(chain, "")}
						if w == 2 {
							es = append(es, e("own-2", "a"), e(chain, "b"))
						}
						if err := db.AppendAudit(ctx, es...); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		w, err := nodes[0].VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Breaks) > 0 || w.Entries != 2*(writers+2)*each || w.Chains != 2+writers/2 {
			t.Errorf("after concurrent appends: %d entries in %d chains, breaks %v", w.Entries, w.Chains, w.Breaks)
		}
	})
}

// An append whose transaction rolls back leaves nothing in the chain, and
// the appends after it, on its node and on another, link to what was
// committed — also when the other node commits the very entry number the
// rolled-back one had taken.
func TestAuditChainAfterRollback(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		entry := func(subject string) audit.Entry {
			return audit.Entry{Chain: "rollback", Action: audit.ActionCodeCheck, Actor: "da_test", Subject: subject}
		}
		steps := []struct {
			db       *sqlstore.DB
			subject  string
			rollback bool
		}{
			{a, "1", false}, {a, "2", false}, // a knows the head
			{a, "gone", true},       // a's guess of the head is now one ahead
			{a, "3", false},         // a's own next append
			{a, "gone-again", true}, // ahead again
			{b, "4", false},         // b commits the entry number a had taken
			{a, "5", false},         // a must link to b's entry, not its own guess
			{b, "6", false}, {a, "7", false},
		}
		for _, s := range steps {
			var err error
			if s.rollback {
				err = s.db.AppendAuditRolledBack(ctx, entry(s.subject))
			} else {
				err = s.db.AppendAudit(ctx, entry(s.subject))
			}
			if err != nil {
				t.Fatalf("append %s: %v", s.subject, err)
			}
		}
		w, err := a.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Breaks) > 0 || w.Entries != 7 || w.Chains != 1 {
			t.Errorf("after rolled-back appends: %d entries in %d chains, breaks %v; want 7 entries in 1 chain, whole", w.Entries, w.Chains, w.Breaks)
		}
	})
}
