package handoff

import (
	"context"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff/eligibility"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/money"
	"github.com/handoff-dev/handoff/phone"
	"github.com/handoff-dev/handoff/rules"
	"github.com/handoff-dev/handoff/tracking"
)

// Payment types.
const (
	Prepaid        = "PREPAID"
	CashOnDelivery = "CASH_ON_DELIVERY"
)

// Limits on a shipment request. They keep one request's work bounded.
const (
	MaxPackages  = 30
	MaxItems     = 100
	MaxTextLen   = 255
	MaxQuantity  = 100_000
	MaxBodyBytes = 1 << 20 // 1 MiB for any JSON request body
)

// Address is a party of a shipment, in Amazon Shipping v2's shape.
type Address struct {
	Name          string `json:"name"`
	AddressLine1  string `json:"addressLine1"`
	AddressLine2  string `json:"addressLine2,omitempty"`
	City          string `json:"city"`
	StateOrRegion string `json:"stateOrRegion,omitempty"`
	PostalCode    string `json:"postalCode"`
	CountryCode   string `json:"countryCode"`
	Email         string `json:"email,omitempty"`
	PhoneNumber   string `json:"phoneNumber,omitempty"`
}

// Money is an amount as it travels in JSON: {"value": 100.5, "unit": "GBP"}.
type Money struct {
	Value Decimal `json:"value"`
	Unit  string  `json:"unit"`
}

// Weight of a package or item.
type Weight struct {
	Value Decimal `json:"value"`
	Unit  string  `json:"unit"`
}

// Dimensions of a package.
type Dimensions struct {
	Length Decimal `json:"length"`
	Width  Decimal `json:"width"`
	Height Decimal `json:"height"`
	Unit   string  `json:"unit"`
}

// Item is one line of a package's contents.
type Item struct {
	Description    string  `json:"description,omitempty"`
	ItemIdentifier string  `json:"itemIdentifier,omitempty"`
	Quantity       int     `json:"quantity"`
	Weight         *Weight `json:"weight,omitempty"`
	ItemValue      *Money  `json:"itemValue,omitempty"`
	Category       string  `json:"category,omitempty"`
}

// PackageInput is one package of a shipment request.
type PackageInput struct {
	Dimensions               *Dimensions `json:"dimensions,omitempty"`
	Weight                   *Weight     `json:"weight,omitempty"`
	InsuredValue             *Money      `json:"insuredValue"`
	Items                    []Item      `json:"items,omitempty"`
	PackageClientReferenceID string      `json:"packageClientReferenceId,omitempty"`
}

// Party is the gift buyer.
type Party struct {
	Name        string `json:"name,omitempty"`
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// Gift marks a gift order; the buyer is told the code as well.
type Gift struct {
	Buyer *Party `json:"buyer"`
}

// DeliveryPreferences carry the privacy facts of the delivery address and
// the checks the shipper asks for at the door (SPEC §7), for every package of
// the shipment.
type DeliveryPreferences struct {
	ConfidentialAddress bool `json:"confidentialAddress"`
	GiftRegistry        bool `json:"giftRegistry"`
	// Signature is SignatureAny or SignatureAdult when a signature is
	// required, "" when not.
	Signature string `json:"signature,omitempty"`
	// MinimumAge, when not 0, is the age the recipient must show from an
	// ID document before the parcels are handed over.
	MinimumAge int `json:"minimumAge,omitzero"`
}

// ShipmentInput is the body of POST /v1/shipments (Amazon Shipping v2's
// one-click shipment, trimmed to what handoff needs).
type ShipmentInput struct {
	ShipTo              *Address             `json:"shipTo"`
	ShipFrom            *Address             `json:"shipFrom"`
	PaymentType         string               `json:"paymentType,omitempty"`
	Packages            []PackageInput       `json:"packages"`
	Gift                *Gift                `json:"gift,omitempty"`
	DeliveryPreferences *DeliveryPreferences `json:"deliveryPreferences,omitempty"`
}

// Shipment is a validated, normalised shipment.
type Shipment struct {
	ID          string
	ShipperID   string
	Marketplace market.Market
	ShipTo      Address // phone as given; RecipientMobile holds the E.164 form
	ShipFrom    Address
	PaymentType string
	Gift        *Party
	Preferences DeliveryPreferences
	// TypedSignatureRefused is the shipper's setting when the label was
	// made: a required signature must be drawn, not typed.
	TypedSignatureRefused bool
	Packages              []Package
	Warnings              []FieldError
	CreatedAt             time.Time

	RecipientMobile string // E.164, or "" when missing or invalid
	MobileState     eligibility.MobileState
	BuyerMobile     string // E.164, or ""
}

// Package is one parcel of a shipment, with its secure-delivery decision.
type Package struct {
	TrackingID   string
	ClientRef    string
	InsuredValue money.Amount
	Weight       *Weight
	Dimensions   *Dimensions
	Items        []Item
	Decision     eligibility.Decision
	Status       string // summary status, kept in step with the events
	Detail       string // detail code of the last event, if any
	UpdatedAt    time.Time
}

var weightUnits = map[string]bool{"GRAM": true, "KILOGRAM": true, "OUNCE": true, "POUND": true}
var lengthUnits = map[string]bool{"INCH": true, "CENTIMETER": true}

// Validate checks the input against SPEC §1 and the API limits and returns the
// normalised shipment (without IDs or decisions). Every fault is reported,
// each with its field path.
func (in *ShipmentInput) Validate() (*Shipment, error) {
	var fe FieldErrors
	s := &Shipment{PaymentType: Prepaid}

	if in.ShipTo == nil {
		fe.Add("shipTo", "is required")
	} else {
		s.ShipTo = checkAddress(&fe, "shipTo", *in.ShipTo)
		if m, ok := market.Lookup(in.ShipTo.CountryCode); ok {
			s.Marketplace = m
			s.ShipTo.CountryCode = string(m.Code)
		} else if strings.TrimSpace(in.ShipTo.CountryCode) != "" {
			fe.Add("shipTo.countryCode", "%q is not a marketplace handoff serves; use one of %s", clip(in.ShipTo.CountryCode), strings.Join(market.Codes(), ", "))
		}
	}
	if in.ShipFrom == nil {
		fe.Add("shipFrom", "is required")
	} else {
		s.ShipFrom = checkAddress(&fe, "shipFrom", *in.ShipFrom)
		if c := strings.ToUpper(strings.TrimSpace(in.ShipFrom.CountryCode)); c != "" {
			if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
				fe.Add("shipFrom.countryCode", "must be an ISO 3166-1 alpha-2 country code")
			}
			s.ShipFrom.CountryCode = c
		}
	}

	switch strings.TrimSpace(in.PaymentType) {
	case "", Prepaid:
		s.PaymentType = Prepaid
	case CashOnDelivery:
		s.PaymentType = CashOnDelivery
	default:
		fe.Add("paymentType", "must be PREPAID or CASH_ON_DELIVERY")
	}

	if s.Marketplace.Code != "" {
		mobile, err := phone.Mobile(s.Marketplace.Code, s.ShipTo.PhoneNumber)
		switch err {
		case nil:
			s.RecipientMobile, s.MobileState = mobile, eligibility.MobileValid
		case phone.ErrMissing:
			s.MobileState = eligibility.MobileMissing
		default:
			s.MobileState = eligibility.MobileInvalid
		}
	}

	if in.Gift != nil {
		if in.Gift.Buyer == nil {
			fe.Add("gift.buyer", "is required for a gift order")
		} else {
			b := *in.Gift.Buyer
			checkText(&fe, "gift.buyer.name", &b.Name, false)
			checkEmail(&fe, "gift.buyer.email", &b.Email)
			checkText(&fe, "gift.buyer.phoneNumber", &b.PhoneNumber, false)
			if b.Email == "" && b.PhoneNumber == "" {
				fe.Add("gift.buyer", "needs an email or a phoneNumber to be told the passcode")
			}
			if b.PhoneNumber != "" && s.Marketplace.Code != "" {
				if m, err := phone.Mobile(s.Marketplace.Code, b.PhoneNumber); err == nil {
					s.BuyerMobile = m
				} else {
					s.Warnings = append(s.Warnings, FieldError{Field: "gift.buyer.phoneNumber", Message: "is not a valid mobile number for the marketplace; the buyer will get email only"})
				}
			}
			s.Gift = &b
		}
	}
	if in.DeliveryPreferences != nil {
		s.Preferences = *in.DeliveryPreferences
		switch s.Preferences.Signature = strings.ToUpper(strings.TrimSpace(s.Preferences.Signature)); s.Preferences.Signature {
		case "", SignatureAny, SignatureAdult:
		default:
			fe.Add("deliveryPreferences.signature", "must be ANY or ADULT")
		}
		if a := s.Preferences.MinimumAge; a < 0 || a > MaxMinimumAge {
			fe.Add("deliveryPreferences.minimumAge", "must be between 1 and %d, or absent", MaxMinimumAge)
		}
	}

	switch {
	case len(in.Packages) == 0:
		fe.Add("packages", "at least one package is required")
	case len(in.Packages) > MaxPackages:
		fe.Add("packages", "at most %d packages per shipment", MaxPackages)
	default:
		refs := map[string]int{}
		for i, p := range in.Packages {
			f := fieldIndex("packages", i)
			pk := checkPackage(&fe, f, p, s.Marketplace, &s.Warnings)
			if pk.ClientRef != "" {
				if j, dup := refs[pk.ClientRef]; dup {
					fe.Add(f+".packageClientReferenceId", "repeats packages[%d]", j)
				}
				refs[pk.ClientRef] = i
			}
			s.Packages = append(s.Packages, pk)
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func checkPackage(fe *FieldErrors, f string, p PackageInput, m market.Market, warn *[]FieldError) Package {
	pk := Package{ClientRef: p.PackageClientReferenceID, Weight: p.Weight, Dimensions: p.Dimensions}
	checkText(fe, f+".packageClientReferenceId", &pk.ClientRef, false)
	if p.InsuredValue == nil {
		fe.Add(f+".insuredValue", "is required")
	} else if a, ok := checkMoney(fe, f+".insuredValue", *p.InsuredValue, m); ok {
		pk.InsuredValue = a
	}
	if p.Weight != nil {
		checkMeasure(fe, f+".weight.value", p.Weight.Value)
		if !weightUnits[p.Weight.Unit] {
			fe.Add(f+".weight.unit", "must be one of GRAM, KILOGRAM, OUNCE, POUND")
		}
	}
	if d := p.Dimensions; d != nil {
		checkMeasure(fe, f+".dimensions.length", d.Length)
		checkMeasure(fe, f+".dimensions.width", d.Width)
		checkMeasure(fe, f+".dimensions.height", d.Height)
		if !lengthUnits[d.Unit] {
			fe.Add(f+".dimensions.unit", "must be INCH or CENTIMETER")
		}
	}
	if len(p.Items) > MaxItems {
		fe.Add(f+".items", "at most %d items per package", MaxItems)
		return pk
	}
	var itemsTotal int64
	allValued := len(p.Items) > 0
	for j, it := range p.Items {
		g := fieldIndex(f+".items", j)
		checkText(fe, g+".description", &it.Description, false)
		checkText(fe, g+".itemIdentifier", &it.ItemIdentifier, false)
		checkText(fe, g+".category", &it.Category, false)
		it.Category = strings.ToLower(it.Category)
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			fe.Add(g+".quantity", "must be a whole number from 1 to %d", MaxQuantity)
		}
		if it.Weight != nil {
			checkMeasure(fe, g+".weight.value", it.Weight.Value)
			if !weightUnits[it.Weight.Unit] {
				fe.Add(g+".weight.unit", "must be one of GRAM, KILOGRAM, OUNCE, POUND")
			}
		}
		if it.ItemValue == nil {
			allValued = false
		} else if a, ok := checkMoney(fe, g+".itemValue", *it.ItemValue, m); ok {
			itemsTotal += a.Minor * int64(max(it.Quantity, 0))
		}
		pk.Items = append(pk.Items, it)
	}
	// Item values are not cross-checked against the declared value; a mismatch
	// is only worth a warning (SPEC §1).
	if allValued && p.InsuredValue != nil && itemsTotal != pk.InsuredValue.Minor && m.Code != "" {
		*warn = append(*warn, FieldError{Field: f + ".insuredValue", Message: fmt.Sprintf(
			"differs from the sum of the item values (%s %s)", money.Amount{Minor: itemsTotal, Currency: m.Currency}, m.Currency)})
	}
	return pk
}

// checkMoney parses an amount that must be in the marketplace's currency.
func checkMoney(fe *FieldErrors, f string, v Money, m market.Market) (money.Amount, bool) {
	if v.Value == "" {
		fe.Add(f+".value", "is required")
		return money.Amount{}, false
	}
	if v.Unit == "" {
		fe.Add(f+".unit", "is required")
		return money.Amount{}, false
	}
	if m.Code != "" && v.Unit != m.Currency {
		fe.Add(f+".unit", "must be %s, the currency of marketplace %s", m.Currency, m.Code)
		return money.Amount{}, false
	}
	a, err := money.Parse(string(v.Value), v.Unit)
	if err != nil {
		if err == money.ErrCurrency {
			fe.Add(f+".unit", "is not a known currency")
		} else {
			fe.Add(f+".value", "%s", err.Error())
		}
		return money.Amount{}, false
	}
	return a, true
}

// checkMeasure accepts a positive decimal of sensible size (weights, lengths).
func checkMeasure(fe *FieldErrors, f string, d Decimal) {
	if d == "" {
		fe.Add(f, "is required")
		return
	}
	v, err := strconv.ParseFloat(string(d), 64)
	if err != nil || v <= 0 || v > 1e6 {
		fe.Add(f, "must be a positive number no larger than 1000000")
	}
}

func checkAddress(fe *FieldErrors, f string, a Address) Address {
	checkText(fe, f+".name", &a.Name, true)
	checkText(fe, f+".addressLine1", &a.AddressLine1, true)
	checkText(fe, f+".addressLine2", &a.AddressLine2, false)
	checkText(fe, f+".city", &a.City, true)
	checkText(fe, f+".stateOrRegion", &a.StateOrRegion, false)
	checkText(fe, f+".postalCode", &a.PostalCode, true)
	checkText(fe, f+".countryCode", &a.CountryCode, true)
	checkText(fe, f+".phoneNumber", &a.PhoneNumber, false)
	checkEmail(fe, f+".email", &a.Email)
	return a
}

// checkText checks a one-line free-text field of a shipment.
func checkText(fe *FieldErrors, f string, s *string, required bool) {
	Text{Required: required}.Check(fe, f, s)
}

func checkEmail(fe *FieldErrors, f string, s *string) {
	checkText(fe, f, s, false)
	if *s == "" {
		return
	}
	if a, err := mail.ParseAddress(*s); err != nil || a.Address != *s || !strings.Contains(a.Address, "@") {
		fe.Add(f, "must be a plain email address like name@example.com")
	}
}

func fieldIndex(f string, i int) string { return f + "[" + strconv.Itoa(i) + "]" }

// clip shortens user text echoed in an error message.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// RecipientHistory is what is known of a recipient from earlier parcels, for
// the shipper's own rules.
type RecipientHistory struct {
	Parcels int // earlier parcels to the same mobile or email
	Cases   int // customer-service cases on them
}

// Decide fills in every package's secure-delivery decision from the shipper's
// settings, per SPEC §1 and §2. A shipper rule that fails to evaluate counts
// as not matched; the error is returned for the log, the decision stands.
func (s *Shipment) Decide(set Settings, hist RecipientHistory) error {
	var ruleErr error
	for i := range s.Packages {
		p := &s.Packages[i]
		var cats []string
		qty := 0
		for _, it := range p.Items {
			if it.Category != "" {
				cats = append(cats, it.Category)
			}
			qty += it.Quantity
		}
		matched := false
		if len(set.SecureDelivery.Rules) > 0 {
			exp, _ := money.Exponent(p.InsuredValue.Currency)
			in := rules.Input{Marketplace: string(s.Marketplace.Code), Value: float64(p.InsuredValue.Minor) / math.Pow10(exp),
				Currency: p.InsuredValue.Currency, Categories: append([]string{}, cats...), Items: len(p.Items), Quantity: qty,
				PaymentType: s.PaymentType, Gift: s.Gift != nil, GiftRegistry: s.Preferences.GiftRegistry,
				ConfidentialAddress: s.Preferences.ConfidentialAddress, RecipientCases: hist.Cases, RecipientParcels: hist.Parcels}
			for _, r := range set.SecureDelivery.Rules {
				prg, err := rules.Compile(r.Expression)
				if err != nil {
					ruleErr = fmt.Errorf("rule %q: %w", r.Name, err)
					continue
				}
				ok, err := prg.Eval(in)
				if err != nil {
					ruleErr = fmt.Errorf("rule %q: %w", r.Name, err)
				}
				if ok {
					matched = true
					break
				}
			}
		}
		p.Decision = eligibility.Decide(eligibility.Input{
			OTPEnabled:        set.SecureDelivery.OTPEnabled,
			SMSOn:             set.Notifications.SMS,
			Prepaid:           s.PaymentType == Prepaid,
			Mobile:            s.MobileState,
			ValueMinor:        p.InsuredValue.Minor,
			ThresholdMinor:    set.OTPThreshold(s.Marketplace),
			RuleMatched:       matched,
			Categories:        cats,
			BagCategories:     set.TamperEvidentBag.Categories,
			BagThresholdMinor: set.BagThreshold(s.Marketplace),
		})
	}
	return ruleErr
}

// ShipmentFilter selects a shipper's packages, newest first. The zero value
// of each filter field matches every package.
type ShipmentFilter struct {
	ShipperID string
	Limit     int
	// Cursor continues after the last package of a previous page (its
	// PackageView.Cursor); "" starts at the newest.
	Cursor string
	// Status is a summary status (tracking.Status*).
	Status string
	// Secure is a secure-delivery kind (Secure*).
	Secure string
	// From and To bound the label's creation time: From ≤ created < To.
	From, To time.Time
	// Reference is the start of the shipper's package reference.
	Reference string
	// Recipient matches the label's recipient.
	Recipient RecipientMatch
}

// PackageView is a package with its shipment's essentials, for lists.
type PackageView struct {
	Package
	ShipmentID  string
	Recipient   string
	City        string
	PostalCode  string
	Marketplace string
	CreatedAt   time.Time
	// Cursor marks this package's place in the list, for the next page.
	Cursor string
}

// Tracking is a parcel's full history and derived summary.
type Tracking struct {
	TrackingID string
	ShipmentID string
	Events     []tracking.Event
	Summary    tracking.Summary
}

// ShipmentService creates and reads shipments. Every method is scoped to one
// shipper: another shipper's object is ENOTFOUND.
type ShipmentService interface {
	// CreateShipment validates in, decides each package and stores the label
	// with its first event. With a non-empty idempotencyKey a retry returns the
	// first shipment and replay=true; the same key with another body is
	// EIDEMPOTENCY.
	CreateShipment(ctx context.Context, shipperID string, in *ShipmentInput, idempotencyKey string) (s *Shipment, replay bool, err error)
	// CheckEligibility returns the decision CreateShipment would take, storing
	// nothing.
	CheckEligibility(ctx context.Context, shipperID string, in *ShipmentInput) (*Shipment, error)
	// FindShipment returns one of the shipper's shipments or ENOTFOUND.
	FindShipment(ctx context.Context, shipperID, shipmentID string) (*Shipment, error)
	// ListPackages returns the shipper's packages, newest first.
	ListPackages(ctx context.Context, f ShipmentFilter) ([]PackageView, error)
	// Tracking returns the history of one of the shipper's parcels or ENOTFOUND.
	Tracking(ctx context.Context, shipperID, trackingID string) (*Tracking, error)
	// Dashboard counts the shipper's parcels created from ≤ t < to.
	Dashboard(ctx context.Context, shipperID string, from, to time.Time) (*Dashboard, error)
}
