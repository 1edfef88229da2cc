package audit_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/audit"
)

// chain returns n linked entries of a chain, as the store appends them.
func chain(name string, n int) []audit.Entry {
	var out []audit.Entry
	prev := ""
	for i := 1; i <= n; i++ {
		e := audit.Entry{Chain: name, Seq: int64(i), At: audit.Stamp(time.Unix(int64(1795000000+i), 0)), Action: audit.ActionCodeCheck,
			Actor: "pr_da", Subject: fmt.Sprint("stp_", i), Outcome: "wrong", Detail: "method=code", PrevHash: prev}
		e.Hash = e.Sum()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func heads(es ...[]audit.Entry) map[string]audit.Head {
	m := map[string]audit.Head{}
	for _, c := range es {
		last := c[len(c)-1]
		m[last.Chain] = audit.Head{Seq: last.Seq, Hash: last.Hash}
	}
	return m
}

func walk(partial bool, hs map[string]audit.Head, es ...[]audit.Entry) []audit.Break {
	w := &audit.Walker{Partial: partial}
	for _, c := range es {
		for _, e := range c {
			w.Add(e)
		}
	}
	w.End(hs)
	return w.Breaks
}

func TestWalkerFindsTheFirstBrokenLink(t *testing.T) {
	a, b := chain("a", 6), chain("b", 3)
	hs := heads(a, b)
	if br := walk(false, hs, a, b); len(br) != 0 {
		t.Fatalf("an intact log is reported broken: %v", br)
	}
	edited := func(e audit.Entry) audit.Entry { e.Outcome = "correct"; return e }
	rehashed := func(e audit.Entry) audit.Entry { e.Outcome = "correct"; e.Hash = e.Sum(); return e }
	swap := func(c []audit.Entry, i, j int) []audit.Entry {
		c = append([]audit.Entry(nil), c...)
		c[i].Seq, c[j].Seq = c[j].Seq, c[i].Seq
		c[i], c[j] = c[j], c[i]
		return c
	}
	with := func(c []audit.Entry, i int, f func(audit.Entry) audit.Entry) []audit.Entry {
		c = append([]audit.Entry(nil), c...)
		c[i] = f(c[i])
		return c
	}
	for _, tc := range []struct {
		name string
		a    []audit.Entry
		seq  int64
		word string
	}{
		{"edited", with(a, 2, edited), 3, "changed"},
		{"edited and rehashed", with(a, 2, rehashed), 4, "broken link"},
		{"deleted in the middle", append(append([]audit.Entry(nil), a[:2]...), a[3:]...), 3, "missing"},
		{"deleted at the end", a[:5], 6, "missing"},
		{"deleted at the start", a[1:], 1, "missing"},
		{"reordered", swap(a, 2, 3), 3, "changed"},
		{"listed out of order", append(append(append([]audit.Entry(nil), a[:2]...), a[3], a[2]), a[4:]...), 3, "missing"},
	} {
		br := walk(false, hs, tc.a, b)
		if len(br) != 1 || br[0].Chain != "a" || br[0].Seq != tc.seq || !strings.Contains(br[0].Reason, tc.word) {
			t.Errorf("%s: breaks = %v, want chain a entry %d %s", tc.name, br, tc.seq, tc.word)
		}
	}
	// A whole chain gone, or its head row gone.
	if br := walk(false, hs, a); len(br) != 1 || br[0].Chain != "b" {
		t.Errorf("chain deleted: %v", br)
	}
	if br := walk(false, heads(a), a, b); len(br) != 1 || br[0].Chain != "b" {
		t.Errorf("head deleted: %v", br)
	}
	// An export of a range starts mid-chain and has no heads.
	if br := walk(true, nil, a[2:5], b[1:]); len(br) != 0 {
		t.Errorf("a partial export is reported broken: %v", br)
	}
	if br := walk(true, nil, with(a[2:5], 1, edited)); len(br) != 1 || br[0].Seq != 4 {
		t.Errorf("edited export: %v", br)
	}
}
