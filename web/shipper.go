package web

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/label"
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
	Created     string
	Status      string // in words: "Delivered with OTP"
	OTP         bool
	Bag         bool
}

// choice is one choice of a select: its value, its words, and whether it
// is the chosen one.
type choice struct {
	Value, Text string
	Selected    bool
}

// listPage is the content of the parcel list.
type listPage struct {
	Parcels  []parcelRow
	Older    string // link to the next page, "" on the last
	Paged    bool   // this is not the first page
	Newest   string // link to the first page of the same filters
	Filtered bool   // some filter is set
	Form     url.Values
	Errors   map[string]string
	Statuses []choice
	Kinds    []choice
	CSV      string // the filtered list as CSV
}

// statusWords and kindWords name the filter's choices.
func statusWords(st string) string { return tracking.Describe(st, "") }

var kindWords = map[string]string{
	handoff.SecureOTP:       "Passcode (OTP)",
	handoff.SecureBag:       "Tamper-evident bag",
	handoff.SecureSignature: "Signature",
	handoff.SecureAge:       "Age check",
	handoff.SecureNone:      "None of these",
}

// filterFields are the list's filter inputs, named as the API's query.
var filterFields = []string{"status", "secure", "from", "to", "reference", "recipient"}

// shipmentList shows the shipper's parcels, newest first, a page at a time,
// filtered by what the filter form sent (the API's filters, read by the same
// parser). A filter it cannot read comes back at its field.
func (s *Server) shipmentList(w http.ResponseWriter, r *http.Request) {
	v := newView(r, "Parcels", "shipments", nil)
	q := r.URL.Query()
	page := listPage{Parcels: []parcelRow{}, Form: url.Values{}, Errors: map[string]string{}}
	for _, name := range filterFields {
		page.Form.Set(name, strings.TrimSpace(q.Get(name)))
		if page.Form.Get(name) != "" {
			page.Filtered = true
		}
	}
	for _, st := range handoff.Statuses {
		page.Statuses = append(page.Statuses, choice{st, v.T(statusWords(st)), page.Form.Get("status") == st})
	}
	for _, k := range handoff.SecureKinds {
		page.Kinds = append(page.Kinds, choice{k, v.T(kindWords[k]), page.Form.Get("secure") == k})
	}
	q.Del("limit")
	f, err := handoff.ParseShipmentFilter(q, pageSize)
	if err == nil {
		f.ShipperID = visitorFrom(r.Context()).principal.ID
		var pkgs []handoff.PackageView
		pkgs, err = s.Shipments.ListPackages(r.Context(), f)
		page.Paged = f.Cursor != ""
		page.Newest = "/shipments"
		if enc := f.Query().Encode(); enc != "" {
			page.Newest += "?" + enc
		}
		for _, pk := range pkgs {
			page.Parcels = append(page.Parcels, parcelRow{
				TrackingID: pk.TrackingID, ShipmentID: pk.ShipmentID, Reference: pk.ClientRef,
				Recipient: pk.Recipient, City: pk.City, Marketplace: pk.Marketplace,
				Created: formatTime(pk.CreatedAt, market.Market{Code: market.Code(pk.Marketplace)}),
				Status:  v.T(tracking.Describe(pk.Status, pk.Detail)),
				OTP:     pk.Decision.OTPRequired, Bag: pk.Decision.BagRequired,
			})
		}
		if len(pkgs) == pageSize {
			next := f.Query()
			next.Set("cursor", pkgs[len(pkgs)-1].Cursor)
			page.Older = "/shipments?" + next.Encode()
		}
		page.CSV = "/shipments/export.csv"
		if enc := f.Query().Encode(); enc != "" {
			page.CSV += "?" + enc
		}
	}
	status := http.StatusOK
	if handoff.ErrorCode(err) == handoff.EINVALID {
		status = http.StatusBadRequest
		for _, fe := range handoff.ErrorFields(err) {
			page.Errors[fe.Field] = v.T(fe.Message)
		}
		if len(handoff.ErrorFields(err)) == 0 {
			page.Errors["cursor"] = v.T("The page address is not valid; go back to the first page of parcels.")
		}
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Data = page
	s.render(w, r, status, "shipments", v)
}

// csvColumns head the CSV export.
var csvColumns = []string{"trackingId", "shipmentId", "packageClientReferenceId", "createdAt", "recipient", "city", "postalCode",
	"marketplace", "status", "detailCode", "statusText", "otpRequired", "bagRequired", "insuredValue", "currency"}

// exportCSV streams the shipper's parcels that match the list's filters as
// CSV, newest first, a page of the store at a time, so a large export never
// sits in memory. A filter it cannot read is a 400 page before anything is
// sent.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Del("cursor")
	q.Del("limit")
	f, err := handoff.ParseShipmentFilter(q, handoff.MaxPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.ShipperID = visitorFrom(r.Context()).principal.ID
	pkgs, err := s.Shipments.ListPackages(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="parcels-`+s.Now().UTC().Format("20060102-1504")+`.csv"`)
	w.Header().Set("Cache-Control", "private, no-store")
	cw := csv.NewWriter(w)
	cw.Write(csvColumns)
	flusher, _ := w.(http.Flusher)
	for {
		for _, p := range pkgs {
			cw.Write(safeCells(p.TrackingID, p.ShipmentID, p.ClientRef, p.CreatedAt.Format(time.RFC3339), p.Recipient, p.City, p.PostalCode,
				p.Marketplace, p.Status, p.Detail, tracking.Describe(p.Status, p.Detail), strconv.FormatBool(p.Decision.OTPRequired),
				strconv.FormatBool(p.Decision.BagRequired), fixedDecimals(p.InsuredValue), p.InsuredValue.Currency))
		}
		cw.Flush()
		if flusher != nil {
			flusher.Flush()
		}
		if len(pkgs) < f.Limit || cw.Error() != nil {
			break
		}
		f.Cursor = pkgs[len(pkgs)-1].Cursor
		if pkgs, err = s.Shipments.ListPackages(r.Context(), f); err != nil {
			// The head is sent: all that can be done is to stop and log.
			s.Log.ErrorContext(r.Context(), "export parcels", "err", err)
			return
		}
	}
}

// safeCells guards each cell against formula injection: a spreadsheet runs
// a cell that starts with = + - @ (or a tab or carriage return, which some
// strip first) as a formula, so such a cell is prefixed with an apostrophe,
// which spreadsheets show as text. encoding/csv does the quoting.
func safeCells(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
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
	Created  bool // the label was just created from the form
}

// shipmentDetail shows one of the shipper's shipments: its parties, and per
// package the secure-delivery decisions with their reasons and the tracking
// timeline. Another shipper's shipment is "not found", as in the API.
func (s *Server) shipmentDetail(w http.ResponseWriter, r *http.Request) {
	sh, err := s.ownShipment(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := visitorFrom(r.Context()).principal
	page := shipmentPage{Shipment: sh, Market: sh.Marketplace, Created: r.URL.Query().Get("created") != ""}
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

// ownShipment returns the signed-in shipper's shipment of the path, or
// ENOTFOUND, whoever else's it is.
func (s *Server) ownShipment(r *http.Request) (*handoff.Shipment, error) {
	id := r.PathValue("shipmentId")
	if len(id) > 64 {
		return nil, handoff.NotFound("Shipment")
	}
	return s.Shipments.FindShipment(r.Context(), visitorFrom(r.Context()).principal.ID, id)
}

// shipmentLabels serves the shipment's labels, one per package, as a
// 4 × 6 in. PDF or 203 dpi ZPL, worded in the marketplace's language (the
// API's labels, the same bytes).
func (s *Server) shipmentLabels(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sh, err := s.ownShipment(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		body, ctype, err := label.ShipmentLabels(sh, format)
		if err != nil {
			s.fail(w, r, handoff.Internal(err, "draw shipping label"))
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, sh.ID, format))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

// newKey returns a fresh idempotency key for a label form, so that a form
// sent twice (a double click, a reload) makes one label.
func newKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "web-" + hex.EncodeToString(b)
}
