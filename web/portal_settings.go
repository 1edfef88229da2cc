package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/market"
)

// The portal's settings page: the photo opt-out, the recipient's garage
// openers and their log. Device credentials go one way, from the enrolment
// form to the store, which seals them: no page, redirect or log line shows
// them again, and a form shown back after an error leaves their fields
// empty.

// Form field names of the enrolment form: the store's own field names, so
// that its errors land next to the right field.
const (
	enrolKind         = "kind"
	enrolLabel        = "label"
	enrolAddressLine1 = "addressLine1"
	enrolPostalCode   = "postalCode"
	enrolURL          = "url"
	enrolDeviceKey    = "deviceKey"
	enrolToken        = "token"
	enrolEntityID     = "entityId"
	enrolLat          = "lat"
	enrolLon          = "lon"
	// enrolDevice is where a refusal of the connection details as a whole
	// is shown: the store names the kind, the recipient fixes the details.
	enrolDevice = "device"
)

// portalSettingsPage is the content of the portal's settings page.
type portalSettingsPage struct {
	Contact     string
	Flash       string
	PhotoOptOut bool
	Garages     []portalGarageRow
	Enrol       portalEnrolForm
	Log         []portalLogRow
}

// portalGarageRow is one of the recipient's openers.
type portalGarageRow struct {
	handoff.Garage
	KindName string
}

// portalEnrolForm is the enrolment form as the recipient filled it in, without
// the secrets, and what the store said about it.
type portalEnrolForm struct {
	Kinds                                                []option
	Kind, Label, AddressLine1, PostalCode, URL, EntityID string
	Lat, Lon                                             string
	Errors                                               map[string]string // form field name → message
	Alert                                                string
	Refused                                              bool // shown back after an error: the secrets must be typed again
}

// portalLogRow is one step of the garage log, in words.
type portalLogRow struct {
	At, When, Garage, Step, Detail string
	Alarm                          bool // a step that needs the recipient's attention
}

// portalAlarmSteps are the log steps shown as alerts: the door did not move as
// asked, or access was cancelled.
var portalAlarmSteps = []string{"failed", "close_failed", "revoked"}

// portalDetailSteps are the log steps whose detail says more than the step
// itself: what the door read, and why access was cancelled. The others'
// details only repeat the step.
var portalDetailSteps = []string{"enrolled", "tested", "revoked"}

// portalGarageKinds are the kinds of opener the enrolment form offers. The
// simulator moves no real door, so it is offered only on a development
// server (one whose messages go to the dev outbox): a recipient of a real
// service must not switch key delivery on for a door that does not exist.
func (s *Server) portalGarageKinds() []string {
	kinds := []string{garage.KindOpenGarage, garage.KindHomeAssistant}
	if s.DevOutbox {
		kinds = append(kinds, garage.KindSimulator)
	}
	return kinds
}

// portalKindWords name each kind of garage opener.
var portalKindWords = map[string]string{
	garage.KindOpenGarage:    "OpenGarage",
	garage.KindHomeAssistant: "Home Assistant",
	garage.KindSimulator:     "Simulator (demonstration: no real door)",
}

// portalSettings shows the settings page.
func (s *Server) portalSettings(w http.ResponseWriter, r *http.Request) {
	page, events, err := s.loadPortalSettings(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Flash = portalSettingsFlash(r.URL.Query(), page, events)
	s.render(w, r, http.StatusOK, "portal_settings", portalView(r, "Your settings", page))
}

// loadPortalSettings fills the settings page, returning the raw log too
// for portalSettingsFlash to check against.
func (s *Server) loadPortalSettings(r *http.Request) (*portalSettingsPage, []handoff.GarageEvent, error) {
	ctx := r.Context()
	contact := recipientFrom(ctx).contact
	prefs, err := s.Recipients.RecipientPrefs(ctx, contact)
	if err != nil {
		return nil, nil, err
	}
	garages, err := s.Garages.RecipientGarages(ctx, contact)
	if err != nil {
		return nil, nil, err
	}
	events, err := s.Garages.GarageLog(ctx, contact)
	if err != nil {
		return nil, nil, err
	}
	page := &portalSettingsPage{Contact: contact, PhotoOptOut: prefs.PhotoOptOut, Enrol: portalEnrolForm{Errors: map[string]string{}}}
	page.Enrol.Kinds = options(s.portalGarageKinds(), portalKindWords)
	labels := map[string]string{}
	for _, g := range garages {
		page.Garages = append(page.Garages, portalGarageRow{Garage: g, KindName: codeWords(portalKindWords, g.Kind)})
		labels[g.ID] = g.Label
	}
	if len(events) > 0 {
		m, err := s.portalMarket(r, contact)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range events {
			row := portalLogRow{At: e.At.Format("2006-01-02T15:04:05Z07:00"), When: formatTime(e.At, m),
				Garage: labels[e.GarageID], Step: codeWords(portalStepWords, e.Step), Alarm: slices.Contains(portalAlarmSteps, e.Step)}
			if row.Garage == "" {
				row.Garage = "A removed garage"
			}
			if slices.Contains(portalDetailSteps, e.Step) {
				row.Detail = e.Detail
			}
			page.Log = append(page.Log, row)
		}
	}
	return page, events, nil
}

// portalMarket returns the marketplace whose clock the recipient lives
// by, for the times of the garage log (which carries no place): the
// country of a mobile number, or else where their newest parcel last moved.
// A recipient with neither gets the zero Market, which formatTime shows in
// UTC and says so.
func (s *Server) portalMarket(r *http.Request, contact string) (market.Market, error) {
	if strings.HasPrefix(contact, "+") {
		for _, m := range market.All() {
			if strings.HasPrefix(contact[1:], m.CallingCode) {
				return m, nil
			}
		}
	}
	ps, err := s.Recipients.RecipientParcels(r.Context(), contact)
	if err != nil || len(ps) == 0 || len(ps[0].Events) == 0 {
		return market.Market{}, err
	}
	m, _ := market.Lookup(ps[0].Events[len(ps[0].Events)-1].Location.CountryCode)
	return m, nil
}

// portalSettingsFlash returns the message the settings page shows after a form
// redirected to it (?done=, with ?garage= for a garage's forms). Each is
// shown only when the page's state agrees, so that a crafted link cannot
// make the page claim what did not happen; a test's result is read back
// from the garage log.
func portalSettingsFlash(q url.Values, page *portalSettingsPage, events []handoff.GarageEvent) string {
	id := q.Get(portalGarage)
	var g *portalGarageRow
	if i := slices.IndexFunc(page.Garages, func(g portalGarageRow) bool { return g.ID == id }); i >= 0 {
		g = &page.Garages[i]
	}
	lastStep := func(step string) string {
		if i := slices.IndexFunc(events, func(e handoff.GarageEvent) bool { return e.GarageID == id && e.Step == step }); i >= 0 {
			return events[i].Detail
		}
		return ""
	}
	switch q.Get("done") {
	case "photos":
		if page.PhotoOptOut {
			return "Saved: no photo will be taken when a parcel is left for you."
		}
		return "Saved: when a parcel is left for you, the driver takes a photo of where it is."
	case "enrolled":
		if d := lastStep("enrolled"); g != nil && d != "" {
			return "Garage “" + g.Label + "” enrolled. The test reached it: " + d + "."
		}
	case "tested":
		if d := lastStep("tested"); g != nil && d != "" {
			return "Test of “" + g.Label + "”: " + d + "."
		}
	case "key-on":
		if g != nil && g.KeyDelivery {
			return "Key delivery is on for “" + g.Label + "”."
		}
	case "key-off":
		if g != nil && !g.KeyDelivery {
			return "Key delivery is off for “" + g.Label + "”. Any access the driver had asked for was cancelled at once."
		}
	case "removed":
		// A removed garage is no longer listed, but its steps stay in the
		// log: that tells it was the recipient's.
		if id != "" && g == nil && slices.ContainsFunc(events, func(e handoff.GarageEvent) bool { return e.GarageID == id }) {
			return "Garage removed. Any access the driver had asked for was cancelled at once."
		}
	}
	return ""
}

// backToPortalSettings redirects to the settings page with the name of a message
// and, for a garage's forms, the garage, whose entry it scrolls to.
func backToPortalSettings(w http.ResponseWriter, r *http.Request, done, garageID string) {
	q := url.Values{"done": {done}}
	frag := ""
	if garageID != "" {
		q.Set(portalGarage, garageID)
		frag = "#garage-" + url.PathEscape(garageID)
	}
	http.Redirect(w, r, "/portal/settings?"+q.Encode()+frag, http.StatusSeeOther)
}

// portalPhotoPref saves the photo opt-out, keeping the recipient's other
// choices as they were.
func (s *Server) portalPhotoPref(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	contact := recipientFrom(ctx).contact
	prefs, err := s.Recipients.RecipientPrefs(ctx, contact)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	prefs.PhotoOptOut = r.PostForm.Get(portalOptOut) == "on"
	if err := s.Recipients.SetRecipientPrefs(ctx, contact, prefs); err != nil {
		s.fail(w, r, err)
		return
	}
	backToPortalSettings(w, r, "photos", "")
}

// portalEnrolWords say what a refused field of the enrolment form must be,
// in the recipient's terms rather than the store's.
var portalEnrolWords = map[string]string{
	enrolLabel:        "Give the garage a name, such as Home.",
	enrolAddressLine1: "Enter the first line of the address exactly as it is on your parcels' labels.",
	enrolPostalCode:   "Enter the postal code exactly as it is on your parcels' labels.",
	enrolURL:          "Enter the opener's address, starting with http:// or https://.",
	enrolKind:         "Choose the kind of opener.",
	enrolLat:          "Give both latitude and longitude in decimal degrees (for example 51.5281 and -0.0558), or leave both empty.",
}

// portalKindNeeds say what each kind of opener needs, for a refusal of its
// connection details as a whole.
var portalKindNeeds = map[string]string{
	garage.KindOpenGarage:    "OpenGarage needs its address and its device key.",
	garage.KindHomeAssistant: "Home Assistant needs its address, a long-lived access token and the cover's entity ID.",
}

// portalEnrol enrols a garage opener. The store reads the door once before
// it keeps anything, so wrong details are caught here, on the form.
func (s *Server) portalEnrol(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	form := portalEnrolForm{Errors: map[string]string{}, Refused: true,
		Kind: f.Get(enrolKind), Label: clipField(f.Get(enrolLabel)), AddressLine1: clipField(f.Get(enrolAddressLine1)),
		PostalCode: clipField(f.Get(enrolPostalCode)), URL: clipField(f.Get(enrolURL)), EntityID: clipField(f.Get(enrolEntityID)),
		Lat: clipField(f.Get(enrolLat)), Lon: clipField(f.Get(enrolLon))}
	in := handoff.GarageEnrollment{Kind: form.Kind, Label: f.Get(enrolLabel), AddressLine1: f.Get(enrolAddressLine1), PostalCode: f.Get(enrolPostalCode),
		URL: f.Get(enrolURL), DeviceKey: f.Get(enrolDeviceKey), Token: f.Get(enrolToken), EntityID: f.Get(enrolEntityID)}
	lat, lon, posOK := enrolPosition(form.Lat, form.Lon)
	in.Lat, in.Lon = lat, lon
	switch {
	case !slices.Contains(s.portalGarageKinds(), form.Kind):
		form.Errors[enrolKind] = portalEnrolWords[enrolKind]
	case !posOK:
		form.Errors[enrolLat] = portalEnrolWords[enrolLat]
	}
	if len(form.Errors) > 0 {
		s.enrolRefused(w, r, http.StatusBadRequest, form)
		return
	}
	g, err := s.Garages.EnrollGarage(r.Context(), recipientFrom(r.Context()).contact, in)
	if err == nil {
		backToPortalSettings(w, r, "enrolled", g.ID)
		return
	}
	switch handoff.ErrorCode(err) {
	case handoff.EINVALID:
		for _, fe := range handoff.ErrorFields(err) {
			switch {
			case fe.Field == enrolKind && portalKindNeeds[form.Kind] != "":
				form.Errors[enrolDevice] = portalKindNeeds[form.Kind]
			case portalEnrolWords[fe.Field] != "":
				form.Errors[fe.Field] = portalEnrolWords[fe.Field]
			default:
				form.Alert = handoff.ErrorMessage(err)
			}
		}
		if len(form.Errors) == 0 && form.Alert == "" {
			form.Alert = handoff.ErrorMessage(err)
		}
	case handoff.EUNAVAILABLE:
		form.Alert = handoff.ErrorMessage(err)
	default:
		s.fail(w, r, err)
		return
	}
	s.enrolRefused(w, r, pageStatus[handoff.ErrorCode(err)].status, form)
}

// enrolPosition reads the optional latitude and longitude: both empty is no
// enrolPosition; ok is false for one without the other or a value that is not a
// number. The store checks the ranges.
func enrolPosition(lat, lon string) (*float64, *float64, bool) {
	lat, lon = strings.TrimSpace(lat), strings.TrimSpace(lon)
	if lat == "" && lon == "" {
		return nil, nil, true
	}
	a, errA := strconv.ParseFloat(lat, 64)
	b, errB := strconv.ParseFloat(lon, 64)
	if errA != nil || errB != nil {
		return nil, nil, false
	}
	return &a, &b, true
}

// enrolRefused shows the settings page again with the enrolment form as it
// was sent, minus its secrets, and what was wrong.
func (s *Server) enrolRefused(w http.ResponseWriter, r *http.Request, status int, form portalEnrolForm) {
	page, _, err := s.loadPortalSettings(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form.Kinds = page.Enrol.Kinds
	page.Enrol = form
	s.render(w, r, status, "portal_settings", portalView(r, "Your settings", page))
}

// portalTestGarage reads the door of one of the recipient's openers now;
// the store logs the result, which the page then shows.
func (s *Server) portalTestGarage(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "garageId")
	if _, err := s.Garages.TestGarage(r.Context(), recipientFrom(r.Context()).contact, id); err != nil {
		s.fail(w, r, err)
		return
	}
	backToPortalSettings(w, r, "tested", id)
}

// portalGarageKey switches key delivery on or off for every parcel to a
// garage's address. Off takes effect at once: the store revokes any grant
// not yet used in the same transaction.
func (s *Server) portalGarageKey(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "garageId")
	on := r.PostForm.Get(portalOn) == "1"
	if err := s.Garages.SetKeyDelivery(r.Context(), recipientFrom(r.Context()).contact, id, on); err != nil {
		s.fail(w, r, err)
		return
	}
	done := "key-off"
	if on {
		done = "key-on"
	}
	backToPortalSettings(w, r, done, id)
}

// portalRemoveGarage removes an opener; the store forgets its credentials
// and revokes its grants.
func (s *Server) portalRemoveGarage(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "garageId")
	if err := s.Garages.RemoveGarage(r.Context(), recipientFrom(r.Context()).contact, id); err != nil {
		s.fail(w, r, err)
		return
	}
	backToPortalSettings(w, r, "removed", id)
}
