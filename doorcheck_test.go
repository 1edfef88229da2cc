package handoff

import "testing"

func TestAgeAtLeast(t *testing.T) {
	tests := []struct {
		birth, date string
		min         int
		want        bool
	}{
		{"2007-06-15", "2025-06-15", 18, true},  // the 18th birthday itself
		{"2007-06-16", "2025-06-15", 18, false}, // the day before it
		{"1990-01-01", "2025-06-15", 18, true},
		{"2008-02-29", "2026-02-28", 18, false}, // a leap-day birthday counts from 1 March
		{"2008-02-29", "2026-03-01", 18, true},
		{"2008-02-29", "2028-02-29", 20, true},
		{"2004-06-15", "2025-06-15", 21, true},
		{"2004-06-16", "2025-06-15", 21, false},
	}
	for _, tt := range tests {
		got, err := AgeAtLeast(tt.birth, tt.date, tt.min)
		if err != nil || got != tt.want {
			t.Errorf("AgeAtLeast(%s, %s, %d) = %v, %v; want %v", tt.birth, tt.date, tt.min, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "15/06/2007", "2026-01-01", "1700-01-01"} {
		if _, err := AgeAtLeast(bad, "2025-06-15", 18); ErrorCode(err) != EINVALID {
			t.Errorf("AgeAtLeast(%q) = %v; want EINVALID", bad, err)
		}
	}
}

func TestCheckHandover(t *testing.T) {
	drawn := &Signature{Kind: SignatureDrawn, Image: []byte("png"), SignerName: "ANN LEE", Relationship: "RECIPIENT"}
	typed := &Signature{Kind: SignatureTyped, SignerName: "ANN LEE", Relationship: "NEIGHBOUR"}
	adultID := &IDCheck{DocumentType: "PASSPORT", DateOfBirth: "1990-01-01"}
	minorID := &IDCheck{DocumentType: "DRIVING_LICENCE", DateOfBirth: "2010-01-01"}
	any := DoorCheck{Signature: SignatureAny}
	adult := DoorCheck{Signature: SignatureAdult}
	age21 := DoorCheck{MinimumAge: 21}
	noTyped := DoorCheck{Signature: SignatureAny, TypedRefused: true}
	const date = "2025-06-15"
	tests := []struct {
		name     string
		place    string
		checks   []DoorCheck
		sig      *Signature
		id       *IDCheck
		underage bool
		reason   string // "" for allowed; else the refusal's reason or code
	}{
		{"no check, no signature", "DeliveredToCustomer", []DoorCheck{{}}, nil, nil, false, ""},
		{"no check, signature taken anyway", "DeliveredToCustomer", []DoorCheck{{}}, drawn, nil, false, ""},
		{"signature needed, none", "DeliveredToCustomer", []DoorCheck{any}, nil, nil, false, ReasonSignatureNeeded},
		{"signature needed, drawn", "DeliveredToHouseholdMember", []DoorCheck{any, {}}, drawn, nil, false, ""},
		{"signature needed, typed allowed", "DeliveredToNeighbor", []DoorCheck{any}, typed, nil, false, ""},
		{"signature needed, typed refused", "DeliveredToCustomer", []DoorCheck{noTyped}, typed, nil, false, ReasonTypedRefused},
		{"typed refused, drawn given", "DeliveredToCustomer", []DoorCheck{noTyped}, drawn, nil, false, ""},
		{"signature at the porch", "DeliveredToPorch", []DoorCheck{any}, drawn, nil, false, ReasonAttendedOnly},
		{"age check at the mail room", "DeliveredToMailRoom", []DoorCheck{age21}, nil, adultID, false, ReasonAttendedOnly},
		{"signature given at the porch for a plain parcel", "DeliveredToPorch", []DoorCheck{{}}, drawn, nil, false, ReasonSignatureNotAsked},
		{"adult signature without ID", "DeliveredToCustomer", []DoorCheck{adult}, drawn, nil, false, ReasonAgeCheckNeeded},
		{"adult signature, adult ID", "DeliveredToCustomer", []DoorCheck{adult}, drawn, adultID, false, ""},
		{"adult signature, minor ID", "DeliveredToCustomer", []DoorCheck{adult}, drawn, minorID, true, ""},
		{"minimum age without signature, adult", "DeliveredToCustomer", []DoorCheck{age21}, nil, adultID, false, ""},
		{"minimum age, minor", "DeliveredToCustomer", []DoorCheck{age21}, nil, minorID, true, ""},
		{"ID of an unknown type", "DeliveredToCustomer", []DoorCheck{age21}, nil, &IDCheck{DocumentType: "LIBRARY_CARD", DateOfBirth: "1990-01-01"}, false, EINVALID},
		{"ID for a parcel without age check", "DeliveredToCustomer", []DoorCheck{any}, drawn, adultID, false, EINVALID},
		{"signature without name", "DeliveredToCustomer", []DoorCheck{any}, &Signature{Kind: SignatureDrawn, Image: []byte("x"), Relationship: "OTHER"}, nil, false, EINVALID},
		{"drawn without image", "DeliveredToCustomer", []DoorCheck{any}, &Signature{Kind: SignatureDrawn, SignerName: "A", Relationship: "OTHER"}, nil, false, EINVALID},
		{"unknown relationship", "DeliveredToCustomer", []DoorCheck{any}, &Signature{Kind: SignatureTyped, SignerName: "A", Relationship: "COUSIN"}, nil, false, EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			underage, err := CheckHandover(tt.place, date, tt.checks, tt.sig, tt.id)
			if tt.reason == "" {
				if err != nil || underage != tt.underage {
					t.Fatalf("= %v, %v; want %v, nil", underage, err, tt.underage)
				}
				return
			}
			if err == nil || (ErrorReason(err) != tt.reason && ErrorCode(err) != tt.reason) {
				t.Fatalf("= %v, %v; want refusal %s", underage, err, tt.reason)
			}
		})
	}
}
