package money

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		text, cur string
		want      int64
		err       error
	}{
		{"100", "GBP", 10000, nil},
		{"100.5", "GBP", 10050, nil},
		{"100.50", "GBP", 10050, nil},
		{"100.01", "EUR", 10001, nil},
		{"0", "GBP", 0, nil},
		{"-0", "GBP", 0, nil},
		{"0.00", "INR", 0, nil},
		{"1e2", "GBP", 10000, nil},
		{"1.5E1", "GBP", 1500, nil},
		{"12345e-2", "GBP", 12345, nil},
		{"100.001", "GBP", 0, ErrTooManyDigits},
		{"1e-3", "GBP", 0, ErrTooManyDigits},
		{"1e-5000", "GBP", 0, ErrTooManyDigits},
		{"0e-5000", "GBP", 0, nil},
		{"-1", "GBP", 0, ErrNegative},
		{"-0.01", "GBP", 0, ErrNegative},
		{"1e400", "GBP", 0, ErrTooLarge},
		{"1e99999999", "GBP", 0, ErrTooLarge},
		{"100000000001", "GBP", 0, ErrTooLarge},
		{"NaN", "GBP", 0, ErrNotNumber},
		{"Infinity", "GBP", 0, ErrNotNumber},
		{"01", "GBP", 0, ErrNotNumber},
		{"1.", "GBP", 0, ErrNotNumber},
		{".5", "GBP", 0, ErrNotNumber},
		{"+1", "GBP", 0, ErrNotNumber},
		{"0x10", "GBP", 0, ErrNotNumber},
		{"", "GBP", 0, ErrNotNumber},
		{"10", "XXX", 0, ErrCurrency},
	}
	for _, tt := range tests {
		got, err := Parse(tt.text, tt.cur)
		if err != tt.err || (err == nil && got.Minor != tt.want) {
			t.Errorf("Parse(%q, %s) = %d, %v; want %d, %v", tt.text, tt.cur, got.Minor, err, tt.want, tt.err)
		}
	}
}

func TestString(t *testing.T) {
	for _, tt := range []struct {
		a    Amount
		want string
	}{
		{Amount{10000, "GBP"}, "100"},
		{Amount{10050, "GBP"}, "100.5"},
		{Amount{10001, "EUR"}, "100.01"},
		{Amount{5, "EUR"}, "0.05"},
		{Amount{0, "INR"}, "0"},
	} {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"100", "100.5", "1e2", "-0", "1e-5000", "99999999999.99", "0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s, "GBP")
		if err != nil {
			return
		}
		if a.Minor < 0 || a.Minor > MaxMinor {
			t.Fatalf("Parse(%q) = %d out of range", s, a.Minor)
		}
		// Printing and parsing again gives the same amount.
		b, err := Parse(a.String(), "GBP")
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, a, a.String(), b, err)
		}
	})
}
