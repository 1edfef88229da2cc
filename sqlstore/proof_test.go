package sqlstore_test

import (
	"slices"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// A key published once stays published after the keyring loses it (keys
// init after a lost key file), so proofs it signed still verify.
func TestProofKeysOutliveTheKeyring(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		old := db.Keys.ActiveID()
		if err := db.PublishProofKeys(ctx); err != nil {
			t.Fatal(err)
		}
		db.Keys = sqlstoretest.Keys(t)
		keys, err := db.ProofKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, k := range keys {
			if len(k.PublicKey) != 32 {
				t.Errorf("key %s is %d bytes", k.KeyID, len(k.PublicKey))
			}
			ids = append(ids, k.KeyID)
		}
		if !slices.Contains(ids, old) || !slices.Contains(ids, db.Keys.ActiveID()) || len(ids) != 2 {
			t.Errorf("published keys = %v, want %s and %s", ids, old, db.Keys.ActiveID())
		}
		if _, err := db.ShipmentProofs(ctx, "pr_nobody", "sh_nothing"); handoff.ErrorCode(err) != handoff.ENOTFOUND {
			t.Errorf("proofs of an unknown shipment: %v", err)
		}
	})
}
