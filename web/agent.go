package web

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/tracking"
)

// Customer service: the case queue, a case with the parcel's whole history,
// and any parcel by its tracking ID with its delivery photo. Every view of a
// photo, the thumbnail included, goes through the store, which logs it with
// the agent's name before the bytes leave; the log is on the parcel's page
// for the next reader to see.

// queuePage is the content of customer service's home.
type queuePage struct {
	Open   caseTable
	Closed caseTable // the most recently closed first, up to maxClosedRows
	Lookup lookupForm
}

// caseTable is a table of cases with the language of its headings.
type caseTable struct {
	Rows []caseRow
	Lang string
}

// T translates the table's words.
func (t caseTable) T(key string) string { return locale.T(t.Lang, key) }

// searchRow is one parcel the search found, with the recipient's contacts
// masked.
type searchRow struct {
	handoff.ParcelMatch
	Shipper string
}

// matchWords name how a search found a parcel.
var matchWords = map[string]string{
	handoff.MatchTrackingID: "Tracking ID",
	handoff.MatchReference:  "Order reference",
	handoff.MatchPhone:      "Phone number",
	handoff.MatchEmail:      "Email",
}

// FoundBy names, in English, how the search found the parcel.
func (r searchRow) FoundBy() string { return matchWords[r.MatchedBy] }

// caseRow is one case of the queue, or of a parcel's cases.
type caseRow struct {
	Case    handoff.Case
	Kind    string
	Opened  string
	Age     string // how long it has been open, or was open
	Outcome string
}

// lookupForm is the parcel lookup as typed, with what went wrong.
type lookupForm struct {
	TrackingID string
	Error      string
	Found      []searchRow // the parcels a search found, but for a tracking ID's one
}

// maxClosedRows bounds the closed cases on the queue page: they are there
// to find one just handled, not to read the archive.
const maxClosedRows = 20

// caseQueue shows the open cases, oldest first so none waits for ever, then
// the ones closed most recently, and the parcel lookup.
func (s *Server) caseQueue(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadQueue(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "cases", newView(r, locale.T(langOf(r), "Customer service"), "home", page))
}

// loadQueue fills the queue page.
func (s *Server) loadQueue(r *http.Request) (*queuePage, error) {
	agent := visitorFrom(r.Context()).principal
	open, err := s.Cases.ListCases(r.Context(), agent, handoff.CaseOpen)
	if err != nil {
		return nil, err
	}
	closed, err := s.Cases.ListCases(r.Context(), agent, handoff.CaseClosed)
	if err != nil {
		return nil, err
	}
	now, lang := s.Now(), langOf(r)
	page := &queuePage{Open: caseTable{Lang: lang}, Closed: caseTable{Lang: lang}}
	for _, c := range open {
		page.Open.Rows = append(page.Open.Rows, caseRowOf(c, now, market.Market{}, lang))
	}
	slices.SortStableFunc(closed, func(a, b handoff.Case) int { return closedAt(b).Compare(closedAt(a)) })
	for _, c := range closed[:min(len(closed), maxClosedRows)] {
		page.Closed.Rows = append(page.Closed.Rows, caseRowOf(c, now, market.Market{}, lang))
	}
	return page, nil
}

// closedAt is when a case was closed, or the zero time.
func closedAt(c handoff.Case) time.Time {
	if c.ClosedAt != nil {
		return *c.ClosedAt
	}
	return time.Time{}
}

// caseRowOf puts a case into lang's words, its times in m's zone (UTC for
// the queue, which spans marketplaces).
func caseRowOf(c handoff.Case, now time.Time, m market.Market, lang string) caseRow {
	row := caseRow{Case: c, Kind: locale.T(lang, codeWords(caseKindWords, c.Kind)), Opened: staffWhen(lang, c.OpenedAt, string(m.Code))}
	if c.ClosedAt != nil {
		row.Age = locale.T(lang, "open %s", ageIn(lang, c.ClosedAt.Sub(c.OpenedAt)))
		row.Outcome = locale.T(lang, codeWords(caseOutcomeWords, c.Outcome))
	} else {
		row.Age = ageIn(lang, now.Sub(c.OpenedAt))
	}
	return row
}

// staffWhen writes an instant for customer service in lang and in the
// marketplace's zone (UTC for none), naming the zone, as staff read times
// from several countries: "Monday 23 November 2026, 10:00 GMT".
func staffWhen(lang string, t time.Time, marketplace string) string {
	return locale.When(lang, t, marketplace) + " " + t.In(locale.Zone(marketplace)).Format("MST")
}

// ageWords says a duration the way a queue does: "5 min", "3 h", "2 days".
func ageWords(d time.Duration) string { return ageIn(locale.EN, d) }

// ageIn says a duration in lang the way a queue does.
func ageIn(lang string, d time.Duration) string {
	switch {
	case d < time.Minute:
		return locale.T(lang, "under a minute")
	case d < time.Hour:
		return locale.T(lang, "%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return locale.T(lang, "%d h", int(d/time.Hour))
	}
	return locale.T(lang, "%d days", int(d/(24*time.Hour)))
}

// findParcel is the search form: by tracking ID, shipper reference,
// recipient phone or email, each matched exactly once normalised (spaces and
// case do not matter in a tracking ID, as tracking IDs are read out and
// typed; a phone number is read by each marketplace's rules and matched on
// that marketplace's parcels). A tracking ID opens its parcel; anything else
// lists what it found, with the contacts masked, on the queue page.
func (s *Server) findParcel(w http.ResponseWriter, r *http.Request) {
	lang := langOf(r)
	typed := r.URL.Query().Get(fieldTrackingID)
	q := handoff.ParseParcelQuery(typed)
	var form lookupForm
	status := http.StatusBadRequest
	switch {
	case q.Blank():
		form.Error = locale.T(lang, "Enter a tracking ID, order reference, phone number or email.")
	default:
		found, err := s.Contacts.SearchParcels(r.Context(), visitorFrom(r.Context()).principal, q, pageSize)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case len(found) == 0:
			form.Error, status = locale.T(lang, "No parcel has this tracking ID, reference, phone number or email."), http.StatusNotFound
		case len(found) == 1 && found[0].MatchedBy == handoff.MatchTrackingID:
			http.Redirect(w, r, "/agent/parcels/"+url.PathEscape(found[0].TrackingID), http.StatusSeeOther)
			return
		default:
			names := s.actorNames(r)
			for _, m := range found {
				m.StatusText = locale.T(lang, m.StatusText)
				form.Found = append(form.Found, searchRow{ParcelMatch: m, Shipper: cmp.Or(m.ShipperName, names.name(m.ShipperID))})
			}
			status = http.StatusOK
		}
	}
	form.TrackingID = clipField(strings.TrimSpace(typed))
	page, err := s.loadQueue(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Lookup = form
	s.render(w, r, status, "cases", newView(r, locale.T(lang, "Customer service"), "home", page))
}

// historyRow is one event of a parcel's history in words.
type historyRow struct {
	Time   time.Time
	When   string
	Event  string
	Detail string
	Note   string // "" when it only repeats the event
	Place  string
	Actor  string // "by Alex Driver (delivery associate)", or ""
}

// actorNames names the actors of a page's history, asking the store once
// per principal.
type actorNames struct {
	s    *Server
	r    *http.Request
	seen map[string]string
}

// actorNames starts the names of one request's page.
func (s *Server) actorNames(r *http.Request) *actorNames {
	return &actorNames{s: s, r: r, seen: map[string]string{}}
}

// name returns "Alex Driver (delivery associate)" for a principal's ID, the
// words for the store's own actors, and the ID itself for a principal that
// cannot be found, so that history is never hidden behind a lookup.
func (n *actorNames) name(id string) string {
	switch id {
	case "":
		return ""
	case "system":
		return "handoff"
	case "recipient":
		return locale.T(langOf(n.r), "the recipient")
	case "operator":
		return locale.T(langOf(n.r), "the operator")
	}
	if v, ok := n.seen[id]; ok {
		return v
	}
	v := id
	p, err := n.s.Principals.FindPrincipal(n.r.Context(), id)
	switch {
	case err == nil:
		v = p.Name + " (" + locale.T(langOf(n.r), kindLabels[p.Kind]) + ")"
	case handoff.ErrorCode(err) != handoff.ENOTFOUND:
		n.s.Log.WarnContext(n.r.Context(), "name an actor", "actor", id, "err", err)
	}
	n.seen[id] = v
	return v
}

// history puts a parcel's events into lang's words, with who did each.
func history(events []tracking.Event, m market.Market, names *actorNames, lang string) []historyRow {
	out := make([]historyRow, 0, len(events))
	for _, e := range events {
		event := historyEventWords(e.Code)
		row := historyRow{Time: e.Time, When: staffWhen(lang, e.Time, string(m.Code)), Event: locale.T(lang, event),
			Detail: locale.T(lang, detailWords(e.Detail)), Place: place(e.Location)}
		if who := names.name(e.Actor); who != "" {
			row.Actor = locale.T(lang, "by %s", who)
		}
		if e.Note != event {
			row.Note = e.Note
		}
		out = append(out, row)
	}
	return out
}

// eventsMarket returns the marketplace a parcel's events happened in, for
// showing their times as people there saw them.
func eventsMarket(events []tracking.Event) market.Market {
	for _, e := range events {
		if m, ok := market.Lookup(e.Location.CountryCode); ok {
			return m
		}
	}
	return market.Market{}
}

// casePage is the content of a case's page.
type casePage struct {
	Row      caseRow
	OpenedBy string
	ClosedBy string
	Closed   string
	Flash    string
	Events   []historyRow
	Bags     []caseBag
	Carriers []carrierRow
	Scans    []scanRow
	Outcomes []option
	Form     closeForm
	Notes    []noteRow
	NoteForm noteForm
}

// noteRow is one note on a case.
type noteRow struct {
	Who  string
	When string
	Body string
}

// noteForm is the add-a-note form as filled in, with what went wrong.
type noteForm struct {
	Note  string
	Error string
}

// caseBag is one bag the parcel was sealed in.
type caseBag struct {
	Printed  string
	BatchID  string
	State    string
	SealedBy string
	SealedAt string
	Note     string
}

// carrierRow is one route that carried the parcel.
type carrierRow struct {
	RouteID   string
	Date      string
	Associate string
	Outcome   string
}

// scanRow is one bag scan at the parcel's doors: what was scanned and
// whether it matched.
type scanRow struct {
	When      string
	Associate string
	Scanned   string
	Matched   bool
	Parcel    string
}

// closeForm is the close form as filled in, with what the store said.
type closeForm struct {
	Outcome string
	Note    string
	Errors  map[string]string
	Alert   string
}

// Form field names of the case forms.
const (
	fieldOutcome = "outcome"
	fieldNote    = "note"
	fieldSummary = "summary"
	fieldBack    = "back" // "parcel": go back to the parcel's page after a note
)

// caseDetail shows a case with the parcel's whole history and, while it is
// open, the form to close it.
func (s *Server) caseDetail(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadCase(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lang := langOf(r)
	switch r.URL.Query().Get("done") {
	case "closed":
		if page.Row.Case.Status == handoff.CaseClosed {
			page.Flash = locale.T(lang, "Case closed: %s.", page.Row.Outcome)
		}
	case "opened":
		page.Flash = locale.T(lang, "Case opened. Add notes as you go; close it with an outcome when it is settled.")
	case "noted":
		page.Flash = locale.T(lang, "Note added.")
	}
	s.renderCase(w, r, http.StatusOK, page)
}

// loadCase fills a case's page.
func (s *Server) loadCase(r *http.Request) (*casePage, error) {
	id := pathID(r, "caseId")
	if id == "" {
		return nil, handoff.NotFound("Case")
	}
	c, err := s.Cases.FindCase(r.Context(), visitorFrom(r.Context()).principal, id)
	if err != nil {
		return nil, err
	}
	m := eventsMarket(c.Events)
	names := s.actorNames(r)
	lang := langOf(r)
	outcomes := options(handoff.CaseOutcomes, caseOutcomeWords)
	for i := range outcomes {
		outcomes[i].Label = locale.T(lang, outcomes[i].Label)
	}
	page := &casePage{Row: caseRowOf(*c, s.Now(), m, lang), OpenedBy: names.name(c.OpenedBy), ClosedBy: names.name(c.ClosedBy),
		Events: history(c.Events, m, names, lang), Outcomes: outcomes, Form: closeForm{Errors: map[string]string{}}}
	if c.ClosedAt != nil {
		page.Closed = staffWhen(lang, *c.ClosedAt, string(m.Code))
	}
	for _, n := range c.Notes {
		page.Notes = append(page.Notes, noteRow{Who: n.AuthorName, When: staffWhen(lang, n.At, string(m.Code)), Body: n.Body})
	}
	for _, b := range c.Bags {
		cb := caseBag{Printed: b.Printed, BatchID: b.BatchID, State: codeWords(bagStateWords, b.State), SealedBy: names.name(b.SealedBy), Note: b.Note}
		if b.SealedAt != nil {
			cb.SealedAt = formatTime(*b.SealedAt, m)
		}
		page.Bags = append(page.Bags, cb)
	}
	for _, cr := range c.Carriers {
		name := cr.AssociateName
		if name == "" {
			name = names.name(cr.AssociateID)
		}
		page.Carriers = append(page.Carriers, carrierRow{RouteID: cr.RouteID, Date: formatDate(cr.ServiceDate), Associate: name,
			Outcome: codeWords(routeOutcomeWords, cr.Outcome)})
	}
	for _, sc := range c.Scans {
		page.Scans = append(page.Scans, scanRow{When: formatTime(sc.At, m), Associate: names.name(sc.AssociateID), Scanned: bag.Format(sc.Scanned),
			Matched: sc.Matched, Parcel: sc.TrackingID})
	}
	return page, nil
}

// renderCase shows a case's page.
func (s *Server) renderCase(w http.ResponseWriter, r *http.Request, status int, page *casePage) {
	s.render(w, r, status, "case", newView(r, page.Row.Kind+" · "+page.Row.Case.TrackingID, "home", page))
}

// closeCase closes an open case with an outcome and a note. What the
// outcome does to a parcel held at the station (back into the network for a
// new bag, or back to the shipper) is the store's rule; the choices say it.
func (s *Server) closeCase(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "caseId")
	outcome := r.PostForm.Get(fieldOutcome)
	note := r.PostForm.Get(fieldNote)
	_, err := s.Cases.CloseCase(r.Context(), visitorFrom(r.Context()).principal, id, outcome, note)
	if err == nil {
		http.Redirect(w, r, "/agent/cases/"+url.PathEscape(id)+"?done=closed", http.StatusSeeOther)
		return
	}
	page, status, ok := refused(s, w, r, err, s.loadCase)
	if !ok {
		return
	}
	page.Form.Outcome, page.Form.Note = outcome, note
	for _, fe := range handoff.ErrorFields(err) {
		switch fe.Field {
		case "outcome":
			page.Form.Errors[fieldOutcome] = locale.T(langOf(r), "Choose what happens to the parcel.")
		case "note":
			page.Form.Errors[fieldNote] = locale.T(langOf(r), fieldSentence("The note", fe.Message))
		}
	}
	if len(page.Form.Errors) == 0 {
		page.Form.Alert = handoff.ErrorMessage(err)
	}
	s.renderCase(w, r, status, page)
}

// refused loads the page a refused form is shown again on, for an error the
// form says in words (EINVALID at its field, ECONFLICT); ok is false, and
// the answer written, for any other error or when the page cannot load.
func refused[P any](s *Server, w http.ResponseWriter, r *http.Request, err error, load func(*http.Request) (P, error)) (page P, status int, ok bool) {
	code := handoff.ErrorCode(err)
	if code != handoff.EINVALID && code != handoff.ECONFLICT {
		s.fail(w, r, err)
		return page, 0, false
	}
	page, lerr := load(r)
	if lerr != nil {
		s.fail(w, r, lerr)
		return page, 0, false
	}
	return page, pageStatus[code].status, true
}

// addCaseNote adds a note to an open case, from the case's page or from the
// parcel's (back=parcel), and goes back there; a refused note shows the
// case's page with the error at the field and the note kept.
func (s *Server) addCaseNote(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "caseId")
	note := r.PostForm.Get(fieldNote)
	c, err := s.Cases.AddCaseNote(r.Context(), visitorFrom(r.Context()).principal, id, note)
	if err == nil {
		if r.PostForm.Get(fieldBack) == "parcel" {
			http.Redirect(w, r, "/agent/parcels/"+url.PathEscape(c.TrackingID)+"?done=noted#case-"+url.PathEscape(id), http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/agent/cases/"+url.PathEscape(id)+"?done=noted#notes", http.StatusSeeOther)
		return
	}
	page, status, ok := refused(s, w, r, err, s.loadCase)
	if !ok {
		return
	}
	page.NoteForm.Note = note
	page.NoteForm.Error = locale.T(langOf(r), handoff.ErrorMessage(err))
	if status == http.StatusBadRequest {
		page.NoteForm.Error = locale.T(langOf(r), "Write the note: what was said or done.")
		if len([]rune(note)) > 2000 {
			page.NoteForm.Error = locale.T(langOf(r), "The note must be at most 2000 characters.")
		}
	}
	s.renderCase(w, r, status, page)
}

// agentParcelPage is the content of customer service's page of a parcel.
type agentParcelPage struct {
	Parcel  *handoff.AgentParcel
	Status  string // the parcel's status in the page's language
	Market  string
	Shipper string // the shipper's name and kind, or its ID
	Events  []historyRow
	Photo   photoBox
	Views   []viewRow
	Cases   []caseRow
	// Contacts are the recipient's contacts: masked, or in full on the
	// answer to "show" (Revealed), which the store has logged.
	Contacts     handoff.RecipientContacts
	Revealed     bool
	ContactViews []viewRow
	Flash        string
	// ShowsImages is true when the page itself shows the photo or the
	// signature, each load of which is a logged view.
	ShowsImages bool
	Reveal      parcelForm // why the agent asks to see the contacts
	Open        parcelForm // the summary of a new enquiry
}

// parcelForm is one of the parcel page's one-field forms as filled in.
type parcelForm struct {
	Value string
	Error string
}

// photoBox says what there is to see of the parcel's delivery photo.
type photoBox struct {
	Stored  bool // a photo is kept and may be viewed
	Taken   string
	TakenBy string
	Removed string // when it was deleted at the end of its retention
	Skipped string // why none was taken, in words
}

// viewRow is one logged view of the photo, the signature or the contacts.
type viewRow struct {
	Who    string
	Kind   string
	When   string
	Image  string // what was seen: the photo or the signature
	Reason string // why the contacts were shown
}

// agentParcel shows a parcel's whole history, its photo (each view of
// which is logged) with the log of those views, and its cases.
func (s *Server) agentParcel(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadAgentParcel(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("done") == "noted" {
		page.Flash = locale.T(langOf(r), "Note added.")
	}
	s.renderAgentParcel(w, r, http.StatusOK, page)
}

// loadAgentParcel fills the page of the path's parcel, the recipient's
// contacts masked.
func (s *Server) loadAgentParcel(r *http.Request) (*agentParcelPage, error) {
	id := pathID(r, "trackingId")
	if id == "" {
		return nil, handoff.NotFound("Parcel")
	}
	a, err := s.Photos.AgentParcel(r.Context(), visitorFrom(r.Context()).principal, id)
	if err != nil {
		return nil, err
	}
	m := eventsMarket(a.Events)
	mkt := string(m.Code)
	lang := langOf(r)
	names := s.actorNames(r)
	page := &agentParcelPage{Parcel: a, Status: locale.T(lang, a.StatusText), Market: mkt, Shipper: names.name(a.ShipperID),
		Events: history(a.Events, m, names, lang)}
	if p := a.Photo; p != nil {
		switch {
		case p.RemovedAt != nil:
			page.Photo.Removed = staffWhen(lang, *p.RemovedAt, mkt)
		case p.TakenAt != nil:
			page.Photo.Stored = true
		case p.SkippedReason != "":
			page.Photo.Skipped = locale.T(lang, codeWords(noPhotoWords, p.SkippedReason))
		}
		if p.TakenAt != nil {
			page.Photo.Taken, page.Photo.TakenBy = staffWhen(lang, *p.TakenAt, mkt), names.name(p.TakenBy)
		}
	}
	for _, v := range a.PhotoViews {
		page.Views = append(page.Views, viewRow{Who: v.ViewerName, Kind: locale.T(lang, kindLabels[auth.Kind(v.ViewerKind)]),
			When: staffWhen(lang, v.At, mkt), Image: locale.T(lang, imageWords[v.Image])})
	}
	if dc := a.DoorCheck; page.Photo.Stored || dc != nil && dc.SignatureKind == "DRAWN" && dc.SignatureRemovedAt == nil {
		page.ShowsImages = true
	}
	now := s.Now()
	for _, c := range a.Cases {
		page.Cases = append(page.Cases, caseRowOf(c, now, m, lang))
	}
	page.Contacts = a.Contacts
	for _, v := range a.ContactViews {
		page.ContactViews = append(page.ContactViews, viewRow{Who: v.ViewerName, Kind: locale.T(lang, kindLabels[auth.Kind(v.ViewerKind)]),
			When: staffWhen(lang, v.At, mkt), Reason: v.Reason})
	}
	return page, nil
}

// imageWords name what a logged view saw.
var imageWords = map[string]string{"delivery": "Delivery photo", "signature": "Signature"}

// renderAgentParcel shows the parcel page.
func (s *Server) renderAgentParcel(w http.ResponseWriter, r *http.Request, status int, page *agentParcelPage) {
	s.render(w, r, status, "agentparcel", newView(r, locale.T(langOf(r), "Parcel")+" "+page.Parcel.TrackingID, "home", page))
}

// revealContacts is "show contact" on the parcel page, with the reason the
// agent gives: the store logs the look first, and the page then shows the
// contacts in full, this answer only (a reload masks them again), with the
// look in the list below them. Without a reason nothing is shown or logged.
func (s *Server) revealContacts(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "trackingId")
	reason := r.PostForm.Get(fieldReason)
	c, err := s.Contacts.RevealContacts(r.Context(), visitorFrom(r.Context()).principal, id, reason)
	if err != nil {
		page, status, ok := refused(s, w, r, err, s.loadAgentParcel)
		if !ok {
			return
		}
		page.Reveal = parcelForm{Value: reason, Error: locale.T(langOf(r), "Say why you need the contacts, for example \"recipient on the phone, no delivery\".")}
		if len([]rune(strings.TrimSpace(reason))) > 200 {
			page.Reveal.Error = locale.T(langOf(r), "The reason must be at most 200 characters.")
		}
		s.renderAgentParcel(w, r, status, page)
		return
	}
	page, err := s.loadAgentParcel(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Contacts, page.Revealed = *c, true
	s.renderAgentParcel(w, r, http.StatusOK, page)
}

// openCase opens an enquiry about the parcel from its page and goes to the
// new case; a missing summary or an enquiry already open is said at the
// field, the summary kept.
func (s *Server) openCase(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "trackingId")
	summary := r.PostForm.Get(fieldSummary)
	c, err := s.Cases.OpenCase(r.Context(), visitorFrom(r.Context()).principal, id, summary)
	if err == nil {
		http.Redirect(w, r, "/agent/cases/"+url.PathEscape(c.ID)+"?done=opened", http.StatusSeeOther)
		return
	}
	page, status, ok := refused(s, w, r, err, s.loadAgentParcel)
	if !ok {
		return
	}
	lang := langOf(r)
	page.Open = parcelForm{Value: summary, Error: locale.T(lang, handoff.ErrorMessage(err))}
	if status == http.StatusBadRequest {
		page.Open.Error = locale.T(lang, "Say what the case is about, for example \"recipient says the parcel did not arrive\".")
		if len([]rune(strings.TrimSpace(summary))) > 500 {
			page.Open.Error = locale.T(lang, "The summary must be at most 500 characters.")
		}
	}
	s.renderAgentParcel(w, r, status, page)
}

// parcelPhoto serves a parcel's photo to customer service, ?size=thumb for
// the thumbnail and full size otherwise. The store logs the view before it
// hands over the bytes, so every view, whichever page shows it, is in the
// log. The response is never cached (securityHeaders), so a second look is
// a second logged view.
func (s *Server) parcelPhoto(w http.ResponseWriter, r *http.Request) {
	s.servePhoto(w, r, func(ctx context.Context, id string, thumb bool) ([]byte, error) {
		return s.Photos.ParcelPhoto(ctx, visitorFrom(ctx).principal, id, thumb)
	})
}

// parcelSignature serves a parcel's drawn signature to customer service; the
// view is logged like a photo view.
func (s *Server) parcelSignature(w http.ResponseWriter, r *http.Request) {
	s.serveSignature(w, r, func(ctx context.Context, id string) ([]byte, error) {
		return s.Photos.ParcelSignature(ctx, visitorFrom(ctx).principal, id)
	})
}

// serveSignature answers the drawn signature fetch returns for the path's
// tracking ID, as servePhoto does a photo.
func (s *Server) serveSignature(w http.ResponseWriter, r *http.Request, fetch func(ctx context.Context, id string) ([]byte, error)) {
	r.URL.RawQuery = "" // one size
	s.servePhoto(w, r, func(ctx context.Context, id string, _ bool) ([]byte, error) { return fetch(ctx, id) })
}

// servePhoto answers ?size=thumb|full of the photo fetch returns for the
// path's tracking ID: one place for the size check, the 410 of a photo past
// its retention, and the type sniffing; securityHeaders already keeps every
// page, photos included, out of caches.
func (s *Server) servePhoto(w http.ResponseWriter, r *http.Request, fetch func(ctx context.Context, id string, thumb bool) ([]byte, error)) {
	size := r.URL.Query().Get("size")
	if size != "" && size != "thumb" && size != "full" {
		s.renderError(w, r, http.StatusBadRequest, "Not valid", "The photo size must be thumb or full.")
		return
	}
	id := pathID(r, "trackingId")
	if id == "" {
		s.fail(w, r, handoff.NotFound("Photo"))
		return
	}
	b, err := fetch(r.Context(), id, size == "thumb")
	if handoff.ErrorCode(err) == handoff.EGONE {
		s.renderError(w, r, http.StatusGone, "Photo deleted", handoff.ErrorMessage(err))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The store keeps cleaned JPEGs; sniffing rather than assuming keeps a
	// wrong type from ever reaching the browser.
	w.Header().Set("Content-Type", http.DetectContentType(b))
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
