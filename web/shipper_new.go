package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/market"
)

// The label form's inputs are named as the fields of POST /v1/shipments,
// so that the service's field errors land on their input as they are.
const (
	fPackage  = "packages[0]"
	fRef      = fPackage + ".packageClientReferenceId"
	fValue    = fPackage + ".insuredValue.value"
	fWeight   = fPackage + ".weight.value"
	fCategory = fPackage + ".items[0].category"
	fContents = fPackage + ".items[0].description"
)

var (
	toFields   = []string{"name", "addressLine1", "addressLine2", "city", "postalCode", "countryCode", "phoneNumber", "email"}
	fromFields = []string{"name", "addressLine1", "city", "postalCode", "countryCode"}
	// labelFields are every input of the form but the check boxes.
	labelFields = func() []string {
		var out []string
		for _, f := range toFields {
			out = append(out, "shipTo."+f)
		}
		for _, f := range fromFields {
			out = append(out, "shipFrom."+f)
		}
		return append(out, "paymentType", fRef, fValue, fWeight, fCategory, fContents,
			"deliveryPreferences.signature", "deliveryPreferences.minimumAge")
	}()
)

// labelForm is the content of the new-label page: what was typed, and the
// errors at their inputs.
type labelForm struct {
	Key     string // the form's idempotency key
	Values  url.Values
	Errors  map[string]string
	Other   []string // errors no input is for
	Markets []choice
	Checks  map[string]bool
}

// V returns what was typed into an input.
func (f labelForm) V(name string) string { return f.Values.Get(name) }

// E returns the error at an input, or "".
func (f labelForm) E(name string) string { return f.Errors[name] }

func (s *Server) newLabelForm(r *http.Request, values url.Values, key string) labelForm {
	f := labelForm{Key: key, Values: values, Errors: map[string]string{}, Checks: map[string]bool{}}
	for _, c := range []string{"deliveryPreferences.confidentialAddress", "deliveryPreferences.giftRegistry"} {
		f.Checks[c] = values.Get(c) != ""
	}
	for _, m := range market.All() {
		f.Markets = append(f.Markets, choice{string(m.Code), string(m.Code) + " (" + m.Currency + ")", values.Get("shipTo.countryCode") == string(m.Code)})
	}
	return f
}

// labelNew shows an empty label form, the sender filled in from the
// shipper's latest label.
func (s *Server) labelNew(w http.ResponseWriter, r *http.Request) {
	values := url.Values{}
	p := visitorFrom(r.Context()).principal
	if last, err := s.Shipments.ListPackages(r.Context(), handoff.ShipmentFilter{ShipperID: p.ID, Limit: 1}); err == nil && len(last) == 1 {
		if sh, err := s.Shipments.FindShipment(r.Context(), p.ID, last[0].ShipmentID); err == nil {
			a := sh.ShipFrom
			for k, v := range map[string]string{"name": a.Name, "addressLine1": a.AddressLine1, "city": a.City, "postalCode": a.PostalCode, "countryCode": a.CountryCode} {
				values.Set("shipFrom."+k, v)
			}
		}
	}
	s.render(w, r, http.StatusOK, "labelnew", newView(r, "New label", "shipments", s.newLabelForm(r, values, newKey())))
}

// labelCreate makes a label from the form through the service the API's
// POST /v1/shipments uses, so the rules and the messages are the same; a
// refusal comes back with every input as typed and each error at its input.
// The form's key makes a second send of the same form return the first
// label.
func (s *Server) labelCreate(w http.ResponseWriter, r *http.Request) {
	pf := r.PostForm
	values := url.Values{}
	// Each input goes to the service as typed, up to one character more
	// than any field takes: clipField's 64 would cut a longer address or
	// description short and make a label of the rest without a word, where
	// the API takes up to handoff.MaxTextLen and refuses more at its field.
	for _, name := range labelFields {
		values.Set(name, clipRunes(strings.TrimSpace(pf.Get(name)), handoff.MaxTextLen+1))
	}
	for _, c := range []string{"deliveryPreferences.confidentialAddress", "deliveryPreferences.giftRegistry"} {
		if pf.Get(c) != "" {
			values.Set(c, "on")
		}
	}
	key := pf.Get("key")
	if !strings.HasPrefix(key, "web-") || len(key) != 36 {
		key = newKey()
	}
	lang := langOf(r)
	in := shipmentInput(values, lang)
	p := visitorFrom(r.Context()).principal
	sh, _, err := s.Shipments.CreateShipment(r.Context(), p.ID, in, key)
	if err == nil {
		http.Redirect(w, r, "/shipments/"+sh.ID+"?created=1", http.StatusSeeOther)
		return
	}
	v := newView(r, "New label", "shipments", nil)
	form := s.newLabelForm(r, values, key)
	switch handoff.ErrorCode(err) {
	case handoff.EINVALID:
		for _, fe := range handoff.ErrorFields(err) {
			name := fe.Field
			if strings.HasPrefix(name, fPackage+".insuredValue") {
				name = fValue
			}
			if _, ok := form.Values[name]; !ok {
				form.Other = append(form.Other, fieldSentence(fe.Field, v.T(fe.Message)))
				continue
			}
			if prev := form.Errors[name]; prev != "" {
				form.Errors[name] = prev + " " + v.T(fe.Message)
			} else {
				form.Errors[name] = v.T(fe.Message)
			}
		}
	case handoff.EIDEMPOTENCY:
		// The form was sent before and made a label; what was typed has
		// changed since. A new key makes the next send a new label.
		form.Key = newKey()
		form.Other = append(form.Other, v.T("This form already made a label. Check the parcel list; send again to make another label with these details."))
	default:
		s.fail(w, r, err)
		return
	}
	v.Data = form
	s.render(w, r, http.StatusBadRequest, "labelnew", v)
}

// shipmentInput builds the API's request from the form: one package, the
// declared value in the destination's currency, typed in the page's
// language ("149,90" in French).
func shipmentInput(v url.Values, lang string) *handoff.ShipmentInput {
	addr := func(prefix string, fields []string) *handoff.Address {
		var a handoff.Address
		set := map[string]*string{"name": &a.Name, "addressLine1": &a.AddressLine1, "addressLine2": &a.AddressLine2, "city": &a.City,
			"postalCode": &a.PostalCode, "countryCode": &a.CountryCode, "phoneNumber": &a.PhoneNumber, "email": &a.Email}
		for _, f := range fields {
			*set[f] = v.Get(prefix + f)
		}
		return &a
	}
	decimal := func(s string) handoff.Decimal {
		if plain, err := locale.ParseDecimal(lang, s); err == nil {
			return handoff.Decimal(plain)
		}
		return handoff.Decimal(s)
	}
	in := &handoff.ShipmentInput{ShipTo: addr("shipTo.", toFields), ShipFrom: addr("shipFrom.", fromFields), PaymentType: v.Get("paymentType")}
	pk := handoff.PackageInput{PackageClientReferenceID: v.Get(fRef)}
	currency := ""
	if m, ok := market.Lookup(v.Get("shipTo.countryCode")); ok {
		currency = m.Currency
	}
	pk.InsuredValue = &handoff.Money{Value: decimal(v.Get(fValue)), Unit: currency}
	if w := v.Get(fWeight); w != "" {
		pk.Weight = &handoff.Weight{Value: decimal(w), Unit: "KILOGRAM"}
	}
	if c, d := v.Get(fCategory), v.Get(fContents); c != "" || d != "" {
		pk.Items = []handoff.Item{{Category: c, Description: d, Quantity: 1}}
	}
	in.Packages = []handoff.PackageInput{pk}
	prefs := &handoff.DeliveryPreferences{
		ConfidentialAddress: v.Get("deliveryPreferences.confidentialAddress") != "",
		GiftRegistry:        v.Get("deliveryPreferences.giftRegistry") != "",
		Signature:           v.Get("deliveryPreferences.signature"),
	}
	if a := v.Get("deliveryPreferences.minimumAge"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil {
			n = -1 // the service says what is allowed
		}
		prefs.MinimumAge = n
	}
	in.DeliveryPreferences = prefs
	return in
}

// dict makes a map of its key, value arguments, for a template that needs
// more than one value ({{template "field" (dict "F" $f "N" "shipTo.name")}}).
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
