package web

import (
	"io/fs"
	"regexp"
	"testing"

	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/tracking"
)

// assocWords are the words the associate's pages say from Go rather than
// from a template: the steps, the choices of the forms, the parcels'
// statuses at the door, and the messages after an action.
func assocWords() []string {
	words := []string{"Bag", "Code", "Open garage", "Drop", "Close", "Place", "Photo", "Done",
		"To do", "Delivered", "Not delivered", "Partly done", "Stop %d: %s",
		"Wrong code — %d attempts left.", "Wrong code — 1 attempt left.", "Wrong digits — %d attempts left.", "Wrong digits — 1 attempt left.",
		"This bag does not belong to this parcel. Do not deliver; it has been reported.",
		"Nothing is open at this stop any more.", "Load the van first: the parcels of this route are not out for delivery yet.",
		"Van loaded: the parcels are out for delivery, and each passcode recipient has been sent today's code.",
		"Scan the bag's barcode or type the ID printed under it.",
		"That ID has a wrong character: it was misread or mistyped. Scan or type it again.",
		"That is not a bag ID: a bag ID looks like TEB-XXXXX-XXXXX-C.",
		"Choose the parcels the recipient refuses, among the bagged parcels still open here.",
		"This garage access is not open at this stop any more. Open the garage again if the parcels are still with you.",
	}
	for _, table := range []map[string]string{placeWords, attemptReasonWords, relationshipWords, documentWords, routeStatusWords, stageWords, fieldWords} {
		for _, w := range table {
			words = append(words, w)
		}
	}
	for _, d := range []string{tracking.DeliveredWithOTP, tracking.DeliveredWithPhoneDigits, tracking.DeliveredToGarage, tracking.DeliveredToPorch,
		tracking.DeliveredToDoorStep, tracking.DeliveredToMailRoom, tracking.DeliveredToReceptionist, tracking.DeliveredToHouseholdMember,
		tracking.DeliveredToNeighbor, tracking.DeliveredToCustomer, tracking.BusinessClosed, tracking.AddressNotFound, tracking.Damaged,
		tracking.OtpNotAvailable, tracking.CustomerUnavailable, tracking.UnableToAccess, tracking.RejectedByRecipientWithVerification,
		tracking.RejectedAgeNotVerified, tracking.DeliveredWithSignature} {
		words = append(words, tracking.Describe("", d))
	}
	for _, msg := range []string{"an unattended delivery needs a photo of the parcel where it was left",
		"is taken only for an unattended delivery (porch, door step, mail room)", "is not a JPEG, PNG or WebP image",
		"the image is damaged or incomplete"} {
		words = append(words, fieldSentence("The photo", msg)) // the store's refusals of a photo, as stopRefused says them
	}
	words = append(words, "The photo is too large: take it again at a lower resolution, or choose a smaller one.")
	return append(words, // stopFlash's messages
		"Code correct. Hand over the parcels that need a signature or an ID check at the next step: the code alone does not deliver them.",
		"Code correct: the passcode parcels are delivered.",
		"Code correct: its parcels are delivered. The other passcode parcels here need their own code.",
		"Phone digits accepted: the passcode parcels are delivered, recorded as the weaker fallback.",
		"Wrong again: that was the last attempt. The delivery attempt has ended; bring the passcode parcels back to the station.",
		"Code re-sent to the recipient's own phone and email.",
		"Delivered: the parcels without a passcode are done.",
		"Failed attempt recorded: bring the parcels back to the station.",
		"Bag scanned: it matches.",
		"Refusal recorded: bring the refused parcels back to the station in their bags. Customer service has a case.",
		"Garage closed and confirmed closed: the parcels are delivered to the garage.")
}

// TestAssociateWordsTranslated fails when the associate's pages would say
// a word in English whatever the language: a word above, or a count of a
// template's Counted, missing from the catalogue.
func TestAssociateWordsTranslated(t *testing.T) {
	for _, w := range assocWords() {
		if !locale.Has(w) {
			t.Errorf("%q is not in the catalogue", w)
		}
	}
	counted := regexp.MustCompile(`\.Counted [^"]*?"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"`)
	for _, p := range []string{"templates/pages/stop.html", "templates/pages/itinerary.html"} {
		b, err := fs.ReadFile(files, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range counted.FindAllStringSubmatch(string(b), -1) {
			for _, k := range m[1:] {
				if !locale.Has(k) {
					t.Errorf("%s: %q is not in the catalogue", p, k)
				}
			}
		}
	}
}
