package handoff

import (
	"context"
	"strings"

	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/phone"
)

// ParcelQuery is what customer service typed into the parcel search,
// normalised the way labels are stored, so that the search is an exact match
// on each: a tracking ID in capitals without spaces, a shipper reference as
// typed, a phone number in E.164 for every marketplace where it is a valid
// mobile, an email address lower-cased.
type ParcelQuery struct {
	TrackingID string
	Reference  string
	Mobiles    []string
	Email      string
}

// ParseParcelQuery normalises one search box's text. It returns the zero
// query for a blank one.
func ParseParcelQuery(typed string) ParcelQuery {
	s := strings.TrimSpace(typed)
	if s == "" || len(s) > 200 {
		return ParcelQuery{}
	}
	q := ParcelQuery{Reference: s, TrackingID: strings.ToUpper(strings.Join(strings.Fields(s), ""))}
	if strings.Contains(s, "@") {
		q.Email = strings.ToLower(s)
	}
	q.Mobiles = mobilesOf(s)
	return q
}

// mobilesOf returns s as E.164 in every marketplace where it is a valid
// mobile number, each once.
func mobilesOf(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range market.All() {
		if e164, err := phone.Mobile(m.Code, s); err == nil && !seen[e164] {
			seen[e164] = true
			out = append(out, e164)
		}
	}
	return out
}

// Blank reports whether the query would match nothing.
func (q ParcelQuery) Blank() bool { return q.TrackingID == "" && q.Reference == "" }

// ParcelMatch is one parcel the search found.
type ParcelMatch struct {
	TrackingID  string
	Reference   string
	Recipient   string
	City        string
	Marketplace string
	StatusText  string
	MatchedBy   string // "tracking ID", "reference", "phone" or "email"
}

// RecipientContacts are the phone number and email address a parcel's label
// gives for its recipient.
type RecipientContacts struct {
	Phone string
	Email string
}

// Masked returns the contacts with all but enough to recognise them hidden:
// the last three digits of the phone, the first letter and the domain of the
// email.
func (c RecipientContacts) Masked() RecipientContacts {
	var m RecipientContacts
	if c.Phone != "" {
		m.Phone = "••• ••• " + phone.LastDigits(c.Phone, 3)
	}
	if at := strings.LastIndex(c.Email, "@"); at > 0 {
		m.Email = c.Email[:1] + "•••" + c.Email[at:]
	}
	return m
}

// ContactService is customer service's search and the recipient's contacts
// behind it.
type ContactService interface {
	// SearchParcels returns up to limit parcels that match q exactly by
	// tracking ID, shipper reference, recipient phone or email, newest
	// first. EUNAUTHORIZED for anyone but customer service.
	SearchParcels(ctx context.Context, agent *Principal, q ParcelQuery, limit int) ([]ParcelMatch, error)
	// RevealContacts returns a parcel's recipient contacts in full and logs
	// (and audits) that agent saw them. ENOTFOUND for an unknown parcel.
	RevealContacts(ctx context.Context, agent *Principal, trackingID string) (*RecipientContacts, error)
}
