package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
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
	Open   []caseRow
	Closed []caseRow // the most recently closed first, up to maxClosedRows
	Lookup lookupForm
}

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
	Found      []handoff.ParcelMatch // the parcels a search found, when more than one
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
	s.render(w, r, http.StatusOK, "cases", newView(r, "Customer service", "home", page))
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
	page := &queuePage{}
	now := s.Now()
	for _, c := range open {
		page.Open = append(page.Open, caseRowOf(c, now, market.Market{}))
	}
	slices.SortStableFunc(closed, func(a, b handoff.Case) int { return closedAt(b).Compare(closedAt(a)) })
	for _, c := range closed[:min(len(closed), maxClosedRows)] {
		page.Closed = append(page.Closed, caseRowOf(c, now, market.Market{}))
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

// caseRowOf puts a case into words, its times in m's zone (UTC for the queue,
// which spans marketplaces).
func caseRowOf(c handoff.Case, now time.Time, m market.Market) caseRow {
	row := caseRow{Case: c, Kind: codeWords(caseKindWords, c.Kind), Opened: formatTime(c.OpenedAt, m)}
	if c.ClosedAt != nil {
		row.Age = "open " + ageWords(c.ClosedAt.Sub(c.OpenedAt))
		row.Outcome = codeWords(caseOutcomeWords, c.Outcome)
	} else {
		row.Age = ageWords(now.Sub(c.OpenedAt))
	}
	return row
}

// ageWords says a duration the way a queue does: "5 min", "3 h", "2 days".
func ageWords(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// findParcel is the search form: by tracking ID, shipper reference,
// recipient phone or email, each matched exactly once normalised (spaces and
// case do not matter in a tracking ID, as tracking IDs are read out and
// typed; a phone number is read by every marketplace's rules). One parcel
// opens its page; several are listed on the queue page; none says so there.
func (s *Server) findParcel(w http.ResponseWriter, r *http.Request) {
	typed := r.URL.Query().Get(fieldTrackingID)
	q := handoff.ParseParcelQuery(typed)
	var form lookupForm
	status := http.StatusBadRequest
	switch {
	case q.Blank():
		form.Error = "Enter the tracking ID of the parcel."
	default:
		found, err := s.Contacts.SearchParcels(r.Context(), visitorFrom(r.Context()).principal, q, pageSize)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch len(found) {
		case 0:
			form.Error, status = "No parcel has this tracking ID, reference, phone number or email.", http.StatusNotFound
		case 1:
			http.Redirect(w, r, "/agent/parcels/"+url.PathEscape(found[0].TrackingID), http.StatusSeeOther)
			return
		default:
			form.Found, status = found, http.StatusOK
		}
	}
	form.TrackingID = clipField(strings.TrimSpace(typed))
	page, err := s.loadQueue(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Lookup = form
	s.render(w, r, status, "cases", newView(r, "Customer service", "home", page))
}

// historyRow is one event of a parcel's history in words.
type historyRow struct {
	Time   time.Time
	When   string
	Event  string
	Detail string
	Note   string // "" when it only repeats the event
	Place  string
	Actor  string
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
		return "the recipient"
	case "operator":
		return "the operator"
	}
	if v, ok := n.seen[id]; ok {
		return v
	}
	v := id
	p, err := n.s.Principals.FindPrincipal(n.r.Context(), id)
	switch {
	case err == nil:
		v = p.Name + " (" + kindLabels[p.Kind] + ")"
	case handoff.ErrorCode(err) != handoff.ENOTFOUND:
		n.s.Log.WarnContext(n.r.Context(), "name an actor", "actor", id, "err", err)
	}
	n.seen[id] = v
	return v
}

// history puts a parcel's events into words, with who did each.
func history(events []tracking.Event, m market.Market, names *actorNames) []historyRow {
	out := make([]historyRow, 0, len(events))
	for _, e := range events {
		row := historyRow{Time: e.Time, When: formatTime(e.Time, m), Event: historyEventWords(e.Code), Detail: detailWords(e.Detail),
			Place: place(e.Location), Actor: names.name(e.Actor)}
		if e.Note != row.Event {
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

// Form field names of the close form.
const (
	fieldOutcome = "outcome"
	fieldNote    = "note"
)

// caseDetail shows a case with the parcel's whole history and, while it is
// open, the form to close it.
func (s *Server) caseDetail(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadCase(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("done") == "closed" && page.Row.Case.Status == handoff.CaseClosed {
		page.Flash = "Case closed: " + page.Row.Outcome + "."
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
	page := &casePage{Row: caseRowOf(*c, s.Now(), m), OpenedBy: names.name(c.OpenedBy), ClosedBy: names.name(c.ClosedBy),
		Events: history(c.Events, m, names), Outcomes: options(handoff.CaseOutcomes, caseOutcomeWords), Form: closeForm{Errors: map[string]string{}}}
	if c.ClosedAt != nil {
		page.Closed = formatTime(*c.ClosedAt, m)
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
	code := handoff.ErrorCode(err)
	if code != handoff.EINVALID && code != handoff.ECONFLICT {
		s.fail(w, r, err)
		return
	}
	page, lerr := s.loadCase(r)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	page.Form.Outcome, page.Form.Note = outcome, note
	for _, fe := range handoff.ErrorFields(err) {
		switch fe.Field {
		case "outcome":
			page.Form.Errors[fieldOutcome] = "Choose what happens to the parcel."
		case "note":
			page.Form.Errors[fieldNote] = fieldSentence("The note", fe.Message)
		}
	}
	if len(page.Form.Errors) == 0 {
		page.Form.Alert = handoff.ErrorMessage(err)
	}
	s.renderCase(w, r, pageStatus[code].status, page)
}

// agentParcelPage is the content of customer service's page of a parcel.
type agentParcelPage struct {
	Parcel  *handoff.AgentParcel
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
}

// photoBox says what there is to see of the parcel's delivery photo.
type photoBox struct {
	Stored  bool // a photo is kept and may be viewed
	Taken   string
	TakenBy string
	Removed string // when it was deleted at the end of its retention
	Skipped string // why none was taken, in words
}

// viewRow is one logged view of the photo.
type viewRow struct {
	Who  string
	Kind string
	When string
}

// agentParcel shows a parcel's whole history, its photo (each view of
// which is logged) with the log of those views, and its cases.
func (s *Server) agentParcel(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "trackingId")
	if id == "" {
		s.fail(w, r, handoff.NotFound("Parcel"))
		return
	}
	s.agentParcelWith(w, r, id, nil)
}

// agentParcelWith renders the parcel page, with the recipient's contacts in
// full when revealed is not nil.
func (s *Server) agentParcelWith(w http.ResponseWriter, r *http.Request, id string, revealed *handoff.RecipientContacts) {
	a, err := s.Photos.AgentParcel(r.Context(), visitorFrom(r.Context()).principal, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m := eventsMarket(a.Events)
	names := s.actorNames(r)
	page := &agentParcelPage{Parcel: a, Shipper: names.name(a.ShipperID), Events: history(a.Events, m, names)}
	if p := a.Photo; p != nil {
		switch {
		case p.RemovedAt != nil:
			page.Photo.Removed = formatTime(*p.RemovedAt, m)
		case p.TakenAt != nil:
			page.Photo.Stored = true
		case p.SkippedReason != "":
			page.Photo.Skipped = codeWords(noPhotoWords, p.SkippedReason)
		}
		if p.TakenAt != nil {
			page.Photo.Taken, page.Photo.TakenBy = formatTime(*p.TakenAt, m), names.name(p.TakenBy)
		}
	}
	for _, v := range a.PhotoViews {
		page.Views = append(page.Views, viewRow{Who: v.ViewerName, Kind: kindLabels[auth.Kind(v.ViewerKind)], When: formatTime(v.At, m)})
	}
	now := s.Now()
	for _, c := range a.Cases {
		page.Cases = append(page.Cases, caseRowOf(c, now, m))
	}
	page.Contacts = a.Contacts
	if revealed != nil {
		page.Contacts, page.Revealed = *revealed, true
	}
	for _, v := range a.ContactViews {
		page.ContactViews = append(page.ContactViews, viewRow{Who: v.ViewerName, Kind: kindLabels[auth.Kind(v.ViewerKind)], When: formatTime(v.At, m)})
	}
	s.render(w, r, http.StatusOK, "agentparcel", newView(r, "Parcel "+a.TrackingID, "home", page))
}

// revealContacts is "show" on the parcel page: the store logs the look
// first, and the page then shows the contacts in full, this answer only (a
// reload masks them again), with the look in the list below them.
func (s *Server) revealContacts(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "trackingId")
	if id == "" {
		s.fail(w, r, handoff.NotFound("Parcel"))
		return
	}
	agent := visitorFrom(r.Context()).principal
	c, err := s.Contacts.RevealContacts(r.Context(), agent, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.agentParcelWith(w, r, id, c)
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
