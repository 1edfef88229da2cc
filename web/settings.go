package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/money"
)

// thresholdField is one marketplace's OTP threshold input.
type thresholdField struct {
	Market   string
	Currency string
	Default  string // the marketplace default, shown as a hint
	Value    string
	Error    string
}

// settingsPage is the content of the settings form, holding what the form
// shows: the stored settings, or what the shipper typed when it was refused.
type settingsPage struct {
	Email      bool
	SMS        bool
	OTP        bool
	Fallback   bool
	Thresholds []thresholdField
	Categories string
	Errors     map[string]string // form field name → message
	Other      []string          // messages not tied to one field
	Saved      bool
}

// Form field names.
const (
	fieldEmail      = "email"
	fieldSMS        = "sms"
	fieldOTP        = "otp"
	fieldFallback   = "fallback"
	fieldCategories = "categories"
)

func thresholdName(m market.Market) string { return "threshold_" + string(m.Code) }

// settingsForm shows the shipper's settings as a form.
func (s *Server) settingsForm(w http.ResponseWriter, r *http.Request) {
	set, err := s.Settings.Settings(r.Context(), visitorFrom(r.Context()).principal.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := settingsPage{
		Email: set.Notifications.Email, SMS: set.Notifications.SMS,
		OTP: set.SecureDelivery.OTPEnabled, Fallback: set.SecureDelivery.PhoneDigitsFallback,
		Categories: strings.Join(set.TamperEvidentBag.Categories, ", "),
		Saved:      r.URL.Query().Get("saved") == "1",
	}
	lang := langOf(r)
	for _, m := range market.All() {
		page.Thresholds = append(page.Thresholds, thresholdField{
			Market: string(m.Code), Currency: m.Currency, Default: locale.FormatDecimal(lang, defaultThreshold(m)),
			Value: locale.FormatDecimal(lang, fixedDecimals(money.Amount{Minor: set.OTPThreshold(m), Currency: m.Currency})),
		})
	}
	s.render(w, r, http.StatusOK, "settings", newView(r, "Settings", "settings", page))
}

// thresholdInput reads a threshold as typed: with a comma as the decimal
// mark when the page's language or the marketplace's writes one ("12,50" on
// a French page, or in the FR row), in plain form for the store. What is not
// a number goes to the store as typed, for it to name the field.
func thresholdInput(lang string, m market.Market, typed string) string {
	if lang == locale.EN {
		lang = locale.ForMarket(string(m.Code))
	}
	if plain, err := locale.ParseDecimal(lang, typed); err == nil {
		return plain
	}
	return typed
}

func defaultThreshold(m market.Market) string {
	return fixedDecimals(money.Amount{Minor: m.DefaultThresholdMinor, Currency: m.Currency})
}

// alloc sets *p to a new zero T and returns it, so that the anonymous struct
// types of handoff.SettingsPatch need not be spelled out here.
func alloc[T any](p **T) *T {
	*p = new(T)
	return *p
}

// saveSettings turns the form into one settings patch. The store validates
// and applies it atomically: on a validation error nothing is saved and the
// form comes back with each message next to its field.
func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	on := func(name string) bool { return f.Get(name) != "" }
	page := settingsPage{
		Email: on(fieldEmail), SMS: on(fieldSMS), OTP: on(fieldOTP), Fallback: on(fieldFallback),
		Categories: strings.TrimSpace(f.Get(fieldCategories)),
		Errors:     map[string]string{},
	}

	var patch handoff.SettingsPatch
	n := alloc(&patch.Notifications)
	n.Email, n.SMS = &page.Email, &page.SMS
	sd := alloc(&patch.SecureDelivery)
	sd.OTPEnabled, sd.PhoneDigitsFallback = &page.OTP, &page.Fallback
	markets := market.All()
	lang := langOf(r)
	for _, m := range markets {
		v := strings.TrimSpace(f.Get(thresholdName(m)))
		page.Thresholds = append(page.Thresholds, thresholdField{Market: string(m.Code), Currency: m.Currency, Default: locale.FormatDecimal(lang, defaultThreshold(m)), Value: v})
		sd.Thresholds = append(sd.Thresholds, handoff.Threshold{Marketplace: string(m.Code), Value: handoff.Decimal(thresholdInput(lang, m, v)), Unit: m.Currency})
	}
	cats := []string{}
	for _, c := range strings.Split(page.Categories, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cats = append(cats, c)
		}
	}
	alloc(&patch.TamperEvidentBag).Categories = &cats

	p := visitorFrom(r.Context()).principal
	_, err := s.Settings.UpdateSettings(r.Context(), p.ID, &patch)
	if handoff.ErrorCode(err) == handoff.EINVALID {
		for _, fe := range handoff.ErrorFields(err) {
			name, msg := formField(fe, markets, cats)
			if name == "" {
				page.Other = append(page.Other, msg)
				continue
			}
			if prev := page.Errors[name]; prev != "" {
				msg = prev + " " + msg
			}
			page.Errors[name] = msg
		}
		for i := range page.Thresholds {
			page.Thresholds[i].Error = page.Errors[thresholdName(markets[i])]
		}
		if len(handoff.ErrorFields(err)) == 0 {
			page.Other = append(page.Other, handoff.ErrorMessage(err))
		}
		s.render(w, r, http.StatusBadRequest, "settings", newView(r, "Settings", "settings", page))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings?saved=1", http.StatusSeeOther)
}

// formField maps a field error of the settings patch to the form input it is
// about and a message that reads well next to it. It returns "" for the name
// of an error no input owns.
func formField(fe handoff.FieldError, markets []market.Market, cats []string) (name, msg string) {
	path, msg := fe.Field, fe.Message
	switch {
	case path == "notifications.email":
		return fieldEmail, msg
	case path == "notifications.sms":
		return fieldSMS, msg
	case path == "secureDelivery.otpEnabled":
		return fieldOTP, msg
	case path == "secureDelivery.phoneDigitsFallback":
		return fieldFallback, msg
	case strings.HasPrefix(path, "secureDelivery.thresholds["):
		if i, ok := index(path, "secureDelivery.thresholds["); ok && i < len(markets) {
			return thresholdName(markets[i]), "The threshold " + msg + "."
		}
	case path == "tamperEvidentBag.categories":
		return fieldCategories, "Categories: " + msg + "."
	case strings.HasPrefix(path, "tamperEvidentBag.categories["):
		if i, ok := index(path, "tamperEvidentBag.categories["); ok && i < len(cats) {
			return fieldCategories, fmt.Sprintf("%q %s.", clipField(cats[i]), msg)
		}
	}
	return "", path + ": " + msg
}

// index reads the number after prefix in a field path like "a[3].b".
func index(path, prefix string) (int, bool) {
	rest := strings.TrimPrefix(path, prefix)
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return 0, false
	}
	i, err := strconv.Atoi(rest[:end])
	return i, err == nil
}
