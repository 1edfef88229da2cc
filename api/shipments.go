package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/tracking"
)

type otpJSON struct {
	Required bool     `json:"required"`
	Reasons  []string `json:"reasons"`
}

type secureDeliveryJSON struct {
	OTP              otpJSON `json:"otp"`
	TamperEvidentBag otpJSON `json:"tamperEvidentBag"`
}

type packageJSON struct {
	PackageClientReferenceID string              `json:"packageClientReferenceId"`
	TrackingID               string              `json:"trackingId,omitempty"`
	InsuredValue             handoff.Money       `json:"insuredValue"`
	Status                   string              `json:"status,omitempty"`
	SecureDelivery           secureDeliveryJSON  `json:"secureDelivery"`
	Weight                   *handoff.Weight     `json:"weight,omitempty"`
	Dimensions               *handoff.Dimensions `json:"dimensions,omitempty"`
	Items                    []handoff.Item      `json:"items,omitempty"`
}

type shipmentJSON struct {
	ShipmentID          string                      `json:"shipmentId,omitempty"`
	Marketplace         string                      `json:"marketplace"`
	PaymentType         string                      `json:"paymentType"`
	ShipTo              *handoff.Address            `json:"shipTo,omitempty"`
	ShipFrom            *handoff.Address            `json:"shipFrom,omitempty"`
	Gift                *handoff.Gift               `json:"gift,omitempty"`
	DeliveryPreferences handoff.DeliveryPreferences `json:"deliveryPreferences"`
	Packages            []packageJSON               `json:"packages"`
	Warnings            []handoff.FieldError        `json:"warnings"`
	CreatedAt           string                      `json:"createdAt,omitempty"`
}

func shipmentOut(s *handoff.Shipment, full bool) shipmentJSON {
	out := shipmentJSON{
		ShipmentID: s.ID, Marketplace: string(s.Marketplace.Code), PaymentType: s.PaymentType,
		DeliveryPreferences: s.Preferences, Warnings: s.Warnings, Packages: []packageJSON{},
	}
	if out.Warnings == nil {
		out.Warnings = []handoff.FieldError{}
	}
	if !s.CreatedAt.IsZero() {
		out.CreatedAt = s.CreatedAt.Format(time.RFC3339)
	}
	if full {
		to, from := s.ShipTo, s.ShipFrom
		out.ShipTo, out.ShipFrom = &to, &from
		if s.Gift != nil {
			out.Gift = &handoff.Gift{Buyer: s.Gift}
		}
	}
	for _, p := range s.Packages {
		pj := packageJSON{
			PackageClientReferenceID: p.ClientRef,
			TrackingID:               p.TrackingID,
			InsuredValue:             handoff.Money{Value: handoff.Decimal(p.InsuredValue.String()), Unit: p.InsuredValue.Currency},
			Status:                   p.Status,
			SecureDelivery: secureDeliveryJSON{
				OTP:              otpJSON{Required: p.Decision.OTPRequired, Reasons: nonNil(p.Decision.OTPReasons)},
				TamperEvidentBag: otpJSON{Required: p.Decision.BagRequired, Reasons: nonNil(p.Decision.BagReasons)},
			},
		}
		if full {
			pj.Weight, pj.Dimensions, pj.Items = p.Weight, p.Dimensions, p.Items
		}
		out.Packages = append(out.Packages, pj)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

func (s *Server) createShipment(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || strings.IndexFunc(key, func(c rune) bool { return c > unicode.MaxASCII || unicode.IsControl(c) }) >= 0 {
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "Idempotency-Key", Message: "must be printable ASCII of at most 255 characters"}))
		return
	}
	var in handoff.ShipmentInput
	if err := Decode(w, r, &in); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	p := PrincipalFrom(r.Context())
	sh, replay, err := s.Shipments.CreateShipment(r.Context(), p.ID, &in, key)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	if replay {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/v1/shipments/"+sh.ID)
	WriteJSON(w, http.StatusCreated, shipmentOut(sh, false))
}

func (s *Server) eligibility(w http.ResponseWriter, r *http.Request) {
	var in handoff.ShipmentInput
	if err := Decode(w, r, &in); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	sh, err := s.Shipments.CheckEligibility(r.Context(), PrincipalFrom(r.Context()).ID, &in)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, shipmentOut(sh, false))
}

func (s *Server) getShipment(w http.ResponseWriter, r *http.Request) {
	sh, err := s.Shipments.FindShipment(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("shipmentId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, shipmentOut(sh, true))
}

type packageListItem struct {
	TrackingID               string             `json:"trackingId"`
	ShipmentID               string             `json:"shipmentId"`
	PackageClientReferenceID string             `json:"packageClientReferenceId"`
	Recipient                string             `json:"recipient"`
	City                     string             `json:"city"`
	Marketplace              string             `json:"marketplace"`
	Status                   string             `json:"status"`
	DetailCode               string             `json:"detailCode,omitempty"`
	StatusText               string             `json:"statusText"`
	SecureDelivery           secureDeliveryJSON `json:"secureDelivery"`
	CreatedAt                string             `json:"createdAt"`
}

// listShipments lists the shipper's parcels, newest first, a page at a time
// (?limit=, ?cursor= the nextCursor of the previous page), filtered as
// handoff.ParseShipmentFilter reads the query.
func (s *Server) listShipments(w http.ResponseWriter, r *http.Request) {
	f, err := handoff.ParseShipmentFilter(r.URL.Query(), 50)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	f.ShipperID = PrincipalFrom(r.Context()).ID
	pkgs, err := s.Shipments.ListPackages(r.Context(), f)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out := struct {
		Packages   []packageListItem `json:"packages"`
		NextCursor string            `json:"nextCursor,omitempty"`
	}{Packages: []packageListItem{}}
	if len(pkgs) == f.Limit {
		out.NextCursor = pkgs[len(pkgs)-1].Cursor
	}
	for _, p := range pkgs {
		out.Packages = append(out.Packages, packageListItem{
			TrackingID: p.TrackingID, ShipmentID: p.ShipmentID, PackageClientReferenceID: p.ClientRef,
			Recipient: p.Recipient, City: p.City, Marketplace: p.Marketplace, Status: p.Status, DetailCode: p.Detail,
			StatusText: tracking.Describe(p.Status, p.Detail),
			SecureDelivery: secureDeliveryJSON{
				OTP:              otpJSON{Required: p.Decision.OTPRequired, Reasons: nonNil(p.Decision.OTPReasons)},
				TamperEvidentBag: otpJSON{Required: p.Decision.BagRequired, Reasons: nonNil(p.Decision.BagReasons)},
			},
			CreatedAt: p.CreatedAt.Format(time.RFC3339Nano),
		})
	}
	WriteJSON(w, http.StatusOK, out)
}

type eventJSON struct {
	EventCode  string            `json:"eventCode"`
	EventTime  string            `json:"eventTime"`
	Location   tracking.Location `json:"location"`
	DetailCode string            `json:"detailCode,omitempty"`
	Note       string            `json:"note,omitempty"`
	Actor      string            `json:"actor,omitempty"` // staff views only
}

type trackingJSON struct {
	TrackingID   string      `json:"trackingId"`
	ShipmentID   string      `json:"shipmentId"`
	EventHistory []eventJSON `json:"eventHistory"`
	Summary      struct {
		Status              string `json:"status"`
		StatusText          string `json:"statusText"`
		TrackingDetailCodes struct {
			Forward []string `json:"forward"`
			Returns []string `json:"returns"`
		} `json:"trackingDetailCodes"`
		ProofOfDelivery *proofOfDelivery `json:"proofOfDelivery,omitempty"`
	} `json:"summary"`
}

// TrackingOut renders a parcel's history in the shape of SPEC §5.
func TrackingOut(t *handoff.Tracking) trackingJSON {
	out := trackingJSON{TrackingID: t.TrackingID, ShipmentID: t.ShipmentID, EventHistory: []eventJSON{}}
	for _, e := range t.Events {
		out.EventHistory = append(out.EventHistory, eventJSON{
			EventCode: e.Code, EventTime: e.Time.Format(time.RFC3339), Location: e.Location, DetailCode: e.Detail, Note: e.Note,
		})
	}
	out.Summary.Status = t.Summary.Status
	detail := ""
	if n := len(t.Summary.Forward); n > 0 {
		detail = t.Summary.Forward[n-1]
	}
	out.Summary.StatusText = tracking.Describe(t.Summary.Status, detail)
	out.Summary.TrackingDetailCodes.Forward = nonNil(t.Summary.Forward)
	out.Summary.TrackingDetailCodes.Returns = nonNil(t.Summary.Returns)
	return out
}

func (s *Server) getTracking(w http.ResponseWriter, r *http.Request) {
	t, err := s.Shipments.Tracking(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("trackingId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out := TrackingOut(t)
	if s.Photos != nil {
		info, err := s.Photos.PhotoInfo(r.Context(), t.TrackingID)
		if err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
		out.Summary.ProofOfDelivery = podOut(info, "/v1/tracking/"+t.TrackingID+"/photo")
	}
	WriteJSON(w, http.StatusOK, out)
}

// shipmentLabels returns the shipping labels of one of the shipper's
// shipments, one per package, as a 4 × 6 in. PDF or as ZPL for a 203 dpi
// thermal printer, in the language of the shipment's marketplace. Another
// shipper's shipment is ENOTFOUND.
func (s *Server) shipmentLabels(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sh, err := s.Shipments.FindShipment(r.Context(), PrincipalFrom(r.Context()).ID, r.PathValue("shipmentId"))
		if err != nil {
			WriteError(w, r, s.Log, err)
			return
		}
		body, ctype, err := label.ShipmentLabels(sh, format)
		if err != nil {
			WriteError(w, r, s.Log, handoff.Internal(err, "draw shipping label"))
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="`+sh.ID+`.`+format+`"`)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}
