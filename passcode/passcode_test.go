package passcode

import (
	"bytes"
	"testing"
)

func TestContactSet(t *testing.T) {
	victim := Contacts{Mobile: "+447700900123", Email: "priya@example.com"}
	for name, c := range map[string]struct {
		other Contacts
		same  bool
	}{
		"the same contacts":              {Contacts{Mobile: "+447700900123", Email: "priya@example.com"}, true},
		"email in other case, spaced":    {Contacts{Mobile: "+447700900123", Email: " Priya@Example.COM "}, true},
		"another email":                  {Contacts{Mobile: "+447700900123", Email: "attacker@example.net"}, false},
		"no email":                       {Contacts{Mobile: "+447700900123"}, false},
		"a gift buyer's email":           {Contacts{Mobile: "+447700900123", Email: "priya@example.com", BuyerEmail: "buyer@example.net"}, false},
		"a gift buyer's mobile":          {Contacts{Mobile: "+447700900123", Email: "priya@example.com", BuyerMobile: "+447700900999"}, false},
		"the email as the buyer's":       {Contacts{Mobile: "+447700900123", BuyerEmail: "priya@example.com"}, false},
		"another mobile, same email":     {Contacts{Mobile: "+447700900124", Email: "priya@example.com"}, false},
		"fields running into each other": {Contacts{Mobile: "+447700900123priya@example.com"}, false},
	} {
		if got := victim.Set() == c.other.Set(); got != c.same {
			t.Errorf("%s: same set = %v, want %v", name, got, c.same)
		}
	}
	if s := victim.Set(); len(s) != 64 {
		t.Errorf("set %q is not a hex SHA-256", s)
	}
}

func TestDerive(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	a := Derive(k1, "+447700900123", "2026-11-21")
	if !WellFormed(a) {
		t.Fatalf("code %q is not six digits", a)
	}
	if Derive(k1, "+447700900123", "2026-11-21") != a {
		t.Error("same inputs give different codes")
	}
	for name, other := range map[string]string{
		"next day":        Derive(k1, "+447700900123", "2026-11-23"),
		"other recipient": Derive(k1, "+447700900124", "2026-11-21"),
		"other key":       Derive(k2, "+447700900123", "2026-11-21"),
	} {
		if other == a {
			t.Errorf("%s gives the same code (possible by chance 1 in 10^6; inputs are fixed, so this is a bug)", name)
		}
	}
	// Length-prefixing keeps the inputs apart.
	if Derive(k1, "+4477", "00900123") == Derive(k1, "+447700", "900123") {
		t.Error("inputs run together")
	}
}

// TestDistribution checks that codes spread evenly over the first digit: with
// 100,000 codes each digit's count stays well within 5 standard deviations.
func TestDistribution(t *testing.T) {
	k := bytes.Repeat([]byte{7}, 32)
	var counts [10]int
	const n = 100_000
	for i := range n {
		c := Derive(k, "+447700900123", "d"+pad(uint32(i)))
		counts[c[0]-'0']++
	}
	for d, c := range counts {
		if c < n/10-750 || c > n/10+750 {
			t.Errorf("first digit %d appears %d times of %d", d, c, n)
		}
	}
}

func TestEqualAndForm(t *testing.T) {
	if !Equal("012345", "012345") || Equal("012345", "012346") || Equal("01234", "012345") {
		t.Error("Equal is wrong")
	}
	for s, ok := range map[string]bool{"012345": true, "12345": false, "1234567": false, "12a456": false, "": false, "１２３４５６": false} {
		if WellFormed(s) != ok {
			t.Errorf("WellFormed(%q) = %v", s, !ok)
		}
	}
	if Normalize("123 456") != "123456" || Normalize("12-34-56") != "123456" {
		t.Error("Normalize")
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("123 456")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if WellFormed(n) && len(n) != Digits {
			t.Fatal("bad")
		}
	})
}

func BenchmarkDerive(b *testing.B) {
	k := bytes.Repeat([]byte{7}, 32)
	for b.Loop() {
		Derive(k, "+447700900123", "2026-11-21")
	}
}
