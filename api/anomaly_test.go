package api_test

import (
	"fmt"
	"testing"

	"github.com/handoff-dev/handoff/audit"
)

// A seeded day of 20 associates: the anomaly endpoint puts the planted
// outlier on top and flags nobody else.
func TestStationAnomalies(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		ids := []string{d.da1, d.da2}
		for i := range 18 {
			a := e.do("POST", "/v1/admin/associates", adminToken, map[string]any{"name": fmt.Sprint("DA", i+2), "stationId": d.stationID}).JSON(t)
			ids = append(ids, a["associateId"].(string))
		}
		outlier := ids[13]
		add := func(da, action, subject, outcome, detail string, n int) {
			for range n {
				if err := e.db.AppendAudit(t0ctx, audit.Entry{Action: action, Actor: da, Subject: subject, Outcome: outcome, Detail: detail}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, da := range ids {
			stops, failed, mismatches, fallback := 5, i%4/3, i%5/4, 0
			if da == outlier {
				stops, failed, mismatches, fallback = 6, 4, 3, 5
			}
			for s := range stops {
				stop := fmt.Sprint("stp_", i, "_", s)
				if s < failed {
					add(da, audit.ActionCodeCheck, stop, "wrong", "method=code", 3)
					add(da, audit.ActionAttemptFailed, stop, "OtpNotAvailable", "", 1)
					continue
				}
				add(da, audit.ActionCodeCheck, stop, "correct", "method=code", 1)
			}
			add(da, audit.ActionCodeCheck, "stp_fb", "correct", "method=phone_digits", fallback)
			add(da, audit.ActionBagScan, "stp_bag", "mismatch", "bag=TEB1", mismatches)
		}

		r := d.do("GET", "/v1/station/anomalies", d.stationKey, nil)
		if r.Status != 200 {
			t.Fatalf("anomalies: %d %s", r.Status, r.Body)
		}
		rep := r.JSON(t)
		if rep["serviceDate"] != "2026-11-23" || len(rep["associates"].([]any)) != 20 {
			t.Fatalf("report = %s", r.Body)
		}
		flags := rep["flags"].([]any)
		if len(flags) == 0 || flags[0].(map[string]any)["associateId"] != outlier {
			t.Fatalf("the outlier is not on top: %s", r.Body)
		}
		metrics := map[any]bool{}
		for _, f := range flags {
			f := f.(map[string]any)
			if f["associateId"] != outlier {
				t.Errorf("another associate is flagged: %v", f)
			}
			metrics[f["metric"]] = true
		}
		for _, m := range []string{"otpNotAvailableRate", "fallbackRate", "bagMismatches"} {
			if !metrics[m] {
				t.Errorf("the outlier's %s is not flagged: %v", m, flags)
			}
		}
		// Another day is quiet; another station sees none of these.
		if r := d.do("GET", "/v1/station/anomalies?date=2026-11-24", d.stationKey, nil).JSON(t); len(r["flags"].([]any)) != 0 {
			t.Errorf("next day: %v", r)
		}
		problem(t, d.do("GET", "/v1/station/anomalies?date=tuesday", d.stationKey, nil), 400, "date")
		other := e.do("POST", "/v1/admin/stations", adminToken, map[string]any{"name": "West", "marketplace": "GB"}).JSON(t)["apiKey"].(string)
		if r := d.do("GET", "/v1/station/anomalies", other, nil).JSON(t); len(r["associates"].([]any)) != 0 {
			t.Errorf("another station sees %v", r["associates"])
		}
		problem(t, d.do("GET", "/v1/station/anomalies", d.shipperKey, nil), 403, "")
	})
}
