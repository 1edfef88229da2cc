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
						chain := "shared"
						if w%2 == 1 {
							chain = fmt.Sprintf("own-%d", w)
						}
						if err := db.AppendAudit(ctx, audit.Entry{Chain: chain, Action: audit.ActionCodeCheck, Actor: fmt.Sprint("node", n), Subject: fmt.Sprint(w, "/", i)}); err != nil {
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
		if len(w.Breaks) > 0 || w.Entries != 2*writers*each || w.Chains != 1+writers/2 {
			t.Errorf("after concurrent appends: %d entries in %d chains, breaks %v", w.Entries, w.Chains, w.Breaks)
		}
	})
}
