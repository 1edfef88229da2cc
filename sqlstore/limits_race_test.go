package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestAccountLimitsHoldUnderRaces creates more webhooks and API keys than an
// account may have, all at once: exactly the limit is made, the rest are
// refused as conflicts, on both engines.
func TestAccountLimitsHoldUnderRaces(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		shipper, _ := mustShipper(t, db)
		race := func(n int, create func(i int) error) (made, refused int) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					err := create(i)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						made++
					case handoff.ErrorCode(err) == handoff.ECONFLICT:
						refused++
					default:
						t.Errorf("create %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			return made, refused
		}
		made, refused := race(sqlstore.MaxWebhooks+8, func(i int) error {
			_, err := db.CreateWebhook(ctx, shipper.ID, fmt.Sprintf("https://hooks.example.com/%d", i))
			return err
		})
		if made != sqlstore.MaxWebhooks || refused != 8 {
			t.Errorf("webhooks: %d made and %d refused, want %d and 8", made, refused, sqlstore.MaxWebhooks)
		}
		live, err := db.ListAPIKeys(ctx, shipper.ID)
		if err != nil {
			t.Fatal(err)
		}
		free := handoff.MaxAPIKeys - len(live)
		made, refused = race(free+8, func(i int) error {
			_, err := db.CreateAPIKey(ctx, shipper.ID, fmt.Sprintf("key %d", i))
			return err
		})
		if made != free || refused != 8 {
			t.Errorf("API keys: %d made and %d refused, want %d and 8", made, refused, free)
		}
	})
}
