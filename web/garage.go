package web

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
)

// In-garage delivery from the associate's stop page. The associate presses
// "Open garage"; the server checks the route, the window, key delivery and,
// when the phone gave one, the position, then opens the door itself. The
// associate never sees a device, a credential or a code, only the grant's
// ID, which the close form sends back.

// openGarage asks the server to open the stop's garage. The phone's
// position comes from hidden fields that static/geo.js fills when the
// browser allows; without it the store checks everything else.
func (s *Server) openGarage(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	g, err := s.Garages.OpenGarage(r.Context(), visitorFrom(r.Context()).principal, id, formPosition(r.PostForm))
	if err != nil {
		s.garageRefused(w, r, id, err)
		return
	}
	http.Redirect(w, r, "/associate/stops/"+url.PathEscape(id)+"?done=garage&"+fieldGrant+"="+url.QueryEscape(g.ID)+"#garage", http.StatusSeeOther)
}

// closeGarage asks the server to close the garage of a grant and confirm it
// closed, which delivers the parcels into it.
func (s *Server) closeGarage(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "stopId")
	grant := strings.TrimSpace(r.PostForm.Get(fieldGrant))
	if grant == "" || len(grant) > maxIDLen {
		s.garageRefused(w, r, id, handoff.NotFound("Grant"))
		return
	}
	if _, err := s.Garages.CloseGarage(r.Context(), visitorFrom(r.Context()).principal, id, grant); err != nil {
		s.garageRefused(w, r, id, err)
		return
	}
	s.backToStop(w, r, id, "garage-closed")
}

// formPosition reads the position geo.js put in the form, or nil when there
// is none or it is not a position on Earth: a missing position is allowed
// (the store then relies on its other checks), a garbled one is treated as
// missing rather than refused at the door.
func formPosition(f url.Values) *handoff.Position {
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(f.Get(fieldLat)), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(f.Get(fieldLon)), 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return nil
	}
	return &handoff.Position{Lat: lat, Lon: lon}
}

// garageRefused shows the stop page with why the garage did not open or
// close. Unlike other refusals, a door that did not move (EUNAVAILABLE) is
// said in place too: the associate is at the door and must know at once
// whether to deliver another way, or to stay because customer service has
// been alerted. An unknown grant of the associate's own stop is said in
// place as well; anyone else's stop is the 404 page.
func (s *Server) garageRefused(w http.ResponseWriter, r *http.Request, stopID string, err error) {
	code := handoff.ErrorCode(err)
	if !inPlace(err) && code != handoff.EUNAVAILABLE && code != handoff.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	page, lerr := s.loadStop(r, stopID)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	page.Alert = handoff.ErrorMessage(err)
	status := http.StatusServiceUnavailable
	switch code {
	case handoff.ENOTFOUND:
		page.Alert, status = "This garage access is not open at this stop any more. Open the garage again if the parcels are still with you.", http.StatusNotFound
	case handoff.EUNAVAILABLE:
	default:
		status = pageStatus[code].status
	}
	s.renderStop(w, r, status, page)
}
