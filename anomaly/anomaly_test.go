package anomaly_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/handoff-dev/handoff/anomaly"
)

func TestReview(t *testing.T) {
	for _, tc := range []struct {
		name  string
		day   []anomaly.Figures
		want  []string // associate/metric of the flags, in order
		media map[string]float64
	}{
		{"a quiet day flags nobody", []anomaly.Figures{
			{AssociateID: "a", PasscodeStops: 10, OtpNotAvailable: 1, CodeChecks: 12},
			{AssociateID: "b", PasscodeStops: 10, OtpNotAvailable: 1, CodeChecks: 12, BagMismatches: 1},
			{AssociateID: "c", PasscodeStops: 10, CodeChecks: 10},
		}, nil, map[string]float64{anomaly.OtpNotAvailableRate: 0.1, anomaly.BagMismatches: 0}},
		{"one failed stop of two is too few events", []anomaly.Figures{
			{AssociateID: "a", PasscodeStops: 2, OtpNotAvailable: 1, CodeChecks: 5},
			{AssociateID: "b", PasscodeStops: 10, CodeChecks: 10},
			{AssociateID: "c", PasscodeStops: 10, CodeChecks: 10},
		}, nil, nil},
		{"outliers against the median, most outstanding first", []anomaly.Figures{
			{AssociateID: "a", PasscodeStops: 10, OtpNotAvailable: 1, CodeChecks: 12},
			{AssociateID: "b", PasscodeStops: 10, OtpNotAvailable: 6, CodeChecks: 30, FallbackChecks: 9},
			{AssociateID: "c", PasscodeStops: 10, OtpNotAvailable: 1, CodeChecks: 11, GarageNotClosed: 2},
			{AssociateID: "d", PasscodeStops: 10, OtpNotAvailable: 2, CodeChecks: 12},
		}, []string{"b/fallbackRate", "b/otpNotAvailableRate", "c/garageDoorsNotClosed"}, map[string]float64{anomaly.OtpNotAvailableRate: 0.15}},
		{"above the median but not twice it", []anomaly.Figures{
			{AssociateID: "a", BagMismatches: 2}, {AssociateID: "b", BagMismatches: 3}, {AssociateID: "c", BagMismatches: 2},
		}, nil, map[string]float64{anomaly.BagMismatches: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			med, flags := anomaly.Review(tc.day)
			var got []string
			for _, f := range flags {
				got = append(got, f.AssociateID+"/"+f.Metric)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("flags = %v, want %v", got, tc.want)
			}
			for m, v := range tc.media {
				if math.Abs(med[m]-v) > 1e-9 {
					t.Errorf("median %s = %v, want %v", m, med[m], v)
				}
			}
		})
	}
}
