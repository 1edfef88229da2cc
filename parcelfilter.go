package handoff

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/handoff-dev/handoff/tracking"
)

// Secure-delivery kinds a shipper can filter its parcels by.
const (
	SecureOTP       = "otp"       // a passcode is required
	SecureBag       = "bag"       // a tamper-evident bag is required
	SecureSignature = "signature" // a signature is required
	SecureAge       = "age"       // an age check is required
	SecureNone      = "none"      // none of the above
)

// SecureKinds lists the kinds in the order pages offer them.
var SecureKinds = []string{SecureOTP, SecureBag, SecureSignature, SecureAge, SecureNone}

// Statuses lists the summary statuses a parcel can be in, in the order of
// its life, for filters and charts.
var Statuses = []string{tracking.StatusPreTransit, tracking.StatusInTransit, tracking.StatusOutForDelivery, tracking.StatusDelivered,
	tracking.StatusDeliveryAttempted, tracking.StatusRejected, tracking.StatusUndeliverable}

// RecipientMatch is a recipient as a shipper typed it into the filter,
// normalised the way labels are stored: a name lower-cased with single
// spaces (matched as a part of the label's name), a phone number as E.164 in
// every marketplace where it is a valid mobile, an email lower-cased. At most
// one of the three is set.
type RecipientMatch struct {
	Typed   string // as typed, for the form and links
	Name    string
	Mobiles []string
	Email   string
}

// IsZero reports whether the match matches every recipient.
func (m RecipientMatch) IsZero() bool { return m.Name == "" && len(m.Mobiles) == 0 && m.Email == "" }

// NormaliseName is a recipient's name as it is stored for the filter.
func NormaliseName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// ParseRecipient reads what was typed into the recipient filter: an email
// address when it has an @, else a phone number when it is a mobile number of
// some marketplace, else a name.
func ParseRecipient(typed string) RecipientMatch {
	s := strings.TrimSpace(typed)
	switch {
	case s == "":
		return RecipientMatch{}
	case strings.Contains(s, "@"):
		return RecipientMatch{Typed: s, Email: strings.ToLower(s)}
	}
	m := RecipientMatch{Typed: s, Mobiles: mobilesOf(s)}
	if len(m.Mobiles) == 0 {
		m.Name = NormaliseName(s)
	}
	return m
}

// Filter limits: the longest text a filter field takes, and the largest page.
const (
	maxFilterText = 200
	MaxPageSize   = 500
)

// ParseShipmentFilter reads a parcel list's filters from a query string, the
// same for the API (GET /v1/shipments) and shipper central's list: status,
// secure (a secure-delivery kind), from and to (dates YYYY-MM-DD, both
// included, in UTC), reference (the start of the shipper's package
// reference), recipient (name, phone or email), limit and cursor. A value it
// cannot read is EINVALID naming the parameter; nothing is guessed.
func ParseShipmentFilter(q url.Values, defaultLimit int) (ShipmentFilter, error) {
	f := ShipmentFilter{Limit: defaultLimit}
	var fe FieldErrors
	text := func(name string) string {
		v := strings.TrimSpace(q.Get(name))
		if len(v) > maxFilterText || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 32 || r == 127 }) {
			fe.Add(name, "must be printable text of at most %d characters", maxFilterText)
			return ""
		}
		return v
	}
	if v := text("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			fe.Add("limit", "must be a whole number from 1 to %d", MaxPageSize)
		} else {
			f.Limit = n
		}
	}
	f.Cursor = text("cursor")
	if v := text("status"); v != "" {
		f.Status = ""
		for _, s := range Statuses {
			if strings.EqualFold(v, s) {
				f.Status = s
			}
		}
		if f.Status == "" {
			fe.Add("status", "must be one of %s", strings.Join(Statuses, ", "))
		}
	}
	if v := strings.ToLower(text("secure")); v != "" {
		for _, k := range SecureKinds {
			if v == k {
				f.Secure = k
			}
		}
		if f.Secure == "" {
			fe.Add("secure", "must be one of %s", strings.Join(SecureKinds, ", "))
		}
	}
	date := func(name string) time.Time {
		v := text(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil || t.Year() < 2000 || t.Year() > 9998 {
			fe.Add(name, "must be a date like 2026-11-30")
			return time.Time{}
		}
		return t
	}
	f.From = date("from")
	if to := date("to"); !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // the whole day
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		fe.Add("to", "must not be before from")
	}
	f.Reference = text("reference")
	f.Recipient = ParseRecipient(text("recipient"))
	if err := fe.Err(); err != nil {
		return ShipmentFilter{}, err
	}
	return f, nil
}

// Query returns the filter's parameters as ParseShipmentFilter reads them,
// without limit and cursor: the link to the same list again, or to its CSV.
func (f ShipmentFilter) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", f.Status)
	set("secure", f.Secure)
	if !f.From.IsZero() {
		q.Set("from", f.From.Format(time.DateOnly))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	set("reference", f.Reference)
	set("recipient", f.Recipient.Typed)
	return q
}
