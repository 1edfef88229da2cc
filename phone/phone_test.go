package phone

import (
	"testing"

	"github.com/handoff-dev/handoff/market"
)

func TestMobile(t *testing.T) {
	tests := []struct {
		m    market.Code
		in   string
		want string // "" means invalid
	}{
		// GB: 7 + 8 or 9 digits; 07… only without a country prefix.
		{market.GB, "+447700900123", "+447700900123"},
		{market.GB, "00447700900123", "+447700900123"},
		{market.GB, "(+44)7700900123", "+447700900123"},
		{market.GB, "(0044)7700900123", "+447700900123"},
		{market.GB, "(+44) 7700 900123", "+447700900123"},
		{market.GB, "07700900123", "+447700900123"},
		{market.GB, "7700900123", "+447700900123"},
		{market.GB, "770090012", "+44770090012"}, // 7 + 8 digits
		{market.GB, "07700 900-123", "+447700900123"},
		{market.GB, "07700.900.123", "+447700900123"},
		{market.GB, " +44 7700 900 123 ", "+447700900123"},
		{market.GB, "+4407700900123", ""},  // 07 with a country prefix
		{market.GB, "004407700900123", ""}, // likewise
		{market.GB, "(+44)07700900123", ""},
		{market.GB, "77009001", ""},        // 7 + 7 digits: too short
		{market.GB, "077009001234", ""},    // 7 + 10 digits: too long
		{market.GB, "+442079460000", ""},   // landline
		{market.GB, "02079460000", ""},     // landline
		{market.GB, "+337700900123", ""},   // wrong country
		{market.GB, "447700900123", ""},    // country code without + or 00
		{market.GB, "+44 7700 90012a", ""}, // letter
		{market.GB, "+44-7700-900123", "+447700900123"},
		{market.GB, "0 7700 900123", "+447700900123"},

		// IT: 3 + 9 or 10 digits; no trunk 0.
		{market.IT, "+393123456789", "+393123456789"},
		{market.IT, "00393123456789", "+393123456789"},
		{market.IT, "0039312345678", ""}, // 3 + 8 digits
		{market.IT, "(+39)3123456789", "+393123456789"},
		{market.IT, "(0039)31234567890", "+3931234567890"},
		{market.IT, "3123456789", "+393123456789"},
		{market.IT, "312 345 6789", "+393123456789"},
		{market.IT, "03123456789", ""},      // trunk 0 not accepted
		{market.IT, "31234567", ""},         // 3 + 7
		{market.IT, "3123456789012", ""},    // 3 + 12
		{market.IT, "+390612345678", ""},    // Rome landline
		{market.IT, "+39 0 3123456789", ""}, // 0 after country prefix

		// FR: 6 or 7 + 8 digits; 06/07 only without a country prefix.
		{market.FR, "+33612345678", "+33612345678"},
		{market.FR, "0033712345678", "+33712345678"},
		{market.FR, "(+33)612345678", "+33612345678"},
		{market.FR, "(0033)612345678", "+33612345678"},
		{market.FR, "0612345678", "+33612345678"},
		{market.FR, "06 12 34 56 78", "+33612345678"},
		{market.FR, "06.12.34.56.78", "+33612345678"},
		{market.FR, "612345678", "+33612345678"},
		{market.FR, "+330612345678", ""},
		{market.FR, "0112345678", ""},   // landline
		{market.FR, "061234567", ""},    // too short
		{market.FR, "06123456789", ""},  // too long
		{market.FR, "+33812345678", ""}, // 8… is not mobile

		// ES: 6 or 7 + 8 digits; no trunk 0.
		{market.ES, "+34612345678", "+34612345678"},
		{market.ES, "0034712345678", "+34712345678"},
		{market.ES, "(+34)612345678", "+34612345678"},
		{market.ES, "(0034)612345678", "+34612345678"},
		{market.ES, "612 34 56 78", "+34612345678"},
		{market.ES, "0612345678", ""},
		{market.ES, "912345678", ""}, // Madrid landline
		{market.ES, "61234567", ""},

		// IN: 7, 8 or 9 + 9 digits.
		{market.IN, "+919876543210", "+919876543210"},
		{market.IN, "00918123456789", "+918123456789"},
		{market.IN, "(+91)7123456789", "+917123456789"},
		{market.IN, "(0091)9876543210", "+919876543210"},
		{market.IN, "98765 43210", "+919876543210"},
		{market.IN, "9876543210", "+919876543210"},
		{market.IN, "09876543210", ""}, // trunk 0 not in the rules
		{market.IN, "6876543210", ""},  // 6… not accepted
		{market.IN, "987654321", ""},
		{market.IN, "98765432101", ""},

		// Anything else.
		{market.GB, "()", ""},
		{market.GB, "+", ""},
		{market.GB, "++447700900123", ""},
		{market.GB, "+44 7700 900123 ext 5", ""},
		{market.GB, "+٤٤٧٧٠٠٩٠٠١٢٣", ""}, // non-ASCII digits
		{"US", "+12025550123", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.m)+" "+tt.in, func(t *testing.T) {
			got, err := Mobile(tt.m, tt.in)
			if tt.want == "" {
				if err != ErrInvalid {
					t.Fatalf("Mobile(%s, %q) = %q, %v; want ErrInvalid", tt.m, tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Mobile(%s, %q) = %q, %v; want %q", tt.m, tt.in, got, err, tt.want)
			}
		})
	}
}

func TestMobileMissing(t *testing.T) {
	for _, in := range []string{"", "   ", "\t"} {
		if _, err := Mobile(market.GB, in); err != ErrMissing {
			t.Errorf("Mobile(GB, %q) error = %v, want ErrMissing", in, err)
		}
	}
}

func FuzzMobile(f *testing.F) {
	for _, s := range []string{"+447700900123", "(0044)7700900123", "07700 900-123", "0612345678", "+919876543210", "(+39)3123456789", "()", "+", "0"} {
		f.Add("GB", s)
		f.Add("IN", s)
	}
	f.Fuzz(func(t *testing.T, m, s string) {
		got, err := Mobile(market.Code(m), s)
		if err != nil {
			return
		}
		// A valid number normalises to E.164, which must itself be accepted
		// and be a fixed point.
		again, err := Mobile(market.Code(m), got)
		if err != nil || again != got {
			t.Fatalf("Mobile(%q, %q) = %q, but Mobile of that = %q, %v", m, s, got, again, err)
		}
		if got[0] != '+' || len(got) > 16 {
			t.Fatalf("not E.164: %q", got)
		}
	})
}

func TestMask(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+447700900123", "+44 7••• •••123"},
		{"+33612345678", "+33 6••• •••678"},
		{"+393123456789", "+39 3••• •••789"},
		{"020 7946 0018", "••• •••018"}, // a landline as the label wrote it
		{"12", "•••"},
		{"", "•••"},
	} {
		if got := Mask(c.in); got != c.want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
