package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/tracking"
)

// The public tracking page: what anyone holding a tracking ID may know —
// where the parcel is, when it should arrive and what to have ready — and
// nothing of who it is for. The code, the bag ID, the address and the photo
// need sign-in to the portal, which the page links to.

// trackPage is the content of the public tracking page.
type trackPage struct {
	TrackingID string
	NotFound   bool
	Found      bool
	Status     string       // the summary status in words
	Stages     []trackStage // the progress bar
	Expected   string       // the expected day and window, in words
	Next       string       // the next attempt's day after a failure
	Ready      []string     // what the recipient must have ready at the door
	Finished   bool         // delivered, refused or undeliverable: nothing to get ready
	Events     []trackRow   // newest first
}

// trackStage is one stage of the progress bar.
type trackStage struct {
	Label         string
	Done, Current bool
}

// trackRow is one line of the public timeline.
type trackRow struct {
	Time        time.Time
	When, Event string
	Place       string
}

// trackStages are the progress bar's stages, and the summary status that
// puts a parcel at each (a failed attempt puts it back with the carrier).
var trackStages = []struct {
	label    string
	statuses []string
}{
	{"Label created", []string{tracking.StatusPreTransit}},
	{"With the carrier", []string{tracking.StatusInTransit, tracking.StatusDeliveryAttempted, tracking.StatusRejected, tracking.StatusUndeliverable}},
	{"Out for delivery", []string{tracking.StatusOutForDelivery}},
	{"Delivered", []string{tracking.StatusDelivered}},
}

// trackStatusWords say each summary status to the public.
var trackStatusWords = map[string]string{
	tracking.StatusPreTransit:        "Label created: the shipper is preparing it",
	tracking.StatusInTransit:         "On its way",
	tracking.StatusOutForDelivery:    "Out for delivery",
	tracking.StatusDelivered:         "Delivered",
	tracking.StatusDeliveryAttempted: "We tried to deliver it",
	tracking.StatusRejected:          "Refused at the door: held for review",
	tracking.StatusUndeliverable:     "Could not be delivered",
}

// portalTrack shows the public tracking page of the ID in the query.
// The form is a GET: it changes nothing, and a search can be bookmarked.
func (s *Server) portalTrack(w http.ResponseWriter, r *http.Request) {
	id := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("id")))
	lang := langOf(r)
	p := &trackPage{TrackingID: clipField(id)}
	status := http.StatusOK
	switch {
	case id == "":
	case len(id) > maxIDLen:
		p.NotFound, status = true, http.StatusNotFound
	default:
		pp, err := s.Recipients.PublicTracking(r.Context(), id)
		switch handoff.ErrorCode(err) {
		case "":
			fillTrack(p, pp, lang)
		case handoff.ENOTFOUND:
			p.NotFound, status = true, http.StatusNotFound
		default:
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, r, status, "portal_track", portalView(r, "Track a parcel", p))
}

// fillTrack puts a parcel's public facts into words in lang.
func fillTrack(p *trackPage, pp *handoff.PublicParcel, lang string) {
	t := func(key string, args ...any) string { return locale.T(lang, key, args...) }
	p.Found = true
	p.Status = t(codeWords(trackStatusWords, pp.Status))
	current := 0
	for i, st := range trackStages {
		for _, s := range st.statuses {
			if s == pp.Status {
				current = i
			}
		}
	}
	for i, st := range trackStages {
		p.Stages = append(p.Stages, trackStage{Label: t(st.label), Done: i < current || (i == current && pp.Status == tracking.StatusDelivered), Current: i == current})
	}
	p.Finished = pp.Status == tracking.StatusDelivered || pp.Status == tracking.StatusRejected || pp.Status == tracking.StatusUndeliverable
	if !p.Finished {
		if pp.ExpectedDate != "" {
			p.Expected = locale.ServiceDay(lang, pp.ExpectedDate)
			if pp.WindowFrom != "" {
				p.Expected += ", " + t("between %[1]s and %[2]s", pp.WindowFrom, pp.WindowTo)
			}
		}
		if pp.NextAttemptDate != "" {
			p.Next = locale.ServiceDay(lang, pp.NextAttemptDate)
		}
		if pp.NeedsCode {
			p.Ready = append(p.Ready, t("A passcode: we send it by SMS and email on the day of delivery. Give it only to the driver at your door."))
		}
		if pp.Bagged {
			p.Ready = append(p.Ready, t("It comes in a sealed bag: check the bag ID and the seal before you accept it. You may refuse a bag whose seal is broken."))
		}
	}
	p.Events = timeline(pp.Events, lang, pp.Market)
}

// timeline turns events (oldest first) into the lines a recipient reads:
// newest first, each in words in lang with its time in the marketplace's
// zone and its town, and a line that only repeats the one before it (the
// same event at the same place) left out.
func timeline(events []tracking.Event, lang, market string) []trackRow {
	var out []trackRow
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		row := trackRow{Time: e.Time, When: locale.When(lang, e.Time, market), Event: locale.T(lang, historyEventWords(e.Code)), Place: townOf(e.Location)}
		if n := len(out); n > 0 && out[n-1].Event == row.Event && out[n-1].Place == row.Place {
			continue
		}
		out = append(out, row)
	}
	return out
}

// townOf writes a location as a person names a place: "London, GB";
// postcodes are left out, as they say more about an address than a place.
func townOf(l tracking.Location) string {
	var parts []string
	for _, p := range []string{l.City, l.StateOrRegion, l.CountryCode} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}
