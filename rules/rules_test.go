package rules

import (
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	in := Input{Marketplace: "GB", Value: 40, Currency: "GBP", Categories: []string{"smartphone"}, Items: 1, Quantity: 1, PaymentType: "PREPAID",
		RecipientCases: 2, RecipientParcels: 5}
	for expr, want := range map[string]bool{
		`categories.exists(c, c in ["smartphone", "laptop", "tablet"])`: true,
		`"laptop" in categories`:                   false,
		`recipient.cases > 0`:                      true,
		`recipient.cases > 0 && value >= 50.0`:     false,
		`marketplace == "GB" && !gift`:             true,
		`quantity > 3 || paymentType == "PREPAID"`: true,
		`size(categories) == 0`:                    false,
		`value > 1000.0 || confidentialAddress`:    false,
		`value > 30`:                               true,
	} {
		p, err := Compile(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got, err := p.Eval(in); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"", "value >", "price > 10.0", "value + 1.0", strings.Repeat("x", MaxLength+1), `system("ls")`} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}

func FuzzCompile(f *testing.F) {
	f.Add(`categories.exists(c, c == "laptop")`)
	f.Add(`recipient.cases > 0`)
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := Compile(expr)
		if err != nil {
			return
		}
		p.Eval(Input{Categories: []string{"a"}})
	})
}
