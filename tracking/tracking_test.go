package tracking

import (
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	ev := func(codes ...string) []Event {
		var out []Event
		for i := 0; i < len(codes); i += 2 {
			out = append(out, Event{Code: codes[i], Detail: codes[i+1]})
		}
		return out
	}
	tests := []struct {
		name             string
		events           []Event
		status           string
		forward, returns []string
	}{
		{"label only", ev(ReadyForReceive, ""), StatusPreTransit, nil, nil},
		{"out", ev(ReadyForReceive, "", PickupDone, "", ArrivedAtCarrierFacility, "", OutForDelivery, ""), StatusOutForDelivery, nil, nil},
		{"bag events change nothing", ev(ReadyForReceive, "", ArrivedAtCarrierFacility, "", BagSealed, ""), StatusInTransit, nil, nil},
		{"delivered with OTP", ev(OutForDelivery, "", Delivered, DeliveredWithOTP), StatusDelivered, []string{DeliveredWithOTP}, nil},
		{"attempt then delivery", ev(OutForDelivery, "", DeliveryAttempted, OtpNotAvailable, ArrivedAtCarrierFacility, "", OutForDelivery, "", Delivered, DeliveredToGarage),
			StatusDelivered, []string{DeliveredToGarage}, nil},
		{"attempted", ev(OutForDelivery, "", DeliveryAttempted, OtpNotAvailable), StatusDeliveryAttempted, []string{OtpNotAvailable}, nil},
		{"refused and returning", ev(OutForDelivery, "", Rejected, RejectedByRecipientWithVerification, ArrivedAtCarrierFacility, "", ReturnInitiated, ""),
			StatusInTransit, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.events)
			if s.Status != tt.status || !slices.Equal(s.Forward, append([]string{}, tt.forward...)) || !slices.Equal(s.Returns, append([]string{}, tt.returns...)) {
				t.Errorf("Summarize = %+v, want %s %v %v", s, tt.status, tt.forward, tt.returns)
			}
		})
	}
	if Describe(StatusDelivered, DeliveredWithOTP) != "Delivered with OTP" || Describe(StatusOutForDelivery, "") != "Out for delivery" {
		t.Error("Describe")
	}
}
