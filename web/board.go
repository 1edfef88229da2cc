package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/route"
)

// boardPage is the station board's own part of the station's home: the
// day's counts, each associate's progress, what needs the station's
// attention, and the parcels waiting for a route with the form that plans
// a route from a selection of them.
type boardPage struct {
	Counts     []countTile
	Associates []associateBar
	Locked     []handoff.AssociateStatus
	Stops      []flaggedStop // passcode stops planned outside contact hours, to move
	Held       int
	Filter     waitingFilter
	Waiting    []handoff.WaitingParcel
	Select     selectForm
}

// countTile is one count of the board.
type countTile struct {
	ID, Label string
	N         int
	Tone      string // "", "ok", "bad" or "warn": how the count reads
}

// associateBar is an associate's day as a stacked bar: delivered, failed,
// still to do, as widths in a 0–100 view box.
type associateBar struct {
	handoff.AssociateDay
	Locked              bool
	DoneW, FailW, ToDoW float64
	Label               string // the bar in words, for screen readers and as the caption
}

// flaggedStop is a passcode stop planned outside contact hours.
type flaggedStop struct {
	RouteID, StopID, Associate, Name, Time string
}

// waitingFilter is the waiting list's filter as typed, with its errors.
type waitingFilter struct {
	Postcode, Needs string
	Errors          map[string]string
}

// Query returns the filter as a query string, to keep it across forms.
func (f waitingFilter) Query() string {
	q := url.Values{}
	if f.Postcode != "" {
		q.Set(fieldPostcode, f.Postcode)
	}
	if f.Needs != "" {
		q.Set(fieldNeeds, f.Needs)
	}
	return q.Encode()
}

// selectForm is the form that plans a route from the parcels ticked in the
// waiting list.
type selectForm struct {
	AssociateID, ServiceDate, StartTime string
	Selected                            map[string]bool
	Errors                              map[string]string // field → message; a tracking ID for a parcel's own
	Warnings                            map[string]string // field → warning the station may confirm
	Other                               []string
}

// Form fields of the board.
const (
	fieldPostcode  = "postcode"
	fieldNeeds     = "needs"
	fieldParcel    = "parcel" // one per ticked parcel
	fieldStartTime = "startTime"
)

// loadBoard fills the board part of page for its date, with the waiting
// list filtered by f. A filter the service refuses shows its error at the
// field and an empty list.
func (s *Server) loadBoard(r *http.Request, page *stationPage, routes []*handoff.Route, f waitingFilter) error {
	ctx, lang := r.Context(), langOf(r)
	st := page.Station
	b, err := s.Stations.Board(ctx, st, page.Date)
	if err != nil {
		return err
	}
	t := func(k string) string { return locale.T(lang, k) }
	c := b.Counts
	page.Board.Counts = []countTile{
		{"waiting", t("Waiting for a route"), c.Waiting, ""},
		{"planned", t("On routes, van not loaded"), c.Planned, ""},
		{"out", t("Out for delivery"), c.Out, ""},
		{"delivered", t("Delivered"), c.Delivered, "ok"},
		{"failed", t("Failed attempts"), c.Failed, "bad"},
		{"returning", t("Returning to the shipper"), c.Returning, "warn"},
		{"held", t("Held for a case"), c.Held, "warn"},
	}
	page.Board.Held = c.Held
	locked := map[string]bool{}
	for _, a := range page.Associates {
		if a.Locked {
			locked[a.ID] = true
			page.Board.Locked = append(page.Board.Locked, a)
		}
	}
	for _, a := range b.Associates {
		page.Board.Associates = append(page.Board.Associates, newAssociateBar(lang, a, locked[a.AssociateID]))
	}
	for _, rt := range routes {
		for _, stop := range rt.Stops {
			if contactFlag(stop, "", true) != "" {
				page.Board.Stops = append(page.Board.Stops, flaggedStop{RouteID: rt.ID, StopID: stop.ID, Associate: associateName(page.Associates, rt.AssociateID),
					Name: stop.RecipientName, Time: stop.PlannedTime})
			}
		}
	}
	f.Errors = map[string]string{}
	page.Board.Filter = f // its Errors filled below
	waiting, err := s.Stations.Waiting(ctx, st, handoff.WaitingFilter{PostcodePrefix: f.Postcode, Needs: f.Needs})
	if handoff.ErrorCode(err) == handoff.EINVALID {
		for _, fe := range handoff.ErrorFields(err) {
			f.Errors[fe.Field] = fieldSentence(t(filterSubjects[fe.Field]), fe.Message)
		}
		return nil
	}
	if err != nil {
		return err
	}
	page.Board.Waiting = waiting
	return nil
}

// filterSubjects name the filter's fields in an error.
var filterSubjects = map[string]string{fieldPostcode: "The postcode", fieldNeeds: "What the parcel needs"}

// newAssociateBar draws an associate's day: an associate without parcels
// gets an empty bar.
func newAssociateBar(lang string, a handoff.AssociateDay, locked bool) associateBar {
	bar := associateBar{AssociateDay: a, Locked: locked}
	if n := a.Total(); n > 0 {
		w := func(k int) float64 { return float64(k) * 100 / float64(n) }
		bar.DoneW, bar.FailW, bar.ToDoW = w(a.Delivered), w(a.Failed), w(a.ToDo)
	}
	bar.Label = locale.T(lang, "Delivered %[1]d · failed %[2]d · to do %[3]d", a.Delivered, a.Failed, a.ToDo)
	return bar
}

// Offset is where the failed segment starts; the to-do one starts at
// FailEnd.
func (a associateBar) FailEnd() float64 { return a.DoneW + a.FailW }

// waitingFilterOf reads the waiting list's filter from a form or query.
func waitingFilterOf(v url.Values) waitingFilter {
	return waitingFilter{Postcode: clipField(strings.TrimSpace(v.Get(fieldPostcode))), Needs: clipField(strings.TrimSpace(v.Get(fieldNeeds)))}
}

// planSelected plans a route from the parcels ticked in the waiting list,
// through the same use-case as the API. Stops that would be planned in the
// past or, needing a passcode, outside contact hours are shown as a warning
// at the start time first; the station confirms or changes the time. A
// refused plan stores nothing and keeps the selection.
func (s *Server) planSelected(w http.ResponseWriter, r *http.Request) {
	st, lang := visitorFrom(r.Context()).principal, langOf(r)
	f := r.PostForm
	form := selectForm{
		AssociateID: clipField(strings.TrimSpace(f.Get(fieldAssociate))),
		ServiceDate: clipField(strings.TrimSpace(f.Get(fieldServiceDate))),
		StartTime:   clipField(strings.TrimSpace(f.Get(fieldStartTime))),
		Selected:    map[string]bool{}, Errors: map[string]string{}, Warnings: map[string]string{},
	}
	var ids []string
	for _, id := range f[fieldParcel] {
		if id = strings.TrimSpace(id); id != "" && !form.Selected[id] && len(ids) < handoff.MaxRouteParcels+1 {
			form.Selected[id] = true
			ids = append(ids, id)
		}
	}
	nr := handoff.NewRoute{AssociateID: form.AssociateID, ServiceDate: form.ServiceDate, StartTime: form.StartTime, TrackingIDs: ids}
	status := http.StatusBadRequest
	var err error
	if len(ids) == 0 {
		form.Errors[fieldParcel] = locale.T(lang, "Tick at least one parcel for the route.")
	} else {
		var warnings []handoff.TimeWarning
		if f.Get(fieldConfirm) != "1" {
			warnings, err = s.Stations.PlanWarnings(r.Context(), st, nr)
		}
		if err == nil && len(warnings) > 0 {
			form.Warnings[fieldStartTime] = warningWords(lang, warnings)
			status = http.StatusOK
		} else if err == nil {
			var rt *handoff.Route
			rt, err = s.Stations.CreateRoute(r.Context(), st, nr)
			if err == nil {
				http.Redirect(w, r, "/station/routes/"+url.PathEscape(rt.ID)+"?done=planned", http.StatusSeeOther)
				return
			}
		}
	}
	switch code := handoff.ErrorCode(err); code {
	case "":
	case handoff.EINVALID:
		for _, fe := range handoff.ErrorFields(err) {
			form.addError(lang, fe, ids)
		}
		if len(handoff.ErrorFields(err)) == 0 {
			form.Other = append(form.Other, handoff.ErrorMessage(err))
		}
	case handoff.ECONFLICT:
		form.Other, status = append(form.Other, handoff.ErrorMessage(err)), http.StatusConflict
	default:
		s.fail(w, r, err)
		return
	}
	page, err := s.loadStationWith(r, f.Get(fieldDate), waitingFilterOf(f))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A ticked parcel no longer waiting (planned meanwhile) is named, as
	// its row is gone.
	for _, id := range ids {
		if msg := form.Errors[id]; msg != "" && !slices.ContainsFunc(page.Board.Waiting, func(p handoff.WaitingParcel) bool { return p.TrackingID == id }) {
			form.Other = append(form.Other, msg)
		}
	}
	page.Board.Select = form
	s.renderStation(w, r, status, page)
}

// addError puts one of the plan's field errors next to its field: a
// parcel's next to its row.
func (f *selectForm) addError(lang string, fe handoff.FieldError, ids []string) {
	t := func(k string) string { return locale.T(lang, k) }
	switch field := fe.Field; {
	case field == "associateId":
		f.Errors[fieldAssociate] = fieldSentence(t("The associate"), fe.Message)
	case field == "serviceDate":
		f.Errors[fieldServiceDate] = fieldSentence(t("The service date"), fe.Message)
	case field == "startTime":
		f.Errors[fieldStartTime] = fieldSentence(t("The first stop's time"), fe.Message)
	case strings.HasPrefix(field, "trackingIds["):
		if i, ok := index(field, "trackingIds["); ok && i < len(ids) {
			f.Errors[ids[i]] = fieldSentence(clipField(ids[i]), fe.Message)
			return
		}
		f.Other = append(f.Other, fieldSentence(field, fe.Message))
	case field == "trackingIds" || field == "parcels":
		f.Errors[fieldParcel] = fieldSentence(t("The selection"), fe.Message)
	default:
		f.Other = append(f.Other, fieldSentence(field, fe.Message))
	}
}

// warningWords says what the time warnings are about, in one sentence per
// warning.
func warningWords(lang string, ws []handoff.TimeWarning) string {
	var out []string
	for _, w := range ws {
		switch w.Code {
		case handoff.WarnPast:
			out = append(out, locale.T(lang, "%[1]d stops would be planned at a time already past (it is %[2]s now).", w.Stops, w.Now))
		case handoff.WarnContactHours:
			out = append(out, locale.T(lang, "%[1]d passcode stops would be planned outside contact hours %[2]s, when the recipient may not be there to give the code.", w.Stops, w.Hours))
		}
	}
	return strings.Join(out, " ")
}

// reorderStop moves a stop one place up or down on a route not loaded yet,
// and goes back to the stop.
func (s *Server) reorderStop(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	routeID, stopID := pathID(r, "routeId"), pathID(r, "stopId")
	dir := r.PostForm.Get("direction")
	if routeID == "" || stopID == "" || (dir != "up" && dir != "down") {
		s.fail(w, r, handoff.NotFound("Stop"))
		return
	}
	if _, err := s.Stations.ReorderStop(r.Context(), st, routeID, stopID, dir == "up"); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/station/routes/"+url.PathEscape(routeID)+"?reordered="+url.QueryEscape(stopID)+"#stop-"+url.PathEscape(stopID), http.StatusSeeOther)
}

// stopsPlanned says how many stops a new route has, in the page's language.
func stopsPlanned(lang string, n int) string {
	return locale.T(lang, "Route planned with %d stops.", n)
}

// moveWarningWords says what is wrong with the time a stop would move to.
func moveWarningWords(lang string, ws []handoff.TimeWarning) string {
	var out []string
	for _, w := range ws {
		switch w.Code {
		case handoff.WarnPast:
			out = append(out, locale.T(lang, "This time is already past (it is %s now).", w.Now))
		case handoff.WarnContactHours:
			out = append(out, locale.T(lang, "This is outside contact hours %s: the recipient may not be there to give the passcode.", w.Hours))
		}
	}
	return strings.Join(out, " ")
}

// LongDay writes a service date with its year in the page's language
// ("Monday 23 November 2026"), and leaves anything else as it is.
func (v view) LongDay(date string) string {
	t, err := route.ParseDate(date)
	if err != nil {
		return date
	}
	return locale.LongDate(v.Lang, t)
}
