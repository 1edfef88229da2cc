package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/label"
)

func (s *Server) registerBags(mux *http.ServeMux) {
	st := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindStation, h) }
	da := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindAssociate, h) }
	cs := func(h http.HandlerFunc) http.HandlerFunc { return s.as(auth.KindAgent, h) }

	s.handle(mux, "POST /v1/admin/bags/batches", s.admin(s.adminIssueBatch))
	s.handle(mux, "GET /v1/admin/bags/batches/{batchId}/labels.png", s.admin(s.batchLabels))
	s.handle(mux, "POST /v1/station/bags/batches", st(s.issueBatch))
	s.handle(mux, "GET /v1/station/bags/batches/{batchId}", st(s.getBatch))
	s.handle(mux, "GET /v1/station/bags/batches/{batchId}/labels.png", st(s.batchLabels))
	s.handle(mux, "GET /v1/station/bags/batches/{batchId}/labels.pdf", st(s.batchLabelsPDF))
	s.handle(mux, "GET /v1/station/bags", st(s.listBags))
	s.handle(mux, "POST /v1/station/parcels/{trackingId}/seal", st(s.sealParcel))
	s.handle(mux, "POST /v1/station/bags/{bagId}/void", st(s.voidBag))

	s.handle(mux, "POST /v1/associate/stops/{stopId}/scan-bag", da(s.scanBag))
	s.handle(mux, "POST /v1/associate/stops/{stopId}/refuse", da(s.refuseParcels))

	s.handle(mux, "GET /v1/cases", cs(s.listCases))
	s.handle(mux, "GET /v1/cases/{caseId}", cs(s.getCase))
	s.handle(mux, "POST /v1/cases/{caseId}/close", cs(s.closeCase))
	s.handle(mux, "POST /v1/cases/{caseId}/notes", cs(s.addCaseNote))
	s.handle(mux, "POST /v1/parcels/{trackingId}/cases", cs(s.openCase))
	s.handle(mux, "GET /v1/parcels", cs(s.searchParcels))
	s.handle(mux, "POST /v1/parcels/{trackingId}/contacts", cs(s.revealContacts))
}

type batchRequest struct {
	Count     int    `json:"count"`
	StationID string `json:"stationId,omitempty"`
}

func (s *Server) adminIssueBatch(w http.ResponseWriter, r *http.Request) {
	var req batchRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	b, err := s.Bags.IssueBatch(r.Context(), nil, req.StationID, req.Count)
	s.reply(w, r, http.StatusCreated, b, err)
}

func (s *Server) issueBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Count int `json:"count"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	b, err := s.Bags.IssueBatch(r.Context(), PrincipalFrom(r.Context()), "", req.Count)
	if err == nil {
		w.Header().Set("Location", "/v1/station/bags/batches/"+b.ID)
	}
	s.reply(w, r, http.StatusCreated, b, err)
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	b, err := s.Bags.FindBatch(r.Context(), PrincipalFrom(r.Context()), r.PathValue("batchId"))
	s.reply(w, r, http.StatusOK, b, err)
}

// batchLabels serves a printable PNG sheet of a batch's labels (?page=N for
// batches larger than one sheet; the X-Pages header says how many).
func (s *Server) batchLabels(w http.ResponseWriter, r *http.Request) {
	b, err := s.Bags.FindBatch(r.Context(), PrincipalFrom(r.Context()), r.PathValue("batchId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	ids, printed := b.LabelIDs()
	pages := label.Pages(len(ids))
	page := 1
	if v := r.URL.Query().Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > pages {
			WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "page", Message: "must be from 1 to " + strconv.Itoa(pages)}))
			return
		}
	}
	png, err := label.Page(ids, printed, page)
	if err != nil {
		WriteError(w, r, s.Log, handoff.Internal(err, "labels"))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("X-Pages", strconv.Itoa(pages))
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("Content-Disposition", `inline; filename="`+b.ID+`-`+strconv.Itoa(page)+`.png"`)
	w.Write(png)
}

// batchLabelsPDF returns every sheet of a batch's bag labels as one A4 PDF.
func (s *Server) batchLabelsPDF(w http.ResponseWriter, r *http.Request) {
	b, err := s.Bags.FindBatch(r.Context(), PrincipalFrom(r.Context()), r.PathValue("batchId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	pdf, err := label.SheetPDF(b.LabelIDs())
	if err != nil {
		WriteError(w, r, s.Log, handoff.Internal(err, "labels"))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("X-Pages", strconv.Itoa(label.Pages(len(b.Bags))))
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("Content-Disposition", `inline; filename="`+b.ID+`.pdf"`)
	w.Write(pdf)
}

func (s *Server) listBags(w http.ResponseWriter, r *http.Request) {
	bags, err := s.Bags.ListBags(r.Context(), PrincipalFrom(r.Context()), r.URL.Query().Get("state"))
	s.reply(w, r, http.StatusOK, map[string]any{"bags": bags}, err)
}

func (s *Server) sealParcel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		BagID string `json:"bagId"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	b, err := s.Bags.SealParcel(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"), req.BagID)
	s.reply(w, r, http.StatusOK, b, err)
}

func (s *Server) voidBag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	b, err := s.Bags.VoidBag(r.Context(), PrincipalFrom(r.Context()), r.PathValue("bagId"), req.Reason)
	s.reply(w, r, http.StatusOK, b, err)
}

func (s *Server) scanBag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		BagID string `json:"bagId"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Doors.ScanBag(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), req.BagID)
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) refuseParcels(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TrackingIDs []string `json:"trackingIds,omitempty"`
	}
	if err := Decode(w, r, &req); err != nil && !emptyBody(err) {
		WriteError(w, r, s.Log, err)
		return
	}
	out, err := s.Doors.RefuseParcels(r.Context(), PrincipalFrom(r.Context()), r.PathValue("stopId"), req.TrackingIDs)
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Cases.ListCases(r.Context(), PrincipalFrom(r.Context()), r.URL.Query().Get("status"))
	s.reply(w, r, http.StatusOK, map[string]any{"cases": cs}, err)
}

// caseJSON is a case with the parcel's history in the tracking API's shape.
type caseJSON struct {
	*handoff.Case
	EventHistory []eventJSON `json:"eventHistory"`
}

func caseOut(c *handoff.Case) caseJSON {
	out := caseJSON{Case: c, EventHistory: []eventJSON{}}
	for _, e := range c.Events {
		out.EventHistory = append(out.EventHistory, eventJSON{EventCode: e.Code, EventTime: e.Time.Format(time.RFC3339), Location: e.Location,
			DetailCode: e.Detail, Note: e.Note, Actor: e.Actor})
	}
	return out
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	c, err := s.Cases.FindCase(r.Context(), PrincipalFrom(r.Context()), r.PathValue("caseId"))
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, caseOut(c))
}

func (s *Server) closeCase(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Outcome string `json:"outcome"`
		Note    string `json:"note,omitempty"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	c, err := s.Cases.CloseCase(r.Context(), PrincipalFrom(r.Context()), r.PathValue("caseId"), req.Outcome, req.Note)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, caseOut(c))
}

// openCase opens customer service's enquiry about a parcel.
func (s *Server) openCase(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Summary string `json:"summary"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	c, err := s.Cases.OpenCase(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"), req.Summary)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusCreated, caseOut(c))
}

// addCaseNote adds customer service's note to an open case.
func (s *Server) addCaseNote(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Note string `json:"note"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	c, err := s.Cases.AddCaseNote(r.Context(), PrincipalFrom(r.Context()), r.PathValue("caseId"), req.Note)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, caseOut(c))
}

// maxSearchResults bounds one search's answer.
const maxSearchResults = 50

// searchParcels is customer service's search: ?q= a tracking ID, order
// reference, phone number or email, matched exactly once normalised.
func (s *Server) searchParcels(w http.ResponseWriter, r *http.Request) {
	typed := r.URL.Query().Get("q")
	q := handoff.ParseParcelQuery(typed)
	if q.Blank() {
		msg := "is required: a tracking ID, order reference, phone number or email"
		if len(typed) > 200 {
			msg = "must be at most 200 characters"
		}
		WriteError(w, r, s.Log, handoff.Invalid(handoff.FieldError{Field: "q", Message: msg}))
		return
	}
	found, err := s.Contacts.SearchParcels(r.Context(), PrincipalFrom(r.Context()), q, maxSearchResults)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"parcels": found})
}

// revealContacts answers a parcel's recipient contacts in full, for a
// reason; the store logs the look first.
func (s *Server) revealContacts(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	c, err := s.Contacts.RevealContacts(r.Context(), PrincipalFrom(r.Context()), r.PathValue("trackingId"), req.Reason)
	if err != nil {
		WriteError(w, r, s.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, c)
}
