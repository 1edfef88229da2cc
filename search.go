package handoff

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/phone"
)

// ParcelQuery is what customer service typed into the parcel search,
// normalised the way labels are stored, so that the search is an exact match
// on each: a tracking ID in capitals without spaces, a shipper reference as
// typed, a phone number in E.164 for each marketplace where it is a valid
// mobile (matched only on that marketplace's parcels, as a local "07…" means
// different numbers in different countries), an email address lower-cased
// and trimmed.
type ParcelQuery struct {
	TrackingID string
	Reference  string
	Mobiles    []MarketMobile
	Email      string
}

// MarketMobile is a typed phone number read by one marketplace's rules.
type MarketMobile struct {
	Market string // the marketplace code, "GB"
	E164   string
}

// ParseParcelQuery normalises one search box's text. It returns the zero
// query for a blank one.
func ParseParcelQuery(typed string) ParcelQuery {
	s := strings.TrimSpace(typed)
	if s == "" || len(s) > 200 {
		return ParcelQuery{}
	}
	q := ParcelQuery{Reference: s, TrackingID: strings.ToUpper(strings.Join(strings.Fields(s), ""))}
	if strings.Contains(s, "@") && !strings.ContainsAny(s, " \t") {
		q.Email = strings.ToLower(s)
	}
	for _, m := range market.All() {
		if e164, err := phone.Mobile(m.Code, s); err == nil {
			q.Mobiles = append(q.Mobiles, MarketMobile{Market: string(m.Code), E164: e164})
		}
	}
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

// How a parcel matched a search.
const (
	MatchTrackingID = "trackingId"
	MatchReference  = "reference"
	MatchPhone      = "phone"
	MatchEmail      = "email"
)

// ParcelMatch is one parcel the search found, with the recipient's contacts
// masked.
type ParcelMatch struct {
	TrackingID  string            `json:"trackingId"`
	Reference   string            `json:"reference"`
	ShipperID   string            `json:"shipperId"`
	ShipperName string            `json:"shipperName"`
	Recipient   string            `json:"recipient"`
	City        string            `json:"city"`
	Marketplace string            `json:"marketplace"`
	Status      string            `json:"status"`
	StatusText  string            `json:"statusText"`
	Contacts    RecipientContacts `json:"contacts"`
	MatchedBy   string            `json:"matchedBy"` // one of the Match constants
}

// RecipientContacts are the phone number and email address a parcel's label
// gives for its recipient.
type RecipientContacts struct {
	Phone string `json:"phone"`
	Email string `json:"email"`
}

// Masked returns the contacts with all but enough to recognise them hidden:
// the country code, first and last three digits of the phone
// ("+44 7••• •••123"), the first letter and the domain of the email
// ("j•••@example.com").
func (c RecipientContacts) Masked() RecipientContacts {
	var m RecipientContacts
	if c.Phone != "" {
		m.Phone = phone.Mask(c.Phone)
	}
	if at := strings.LastIndex(c.Email, "@"); at > 0 {
		// The first letter, not the first byte: an address may start
		// with "é" or "渡", whose first byte alone is not text.
		_, n := utf8.DecodeRuneInString(c.Email)
		m.Email = c.Email[:n] + "•••" + c.Email[at:]
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
	// (and audits) that agent saw them and why. EINVALID (field "reason")
	// without a reason, ENOTFOUND for an unknown parcel.
	RevealContacts(ctx context.Context, agent *Principal, trackingID, reason string) (*RecipientContacts, error)
}

// ContactView is one logged look at a parcel's recipient contacts.
type ContactView struct {
	ViewerID   string    `json:"viewerId"`
	ViewerKind string    `json:"viewerKind"`
	ViewerName string    `json:"viewerName"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}
