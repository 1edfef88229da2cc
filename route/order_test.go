package route

import (
	"slices"
	"testing"
)

func TestByPostcode(t *testing.T) {
	stops := Group([]Parcel{
		{TrackingID: "a", Name: "A", Line1: "1 High St", PostalCode: "E10 5AA"},
		{TrackingID: "b", Name: "B", Line1: "2 Low St", PostalCode: "e3 4bb"},
		{TrackingID: "c", Name: "C", Line1: "9 Mare St", PostalCode: "E8 1HR"},
		{TrackingID: "d", Name: "D", Line1: "3 Mare St", PostalCode: "E8 1HR"},
		{TrackingID: "e", Name: "E", Line1: "5 Bow Rd", PostalCode: "E3 4BB"},
	})
	var got []string
	for _, s := range ByPostcode(stops) {
		got = append(got, s.Parcels[0].TrackingID)
	}
	if want := []string{"b", "e", "d", "c", "a"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v (E3 before E8 before E10, then by address)", got, want)
	}
	if PostcodeKey(" e8 1hr") != "E81HR" {
		t.Errorf("PostcodeKey = %q", PostcodeKey(" e8 1hr"))
	}
}
