package main

import (
	"context"
	"github.com/handoff-dev/handoff"
	"log/slog"
	"time"

	"github.com/handoff-dev/handoff/keydelivery"
	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/sqlstore"
)

// newGarages builds in-garage delivery from its own dependencies: the store
// for its atomic steps, the keys that seal openers' credentials, the
// delivery window, whether openers may be on private addresses, and the
// step deadline (0: derived from the device timeouts).
func newGarages(db *sqlstore.DB, keys *keyring.Ring, log *slog.Logger, window route.Hours, allowPrivate bool, stepDeadline time.Duration) *keydelivery.Service {
	g := keydelivery.New(db, keys, log)
	g.Now = func() time.Time { return db.Now() }
	g.Window = window
	g.Timeouts.AllowPrivate = allowPrivate
	g.StepDeadline = stepDeadline
	return g
}

// dayStore is what the demo stages a day with: the station's services, and
// the garage service for the demo's simulated garage.
type dayStore struct {
	handoff.StationService
	handoff.BagService
	handoff.GarageService
}

// sweepGarages settles garage grants every interval, the first time at
// once (so a restart settles what a crash left in flight as soon as its step
// deadline has passed): doors nobody closed, or whose open or close was
// interrupted, are read and closed by the server. Safe on several nodes.
func sweepGarages(ctx context.Context, garages *keydelivery.Service, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := garages.SweepGarageGrants(ctx); err != nil && ctx.Err() == nil {
			log.Error("garage sweep", "err", err)
		} else if n > 0 {
			log.Warn("garage doors past their grant or step were settled by the server", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
