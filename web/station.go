package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/anomaly"
	"github.com/handoff-dev/handoff/locale"
)

// stationPage is the content of the station's home: the routes of one
// service date, the station's associates, and the forms to receive a parcel
// and plan a route.
type stationPage struct {
	Station    *handoff.Principal
	Date       string // the service date shown, YYYY-MM-DD
	Today      string
	DateError  string
	Routes     []routeRow
	Associates []handoff.AssociateStatus
	Flags      []flagRow // figures of the day that deserve a look, most outstanding first
	Flash      string
	Receive    receiveForm
	Plan       planForm
	Board      boardPage
}

// routeRow is one route of the station's list.
type routeRow struct {
	ID           string
	Associate    string
	Status       string
	Stops        int
	Flagged      int // passcode stops planned outside contact hours
	ContactHours string
	Unsealed     int // parcels still to seal in a bag before the van is loaded
}

// receiveForm is the receiving desk: what was typed, and what happened.
type receiveForm struct {
	TrackingID string
	Error      string
	Result     string // what became of the parcel, in words
	Warn       bool   // the result asks for action: the parcel goes back to the shipper
}

// planForm is the route form as the station filled it in, with what the
// store said about each field and each line of parcels.
type planForm struct {
	AssociateID string
	ServiceDate string
	Parcels     string            // the text area as typed
	Errors      map[string]string // form field name → message
	Lines       []string          // messages about single lines of Parcels
	Other       []string          // messages no field owns
	Warning     string            // the stops' times deserve a second look: confirm or change them
}

// Form field names of the station's forms.
const (
	fieldDate        = "date" // the service date the page shows, carried by each form
	fieldTrackingID  = "trackingId"
	fieldAssociate   = "associate"
	fieldServiceDate = "serviceDate"
	fieldParcels     = "parcels"
	fieldPlannedTime = "plannedTime"
)

// maxIDLen bounds an ID taken from a path; longer is no ID handoff issues,
// so it is "not found" without asking the store.
const maxIDLen = 64

// pathID returns a path parameter, or "" when it is too long to be an ID.
func pathID(r *http.Request, name string) string {
	if id := r.PathValue(name); len(id) <= maxIDLen {
		return id
	}
	return ""
}

// loadStation fills the station page for a service date ("" for today in
// the station's marketplace). A date the store refuses is shown as an error
// next to the date picker, with the forms still there.
func (s *Server) loadStation(r *http.Request, date string) (*stationPage, error) {
	return s.loadStationWith(r, date, waitingFilterOf(r.URL.Query()))
}

// loadStationWith is loadStation with the waiting list filtered by f.
func (s *Server) loadStationWith(r *http.Request, date string, f waitingFilter) (*stationPage, error) {
	ctx := r.Context()
	st := visitorFrom(ctx).principal
	today := s.Today(st.Market)
	date = strings.TrimSpace(date)
	if date == "" {
		date = today
	}
	page := &stationPage{Station: st, Date: clipField(date), Today: today, Plan: planForm{ServiceDate: date}}
	as, err := s.Stations.Associates(ctx, st)
	if err != nil {
		return nil, err
	}
	page.Associates = as
	routes, err := s.Stations.ListRoutes(ctx, st, date)
	if handoff.ErrorCode(err) == handoff.EINVALID {
		page.DateError = fieldSentence(locale.T(langOf(r), "The date"), firstFieldMessage(err))
		page.Plan.ServiceDate = today
		page.Date = today
		if err := s.loadBoard(r, page, nil, f); err != nil {
			return nil, err
		}
		page.Date = clipField(date)
		page.Board.Select = selectForm{ServiceDate: today, Selected: map[string]bool{}}
		return page, nil
	}
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealedParcels(r)
	if err != nil {
		return nil, err
	}
	rep, err := s.Stations.Anomalies(ctx, st, date)
	if err != nil {
		return nil, err
	}
	page.Flags = flagRows(rep)
	for _, rt := range routes {
		page.Routes = append(page.Routes, routeRow{
			ID: rt.ID, Associate: associateName(as, rt.AssociateID), Status: codeWords(routeStatusWords, rt.Status),
			Stops: len(rt.Stops), Flagged: flaggedStops(rt), ContactHours: rt.ContactHours, Unsealed: len(unsealedParcels(rt, sealed)),
		})
	}
	if err := s.loadBoard(r, page, routes, f); err != nil {
		return nil, err
	}
	page.Board.Select = selectForm{ServiceDate: date, Selected: map[string]bool{}}
	return page, nil
}

// flagRow is one figure of an associate that stands out from the station.
type flagRow struct{ AssociateID, Name, What string }

// maxFlagRows bounds the flags the board shows; the API has them all.
const maxFlagRows = 5

// flagRows words the report's top flags for the board.
func flagRows(rep *handoff.AnomalyReport) []flagRow {
	var out []flagRow
	for _, f := range rep.Flags {
		if len(out) == maxFlagRows {
			break
		}
		var what string
		switch f.Metric {
		case anomaly.OtpNotAvailableRate:
			what = fmt.Sprintf("%.0f%% of passcode stops ended without the code (%d stops); station median %.0f%%", 100*f.Value, f.Events, 100*f.Median)
		case anomaly.FallbackRate:
			what = fmt.Sprintf("%.0f%% of code entries used the phone-digits fallback (%d); station median %.0f%%", 100*f.Value, f.Events, 100*f.Median)
		case anomaly.BagMismatches:
			what = fmt.Sprintf("%d bag scans that matched no parcel; station median %g", f.Events, f.Median)
		case anomaly.Refusals:
			what = fmt.Sprintf("%d tampered bags refused; station median %g", f.Events, f.Median)
		case anomaly.GarageNotClosed:
			what = fmt.Sprintf("%d garage doors that did not close; station median %g", f.Events, f.Median)
		default:
			what = fmt.Sprintf("%s: %g (station median %g)", f.Metric, f.Value, f.Median)
		}
		out = append(out, flagRow{AssociateID: f.AssociateID, Name: f.Name, What: what})
	}
	return out
}

// firstFieldMessage returns the message of an EINVALID error's first field,
// or its whole message when it names none.
func firstFieldMessage(err error) string {
	if fe := handoff.ErrorFields(err); len(fe) > 0 {
		return fe[0].Message
	}
	return handoff.ErrorMessage(err)
}

// associateName returns the name of one of the station's associates, or its
// ID for one no longer listed.
func associateName(as []handoff.AssociateStatus, id string) string {
	if i := slices.IndexFunc(as, func(a handoff.AssociateStatus) bool { return a.ID == id }); i >= 0 {
		return as[i].Name
	}
	return id
}

// renderStation shows the station's home; a page with a refused date is a
// 400 whatever status the caller meant.
func (s *Server) renderStation(w http.ResponseWriter, r *http.Request, status int, page *stationPage) {
	if page.DateError != "" && status == http.StatusOK {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, "station", newView(r, page.Station.Name, "home", page))
}

// stationHome shows the routes of a service date (?date=, today by default)
// and the station's associates, with the receive and plan forms. After an
// unlock it says so, but only when the associate is indeed unlocked, so that
// a crafted link cannot claim it.
func (s *Server) stationHome(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := s.loadStation(r, q.Get(fieldDate))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if id := q.Get("unlocked"); id != "" {
		for _, a := range page.Associates {
			if a.ID == id && !a.Locked {
				page.Flash = a.Name + " can check passcodes again."
			}
		}
	}
	s.renderStation(w, r, http.StatusOK, page)
}

// receiveParcel records a parcel arriving at the station and shows what
// became of it on the station's page. The answer is rendered rather than
// redirected to: it is the store's own result, which a redirect could only
// carry in a link anyone could forge; sending the form again is harmless,
// as the store refuses a parcel that is already in.
func (s *Server) receiveParcel(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	id := strings.TrimSpace(r.PostForm.Get(fieldTrackingID))
	var form receiveForm
	status := http.StatusOK
	if id == "" {
		form.Error, status = "Enter the tracking ID of the parcel.", http.StatusBadRequest
	} else {
		res, err := s.Stations.ReceiveParcel(r.Context(), st, id)
		switch code := handoff.ErrorCode(err); code {
		case "":
			form.Result, form.Warn = receivedWords(res)
		case handoff.ENOTFOUND, handoff.ECONFLICT, handoff.EINVALID:
			// A parcel the station cannot take is an answer to the form,
			// not a missing page.
			form.TrackingID, form.Error, status = clipField(id), handoff.ErrorMessage(err), pageStatus[code].status
		default:
			s.fail(w, r, err)
			return
		}
	}
	page, err := s.loadStation(r, r.PostForm.Get(fieldDate))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Receive = form
	s.renderStation(w, r, status, page)
}

// receivedWords says what became of a received parcel, and whether that
// asks the station to act.
func receivedWords(res *handoff.Received) (string, bool) {
	switch {
	case res.Stage == handoff.StageHeld:
		return fmt.Sprintf("Parcel %s is back and held for customer service, who decide what becomes of it: keep it aside.", res.TrackingID), true
	case res.ReturnToShipper:
		return fmt.Sprintf("Parcel %s is back after %d failed delivery days and goes back to the shipper: set it aside for the return.",
			res.TrackingID, res.FailedDays), true
	case res.Returned && res.NextAttemptDate != "":
		return fmt.Sprintf("Parcel %s is back from a failed attempt. It can go out again on %s.", res.TrackingID, formatDate(res.NextAttemptDate)), false
	case res.Returned:
		return fmt.Sprintf("Parcel %s is back from a failed attempt and waits at the station.", res.TrackingID), false
	}
	return fmt.Sprintf("Parcel %s arrived at the station and can go on a route.", res.TrackingID), false
}

// planRoute plans a route from the form: an associate, a service date and
// one parcel per line, each optionally followed by its planned time. A
// refused plan stores nothing and comes back with each message next to its
// field, and each parcel's message naming its line.
func (s *Server) planRoute(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	f := r.PostForm
	form := planForm{
		AssociateID: clipField(strings.TrimSpace(f.Get(fieldAssociate))),
		ServiceDate: clipField(strings.TrimSpace(f.Get(fieldServiceDate))),
		Parcels:     f.Get(fieldParcels),
		Errors:      map[string]string{},
	}
	parcels, lines, lineErrs := parseRouteLines(form.Parcels)
	status := http.StatusBadRequest
	if len(lineErrs) > 0 {
		form.Lines = lineErrs
	} else {
		nr := handoff.NewRoute{AssociateID: strings.TrimSpace(f.Get(fieldAssociate)), ServiceDate: strings.TrimSpace(f.Get(fieldServiceDate)), Parcels: parcels}
		var warnings []handoff.TimeWarning
		var err error
		if f.Get(fieldConfirm) != "1" {
			warnings, err = s.Stations.PlanWarnings(r.Context(), st, nr)
		}
		var rt *handoff.Route
		if err == nil && len(warnings) > 0 {
			form.Warning, status = warningWords(langOf(r), warnings), http.StatusOK
		} else if err == nil {
			rt, err = s.Stations.CreateRoute(r.Context(), st, nr)
		}
		switch code := handoff.ErrorCode(err); {
		case form.Warning != "":
		case code == "":
			http.Redirect(w, r, "/station/routes/"+url.PathEscape(rt.ID)+"?done=planned", http.StatusSeeOther)
			return
		case code == handoff.EINVALID:
			for _, fe := range handoff.ErrorFields(err) {
				form.addError(fe, parcels, lines)
			}
			if len(handoff.ErrorFields(err)) == 0 {
				form.Other = append(form.Other, handoff.ErrorMessage(err))
			}
		case code == handoff.ECONFLICT:
			// Another request took one of the parcels meanwhile.
			form.Other, status = append(form.Other, handoff.ErrorMessage(err)), http.StatusConflict
		default:
			s.fail(w, r, err)
			return
		}
	}
	page, err := s.loadStation(r, f.Get(fieldDate))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Plan = form
	s.renderStation(w, r, status, page)
}

// parseRouteLines reads the plan form's parcels: one per line, a tracking ID
// optionally followed by a planned time ("HO7K… 07:30"); blank lines are
// skipped. lines[i] is the line (from 1) parcels[i] came from, so that the
// store's messages about parcels[i] can name it. A line with more than two
// words is answered here, as no parcel could be made of it.
func parseRouteLines(text string) (parcels []handoff.RouteParcel, lines []int, errs []string) {
	for i, raw := range strings.Split(text, "\n") {
		words := strings.Fields(raw)
		switch len(words) {
		case 0:
			continue
		case 1:
			parcels = append(parcels, handoff.RouteParcel{TrackingID: words[0]})
		case 2:
			parcels = append(parcels, handoff.RouteParcel{TrackingID: words[0], PlannedTime: words[1]})
		default:
			errs = append(errs, fmt.Sprintf("Line %d: write one tracking ID, then, if you want, the planned time as HH:MM.", i+1))
			continue
		}
		lines = append(lines, i+1)
	}
	return parcels, lines, errs
}

// addError puts one of the store's field errors next to the form field it
// is about: "associateId" by the associate, "serviceDate" by the date,
// "parcels[2].trackingId" or "trackingIds[2]" on the parcels' line.
func (f *planForm) addError(fe handoff.FieldError, parcels []handoff.RouteParcel, lines []int) {
	switch field := fe.Field; {
	case field == "associateId":
		f.Errors[fieldAssociate] = fieldSentence("The associate", fe.Message)
	case field == "serviceDate":
		f.Errors[fieldServiceDate] = fieldSentence("The service date", fe.Message)
	case field == "parcels" || field == "trackingIds":
		f.Errors[fieldParcels] = fieldSentence("The parcel list", fe.Message)
	case strings.HasPrefix(field, "parcels[") || strings.HasPrefix(field, "trackingIds["):
		prefix := field[:strings.IndexByte(field, '[')+1]
		if i, ok := index(field, prefix); ok && i < len(lines) {
			subject := fmt.Sprintf("Line %d, %s", lines[i], clipField(parcels[i].TrackingID))
			if strings.HasSuffix(field, ".plannedTime") {
				subject += ": the time"
			}
			f.Lines = append(f.Lines, fieldSentence(subject, fe.Message))
			return
		}
		f.Other = append(f.Other, fieldSentence(field, fe.Message))
	default:
		f.Other = append(f.Other, fieldSentence(field, fe.Message))
	}
}

// routePage is the content of a route's page.
type routePage struct {
	Route     *handoff.Route
	Associate string
	Status    string
	Flagged   int // passcode stops still to be moved into contact hours
	Flash     string
	Stops     []stationStop
	// Unsealed are the parcels that need a tamper-evident bag and have
	// none yet: the van cannot be loaded until they are sealed.
	Unsealed []string
	ToSeal   map[string]bool // Unsealed as a set, to mark each parcel
}

// stationStop is one stop of the route page with its move form.
type stationStop struct {
	Stop    handoff.Stop
	Flag    string // the contact-hours warning, "" when the time is fine
	Open    bool   // a parcel is still to be delivered: the stop may be moved
	Time    string // the move field: the planned time, or what was typed when refused
	Error   string
	Warning string // the time typed deserves a second look: confirm or change it
}

// routeDetail shows one of the station's routes, stop by stop.
func (s *Server) routeDetail(w http.ResponseWriter, r *http.Request) {
	page, err := s.stationRoute(r, pathID(r, "routeId"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if q.Get("done") == "planned" {
		page.Flash = stopsPlanned(langOf(r), len(page.Stops))
	}
	if id := q.Get("reordered"); id != "" {
		for _, st := range page.Stops {
			if st.Stop.ID == id {
				page.Flash = locale.T(langOf(r), "The stop is now stop %[1]d, at %[2]s.", st.Stop.Position, st.Stop.PlannedTime)
			}
		}
	}
	if id := q.Get("moved"); id != "" {
		for _, st := range page.Stops {
			if st.Stop.ID == id {
				page.Flash = fmt.Sprintf("Stop %d is now planned at %s.", st.Stop.Position, st.Stop.PlannedTime)
			}
		}
	}
	s.render(w, r, http.StatusOK, "route", newView(r, "Route of "+formatDate(page.Route.ServiceDate), "home", page))
}

// stationRoute fills the route page; a route of another station is
// ENOTFOUND.
func (s *Server) stationRoute(r *http.Request, routeID string) (*routePage, error) {
	st := visitorFrom(r.Context()).principal
	if routeID == "" {
		return nil, handoff.NotFound("Route")
	}
	rt, err := s.Stations.FindRoute(r.Context(), st, routeID)
	if err != nil {
		return nil, err
	}
	as, err := s.Stations.Associates(r.Context(), st)
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealedParcels(r)
	if err != nil {
		return nil, err
	}
	page := &routePage{Route: rt, Associate: associateName(as, rt.AssociateID), Status: codeWords(routeStatusWords, rt.Status), Flagged: flaggedStops(rt),
		Unsealed: unsealedParcels(rt, sealed), ToSeal: map[string]bool{}}
	for _, id := range page.Unsealed {
		page.ToSeal[id] = true
	}
	for _, stop := range rt.Stops {
		open := slices.ContainsFunc(stop.Parcels, func(p handoff.StopParcel) bool { return p.Outcome == handoff.OutcomeOpen })
		page.Stops = append(page.Stops, stationStop{Stop: stop, Flag: contactFlag(stop, rt.ContactHours, true), Time: stop.PlannedTime, Open: open})
	}
	return page, nil
}

// moveStop changes a stop's planned time, typically to bring a passcode
// stop inside contact hours. A refused time comes back next to the stop's
// field.
func (s *Server) moveStop(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	routeID, stopID := pathID(r, "routeId"), pathID(r, "stopId")
	if routeID == "" || stopID == "" {
		s.fail(w, r, handoff.NotFound("Stop"))
		return
	}
	typed := strings.TrimSpace(r.PostForm.Get(fieldPlannedTime))
	var warnings []handoff.TimeWarning
	var err error
	if r.PostForm.Get(fieldConfirm) != "1" {
		warnings, err = s.Stations.MoveWarnings(r.Context(), st, routeID, stopID, typed)
	}
	if err == nil && len(warnings) > 0 {
		s.renderStopForm(w, r, http.StatusOK, routeID, stopID, typed, func(st *stationStop) { st.Warning = moveWarningWords(langOf(r), warnings) })
		return
	}
	if err == nil {
		_, err = s.Stations.MoveStop(r.Context(), st, routeID, stopID, typed)
	}
	if handoff.ErrorCode(err) == handoff.EINVALID {
		s.renderStopForm(w, r, http.StatusBadRequest, routeID, stopID, typed, func(st *stationStop) {
			st.Error = fieldSentence(locale.T(langOf(r), "The planned time"), firstFieldMessage(err))
		})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/station/routes/"+url.PathEscape(routeID)+"?moved="+url.QueryEscape(stopID)+"#stop-"+url.PathEscape(stopID), http.StatusSeeOther)
}

// renderStopForm shows the route page again with what was typed in a
// stop's move field and, by note, the error or warning next to it.
func (s *Server) renderStopForm(w http.ResponseWriter, r *http.Request, status int, routeID, stopID, typed string, note func(*stationStop)) {
	page, err := s.stationRoute(r, routeID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range page.Stops {
		if page.Stops[i].Stop.ID == stopID {
			page.Stops[i].Time = clipField(typed)
			note(&page.Stops[i])
		}
	}
	s.render(w, r, status, "route", newView(r, "Route of "+formatDate(page.Route.ServiceDate), "home", page))
}

// unlockAssociate lifts the wrong-code lock of one of the station's
// associates and goes back to the list it was pressed on.
func (s *Server) unlockAssociate(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	id := pathID(r, "associateId")
	if id == "" {
		s.fail(w, r, handoff.NotFound("Associate"))
		return
	}
	if err := s.Stations.UnlockAssociate(r.Context(), st, id); err != nil {
		s.fail(w, r, err)
		return
	}
	q := url.Values{"unlocked": {id}}
	if d := strings.TrimSpace(r.PostForm.Get(fieldDate)); d != "" {
		q.Set(fieldDate, d)
	}
	http.Redirect(w, r, "/station?"+q.Encode(), http.StatusSeeOther)
}
