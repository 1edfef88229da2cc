package sqlstoretest

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/tracking"
)

// Happened writes what the door and the station would have recorded of a
// parcel, straight into its history: each code an event in that order, the
// parcel's status following them. Tests of what is read from histories
// (the shipper's dashboard) use it instead of driving a whole delivery day
// for every outcome.
func Happened(tb testing.TB, db *sqlstore.DB, trackingID string, at time.Time, codes ...string) {
	tb.Helper()
	c := rawDB(tb, db)
	ctx := context.Background()
	for i, code := range codes {
		when := at.Add(time.Duration(i) * time.Minute).UnixMicro()
		var seq int
		if err := c.QueryRowContext(ctx, `UPDATE packages SET last_seq = last_seq + 1, updated_at = $1 WHERE tracking_id = $2 RETURNING last_seq`,
			when, trackingID).Scan(&seq); err != nil {
			tb.Fatalf("sqlstoretest: %s %s: %v", trackingID, code, err)
		}
		if st, ok := tracking.StatusOf(code); ok {
			if _, err := c.ExecContext(ctx, `UPDATE packages SET status = $1 WHERE tracking_id = $2`, st, trackingID); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO events (tracking_id, seq, code, detail, at, city, state_or_region, postal_code, country_code, actor, note)
			VALUES ($1, $2, $3, '', $4, '', '', '', '', 'test', '')`, trackingID, seq, code, when); err != nil {
			tb.Fatalf("sqlstoretest: %s %s: %v", trackingID, code, err)
		}
	}
}
