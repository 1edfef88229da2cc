// Package tracking holds the vocabulary of parcel events, modelled on Amazon
// Shipping v2 (event codes, summary statuses, detail codes), and derives a
// parcel's summary from its append-only list of events. It has no I/O.
package tracking

import "time"

// Event codes.
const (
	ReadyForReceive          = "ReadyForReceive"
	PickupDone               = "PickupDone"
	ArrivedAtCarrierFacility = "ArrivedAtCarrierFacility"
	Departed                 = "Departed"
	OutForDelivery           = "OutForDelivery"
	Delivered                = "Delivered"
	DeliveryAttempted        = "DeliveryAttempted"
	Rejected                 = "Rejected"
	Undeliverable            = "Undeliverable"
	ReturnInitiated          = "ReturnInitiated"
)

// Event codes handoff adds for facts that do not change a parcel's status:
// its bag and its garage delivery.
const (
	BagSealed             = "BagSealed"
	BagVoided             = "BagVoided"
	GarageAccessRequested = "GarageAccessRequested"
	GarageOpened          = "GarageOpened"
	GarageClosed          = "GarageClosed"
	GarageAccessFailed    = "GarageAccessFailed"
	GarageCloseFailed     = "GarageCloseFailed"
	GarageAccessRevoked   = "GarageAccessRevoked"
)

// Summary statuses.
const (
	StatusPreTransit        = "PreTransit"
	StatusInTransit         = "InTransit"
	StatusOutForDelivery    = "OutForDelivery"
	StatusDelivered         = "Delivered"
	StatusDeliveryAttempted = "DeliveryAttempted"
	StatusRejected          = "Rejected"
	StatusUndeliverable     = "Undeliverable"
)

// Detail codes. Codes handoff adds beyond Amazon's vocabulary are named for
// exactly what happened, never reusing one that means more.
const (
	DeliveredWithOTP                    = "DeliveredWithOTP"
	DeliveredWithPhoneDigits            = "DeliveredWithPhoneDigits" // the weaker opt-in fallback
	DeliveredToGarage                   = "DeliveredToGarage"
	DeliveredToPorch                    = "DeliveredToPorch"
	DeliveredToDoorStep                 = "DeliveredToDoorStep"
	DeliveredToMailRoom                 = "DeliveredToMailRoom"
	DeliveredToReceptionist             = "DeliveredToReceptionist"
	DeliveredToHouseholdMember          = "DeliveredToHouseholdMember"
	DeliveredToNeighbor                 = "DeliveredToNeighbor"
	DeliveredToCustomer                 = "DeliveredToCustomer"
	DeliveredWithSignature              = "DeliveredWithSignature" // handed over in person against a signature (and an age check, when asked)
	OtpNotAvailable                     = "OtpNotAvailable"
	CustomerUnavailable                 = "CustomerUnavailable"
	UnableToAccess                      = "UnableToAccess"
	BusinessClosed                      = "BusinessClosed"
	AddressNotFound                     = "AddressNotFound"
	RejectedByRecipientWithVerification = "RejectedByRecipientWithVerification"
	RejectedAgeNotVerified              = "RejectedAgeNotVerified" // the recipient's ID did not show the minimum age: back to the station
	Damaged                             = "Damaged"
)

// StatusOf maps an event code to the summary status it leaves a parcel in; ok
// is false for a code that does not change the status.
func StatusOf(code string) (status string, ok bool) {
	switch code {
	case ReadyForReceive:
		return StatusPreTransit, true
	case PickupDone, ArrivedAtCarrierFacility, Departed, ReturnInitiated:
		return StatusInTransit, true
	case OutForDelivery:
		return StatusOutForDelivery, true
	case Delivered:
		return StatusDelivered, true
	case DeliveryAttempted:
		return StatusDeliveryAttempted, true
	case Rejected:
		return StatusRejected, true
	case Undeliverable:
		return StatusUndeliverable, true
	}
	return "", false
}

// Location is where an event happened.
type Location struct {
	City          string `json:"city,omitempty"`
	StateOrRegion string `json:"stateOrRegion,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	CountryCode   string `json:"countryCode,omitempty"`
}

// Event is one step in a parcel's life. Events are never changed or removed.
type Event struct {
	Seq      int
	Code     string
	Detail   string // a detail code, or ""
	Time     time.Time
	Location Location
	Actor    string // who caused it: a principal ID, "system", "recipient"
	Note     string // short human text, never a secret
}

// Summary is the state derived from a parcel's events.
type Summary struct {
	Status  string
	Forward []string
	Returns []string
}

// Summarize derives the summary from events in order. The status is that of
// the last status-changing event; detail codes of the current leg are listed
// under forward, or under returns once a return has been initiated.
func Summarize(events []Event) Summary {
	s := Summary{Status: StatusPreTransit, Forward: []string{}, Returns: []string{}}
	returning := false
	for _, e := range events {
		if st, ok := StatusOf(e.Code); ok {
			s.Status = st
			s.Forward = s.Forward[:0]
		}
		if e.Code == ReturnInitiated {
			returning = true
		}
		if e.Detail == "" {
			continue
		}
		if returning {
			s.Returns = append(s.Returns, e.Detail)
		} else {
			s.Forward = append(s.Forward, e.Detail)
		}
	}
	return s
}

// Describe returns the words a person reads for a status and detail code:
// "Delivered with OTP" rather than "Delivered/DeliveredWithOTP".
func Describe(status, detail string) string {
	switch detail {
	case DeliveredWithOTP:
		return "Delivered with OTP"
	case DeliveredWithPhoneDigits:
		return "Delivered with phone digits (weaker than OTP)"
	case DeliveredToGarage:
		return "Delivered to garage"
	case DeliveredToPorch:
		return "Delivered to porch"
	case DeliveredToDoorStep:
		return "Delivered to door step"
	case DeliveredToMailRoom:
		return "Delivered to mail room"
	case DeliveredToReceptionist:
		return "Delivered to receptionist"
	case DeliveredToHouseholdMember:
		return "Delivered to household member"
	case DeliveredToNeighbor:
		return "Delivered to neighbour"
	case DeliveredToCustomer:
		return "Delivered to customer"
	case BusinessClosed:
		return "Delivery attempted: business closed"
	case AddressNotFound:
		return "Delivery attempted: address not found"
	case Damaged:
		return "Delivery attempted: damaged"
	case OtpNotAvailable:
		return "Delivery attempted: passcode not available"
	case CustomerUnavailable:
		return "Delivery attempted: customer unavailable"
	case UnableToAccess:
		return "Delivery attempted: unable to access"
	case RejectedByRecipientWithVerification:
		return "Refused by recipient: tampered bag"
	case RejectedAgeNotVerified:
		return "Not delivered: the recipient's age could not be verified"
	case DeliveredWithSignature:
		return "Delivered against a signature"
	}
	switch status {
	case StatusPreTransit:
		return "Label created"
	case StatusInTransit:
		return "In transit"
	case StatusOutForDelivery:
		return "Out for delivery"
	case StatusDelivered:
		return "Delivered"
	case StatusDeliveryAttempted:
		return "Delivery attempted"
	case StatusRejected:
		return "Rejected"
	case StatusUndeliverable:
		return "Undeliverable"
	}
	return status
}
