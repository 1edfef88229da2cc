package web

import (
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/eligibility"
	"github.com/handoff-dev/handoff/tracking"
)

// otpReasonWords explain the OTP decision's reason codes to a shipper, so
// the page says what to change rather than showing a code.
var otpReasonWords = map[string]string{
	eligibility.OTPDisabled:         "Secure delivery (OTP) was switched off in your settings.",
	eligibility.SMSNotificationsOff: "Recipient SMS notifications were off, so a passcode could not reach the recipient's mobile.",
	eligibility.NotPrepaid:          "Cash-on-delivery shipments never use a passcode.",
	eligibility.AtOrBelowThreshold:  "The declared value is not above your OTP threshold for this marketplace.",
	eligibility.MissingMobile:       "The label has no recipient phone number.",
	eligibility.InvalidMobile:       "The recipient's phone number is not a valid mobile number for this marketplace.",
	eligibility.AboveThreshold:      "The declared value is above your OTP threshold for this marketplace.",
	eligibility.ShipperRule:         "One of your own rules asks for a passcode.",
}

// bagReasonWords explain the bag decision's reason codes.
var bagReasonWords = map[string]string{
	eligibility.BagCategory:       "An item is in one of your bag categories.",
	eligibility.BagAboveThreshold: "The declared value is above your bag threshold for this marketplace.",
	eligibility.BagNoRuleMatched:  "None of your bag rules matched.",
}

// reasonWords returns the explanation of a code, or the code itself for one
// added after this page was written.
func reasonWords(table map[string]string, code string) string {
	if w, ok := table[code]; ok {
		return w
	}
	return code
}

// paymentWords names a payment type.
func paymentWords(p string) string {
	switch p {
	case handoff.Prepaid:
		return "Prepaid"
	case handoff.CashOnDelivery:
		return "Cash on delivery"
	}
	return p
}

// eventNames put tracking event codes into words.
var eventNames = map[string]string{
	tracking.ReadyForReceive:          "Label created",
	tracking.PickupDone:               "Picked up",
	tracking.ArrivedAtCarrierFacility: "Arrived at carrier facility",
	tracking.Departed:                 "Departed facility",
	tracking.OutForDelivery:           "Out for delivery",
	tracking.Delivered:                "Delivered",
	tracking.DeliveryAttempted:        "Delivery attempted",
	tracking.Rejected:                 "Rejected",
	tracking.Undeliverable:            "Undeliverable",
	tracking.ReturnInitiated:          "Return initiated",
}

// eventWords names an event code: the carriers' codes, then handoff's own.
func eventWords(code string) string {
	if w, ok := eventNames[code]; ok {
		return w
	}
	if w, ok := recordedEventNames[code]; ok {
		return w
	}
	return code
}

// detailWords puts a detail code into words through tracking.Describe, and
// splits an unknown CamelCase code ("DeliveredToMailRoom") into words rather
// than hide it.
func detailWords(code string) string {
	if code == "" {
		return ""
	}
	if w := tracking.Describe("", code); w != "" {
		return w
	}
	var b strings.Builder
	for i, c := range code {
		if i > 0 && c >= 'A' && c <= 'Z' {
			b.WriteByte(' ')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// place writes an event's location as one line: "London E16 1AA, GB".
func place(l tracking.Location) string {
	var parts []string
	if town := strings.TrimSpace(l.City + " " + l.PostalCode); town != "" {
		parts = append(parts, town)
	}
	if l.StateOrRegion != "" {
		parts = append(parts, l.StateOrRegion)
	}
	if l.CountryCode != "" {
		parts = append(parts, l.CountryCode)
	}
	return strings.Join(parts, ", ")
}

// stageWords say where a parcel is in the delivery network, for station
// staff and associates who act on it.
var stageWords = map[string]string{
	handoff.StageLabel:          "Label created, not yet received",
	handoff.StageStation:        "At the station",
	handoff.StageRouted:         "On a route, van not loaded yet",
	handoff.StageOut:            "Out for delivery",
	handoff.StageAwaitingReturn: "Not delivered: bring it back to the station",
	handoff.StageDelivered:      "Delivered",
	handoff.StageReturning:      "Going back to the shipper",
	handoff.StageHeld:           "Held at the station for customer service",
}

// otpStateWords say where a stop stands with its passcode.
var otpStateWords = map[string]string{
	handoff.OTPNone:     "No passcode needed",
	handoff.OTPPending:  "Waiting for the passcode",
	handoff.OTPVerified: "Passcode checked",
	handoff.OTPFailed:   "Attempt ended without the passcode",
}

// routeStatusWords say whether a route's van is loaded.
var routeStatusWords = map[string]string{
	handoff.RoutePlanned: "Planned, van not loaded",
	handoff.RouteLoaded:  "Loaded, out for delivery",
}

// placeWords name each place of handoff.DeliveryPlaces as the end of
// "Delivered to…", the label of the form that offers them.
var placeWords = map[string]string{
	tracking.DeliveredToPorch:           "the porch",
	tracking.DeliveredToDoorStep:        "the door step",
	tracking.DeliveredToMailRoom:        "the mail room",
	tracking.DeliveredToReceptionist:    "a receptionist",
	tracking.DeliveredToHouseholdMember: "a household member",
	tracking.DeliveredToNeighbor:        "a neighbour",
	tracking.DeliveredToCustomer:        "the customer in person",
}

// relationshipWords name each of handoff.SignerRelationships, as the
// signer says who they are.
var relationshipWords = map[string]string{
	"RECIPIENT":        "The recipient",
	"HOUSEHOLD_MEMBER": "Someone in the household",
	"NEIGHBOUR":        "A neighbour",
	"OTHER":            "Someone else",
}

// documentWords name each of handoff.IDDocumentTypes.
var documentWords = map[string]string{
	"PASSPORT":         "Passport",
	"DRIVING_LICENCE":  "Driving licence",
	"NATIONAL_ID_CARD": "National ID card",
	"RESIDENCE_PERMIT": "Residence permit",
}

// attemptReasonWords name each reason of handoff.AttemptReasons, as the
// associate picks one for a failed attempt.
var attemptReasonWords = map[string]string{
	tracking.CustomerUnavailable: "Customer not available",
	tracking.UnableToAccess:      "Unable to access the address",
	tracking.BusinessClosed:      "Business closed",
	tracking.OtpNotAvailable:     "Passcode not available",
	tracking.AddressNotFound:     "Address not found",
	tracking.Damaged:             "Parcel damaged",
}

// codeWords returns the words for a code from table, or the code split into
// words (as detailWords does) for one added after this page was written.
func codeWords(table map[string]string, code string) string {
	if w, ok := table[code]; ok {
		return w
	}
	return detailWords(code)
}

// option is one choice of a select.
type option struct {
	Value, Label string
}

// options turns codes into the choices of a select, in the order given.
func options(codes []string, table map[string]string) []option {
	out := make([]option, 0, len(codes))
	for _, c := range codes {
		out = append(out, option{Value: c, Label: codeWords(table, c)})
	}
	return out
}

// contactFlag explains a passcode stop planned outside contact hours, when
// the recipient may not be there to give the code; "" for a stop inside
// them, and for one whose passcode was already checked or whose attempt
// ended, as there is nothing left to move. The station is told to move it,
// the associate only warned.
func contactFlag(s handoff.Stop, hours string, forStation bool) string {
	if !s.OutsideContactHours || s.OTPState != handoff.OTPPending {
		return ""
	}
	msg := "Planned at " + s.PlannedTime + " — outside contact hours"
	if hours != "" {
		msg += " " + hours
	}
	if forStation {
		return msg + ": move it"
	}
	return msg + ": the recipient may not be there to give the passcode"
}

// flaggedStops counts the stops of a route that contactFlag flags: the
// passcode stops outside contact hours still waiting for their code.
func flaggedStops(rt *handoff.Route) int {
	n := 0
	for _, s := range rt.Stops {
		if contactFlag(s, "", true) != "" {
			n++
		}
	}
	return n
}

// parcelStatus says where a parcel at a stop stands: its tracking status in
// words ("Delivered with OTP"), or, before it is out, where it waits.
func parcelStatus(p handoff.StopParcel) string {
	if p.Stage == handoff.StageRouted || p.Stage == handoff.StageStation {
		return codeWords(stageWords, p.Stage)
	}
	return tracking.Describe(p.Status, p.DetailCode)
}

// fieldSentence joins what a field is and a store's message about it into a
// sentence: "The service date is in the past.", "Line 2, HO7K…: no such
// parcel at this station." The store's messages start with a verb when they
// read on from the field's name, and stand alone otherwise.
func fieldSentence(subject, msg string) string {
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	for _, verb := range []string{"is ", "are ", "must ", "was ", "has "} {
		if strings.HasPrefix(msg, verb) {
			return subject + " " + msg + "."
		}
	}
	return subject + ": " + msg + "."
}

// recordedEventNames put into words the event codes handoff records beside
// the carriers' vocabulary: facts about bags and garages that do not change a
// parcel's status.
var recordedEventNames = map[string]string{
	tracking.BagSealed:             "Sealed in a tamper-evident bag",
	tracking.BagVoided:             "Bag voided",
	tracking.GarageAccessRequested: "Garage access requested",
	tracking.GarageOpened:          "Garage opened",
	tracking.GarageClosed:          "Garage closed",
	tracking.GarageAccessFailed:    "Garage did not open",
	tracking.GarageCloseFailed:     "Garage door did not close",
	tracking.GarageAccessRevoked:   "Garage access revoked",
}

// historyEventWords names any event of a parcel's history: the carriers'
// codes, then the store's own, then the code split into words.
func historyEventWords(code string) string {
	if w, ok := eventNames[code]; ok {
		return w
	}
	return codeWords(recordedEventNames, code)
}

// bagStateWords say where a tamper-evident bag is in its single use.
var bagStateWords = map[string]string{
	handoff.BagIssued:    "Issued, not used yet",
	handoff.BagSealed:    "Sealed on a parcel",
	handoff.BagDelivered: "Delivered",
	handoff.BagRefused:   "Refused at the door",
	handoff.BagVoided:    "Voided",
}

// bagStates are the states of handoff's bags in the order a bag moves
// through them, the order the station's bag list offers them.
var bagStates = []string{handoff.BagIssued, handoff.BagSealed, handoff.BagDelivered, handoff.BagRefused, handoff.BagVoided}

// caseKindWords name the kinds of customer-service case. "garage" is the
// kind the store opens for a door that did not close.
var caseKindWords = map[string]string{
	handoff.CaseTamper:       "Tampered bag refused",
	handoff.CaseScanMismatch: "Bag scan mismatch",
	"garage":                 "Garage door did not close",
	handoff.CaseEnquiry:      "Enquiry",
}

// caseOutcomeWords name each of handoff.CaseOutcomes as customer service
// picks one to close a case, with what it does to a parcel held at the
// station.
var caseOutcomeWords = map[string]string{
	handoff.CaseReship:          "Reship: the parcel waits at the station for a new bag",
	handoff.CaseReturnToShipper: "Return to shipper",
	handoff.CaseRefund:          "Refund: the parcel returns to the shipper",
	handoff.CaseNoAction:        "No action needed",
}

// noPhotoWords say why a delivery was completed without a photo.
var noPhotoWords = map[string]string{
	handoff.NoPhotoConfidential: "No photo: the address is confidential.",
	handoff.NoPhotoGiftRegistry: "No photo: a gift-registry or wish-list parcel, not the buyer's own address.",
	handoff.NoPhotoOptedOut:     "No photo: the recipient opted out of delivery photos.",
}

// routeOutcomeWords say what became of a parcel on one route that carried
// it.
var routeOutcomeWords = map[string]string{
	handoff.OutcomeOpen:      "Not settled on this route",
	handoff.OutcomeDelivered: "Delivered",
	handoff.OutcomeAttempted: "Delivery attempted",
	handoff.OutcomeRefused:   "Refused by the recipient",
}

// ---- portal: the recipient portal's words (portal.go, portal_settings.go).

// portalStepWords name each step of a garage's log (handoff.GarageEvent's
// Step) as the recipient reads it.
var portalStepWords = map[string]string{
	"enrolled":         "Enrolled and tested",
	"tested":           "Tested",
	"key_delivery_on":  "Key delivery switched on",
	"key_delivery_off": "Key delivery switched off",
	"requested":        "The driver asked for access",
	"opened":           "Door opened for the delivery",
	"closed":           "Door closed, and confirmed closed",
	"failed":           "The door did not open",
	"close_failed":     "The door did not close: customer service has been alerted",
	"revoked":          "Pending access cancelled",
}

// portalNoPhotoWords say to the recipient why no delivery photo was taken,
// for each privacy rule (handoff.PhotoInfo's SkippedReason); noPhotoWords
// say it to staff.
var portalNoPhotoWords = map[string]string{
	handoff.NoPhotoConfidential: "No photo was taken: the address is confidential.",
	handoff.NoPhotoGiftRegistry: "No photo was taken: the parcel was not for the buyer's own address.",
	handoff.NoPhotoOptedOut:     "No photo was taken: you opted out of delivery photos.",
}

// Why a delivered parcel shows no photo when no privacy rule applied.
const (
	noPhotoNotNeeded = "No photo: the parcel was not left unattended (it was handed over, delivered with the passcode or put in your garage)."
	noPhotoRemoved   = "The photo was deleted at the end of its retention period."
)
