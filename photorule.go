package handoff

import "slices"

// PhotoRule decides the photo of a delivery at place (SPEC §3): privacy holds
// the privacy reason of each parcel delivered ("" when it may be
// photographed: see NoPhoto*), and given says whether the associate sent a
// photo. It returns whether the photo is taken, or why the delivery is
// refused as asked:
//
//   - a photo is taken only for an unattended delivery (porch, door step,
//     mail room), and there it is required, so that the recipient and
//     customer service can see where the parcel was left;
//   - no photo may be taken of a parcel whose address is confidential, that
//     is a gift-registry parcel, or whose recipient opted out: it is left
//     without one, and the record says why;
//   - one delivery is one photo, so parcels that may be photographed and
//     parcels that may not are delivered separately.
func PhotoRule(place string, privacy []string, given bool) (take bool, err error) {
	unattended := slices.Contains(UnattendedPlaces, place)
	private := 0
	reason := ""
	for _, r := range privacy {
		if r != "" {
			private++
			if reason == "" {
				reason = r
			}
		}
	}
	switch {
	case given && !unattended:
		return false, Invalid(FieldError{Field: "photo", Message: "is taken only for an unattended delivery (porch, door step, mail room)"})
	case given && private > 0:
		return false, Refuse(EFORBIDDEN, ReasonPhotoForbidden, "No photo may be taken here (%s): deliver without one.", NoPhotoWords(reason))
	case unattended && private == 0 && !given:
		return false, Invalid(FieldError{Field: "photo", Message: "an unattended delivery needs a photo of the parcel where it was left"})
	case unattended && private > 0 && private < len(privacy):
		return false, Refuse(ECONFLICT, ReasonPhotoMixed, "Some of these parcels may be photographed and some may not; deliver them separately.")
	}
	return given, nil
}

// NoPhotoWords says a privacy reason (NoPhoto*) in words, "" for none.
func NoPhotoWords(reason string) string {
	switch reason {
	case NoPhotoConfidential:
		return "the address is confidential"
	case NoPhotoGiftRegistry:
		return "a gift-registry parcel to someone other than the buyer"
	case NoPhotoOptedOut:
		return "the recipient opted out of photos"
	}
	return ""
}
