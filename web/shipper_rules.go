package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/market"
)

// ruleRow is one of the shipper's own passcode rules as the form holds it.
type ruleRow struct {
	Name, Expression           string
	NameError, ExpressionError string
}

// sampleLabel is the label the dry run decides: the few facts rules and
// thresholds read, the rest filled in.
type sampleLabel struct {
	Market     string
	Value      string
	Payment    string // handoff.Prepaid or handoff.CashOnDelivery
	Phone      string
	Categories string
	Gift       bool
}

// samplePhones are valid mobiles of each marketplace, the sample's default.
var samplePhones = map[string]string{"GB": "+447700900123", "FR": "+33612345678", "IT": "+393123456789", "ES": "+34612345678", "IN": "+919876543210"}

// dryRun is the decision the sample got.
type dryRun struct {
	OTPRequired bool
	OTPReasons  []string
	BagRequired bool
	BagReasons  []string
}

// rulesPageData is the content of the passcode rules page.
type rulesPageData struct {
	Rules        []ruleRow
	Sample       sampleLabel
	SampleErrors map[string]string // market, value, phone, categories
	Other        []string
	Markets      []market.Market
	Currency     string
	OTPOn        bool
	SMSOn        bool
	Result       *dryRun
	Saved        bool
	Max          int
}

// blankRules is how many empty rows the form offers for new rules.
const blankRules = 2

// rulesPage shows the shipper's rules, ready to edit and try.
func (s *Server) rulesPage(w http.ResponseWriter, r *http.Request) {
	set, err := s.Settings.Settings(r.Context(), visitorFrom(r.Context()).principal.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := rulesPageData{Saved: r.URL.Query().Get("saved") == "1",
		Sample: sampleLabel{Market: "GB", Value: "150", Payment: handoff.Prepaid, Phone: samplePhones["GB"], Categories: "smartphone"}}
	for _, rl := range set.SecureDelivery.Rules {
		page.Rules = append(page.Rules, ruleRow{Name: rl.Name, Expression: rl.Expression})
	}
	s.renderRules(w, r, http.StatusOK, page, set)
}

func (s *Server) renderRules(w http.ResponseWriter, r *http.Request, status int, page rulesPageData, set handoff.Settings) {
	for len(page.Rules) < handoff.MaxRules && countBlank(page.Rules) < blankRules {
		page.Rules = append(page.Rules, ruleRow{})
	}
	page.Markets, page.Max = market.All(), handoff.MaxRules
	page.OTPOn, page.SMSOn = set.SecureDelivery.OTPEnabled, set.Notifications.SMS
	if m, ok := market.Lookup(page.Sample.Market); ok {
		page.Currency = m.Currency
	}
	s.render(w, r, status, "rules", newView(r, "Passcode rules", "rules", page))
}

func countBlank(rows []ruleRow) int {
	n := 0
	for _, r := range rows {
		if r.Name == "" && r.Expression == "" {
			n++
		}
	}
	return n
}

// saveRules saves the rules, or with action=dryrun decides the sample label
// under them without saving. Either way the form comes back as typed when
// something is wrong, each message at its field.
func (s *Server) saveRules(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	p := visitorFrom(r.Context()).principal
	page := rulesPageData{SampleErrors: map[string]string{}}
	n, _ := strconv.Atoi(f.Get("rows"))
	n = min(max(n, 0), handoff.MaxRules+blankRules)
	var rules []handoff.Rule
	var at []int // the form row of each rule
	for i := range n {
		row := ruleRow{Name: strings.TrimSpace(f.Get("name_" + strconv.Itoa(i))), Expression: strings.TrimSpace(f.Get("expression_" + strconv.Itoa(i)))}
		page.Rules = append(page.Rules, row)
		if row.Name == "" && row.Expression == "" {
			continue // an empty row is no rule
		}
		rules = append(rules, handoff.Rule{Name: row.Name, Expression: row.Expression})
		at = append(at, i)
	}
	if rules == nil {
		rules = []handoff.Rule{}
	}
	page.Sample = sampleLabel{Market: f.Get("market"), Value: strings.TrimSpace(f.Get("value")), Payment: f.Get("payment"),
		Phone: strings.TrimSpace(f.Get("phone")), Categories: strings.TrimSpace(f.Get("categories")), Gift: f.Get("gift") != ""}
	patch := &handoff.SettingsPatch{SecureDelivery: &handoff.SecureDeliveryPatch{Rules: &rules}}

	var err error
	dry := f.Get("action") == "dryrun"
	if dry {
		var sh *handoff.Shipment
		sh, err = s.Settings.PreviewSettings(r.Context(), p.ID, patch, page.Sample.input(langOf(r)))
		if err == nil && len(sh.Packages) > 0 {
			d := sh.Packages[0].Decision
			page.Result = &dryRun{OTPRequired: d.OTPRequired, OTPReasons: d.OTPReasons, BagRequired: d.BagRequired, BagReasons: d.BagReasons}
		}
	} else {
		_, err = s.Settings.UpdateSettings(r.Context(), p.ID, patch)
	}
	if err != nil && handoff.ErrorCode(err) != handoff.EINVALID {
		s.fail(w, r, err)
		return
	}
	set, serr := s.Settings.Settings(r.Context(), p.ID)
	if serr != nil {
		s.fail(w, r, serr)
		return
	}
	if err == nil && !dry {
		http.Redirect(w, r, "/settings/rules?saved=1", http.StatusSeeOther)
		return
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
		for _, fe := range handoff.ErrorFields(err) {
			if !page.placeError(fe, at) {
				page.Other = append(page.Other, fe.Field+": "+fe.Message)
			}
		}
		if len(handoff.ErrorFields(err)) == 0 {
			page.Other = append(page.Other, handoff.ErrorMessage(err))
		}
	}
	s.renderRules(w, r, status, page, set)
}

// placeError puts a field error of the patch or the sample next to its
// input; false when no input owns it.
func (page *rulesPageData) placeError(fe handoff.FieldError, at []int) bool {
	path := strings.TrimPrefix(strings.TrimPrefix(fe.Field, "settings."), "shipment.")
	if i, ok := index(path, "secureDelivery.rules["); ok && i < len(at) {
		row := &page.Rules[at[i]]
		if strings.HasSuffix(path, ".name") {
			row.NameError = fe.Message
		} else {
			row.ExpressionError = fe.Message
		}
		return true
	}
	switch {
	case strings.HasPrefix(path, "packages[0].insuredValue"):
		page.SampleErrors["value"] = fe.Message
	case strings.HasPrefix(path, "shipTo.phoneNumber"):
		page.SampleErrors["phone"] = fe.Message
	case strings.HasPrefix(path, "shipTo.countryCode"), strings.HasPrefix(path, "shipFrom.countryCode"):
		page.SampleErrors["market"] = fe.Message
	case strings.HasPrefix(path, "packages[0].items"):
		page.SampleErrors["categories"] = fe.Message
	default:
		return false
	}
	return true
}

// input makes the sample into a label: one package in the marketplace's
// currency, one item per category.
func (l sampleLabel) input(lang string) *handoff.ShipmentInput {
	m, ok := market.Lookup(l.Market)
	cur := m.Currency
	if !ok {
		cur = "GBP"
	}
	value := l.Value
	if plain, err := locale.ParseDecimal(lang, value); err == nil {
		value = plain
	}
	items := []handoff.Item{}
	for _, c := range strings.Split(l.Categories, ",") {
		if c = strings.TrimSpace(c); c != "" {
			items = append(items, handoff.Item{Description: "Sample " + c, Quantity: 1, Category: c})
		}
	}
	if len(items) == 0 {
		items = append(items, handoff.Item{Description: "Sample item", Quantity: 1})
	}
	addr := func(name string) *handoff.Address {
		return &handoff.Address{Name: name, AddressLine1: "1 Sample Street", City: "Sample", PostalCode: "00000", CountryCode: l.Market}
	}
	in := &handoff.ShipmentInput{ShipTo: addr("Sample recipient"), ShipFrom: addr("Sample shipper"), PaymentType: l.Payment,
		Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: handoff.Decimal(value), Unit: cur}, Items: items}}}
	in.ShipTo.PhoneNumber, in.ShipTo.Email = l.Phone, "sample@example.com"
	if l.Gift {
		in.Gift = &handoff.Gift{Buyer: &handoff.Party{Name: "Sample buyer", Email: "buyer@example.com"}}
	}
	return in
}
