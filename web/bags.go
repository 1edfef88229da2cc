package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/market"
)

// The station's tamper-evident bags: issuing batches and printing their
// labels, sealing parcels into bags and voiding damaged bags. Refusals come
// back in words next to the field at fault, because station staff act on
// them at once: take another bag, re-scan the ID, check the parcel.

// bagsPage is the content of the station's bag page.
type bagsPage struct {
	Station *handoff.Principal
	Flash   string
	Batches []batchRow
	State   string     // the state listed
	States  []stateTab // every state, with how many bags are in it
	Bags    []bagRow   // the bags of State, newest first, up to maxBagRows
	More    int        // bags of State not listed
	Issue   issueForm
	Seal    sealForm
	Void    voidForm

	all []handoff.Bag // every bag of the station, oldest first
}

// batchRow is one batch of the station's list.
type batchRow struct {
	ID     string
	Total  int
	Issued int // still unused
}

// stateTab is one bag state the list can show.
type stateTab struct {
	Value, Label string
	Count        int
	Current      bool
}

// bagRow is one bag of the list, its times in the station's zone.
type bagRow struct {
	Bag    handoff.Bag
	Sealed string // when it was sealed, "" when it was not
}

// issueForm is the batch form as typed, with what the store said.
type issueForm struct {
	Count string
	Error string
}

// sealForm is the seal form as typed, with a message per field.
type sealForm struct {
	TrackingID string
	BagID      string
	Errors     map[string]string // form field name → message
}

// voidForm is the void form as typed, with a message per field.
type voidForm struct {
	BagID  string
	Reason string
	Errors map[string]string
}

// Form field names of the bag forms.
const (
	fieldCount     = "count"
	fieldBagID     = "bagId"
	fieldBagReason = "reason"
	fieldState     = "state"
)

// maxBagRows bounds the bag list: a station holds thousands of bags over
// time, and a page of them is for looking one up, not for reading all.
const maxBagRows = 200

// loadBags fills the bag page with the bags in one state (sealed when state
// is "" or not a state), the station's batches and empty forms.
func (s *Server) loadBags(r *http.Request, state string) (*bagsPage, error) {
	st := visitorFrom(r.Context()).principal
	if !slices.Contains(bagStates, state) {
		state = handoff.BagSealed
	}
	all, err := s.Bags.ListBags(r.Context(), st, "")
	if err != nil {
		return nil, err
	}
	page := &bagsPage{Station: st, State: state, Seal: sealForm{Errors: map[string]string{}}, Void: voidForm{Errors: map[string]string{}}, all: all}
	counts := map[string]int{}
	batches := map[string]*batchRow{}
	var order []string
	for _, b := range all {
		counts[b.State]++
		br := batches[b.BatchID]
		if br == nil {
			br = &batchRow{ID: b.BatchID}
			batches[b.BatchID] = br
			order = append(order, b.BatchID)
		}
		br.Total++
		if b.State == handoff.BagIssued {
			br.Issued++
		}
	}
	// The store lists bags oldest first; the newest batch is the one being
	// printed and used, so it comes first.
	for i := len(order) - 1; i >= 0; i-- {
		page.Batches = append(page.Batches, *batches[order[i]])
	}
	for _, v := range bagStates {
		page.States = append(page.States, stateTab{Value: v, Label: bagStateWords[v], Count: counts[v], Current: v == state})
	}
	m := marketOf(st.Market)
	for i := len(all) - 1; i >= 0; i-- {
		b := all[i]
		if b.State != state {
			continue
		}
		if len(page.Bags) == maxBagRows {
			page.More++
			continue
		}
		row := bagRow{Bag: b}
		if b.SealedAt != nil {
			row.Sealed = formatTime(*b.SealedAt, m)
		}
		page.Bags = append(page.Bags, row)
	}
	return page, nil
}

// renderBags shows the bag page.
func (s *Server) renderBags(w http.ResponseWriter, r *http.Request, status int, page *bagsPage) {
	s.render(w, r, status, "bags", newView(r, "Tamper-evident bags", "bags", page))
}

// bagsHome shows the bag page: ?state= picks the bags listed, ?trackingId=
// fills the seal form (the route page links here for each parcel still to
// seal), and ?sealed= or ?voided= name a bag just handled, said only when
// its state agrees, so that a crafted link cannot claim it.
func (s *Server) bagsHome(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := s.loadBags(r, q.Get(fieldState))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Seal.TrackingID = clipField(strings.TrimSpace(q.Get(fieldTrackingID)))
	sealed, voided := q.Get("sealed"), q.Get("voided")
	for _, b := range page.all {
		switch {
		case sealed != "" && b.ID == sealed && b.State == handoff.BagSealed:
			page.Flash = fmt.Sprintf("Parcel %s is sealed in bag %s. From now on the recipient's notifications and portal name this bag.", b.TrackingID, b.Printed)
		case voided != "" && b.ID == voided && b.State == handoff.BagVoided:
			page.Flash = fmt.Sprintf("Bag %s is voided and can no longer be used.", b.Printed)
		}
	}
	s.renderBags(w, r, http.StatusOK, page)
}

// issueBatch issues a batch of new bags to the station and opens its label
// sheets for printing.
func (s *Server) issueBatch(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	typed := strings.TrimSpace(r.PostForm.Get(fieldCount))
	const askCount = "Enter how many bags to issue: a whole number from 1 to 1000."
	form := issueForm{Count: clipField(typed)}
	n, err := strconv.Atoi(typed)
	if err != nil {
		form.Error = askCount
	} else {
		b, err := s.Bags.IssueBatch(r.Context(), st, "", n)
		switch handoff.ErrorCode(err) {
		case "":
			http.Redirect(w, r, "/station/bags/batches/"+url.PathEscape(b.ID)+"?done=issued", http.StatusSeeOther)
			return
		case handoff.EINVALID:
			form.Error = askCount
		default:
			s.fail(w, r, err)
			return
		}
	}
	page, err := s.loadBags(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Issue = form
	s.renderBags(w, r, http.StatusBadRequest, page)
}

// batchPage is the content of a batch's page: its bags and label sheets.
type batchPage struct {
	Batch  *handoff.BagBatch
	Issued string // when, in the station's zone
	Flash  string
	Unused int
	Sheets []sheet
}

// sheet is one printable page of a batch's labels.
type sheet struct {
	Page        int
	First, Last int // the labels on it, counted from 1
}

// batchDetail shows one of the station's batches with a link to each of its
// label sheets, and the sheets themselves for printing.
func (s *Server) batchDetail(w http.ResponseWriter, r *http.Request) {
	b, err := s.stationBatch(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st := visitorFrom(r.Context()).principal
	page := &batchPage{Batch: b, Issued: formatTime(b.CreatedAt, marketOf(st.Market))}
	for _, bg := range b.Bags {
		if bg.State == handoff.BagIssued {
			page.Unused++
		}
	}
	for p := 1; p <= label.Pages(len(b.Bags)); p++ {
		first := (p-1)*label.PerSheet + 1
		page.Sheets = append(page.Sheets, sheet{Page: p, First: first, Last: min(first+label.PerSheet-1, len(b.Bags))})
	}
	if r.URL.Query().Get("done") == "issued" {
		page.Flash = fmt.Sprintf("%s issued to the station. Print the label sheets below and stick one label on each bag.", plural(len(b.Bags), "bag"))
	}
	s.render(w, r, http.StatusOK, "batch", newView(r, "Batch "+b.ID, "bags", page))
}

// stationBatch finds the batch of the request's path among the station's
// own; another station's is ENOTFOUND.
func (s *Server) stationBatch(r *http.Request) (*handoff.BagBatch, error) {
	id := pathID(r, "batchId")
	if id == "" {
		return nil, handoff.NotFound("Batch")
	}
	return s.Bags.FindBatch(r.Context(), visitorFrom(r.Context()).principal, id)
}

// batchLabels serves one label sheet of a batch as a PNG (?page=N, from 1;
// the first by default). The sheet is drawn from the batch's bags each time:
// the IDs are the store's, so a sheet never shows a bag that was not issued.
func (s *Server) batchLabels(w http.ResponseWriter, r *http.Request) {
	b, err := s.stationBatch(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids, printed := b.LabelIDs()
	pages := label.Pages(len(ids))
	n := 1
	if v := r.URL.Query().Get("page"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > pages {
			s.renderError(w, r, http.StatusNotFound, "No such sheet", fmt.Sprintf("This batch has %s of labels.", plural(pages, "sheet")))
			return
		}
	}
	png, err := label.Page(ids, printed, n)
	if err != nil {
		s.fail(w, r, handoff.Internal(err, "draw label sheet"))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s-%d.png"`, b.ID, n))
	w.Write(png)
}

// batchLabelsPDF serves every sheet of a batch's labels as one A4 PDF.
func (s *Server) batchLabelsPDF(w http.ResponseWriter, r *http.Request) {
	b, err := s.stationBatch(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pdf, err := label.SheetPDF(b.LabelIDs())
	if err != nil {
		s.fail(w, r, handoff.Internal(err, "draw label sheets"))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s.pdf"`, b.ID))
	w.Write(pdf)
}

// sealParcel records a parcel sealed into a bag, both IDs scanned or typed.
// A refusal comes back next to the field it is about, in words that say
// what to do; success goes back to the bag page saying so.
func (s *Server) sealParcel(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	trackingID := strings.TrimSpace(r.PostForm.Get(fieldTrackingID))
	typedBag := strings.TrimSpace(r.PostForm.Get(fieldBagID))
	form := sealForm{TrackingID: clipField(trackingID), BagID: clipField(typedBag), Errors: map[string]string{}}
	if trackingID == "" {
		form.Errors[fieldTrackingID] = "Scan or type the tracking ID of the parcel."
	}
	if typedBag == "" {
		form.Errors[fieldBagID] = "Scan or type the ID printed on the bag."
	}
	status := http.StatusBadRequest
	if len(form.Errors) == 0 {
		b, err := s.Bags.SealParcel(r.Context(), st, trackingID, typedBag)
		switch code := handoff.ErrorCode(err); code {
		case "":
			http.Redirect(w, r, "/station/bags?sealed="+url.QueryEscape(b.ID), http.StatusSeeOther)
			return
		case handoff.EINVALID:
			msg, lerr := s.bagRefusal(r, typedBag, err)
			if lerr != nil {
				s.fail(w, r, lerr)
				return
			}
			form.Errors[fieldBagID] = msg
		case handoff.ENOTFOUND:
			form.Errors[fieldTrackingID], status = "No parcel with this tracking ID is at this station.", http.StatusNotFound
		case handoff.ECONFLICT:
			msg, lerr := s.sealConflict(r, trackingID, err)
			if lerr != nil {
				s.fail(w, r, lerr)
				return
			}
			form.Errors[fieldTrackingID], status = msg, http.StatusConflict
		default:
			s.fail(w, r, err)
			return
		}
	}
	page, err := s.loadBags(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Seal = form
	s.renderBags(w, r, status, page)
}

// bagRefusal says why a bag ID was refused: misread, never issued here,
// voided, or used already. The service's reason says which; the bag is
// looked up only for the words a person acts on (why it was voided, which
// parcel it holds).
func (s *Server) bagRefusal(r *http.Request, typed string, err error) (string, error) {
	id, perr := bag.Parse(typed)
	switch {
	case errors.Is(perr, bag.ErrCheck):
		return "The bag ID has a wrong character (its check character does not match): check the ID on the bag and scan or type it again.", nil
	case perr != nil:
		return "That is not a bag ID: a bag ID looks like TEB-XXXXX-XXXXX-C.", nil
	}
	neverIssued := "Bag " + bag.Format(id) + " was never issued to this station: use a bag from one of its batches."
	reason := handoff.ErrorReason(err)
	switch reason {
	case handoff.ReasonBagNotIssued:
		return neverIssued, nil
	case handoff.ReasonBagVoided, handoff.ReasonBagUsed:
	default:
		return fieldSentence("The bag ID", firstFieldMessage(err)), nil
	}
	b, lerr := s.Bags.FindBag(r.Context(), visitorFrom(r.Context()).principal, id)
	switch {
	case handoff.ErrorCode(lerr) == handoff.ENOTFOUND:
		return neverIssued, nil
	case lerr != nil:
		return "", lerr
	case reason == handoff.ReasonBagVoided:
		msg := "Bag " + b.Printed + " was voided"
		if b.Note != "" {
			msg += " (" + strings.TrimSuffix(b.Note, ".") + ")"
		}
		return msg + ": take another bag.", nil
	}
	msg := "Bag " + b.Printed + " was already used"
	if b.TrackingID != "" {
		msg += " for parcel " + b.TrackingID
	}
	return msg + ": a bag is sealed only once, so take a new one.", nil
}

// sealConflict says why the parcel was refused: it is in a bag already
// (named, so staff can find it), or it needs none, or it is not waiting at
// the station, which the service's message already says.
func (s *Server) sealConflict(r *http.Request, trackingID string, err error) (string, error) {
	if handoff.ErrorReason(err) != handoff.ReasonParcelBagged {
		return handoff.ErrorMessage(err), nil
	}
	b, lerr := s.Bags.ParcelBag(r.Context(), visitorFrom(r.Context()).principal, trackingID)
	if handoff.ErrorCode(lerr) == handoff.ENOTFOUND {
		// Voided meanwhile: the service's message still holds.
		return handoff.ErrorMessage(err), nil
	}
	if lerr != nil {
		return "", lerr
	}
	return fmt.Sprintf("Parcel %s is already sealed in bag %s. To re-bag it, void that bag first.", trackingID, b.Printed), nil
}

// voidBag takes a damaged or lost bag out of use, with the reason; a parcel
// sealed in it must then be sealed into a new bag before it goes out.
func (s *Server) voidBag(w http.ResponseWriter, r *http.Request) {
	st := visitorFrom(r.Context()).principal
	typedBag := strings.TrimSpace(r.PostForm.Get(fieldBagID))
	reason := strings.TrimSpace(r.PostForm.Get(fieldBagReason))
	form := voidForm{BagID: clipField(typedBag), Reason: clipField(reason), Errors: map[string]string{}}
	if typedBag == "" {
		form.Errors[fieldBagID] = "Scan or type the ID printed on the bag."
	}
	if reason == "" {
		form.Errors[fieldBagReason] = "Say why the bag is voided, for example \"torn\"."
	}
	status := http.StatusBadRequest
	if len(form.Errors) == 0 {
		b, err := s.Bags.VoidBag(r.Context(), st, typedBag, reason)
		switch code := handoff.ErrorCode(err); code {
		case "":
			http.Redirect(w, r, "/station/bags?voided="+url.QueryEscape(b.ID)+"&state="+handoff.BagVoided, http.StatusSeeOther)
			return
		case handoff.EINVALID:
			for _, fe := range handoff.ErrorFields(err) {
				switch fe.Field {
				case "reason":
					form.Errors[fieldBagReason] = "Say why the bag is voided, in at most 200 characters."
				default:
					msg, lerr := s.bagRefusal(r, typedBag, err)
					if lerr != nil {
						s.fail(w, r, lerr)
						return
					}
					form.Errors[fieldBagID] = msg
				}
			}
		case handoff.ECONFLICT:
			form.Errors[fieldBagID], status = handoff.ErrorMessage(err), http.StatusConflict
		default:
			s.fail(w, r, err)
			return
		}
	}
	page, err := s.loadBags(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page.Void = form
	s.renderBags(w, r, status, page)
}

// marketOf returns a marketplace by code; an unknown or empty code gives the
// zero Market, which formatTime shows in UTC.
func marketOf(code string) market.Market {
	m, _ := market.Lookup(code)
	return m
}

// unsealedParcels returns the parcels of a planned route that need a
// tamper-evident bag and are not sealed in one yet: the store will not let
// the van be loaded until they are.
func unsealedParcels(rt *handoff.Route, sealed map[string]bool) []string {
	if rt.Status != handoff.RoutePlanned {
		return nil
	}
	var out []string
	for _, st := range rt.Stops {
		for _, p := range st.Parcels {
			if p.BagRequired && p.Outcome == handoff.OutcomeOpen && !sealed[p.TrackingID] {
				out = append(out, p.TrackingID)
			}
		}
	}
	return out
}

// sealedParcels returns the tracking IDs of the station's parcels now sealed
// in a bag.
func (s *Server) sealedParcels(r *http.Request) (map[string]bool, error) {
	bags, err := s.Bags.ListBags(r.Context(), visitorFrom(r.Context()).principal, handoff.BagSealed)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, b := range bags {
		out[b.TrackingID] = true
	}
	return out, nil
}
