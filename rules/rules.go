// Package rules evaluates a shipper's own conditions for passcode delivery,
// written in CEL (the Common Expression Language, cel.dev) rather than a
// home-made syntax: for example
//
//	categories.exists(c, c in ["smartphone", "laptop", "tablet"])
//	recipient.cases > 0 && value >= 50.0
//
// An expression sees the package and its recipient's history and must yield a
// bool; true asks for OTP whatever the declared value. Evaluation is bounded
// in cost, so no rule can stall label creation.
package rules

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
)

// Input is what an expression can see.
type Input struct {
	Marketplace         string   // "GB", …
	Value               float64  // declared value in major units of Currency
	Currency            string   // "GBP", …
	Categories          []string // item categories, lower-case
	Items               int      // item lines
	Quantity            int      // items in all
	PaymentType         string   // PREPAID or CASH_ON_DELIVERY
	Gift                bool
	GiftRegistry        bool
	ConfidentialAddress bool
	RecipientCases      int // customer-service cases on earlier parcels to this recipient
	RecipientParcels    int // earlier parcels to this recipient
}

// MaxLength bounds an expression's text.
const MaxLength = 1000

var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		// "value > 100" should work as a person means it, int or double.
		cel.CrossTypeNumericComparisons(true),
		cel.Variable("marketplace", cel.StringType),
		cel.Variable("value", cel.DoubleType),
		cel.Variable("currency", cel.StringType),
		cel.Variable("categories", cel.ListType(cel.StringType)),
		cel.Variable("items", cel.IntType),
		cel.Variable("quantity", cel.IntType),
		cel.Variable("paymentType", cel.StringType),
		cel.Variable("gift", cel.BoolType),
		cel.Variable("giftRegistry", cel.BoolType),
		cel.Variable("confidentialAddress", cel.BoolType),
		cel.Variable("recipient", cel.MapType(cel.StringType, cel.IntType)),
	)
})

// Program is a compiled expression.
type Program struct{ prg cel.Program }

var (
	cache     sync.Map // expression -> *Program
	cacheSize atomic.Int64
)

// maxCached bounds the cache, so shippers patching many distinct rules
// cannot grow memory without end; past it, programs are compiled each time.
const maxCached = 10_000

// Compile checks an expression: it must parse, use only the known variables
// and yield a bool. The error says what is wrong, for the shipper.
func Compile(expr string) (*Program, error) {
	if p, ok := cache.Load(expr); ok {
		return p.(*Program), nil
	}
	if len(expr) == 0 || len(expr) > MaxLength {
		return nil, fmt.Errorf("must be a CEL expression of 1 to %d characters", MaxLength)
	}
	e, err := env()
	if err != nil {
		return nil, err
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, errors.New(iss.Err().Error())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("must yield true or false, not %s", ast.OutputType())
	}
	prg, err := e.Program(ast, cel.CostLimit(10_000), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, err
	}
	p := &Program{prg: prg}
	if cacheSize.Load() < maxCached {
		if _, loaded := cache.LoadOrStore(expr, p); !loaded {
			cacheSize.Add(1)
		}
	}
	return p, nil
}

// Eval runs the program on in; an evaluation error (a missing key, a cost
// overrun) counts as not matched, with the error for the log.
func (p *Program) Eval(in Input) (bool, error) {
	out, _, err := p.prg.Eval(map[string]any{
		"marketplace": in.Marketplace, "value": in.Value, "currency": in.Currency, "categories": in.Categories,
		"items": int64(in.Items), "quantity": int64(in.Quantity), "paymentType": in.PaymentType, "gift": in.Gift,
		"giftRegistry": in.GiftRegistry, "confidentialAddress": in.ConfidentialAddress,
		"recipient": map[string]int64{"cases": int64(in.RecipientCases), "parcels": int64(in.RecipientParcels)},
	})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}
