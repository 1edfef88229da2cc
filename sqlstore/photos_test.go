package sqlstore_test

import (
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestPurgeHonoursBatch purges a backlog of expired photos larger than the
// batch: each run takes at most its batch (on PostgreSQL a LIMIT inside
// `IN (… FOR UPDATE SKIP LOCKED)` may not bound the UPDATE), until all are
// gone.
func TestPurgeHonoursBatch(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		parcel := sqlstoretest.QueueSMS(t, db, 1)[0]
		if err := db.AddPhotos(ctx, parcel, 45, db.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{20, 20, 5, 0} {
			if n, err := sqlstoretest.Photos(db).PurgeExpiredPhotos(ctx, 20); err != nil || n != want {
				t.Fatalf("purge %d removed %d photos (%v), want %d", i+1, n, err, want)
			}
		}
	})
}
