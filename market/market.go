// Package market holds the marketplaces handoff serves and their fixed facts:
// currency, the default OTP threshold, the local time zone and the language of
// notifications. It has no I/O beyond loading its time zones once.
package market

import (
	"strings"
	"time"
	_ "time/tzdata" // marketplace time zones on machines without a zoneinfo database
)

// Code is a marketplace code, the ISO 3166-1 alpha-2 country of the recipient.
type Code string

// The marketplaces handoff serves.
const (
	GB Code = "GB"
	FR Code = "FR"
	IT Code = "IT"
	ES Code = "ES"
	IN Code = "IN"
)

// Market is what handoff knows about one marketplace.
type Market struct {
	Code     Code
	Currency string // ISO 4217
	// DefaultThresholdMinor is the default OTP threshold in minor units of Currency:
	// a package is OTP-eligible only when its declared value is strictly above it.
	DefaultThresholdMinor int64
	TimeZone              string // IANA name, for contact hours and service dates
	Language              string // BCP 47 primary language of notifications
	CallingCode           string // without the plus sign
}

var markets = []Market{
	{Code: GB, Currency: "GBP", DefaultThresholdMinor: 100_00, TimeZone: "Europe/London", Language: "en", CallingCode: "44"},
	{Code: FR, Currency: "EUR", DefaultThresholdMinor: 100_00, TimeZone: "Europe/Paris", Language: "fr", CallingCode: "33"},
	{Code: IT, Currency: "EUR", DefaultThresholdMinor: 100_00, TimeZone: "Europe/Rome", Language: "it", CallingCode: "39"},
	{Code: ES, Currency: "EUR", DefaultThresholdMinor: 100_00, TimeZone: "Europe/Madrid", Language: "es", CallingCode: "34"},
	{Code: IN, Currency: "INR", DefaultThresholdMinor: 500_00, TimeZone: "Asia/Kolkata", Language: "en", CallingCode: "91"},
}

// zones holds each marketplace's time zone, loaded once: time.LoadLocation
// reads and parses the zone file on every call, which a service date
// computed per request would pay each time.
var zones = func() map[Code]*time.Location {
	out := make(map[Code]*time.Location, len(markets))
	for _, m := range markets {
		loc, err := time.LoadLocation(m.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		out[m.Code] = loc
	}
	return out
}()

// Location returns the marketplace's time zone; UTC for a marketplace
// handoff does not serve.
func (m Market) Location() *time.Location {
	if loc, ok := zones[m.Code]; ok {
		return loc
	}
	return time.UTC
}

// All returns every marketplace, in a fixed order (GB, FR, IT, ES, IN).
func All() []Market { return append([]Market(nil), markets...) }

// Lookup returns the marketplace for a code, ignoring case and surrounding
// spaces; ok is false for a country handoff does not serve.
func Lookup(code string) (m Market, ok bool) {
	c := Code(strings.ToUpper(strings.TrimSpace(code)))
	for _, m := range markets {
		if m.Code == c {
			return m, true
		}
	}
	return Market{}, false
}

// Codes returns the marketplace codes as strings, for error messages.
func Codes() []string {
	out := make([]string, len(markets))
	for i, m := range markets {
		out[i] = string(m.Code)
	}
	return out
}
