package handoff

import (
	"context"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/money"
	"github.com/handoff-dev/handoff/rules"
)

// Settings are one shipper's choices. The zero value is not the default: use
// DefaultSettings.
type Settings struct {
	Notifications    NotificationSettings   `json:"notifications"`
	SecureDelivery   SecureDeliverySettings `json:"secureDelivery"`
	TamperEvidentBag BagSettings            `json:"tamperEvidentBag"`
}

// NotificationSettings switch recipient notifications by channel.
type NotificationSettings struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	// SenderName is the name recipients' messages are signed with and
	// every SMS begins with; empty means the shipper's account name.
	SenderName string `json:"senderName,omitempty"`
}

// MaxSenderName bounds the sender name, which every SMS carries.
const MaxSenderName = 30

// SecureDeliverySettings govern passcode (OTP) delivery.
type SecureDeliverySettings struct {
	OTPEnabled bool        `json:"otpEnabled"`
	Thresholds []Threshold `json:"thresholds"`
	// PhoneDigitsFallback lets an associate complete an OTP delivery with the
	// last two digits of the recipient's phone. It is much weaker than the
	// code and off unless the shipper opts in.
	PhoneDigitsFallback bool `json:"phoneDigitsFallback"`
	// GarageSatisfiesOTP lets an in-garage delivery stand in for the code
	// of an OTP parcel. Off by default: the code is still needed.
	GarageSatisfiesOTP bool `json:"garageSatisfiesOtp"`
	// TypedSignatureRefused refuses the typed-name fallback for a required
	// signature (taken when the associate's phone runs no JavaScript): only
	// a signature drawn on the screen is accepted. It applies to the labels
	// made after it is set.
	TypedSignatureRefused bool `json:"typedSignatureRefused"`
	// Rules are the shipper's own conditions (CEL expressions, see package
	// rules) that ask for OTP whatever the declared value.
	Rules []Rule `json:"rules"`
}

// Rule is one of a shipper's own OTP conditions.
type Rule struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// MaxRules bounds a shipper's own conditions.
const MaxRules = 20

// BagSettings say which packages travel in a tamper-evident bag: any package
// with an item in one of Categories, or declared above the marketplace's
// threshold in Thresholds (no entry: no value rule).
type BagSettings struct {
	Categories []string    `json:"categories"`
	Thresholds []Threshold `json:"thresholds"`
}

// Threshold is a value limit for one marketplace.
type Threshold struct {
	Marketplace string  `json:"marketplace"`
	Value       Decimal `json:"value"`
	Unit        string  `json:"unit"`
}

// DefaultBagCategories are the item categories that need a bag by default.
var DefaultBagCategories = []string{"smartphone", "laptop", "tablet"}

// DefaultSettings returns SPEC §1's defaults: OTP off, email and SMS on, the
// default threshold of every marketplace, bags for smartphones, laptops and
// tablets.
func DefaultSettings() Settings {
	s := Settings{
		SecureDelivery:   SecureDeliverySettings{Rules: []Rule{}},
		Notifications:    NotificationSettings{Email: true, SMS: true},
		TamperEvidentBag: BagSettings{Categories: slices.Clone(DefaultBagCategories), Thresholds: []Threshold{}},
	}
	for _, m := range market.All() {
		s.SecureDelivery.Thresholds = append(s.SecureDelivery.Thresholds, Threshold{
			Marketplace: string(m.Code),
			Value:       Decimal(money.Amount{Minor: m.DefaultThresholdMinor, Currency: m.Currency}.String()),
			Unit:        m.Currency,
		})
	}
	return s
}

// OTPThreshold returns the OTP threshold for marketplace m in minor units,
// falling back to the marketplace default.
func (s Settings) OTPThreshold(m market.Market) int64 {
	if v, ok := findThreshold(s.SecureDelivery.Thresholds, m); ok {
		return v
	}
	return m.DefaultThresholdMinor
}

// BagThreshold returns the bag value threshold for m, or nil when none is set.
func (s Settings) BagThreshold(m market.Market) *int64 {
	if v, ok := findThreshold(s.TamperEvidentBag.Thresholds, m); ok {
		return &v
	}
	return nil
}

func findThreshold(ts []Threshold, m market.Market) (int64, bool) {
	for _, t := range ts {
		if t.Marketplace == string(m.Code) {
			if a, err := money.Parse(string(t.Value), t.Unit); err == nil {
				return a.Minor, true
			}
		}
	}
	return 0, false
}

// SettingsPatch is a partial update: nil fields are left as they are. A
// thresholds list replaces the entries of the marketplaces it names; an entry
// with only a marketplace removes that marketplace's entry.
type SettingsPatch struct {
	Notifications    *NotificationsPatch  `json:"notifications"`
	SecureDelivery   *SecureDeliveryPatch `json:"secureDelivery"`
	TamperEvidentBag *BagPatch            `json:"tamperEvidentBag"`
}

// NotificationsPatch changes the notification switches it names.
type NotificationsPatch struct {
	Email      *bool   `json:"email"`
	SMS        *bool   `json:"sms"`
	SenderName *string `json:"senderName"` // "" goes back to the account name
}

// SecureDeliveryPatch changes the passcode settings it names.
type SecureDeliveryPatch struct {
	OTPEnabled            *bool       `json:"otpEnabled"`
	Thresholds            []Threshold `json:"thresholds"`
	PhoneDigitsFallback   *bool       `json:"phoneDigitsFallback"`
	GarageSatisfiesOTP    *bool       `json:"garageSatisfiesOtp"`
	TypedSignatureRefused *bool       `json:"typedSignatureRefused"`
	Rules                 *[]Rule     `json:"rules"` // replaces the list
}

// BagPatch changes the bag rules it names.
type BagPatch struct {
	Categories *[]string   `json:"categories"`
	Thresholds []Threshold `json:"thresholds"`
}

// Limits on settings lists.
const (
	maxCategories  = 50
	maxCategoryLen = 64
)

// Apply validates the patch and returns s with it applied. Nothing is changed
// when it returns an error.
func (p *SettingsPatch) Apply(s Settings) (Settings, error) {
	var fe FieldErrors
	out := s
	out.SecureDelivery.Thresholds = slices.Clone(s.SecureDelivery.Thresholds)
	out.TamperEvidentBag.Thresholds = slices.Clone(s.TamperEvidentBag.Thresholds)
	out.TamperEvidentBag.Categories = slices.Clone(s.TamperEvidentBag.Categories)
	if n := p.Notifications; n != nil {
		if n.Email != nil {
			out.Notifications.Email = *n.Email
		}
		if n.SMS != nil {
			out.Notifications.SMS = *n.SMS
		}
		if n.SenderName != nil {
			name := strings.TrimSpace(*n.SenderName)
			if len([]rune(name)) > MaxSenderName || hasControl(name) {
				fe.Add("notifications.senderName", "must be at most %d characters, without control characters", MaxSenderName)
			}
			out.Notifications.SenderName = name
		}
	}
	if sd := p.SecureDelivery; sd != nil {
		if sd.OTPEnabled != nil {
			out.SecureDelivery.OTPEnabled = *sd.OTPEnabled
		}
		if sd.PhoneDigitsFallback != nil {
			out.SecureDelivery.PhoneDigitsFallback = *sd.PhoneDigitsFallback
		}
		if sd.GarageSatisfiesOTP != nil {
			out.SecureDelivery.GarageSatisfiesOTP = *sd.GarageSatisfiesOTP
		}
		if sd.TypedSignatureRefused != nil {
			out.SecureDelivery.TypedSignatureRefused = *sd.TypedSignatureRefused
		}
		if sd.Rules != nil {
			out.SecureDelivery.Rules = checkRules(&fe, *sd.Rules)
		}
		out.SecureDelivery.Thresholds = mergeThresholds(&fe, "secureDelivery.thresholds", out.SecureDelivery.Thresholds, sd.Thresholds)
	}
	if b := p.TamperEvidentBag; b != nil {
		if b.Categories != nil {
			cats := []string{}
			if len(*b.Categories) > maxCategories {
				fe.Add("tamperEvidentBag.categories", "at most %d categories", maxCategories)
			}
			for i, c := range *b.Categories {
				c = strings.ToLower(strings.TrimSpace(c))
				if c == "" || len(c) > maxCategoryLen || hasControl(c) {
					fe.Add(fieldIndex("tamperEvidentBag.categories", i), "must be a non-empty name of at most %d characters", maxCategoryLen)
					continue
				}
				if !slices.Contains(cats, c) {
					cats = append(cats, c)
				}
			}
			out.TamperEvidentBag.Categories = cats
		}
		out.TamperEvidentBag.Thresholds = mergeThresholds(&fe, "tamperEvidentBag.thresholds", out.TamperEvidentBag.Thresholds, b.Thresholds)
	}
	if err := fe.Err(); err != nil {
		return s, err
	}
	return out, nil
}

// checkRules validates a shipper's own conditions: named, unique, and
// compiling to a bool.
func checkRules(fe *FieldErrors, in []Rule) []Rule {
	if len(in) > MaxRules {
		fe.Add("secureDelivery.rules", "at most %d rules", MaxRules)
		return nil
	}
	out := []Rule{}
	names := map[string]bool{}
	for i, r := range in {
		f := fieldIndex("secureDelivery.rules", i)
		r.Name, r.Expression = strings.TrimSpace(r.Name), strings.TrimSpace(r.Expression)
		if r.Name == "" || len(r.Name) > 100 || hasControl(r.Name) {
			fe.Add(f+".name", "is required (at most 100 characters)")
		} else if names[r.Name] {
			fe.Add(f+".name", "%q is used twice", r.Name)
		}
		names[r.Name] = true
		if _, err := rules.Compile(r.Expression); err != nil {
			fe.Add(f+".expression", "%s", err.Error())
		}
		out = append(out, r)
	}
	return out
}

// mergeThresholds validates each new threshold and replaces the entry for its
// marketplace, keeping the list in marketplace order.
func mergeThresholds(fe *FieldErrors, field string, cur, upd []Threshold) []Threshold {
	seen := map[string]bool{}
	for i, t := range upd {
		f := fieldIndex(field, i)
		m, ok := market.Lookup(t.Marketplace)
		if !ok {
			fe.Add(f+".marketplace", "must be one of %s", strings.Join(market.Codes(), ", "))
			continue
		}
		if seen[string(m.Code)] {
			fe.Add(f+".marketplace", "%s is listed twice", m.Code)
			continue
		}
		seen[string(m.Code)] = true
		if t.Value == "" && t.Unit == "" {
			// {"marketplace": "GB"} alone removes the entry: the OTP
			// threshold falls back to the marketplace default, and a bag
			// value rule goes away.
			cur = slices.DeleteFunc(cur, func(c Threshold) bool { return c.Marketplace == string(m.Code) })
			continue
		}
		if t.Unit != m.Currency {
			fe.Add(f+".unit", "must be %s, the currency of marketplace %s", m.Currency, m.Code)
			continue
		}
		if t.Value == "" {
			fe.Add(f+".value", "is required")
			continue
		}
		a, err := money.Parse(string(t.Value), t.Unit)
		if err != nil {
			fe.Add(f+".value", "%s", err.Error())
			continue
		}
		nt := Threshold{Marketplace: string(m.Code), Value: Decimal(a.String()), Unit: m.Currency}
		if j := slices.IndexFunc(cur, func(c Threshold) bool { return c.Marketplace == nt.Marketplace }); j >= 0 {
			cur[j] = nt
		} else {
			cur = append(cur, nt)
		}
	}
	order := market.Codes()
	slices.SortStableFunc(cur, func(a, b Threshold) int {
		return slices.Index(order, a.Marketplace) - slices.Index(order, b.Marketplace)
	})
	return cur
}

// SettingsService reads and changes a shipper's settings.
type SettingsService interface {
	// Settings returns the shipper's settings (defaults when never changed), or
	// ENOTFOUND for an unknown shipper.
	Settings(ctx context.Context, shipperID string) (Settings, error)
	// UpdateSettings applies the patch atomically and returns the result;
	// EINVALID with the fields at fault, in which case nothing changed.
	UpdateSettings(ctx context.Context, shipperID string, p *SettingsPatch) (Settings, error)
	// PreviewSettings is a dry run: it returns the decision CheckEligibility
	// would take for the sample label in under the shipper's settings with p
	// applied, saving nothing. EINVALID names the fields at fault under
	// "settings." and "shipment.", both checked.
	PreviewSettings(ctx context.Context, shipperID string, p *SettingsPatch, in *ShipmentInput) (*Shipment, error)
}
