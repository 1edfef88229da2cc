package web

import (
	"net/http"
	"net/url"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/tracking"
)

// pageSize is how many parcels the list shows at a time.
const pageSize = 50

// parcelRow is one line of the parcel list.
type parcelRow struct {
	TrackingID  string
	ShipmentID  string
	Reference   string
	Recipient   string
	City        string
	Marketplace string
	Status      string // in words: "Delivered with OTP"
	OTP         bool
	Bag         bool
}

// listPage is the content of the parcel list.
type listPage struct {
	Parcels []parcelRow
	Older   string // link to the next page, "" on the last
	Paged   bool   // this is not the first page
}

// shipmentList shows the shipper's parcels, newest first, a page at a time.
func (s *Server) shipmentList(w http.ResponseWriter, r *http.Request) {
	p := visitorFrom(r.Context()).principal
	f := handoff.ShipmentFilter{ShipperID: p.ID, Limit: pageSize}
	f.Cursor = r.URL.Query().Get("after")
	pkgs, err := s.Shipments.ListPackages(r.Context(), f)
	if handoff.ErrorCode(err) == handoff.EINVALID {
		s.renderError(w, r, http.StatusBadRequest, "Not valid", "The page address is not valid; go back to the first page of parcels.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := listPage{Parcels: []parcelRow{}, Paged: f.Cursor != ""}
	for _, pk := range pkgs {
		page.Parcels = append(page.Parcels, parcelRow{
			TrackingID: pk.TrackingID, ShipmentID: pk.ShipmentID, Reference: pk.ClientRef,
			Recipient: pk.Recipient, City: pk.City, Marketplace: pk.Marketplace,
			Status: tracking.Describe(pk.Status, pk.Detail),
			OTP:    pk.Decision.OTPRequired, Bag: pk.Decision.BagRequired,
		})
	}
	if len(pkgs) == pageSize {
		page.Older = "/shipments?after=" + url.QueryEscape(pkgs[len(pkgs)-1].Cursor)
	}
	s.render(w, r, http.StatusOK, "shipments", newView(r, "Parcels", "shipments", page))
}

// packageView is one package of the shipment page with its history.
type packageView struct {
	handoff.Package
	Status   string
	Tracking *handoff.Tracking
}

// shipmentPage is the content of the shipment page.
type shipmentPage struct {
	Shipment *handoff.Shipment
	Market   market.Market
	Packages []packageView
}

// shipmentDetail shows one of the shipper's shipments: its parties, and per
// package the secure-delivery decisions with their reasons and the tracking
// timeline. Another shipper's shipment is "not found", as in the API.
func (s *Server) shipmentDetail(w http.ResponseWriter, r *http.Request) {
	p := visitorFrom(r.Context()).principal
	id := r.PathValue("shipmentId")
	if len(id) > 64 {
		s.fail(w, r, handoff.NotFound("Shipment"))
		return
	}
	sh, err := s.Shipments.FindShipment(r.Context(), p.ID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := shipmentPage{Shipment: sh, Market: sh.Marketplace}
	for _, pk := range sh.Packages {
		t, err := s.Shipments.Tracking(r.Context(), p.ID, pk.TrackingID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		detail := ""
		if n := len(t.Summary.Forward); n > 0 {
			detail = t.Summary.Forward[n-1]
		}
		page.Packages = append(page.Packages, packageView{Package: pk, Status: tracking.Describe(t.Summary.Status, detail), Tracking: t})
	}
	s.render(w, r, http.StatusOK, "shipment", newView(r, "Shipment "+sh.ID, "shipments", page))
}
