package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// The associate's app: the day's itinerary and one page per stop. Every
// action is a form that redirects back to its page (post/redirect/get), so
// that reloading a page on a phone never sends a form, and above all never a
// passcode guess, a second time. The passcode itself is only ever in the body
// of the POST that checks it: never in a page, a link or a log line.

// itineraryPage is the content of the associate's home.
type itineraryPage struct {
	Flash  string
	Alert  string
	Routes []itineraryRoute
}

// itineraryRoute is one of today's routes with its stops.
type itineraryRoute struct {
	Route   *handoff.Route
	Status  string
	Planned bool // the van is not loaded yet
	Flagged int  // passcode stops planned outside contact hours, still to do
	// Finished is how many stops have no parcel open any more.
	Finished int
	Stops    []stopCard
}

// stopCard is one stop of the itinerary.
type stopCard struct {
	Stop     handoff.Stop
	Flag     string // the contact-hours warning, "" when the time is fine
	Progress string // "To do", "Delivered", …
}

// itinerary shows today's routes: a "Load van" button while a route is
// planned, and every stop with what it needs.
func (s *Server) itinerary(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadItinerary(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("done") == "loaded" && slices.ContainsFunc(page.Routes, func(rt itineraryRoute) bool { return !rt.Planned }) {
		page.Flash = "Van loaded: the parcels are out for delivery, and each passcode recipient has been sent today's code."
	}
	s.render(w, r, http.StatusOK, "itinerary", newView(r, "Today's deliveries", "home", page))
}

// loadItinerary fills the itinerary page.
func (s *Server) loadItinerary(r *http.Request) (*itineraryPage, error) {
	routes, err := s.Doors.Itinerary(r.Context(), visitorFrom(r.Context()).principal)
	if err != nil {
		return nil, err
	}
	page := &itineraryPage{}
	for _, rt := range routes {
		ir := itineraryRoute{Route: rt, Status: codeWords(routeStatusWords, rt.Status), Planned: rt.Status == handoff.RoutePlanned, Flagged: flaggedStops(rt)}
		ir.Finished, _ = routeProgress(rt, 0)
		for _, st := range rt.Stops {
			ir.Stops = append(ir.Stops, stopCard{Stop: st, Flag: contactFlag(st, rt.ContactHours, false), Progress: progress(st)})
		}
		page.Routes = append(page.Routes, ir)
	}
	return page, nil
}

// progress says in a word or two how far a stop is.
func progress(st handoff.Stop) string {
	var delivered, attempted int
	for _, p := range st.Parcels {
		switch p.Outcome {
		case "delivered":
			delivered++
		case "attempted", "refused":
			attempted++
		}
	}
	switch n := len(st.Parcels); {
	case n > 0 && delivered == n:
		return "Delivered"
	case n > 0 && attempted == n:
		return "Not delivered"
	case delivered+attempted == n:
		return "Done"
	case delivered+attempted > 0:
		return "Partly done"
	}
	return "To do"
}

// loadVan puts a planned route out for delivery. The store refuses a route
// already loaded; that answer is shown on the itinerary.
func (s *Server) loadVan(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "routeId")
	if id == "" {
		s.fail(w, r, handoff.NotFound("Route"))
		return
	}
	_, err := s.Doors.LoadRoute(r.Context(), visitorFrom(r.Context()).principal, id)
	if err == nil {
		http.Redirect(w, r, "/associate?done=loaded", http.StatusSeeOther)
		return
	}
	if !inPlace(err) {
		s.fail(w, r, err)
		return
	}
	page, lerr := s.loadItinerary(r)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	page.Alert = handoff.ErrorMessage(err)
	s.render(w, r, pageStatus[handoff.ErrorCode(err)].status, "itinerary", newView(r, "Today's deliveries", "home", page))
}

// inPlace reports whether a service error is explained on the page of the
// form that caused it rather than on the error page: the request was
// understood, but the state of the stop, the route or the associate refused
// it (already delivered, checks locked, van not loaded…), or a field was
// wrong.
func inPlace(err error) bool {
	switch handoff.ErrorCode(err) {
	case handoff.EINVALID, handoff.ECONFLICT, handoff.EFORBIDDEN, handoff.ELOCKED, handoff.ERATELIMITED, handoff.EPRECONDITION:
		return true
	}
	return false
}

// stopPage is the content of a stop's page.
type stopPage struct {
	Stop     *handoff.Stop
	Flag     string // the contact-hours warning, "" when the time is fine
	Loaded   bool   // the route's van is loaded: the parcels can be delivered
	Flash    string
	Alert    string
	Errors   map[string]string // form field name → message
	CodeForm bool              // the passcode is awaited
	Ended    bool              // the passcode attempt ended without the code
	Verified bool              // the passcode was checked
	Open     int               // parcels not yet delivered or attempted
	// AwaitingCode are the open passcode parcels of a stop where a code has
	// already delivered others: their labels name other contacts, so they
	// need their own code (never hinted at here).
	AwaitingCode []string
	OpenPlain    int // of those, the ones that need no passcode
	Places       []option
	// Relationships and Documents are the choices of the signature and age
	// check, shown when a parcel here needs them.
	Relationships []option
	Documents     []option
	Reasons       []option
	// Bagged are the open parcels sealed in a tamper-evident bag, and
	// Unscanned how many of their bags are still to scan. The expected bag
	// IDs are never on the page: the scan must come from the bag in hand.
	Bagged    []handoff.StopParcel
	Unscanned int
	ScanTyped string // the bag ID as typed, shown back after a misread
	Garage    bool   // the stop's garage can be opened from here
	GrantID   string // the garage grant opened from this page, to close

	// The steps of the stop (stopsteps.go) and the one on screen.
	Steps []stopStep
	Step  string
	Want  string // the step the address or a refused form asks for
	// Place is the delivery place chosen at the place step, kept for the
	// photo step and after a refused delivery; Form the other inputs of a
	// refused delivery form, shown again.
	Place      string
	PlaceName  string
	Unattended bool // Place is one where a photo is taken
	Form       url.Values
	// Confirm is the action awaiting confirmation ("refuse" or "attempt"),
	// with what it would record: nothing is recorded before the second POST.
	Confirm       string
	ConfirmIDs    []string
	ConfirmReason option
	// The route's progress, for the "next stop" of a finished stop.
	RouteStops    int
	RouteFinished int
	Next          *handoff.Stop
}

// Form field names of the stop's forms.
const (
	fieldCode   = "code"
	fieldDigits = "digits"
	fieldPlace  = "place"
	fieldReason = "reason"
	fieldPhoto  = "photo"
	fieldRefuse = "trackingId" // the refused parcels, one value each
	fieldGrant  = "grant"
	// fieldConfirm is "yes" on the second POST of a refusal or a failed
	// attempt, the one that records it.
	fieldConfirm = "confirm"
	fieldLat     = "lat"
	fieldLon     = "lon"
	// The signature and age check of a hand-over (SPEC §7).
	fieldSigKind     = "signatureKind"  // DRAWN when the pad was used; TYPED without JavaScript
	fieldSigImage    = "signatureImage" // the pad's PNG, as a data: URL
	fieldSignerName  = "signerName"
	fieldSignerRel   = "relationship"
	fieldIDDocument  = "idDocument"
	fieldDateOfBirth = "dateOfBirth" // compared with the minimum age, never kept
)

// stopDetail shows a stop of the associate's route of today. Any other stop,
// another associate's included, is the 404 page.
func (s *Server) stopDetail(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadStop(r, pathID(r, "stopId"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page.Flash, page.Alert = stopFlash(q.Get("done"), page.Stop)
	page.Want, page.Place = q.Get("step"), q.Get(fieldPlace)
	// A wrong entry is said at the field it was typed in, which the page
	// offers again while attempts are left.
	if field, msg := wrongEntry(langOf(r), q.Get("done"), page.Stop); msg != "" {
		page.Errors[field] = msg
	}
	// After opening the garage the page carries its grant, for the close
	// form: the store answers only by grant ID, and keeping it in the
	// address lets a reload or a step back still close the door. The store
	// checks the grant is this associate's at this stop, so a crafted link
	// can at most show a button that the store refuses.
	if g := q.Get(fieldGrant); q.Get("done") == "garage" && page.Garage && len(g) <= maxIDLen && strings.HasPrefix(g, "gg_") {
		page.GrantID = g
	} else if page.Garage {
		// Back at the stop some other way: offer to close an open door.
		if g, err := s.Garages.OpenGrant(r.Context(), visitorFrom(r.Context()).principal, pathID(r, "stopId")); err == nil {
			page.GrantID = g.ID
		}
	}
	s.renderStop(w, r, http.StatusOK, page)
}

// loadStop fills the stop page. The route's status and contact hours come
// from the itinerary, which holds the stop's route whenever FindStop found
// the stop.
func (s *Server) loadStop(r *http.Request, stopID string) (*stopPage, error) {
	da := visitorFrom(r.Context()).principal
	if stopID == "" {
		return nil, handoff.NotFound("Stop")
	}
	st, err := s.Doors.FindStop(r.Context(), da, stopID)
	if err != nil {
		return nil, err
	}
	routes, err := s.Doors.Itinerary(r.Context(), da)
	if err != nil {
		return nil, err
	}
	hours := ""
	page := &stopPage{Stop: st, Errors: map[string]string{},
		Places: options(handoff.DeliveryPlaces, placeWords), Reasons: options(handoff.AttemptReasons, attemptReasonWords),
		Relationships: options(handoff.SignerRelationships, relationshipWords), Documents: options(handoff.IDDocumentTypes, documentWords)}
	if i := slices.IndexFunc(routes, func(rt *handoff.Route) bool { return rt.ID == st.RouteID }); i >= 0 {
		hours, page.Loaded = routes[i].ContactHours, routes[i].Status == handoff.RouteLoaded
		page.RouteStops = len(routes[i].Stops)
		page.RouteFinished, page.Next = routeProgress(routes[i], st.Position)
	}
	page.Flag = contactFlag(*st, hours, false)
	page.CodeForm = page.Loaded && st.Needs.Passcode && st.OTPState == handoff.OTPPending
	// The passcode attempt "ended" when its parcels were attempted; a
	// refusal of the bagged parcels also ends a passcode nobody needs any
	// more, but that is said as a refusal.
	page.Ended = st.OTPState == handoff.OTPFailed &&
		slices.ContainsFunc(st.Parcels, func(p handoff.StopParcel) bool { return p.OTPRequired && p.Outcome == handoff.OutcomeAttempted })
	page.Verified = st.OTPState == handoff.OTPVerified
	someByCode := slices.ContainsFunc(st.Parcels, func(p handoff.StopParcel) bool {
		return p.OTPRequired && (p.Outcome == handoff.OutcomeDelivered || p.PasscodeVerified)
	})
	for _, p := range st.Parcels {
		if p.Outcome == "" && p.OTPRequired && !p.PasscodeVerified && someByCode && page.CodeForm {
			page.AwaitingCode = append(page.AwaitingCode, p.TrackingID)
		}
		if p.Outcome == "" {
			page.Open++
			// A passcode parcel opened by its code waits to be handed
			// over with its signature or age check, like a plain one.
			if !p.OTPRequired || p.PasscodeVerified {
				page.OpenPlain++
			}
			if p.BagRequired {
				page.Bagged = append(page.Bagged, p)
				if !p.BagScanned {
					page.Unscanned++
				}
			}
		}
	}
	page.Garage = page.Loaded && st.Needs.Garage && page.Open > 0
	return page, nil
}

// renderStop shows the stop page.
func (s *Server) renderStop(w http.ResponseWriter, r *http.Request, status int, page *stopPage) {
	if page.Place != "" && !slices.Contains(handoff.DeliveryPlaces, page.Place) {
		page.Errors[fieldPlace] = fieldWords[fieldPlace]
		page.Place, page.Want = "", stepPlace
	}
	if page.Place != "" {
		page.PlaceName = codeWords(placeWords, page.Place)
		page.Unattended = slices.Contains(handoff.UnattendedPlaces, page.Place)
	}
	page.Steps, page.Step = stopSteps(page, page.Want)
	lang := langOf(r)
	page.Flash, page.Alert = locale.T(lang, page.Flash), locale.T(lang, page.Alert)
	for k, v := range page.Errors {
		page.Errors[k] = locale.T(lang, v)
	}
	title := locale.T(lang, "Stop %d: %s", page.Stop.Position, page.Stop.RecipientName)
	s.render(w, r, status, "stop", newView(r, title, "home", page))
}

// stopFlash returns the message a stop page shows after an action
// redirected to it (?done=), as a notice or as an alert. The query only
// names the message; each is shown only when the stop's state agrees with
// it, so that a crafted link cannot make the page claim what did not happen.
func stopFlash(done string, st *handoff.Stop) (flash, alert string) {
	has := func(outcome string, otp bool) bool {
		return slices.ContainsFunc(st.Parcels, func(p handoff.StopParcel) bool { return p.Outcome == outcome && p.OTPRequired == otp })
	}
	pending := st.OTPState == handoff.OTPPending
	switch done {
	case "verified":
		if slices.ContainsFunc(st.Parcels, func(p handoff.StopParcel) bool { return p.PasscodeVerified && p.Outcome == "" }) {
			return "Code correct. Hand over the parcels that need a signature or an ID check at the next step: the code alone does not deliver them.", ""
		}
		if st.OTPState == handoff.OTPVerified {
			return "Code correct: the passcode parcels are delivered.", ""
		}
		if pending && has(handoff.OutcomeDelivered, true) {
			return "Code correct: its parcels are delivered. The other passcode parcels here need their own code.", ""
		}
	case "digits":
		if st.OTPState == handoff.OTPVerified {
			return "Phone digits accepted: the passcode parcels are delivered, recorded as the weaker fallback.", ""
		}
	case "ended":
		if st.OTPState == handoff.OTPFailed {
			return "", "Wrong again: that was the last attempt. The delivery attempt has ended; bring the passcode parcels back to the station."
		}
	case "resent":
		if pending && st.ResendsLeft < handoff.MaxResends {
			return "Code re-sent to the recipient's own phone and email.", ""
		}
	case "delivered":
		if has(handoff.OutcomeDelivered, false) {
			return "Delivered: the parcels without a passcode are done.", ""
		}
	case "attempted":
		if has(handoff.OutcomeAttempted, false) || has(handoff.OutcomeAttempted, true) {
			return "Failed attempt recorded: bring the parcels back to the station.", ""
		}
	case "scanned":
		if slices.ContainsFunc(st.Parcels, func(p handoff.StopParcel) bool { return p.BagScanned }) {
			return "Bag scanned: it matches.", ""
		}
	case "refused":
		if has(handoff.OutcomeRefused, false) || has(handoff.OutcomeRefused, true) {
			return "Refusal recorded: bring the refused parcels back to the station in their bags. Customer service has a case.", ""
		}
	case "garage-closed":
		if slices.ContainsFunc(st.Parcels, func(p handoff.StopParcel) bool { return p.DetailCode == tracking.DeliveredToGarage }) {
			return "Garage closed and confirmed closed: the parcels are delivered to the garage.", ""
		}
	}
	return "", ""
}

// wrongEntry returns the field and the words of a wrong code or digits
// (?done=wrong, wrongdigits), when the stop still waits for a code after
// wrong entries; "" otherwise, so a crafted link claims nothing.
func wrongEntry(lang, done string, st *handoff.Stop) (field, msg string) {
	if st.OTPState != handoff.OTPPending || st.AttemptsLeft >= handoff.MaxCodeGuesses {
		return "", ""
	}
	field = fieldCode
	key, one := "Wrong code — %d attempts left.", "Wrong code — 1 attempt left."
	if done == "wrongdigits" {
		field, key, one = fieldDigits, "Wrong digits — %d attempts left.", "Wrong digits — 1 attempt left."
	} else if done != "wrong" {
		return "", ""
	}
	return field, countWords(lang, st.AttemptsLeft, one, key)
}

// countWords says a count in a language: the catalogue's sentence for one,
// else its sentence for n.
func countWords(lang string, n int, one, other string) string {
	if n == 1 {
		return locale.T(lang, one)
	}
	return locale.T(lang, other, n)
}

// Counted says a count in the page's language, for templates:
// {{$.Counted n "1 attempt left." "%d attempts left."}}.
func (v view) Counted(n int, one, other string) string { return countWords(v.Lang, n, one, other) }

// RouteDay writes a service date (YYYY-MM-DD) with its weekday and year in
// the page's language, or the text as it is when it is no date.
func (v view) RouteDay(date string) string {
	t, err := route.ParseDate(date)
	if err != nil {
		return date
	}
	return locale.LongDate(v.Lang, t)
}

// plural writes a count with its noun: "1 attempt", "2 attempts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// verifyCode checks the passcode the recipient gives. The code goes to the
// store and nowhere else: the redirect says only whether it was right.
func (s *Server) verifyCode(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	res, err := s.Doors.VerifyCode(r.Context(), visitorFrom(r.Context()).principal, id, r.PostForm.Get(fieldCode))
	s.checked(w, r, id, fieldCode, res, err)
}

// verifyDigits checks the last two digits of the recipient's phone, the
// shipper's opt-in fallback; the store refuses it where not allowed.
func (s *Server) verifyDigits(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	res, err := s.Doors.VerifyPhoneDigits(r.Context(), visitorFrom(r.Context()).principal, id, r.PostForm.Get(fieldDigits))
	s.checked(w, r, id, fieldDigits, res, err)
}

// checked answers a code or digits check: back to the stop, saying whether
// it delivered, how many attempts are left, or that the attempt ended.
func (s *Server) checked(w http.ResponseWriter, r *http.Request, stopID, field string, res *handoff.VerifyResult, err error) {
	if err != nil {
		s.stopRefused(w, r, stopID, err, field)
		return
	}
	done := "wrong"
	switch {
	case res.Correct && field == fieldDigits:
		done = "digits"
	case res.Correct:
		done = "verified"
	case res.AttemptEnded:
		done = "ended"
	case field == fieldDigits:
		done = "wrongdigits"
	}
	s.backToStop(w, r, stopID, done)
}

// resendCode has the day's code sent again to the recipient's own contacts
// on the label. The form has no field but its token: there is nowhere to
// type another number.
func (s *Server) resendCode(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	if _, err := s.Doors.ResendCode(r.Context(), visitorFrom(r.Context()).principal, id); err != nil {
		s.stopRefused(w, r, id, err)
		return
	}
	s.backToStop(w, r, id, "resent")
}

// deliverParcels completes every open parcel of the stop that needs no
// passcode, at the place chosen, with the photo taken when they were left
// unattended. Passcode parcels are left to the code. Whether a photo is
// needed, allowed or refused is the store's rule; this only carries it.
func (s *Server) deliverParcels(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	shot, err := formPhoto(r)
	if err != nil {
		s.fail(w, r, handoff.Internal(err, "read uploaded photo"))
		return
	}
	h := handoff.Handover{Place: r.PostForm.Get(fieldPlace), Photo: shot}
	if h.Signature, err = formSignature(r.PostForm); err != nil {
		s.deliveryRefused(w, r, id, err)
		return
	}
	if doc := r.PostForm.Get(fieldIDDocument); doc != "" {
		h.IDCheck = &handoff.IDCheck{DocumentType: doc, DateOfBirth: r.PostForm.Get(fieldDateOfBirth)}
	}
	if _, err := s.Doors.DeliverParcels(r.Context(), visitorFrom(r.Context()).principal, id, h); err != nil {
		s.deliveryRefused(w, r, id, err)
		return
	}
	s.backToStop(w, r, id, "delivered")
}

// formSignature returns the signature of a delivery form, nil when the
// form carries none. The drawing pad (signature.js) sends kind DRAWN and the
// image; without JavaScript the printed name alone is sent as the weaker
// typed signature, which the page says and the shipper may refuse.
func formSignature(f url.Values) (*handoff.Signature, error) {
	kind := f.Get(fieldSigKind)
	if kind == "" || (kind == handoff.SignatureTyped && strings.TrimSpace(f.Get(fieldSignerName)) == "" && f.Get(fieldSignerRel) == "") {
		return nil, nil
	}
	sig := &handoff.Signature{Kind: kind, SignerName: f.Get(fieldSignerName), Relationship: f.Get(fieldSignerRel)}
	if kind == handoff.SignatureDrawn {
		data, ok := strings.CutPrefix(f.Get(fieldSigImage), "data:image/png;base64,")
		img, err := base64.StdEncoding.DecodeString(data)
		if !ok || err != nil || len(img) == 0 {
			return nil, handoff.Errorf(handoff.EINVALID, "Ask the signer to sign on the pad first.")
		}
		sig.Image = img
	}
	return sig, nil
}

// formPhoto returns the photo of a delivery form, or nil when none was
// chosen: a browser sends an empty file field as a plain value.
func formPhoto(r *http.Request) ([]byte, error) {
	if r.MultipartForm == nil || len(r.MultipartForm.File[fieldPhoto]) == 0 {
		return nil, nil
	}
	f, err := r.MultipartForm.File[fieldPhoto][0].Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// recordAttempt records that the stop's open parcels could not be
// delivered, with the reason chosen.
func (s *Server) recordAttempt(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	if reason := r.PostForm.Get(fieldReason); r.PostForm.Get(fieldConfirm) != "yes" && slices.Contains(handoff.AttemptReasons, reason) {
		// Asked first: the form comes back as a question, and only its
		// confirmation records the attempt.
		s.confirmStop(w, r, id, "attempt", func(p *stopPage) {
			p.ConfirmReason = option{Value: reason, Label: codeWords(attemptReasonWords, reason)}
		})
		return
	}
	if _, err := s.Doors.RecordAttempt(r.Context(), visitorFrom(r.Context()).principal, id, r.PostForm.Get(fieldReason)); err != nil {
		s.stopRefused(w, r, id, err, fieldReason)
		return
	}
	s.backToStop(w, r, id, "attempted")
}

// backToStop redirects to the stop's page with the name of a message.
func (s *Server) backToStop(w http.ResponseWriter, r *http.Request, stopID, done string) {
	http.Redirect(w, r, "/associate/stops/"+url.PathEscape(stopID)+"?done="+done, http.StatusSeeOther)
}

// fieldWords say, for fields of the stop's forms, what a refused value must
// be. The store's own message names its API field; these name what the
// associate sees. A field not here (the photo) shows the store's message,
// which already speaks of the photo.
var fieldWords = map[string]string{
	fieldCode:   "Enter the 6-digit passcode the recipient gives you.",
	fieldDigits: "Enter the last two digits of the recipient's phone number.",
	fieldPlace:  "Choose where you left the parcels.",
	fieldReason: "Choose why the parcels could not be delivered.",
}

// stopRefused shows the stop page again with the service's refusal in words:
// next to the field for a wrong value of one of the form's fields, at the
// top for a refusal of the stop's state. A stop that is not the associate's
// is the 404 page, and a fault of ours the 500 page.
func (s *Server) stopRefused(w http.ResponseWriter, r *http.Request, stopID string, err error, fields ...string) {
	s.stopRefusedAt(w, r, stopID, err, nil, fields...)
}

// deliveryRefused shows the hand-over step again after a refused delivery,
// with the place and the other inputs as they were sent, the refusal next
// to its field: only the photo must be chosen again, as no browser lets a
// page fill in a file.
func (s *Server) deliveryRefused(w http.ResponseWriter, r *http.Request, stopID string, err error) {
	s.stopRefusedAt(w, r, stopID, err, func(p *stopPage) {
		p.Place, p.Form, p.Want = r.PostForm.Get(fieldPlace), r.PostForm, stepPhoto
		if !p.Stop.Needs.Photo || p.Place == "" {
			p.Want = stepPlace
		}
	}, fieldPlace, fieldPhoto)
}

// stopRefusedAt is stopRefused with prep, when not nil, setting up the step
// the page shows before the refusal is placed.
func (s *Server) stopRefusedAt(w http.ResponseWriter, r *http.Request, stopID string, err error, prep func(*stopPage), fields ...string) {
	code := handoff.ErrorCode(err)
	fe := handoff.ErrorFields(err)
	// A photo over the size or pixel limits is said at its field too: the
	// associate takes another.
	tooLarge := code == handoff.ETOOLARGE && len(fe) == 1 && slices.Contains(fields, fe[0].Field)
	if !inPlace(err) && !tooLarge {
		s.fail(w, r, err)
		return
	}
	page, lerr := s.loadStop(r, stopID)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	if prep != nil {
		prep(page)
	}
	status := pageStatus[code].status
	switch {
	case tooLarge:
		page.Errors[fe[0].Field] = "The photo is too large: take it again at a lower resolution, or choose a smaller one."
		status = http.StatusRequestEntityTooLarge
	case code == handoff.EINVALID && len(fe) == 1 && slices.Contains(fields, fe[0].Field) && fieldWords[fe[0].Field] != "":
		page.Errors[fe[0].Field] = fieldWords[fe[0].Field]
		if fe[0].Field == fieldPlace {
			page.Place, page.Want = "", stepPlace
		}
	case code == handoff.EINVALID && len(fe) == 1 && slices.Contains(fields, fe[0].Field):
		page.Errors[fe[0].Field] = fieldSentence("The "+fe[0].Field, fe[0].Message)
	default:
		page.Alert = handoff.ErrorMessage(err)
	}
	s.renderStop(w, r, status, page)
}

// scanBag checks the bag ID scanned or typed at the door against the stop's
// bagged parcels. A match goes back to the stop, which then shows the
// parcel's bag as scanned; a mismatch is said plainly on the stop page, as
// the associate must not deliver. The page never says which ID was
// expected: only the bag in hand can answer.
func (s *Server) scanBag(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	typed := strings.TrimSpace(r.PostForm.Get(fieldBagID))
	var err error
	if typed == "" {
		err = handoff.Invalid(handoff.FieldError{Field: fieldBagID, Message: "is required"})
	} else {
		_, err = s.Doors.ScanBag(r.Context(), visitorFrom(r.Context()).principal, id, typed)
	}
	if err == nil {
		s.backToStop(w, r, id, "scanned")
		return
	}
	if !inPlace(err) {
		s.fail(w, r, err)
		return
	}
	page, lerr := s.loadStop(r, id)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	code := handoff.ErrorCode(err)
	switch {
	case code == handoff.EINVALID:
		page.Errors[fieldBagID] = scanWords(typed)
		page.ScanTyped = clipField(typed)
	case code == handoff.ECONFLICT:
		// The only conflict of a scan: the bag is not the one sealed at
		// the station. The store has recorded it and opened a case. It is
		// said at the field, where the associate scans the next bag.
		page.Errors[fieldBagID] = "This bag does not belong to this parcel. Do not deliver; it has been reported."
	default:
		page.Alert = handoff.ErrorMessage(err)
	}
	s.renderStop(w, r, pageStatus[code].status, page)
}

// scanWords say what to do about a bag ID the store could not read: a
// misread one is caught by its check character and is simply scanned again.
func scanWords(typed string) string {
	if typed == "" {
		return "Scan the bag's barcode or type the ID printed under it."
	}
	if _, err := bag.Parse(typed); errors.Is(err, bag.ErrCheck) {
		return "That ID has a wrong character: it was misread or mistyped. Scan or type it again."
	}
	return "That is not a bag ID: a bag ID looks like TEB-XXXXX-XXXXX-C."
}

// refuseParcels records that the recipient refused bagged parcels whose
// seal strip shows it was opened: they go back to the station and customer
// service gets a case. The form names the parcels (one hidden field, or a
// box per parcel when several are bagged), so that a refusal never takes
// more than the associate chose.
func (s *Server) refuseParcels(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	ids := r.PostForm[fieldRefuse]
	var err error
	if len(ids) == 0 {
		err = handoff.Invalid(handoff.FieldError{Field: "trackingIds", Message: "choose the parcels the recipient refuses"})
	} else if r.PostForm.Get(fieldConfirm) != "yes" {
		// Asked first, naming the parcels; the store checks them when the
		// confirmation comes.
		if page, lerr := s.loadStop(r, id); lerr == nil && page.Loaded && !bagged(page, ids) {
			err = handoff.Invalid(handoff.FieldError{Field: "trackingIds", Message: "choose among the bagged parcels open here"})
		} else {
			s.confirmStop(w, r, id, "refuse", func(p *stopPage) { p.ConfirmIDs = ids })
			return
		}
	} else {
		_, err = s.Doors.RefuseParcels(r.Context(), visitorFrom(r.Context()).principal, id, ids)
	}
	if err == nil {
		s.backToStop(w, r, id, "refused")
		return
	}
	if !inPlace(err) {
		s.fail(w, r, err)
		return
	}
	page, lerr := s.loadStop(r, id)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	code := handoff.ErrorCode(err)
	if code == handoff.EINVALID {
		page.Errors[fieldRefuse] = "Choose the parcels the recipient refuses, among the bagged parcels still open here."
	} else {
		page.Alert = handoff.ErrorMessage(err)
	}
	s.renderStop(w, r, pageStatus[code].status, page)
}

// confirmStop shows the stop's page asking to confirm a refusal or a failed
// attempt: the same form again, with confirm=yes, and a way back. Nothing
// is recorded until it is sent.
func (s *Server) confirmStop(w http.ResponseWriter, r *http.Request, stopID, action string, prep func(*stopPage)) {
	page, err := s.loadStop(r, stopID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !page.Loaded || page.Open == 0 {
		// Nothing to confirm: the stop's state answers as the action would.
		page.Alert = "Nothing is open at this stop any more."
		if !page.Loaded {
			page.Alert = "Load the van first: the parcels of this route are not out for delivery yet."
		}
		s.renderStop(w, r, http.StatusConflict, page)
		return
	}
	page.Confirm = action
	prep(page)
	s.renderStop(w, r, http.StatusOK, page)
}

// bagged reports whether every parcel named is a bagged parcel still open
// at the stop: what the refusal form offers.
func bagged(page *stopPage, ids []string) bool {
	for _, id := range ids {
		if !slices.ContainsFunc(page.Bagged, func(p handoff.StopParcel) bool { return p.TrackingID == id }) {
			return false
		}
	}
	return true
}
