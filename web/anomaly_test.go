package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/handoff-dev/handoff/audit"
)

// The station board shows an associate whose figures stand out, in words,
// as something to review.
func TestStationBoardShowsFlags(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		b := e.signedIn(t, e.seed.Station)
		_, page := b.get("/station")
		wantText(t, "a quiet day", element(t, page, "flags-h", "h2"), "Figures that deserve a look")
		alex := e.seed.Associates[0].Principal
		// The others' day was ordinary: every code right.
		for _, a := range e.seed.Associates[1:] {
			for i := range 3 {
				en := audit.Entry{Action: audit.ActionCodeCheck, Actor: a.Principal.ID, Subject: fmt.Sprint("stp_", a.Principal.ID, i), Outcome: "correct", Detail: "method=code"}
				if err := e.db.AppendAudit(context.Background(), en); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 3 {
			for _, en := range []audit.Entry{
				{Action: audit.ActionCodeCheck, Actor: alex.ID, Subject: fmt.Sprint("stp_", i), Outcome: "wrong", Detail: "method=code"},
				{Action: audit.ActionAttemptFailed, Actor: alex.ID, Subject: fmt.Sprint("stp_", i), Outcome: "OtpNotAvailable"},
			} {
				if err := e.db.AppendAudit(context.Background(), en); err != nil {
					t.Fatal(err)
				}
			}
		}
		resp, page := b.get("/station")
		wantStatus(t, resp, page, http.StatusOK)
		wantText(t, "the flag", element(t, page, "flag-"+alex.ID, "li"), alex.Name, "100% of passcode stops ended without the code (3 stops)")
	})
}
