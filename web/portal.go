package web

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/tracking"
)

// The recipient portal. A recipient has no account: they prove they hold the
// mobile number or email address on a label, by a one-time link or a code
// sent there, and get a session of their own, apart from staff sessions
// (another cookie, another CSRF purpose), so that a staff member who is also
// a recipient never mixes the two. Nothing the portal answers before sign-in
// depends on whether the contact is on a label. The pages here are the
// sign-in, the public tracking box and the parcels page; the settings page
// and its garage forms are in portal_settings.go.

// portalCookie holds the recipient's session. It has the __Host- prefix for
// the reasons the staff session has, and SameSite=Lax so that a link to the
// portal from a message arrives signed in.
const portalCookie = "__Host-handoff_portal"

// purposePortalCSRF keeps the portal's CSRF tokens apart from staff ones.
const purposePortalCSRF = "csrf-portal"

// portalNav is the Nav of every portal page. The layout offers staff sign-in
// in its header on every page but the sign-in pages; the portal signs people
// in its own way, so its pages count as sign-in pages there and a recipient
// is never sent to the staff form.
const portalNav = "signin"

// Form field names of the portal's forms.
const (
	portalContact = "contact"
	portalOn      = "on"
	portalGarage  = "garage"
	portalOptOut  = "optout"
)

// maxLinkTokenLen bounds a one-time link token taken from a path; the store
// refuses longer ones without a query.
const maxLinkTokenLen = 100

// registerPortal adds the portal's routes through page, Register's way of
// adding a page. It panics when a service the portal calls on every request
// is missing.
func (s *Server) registerPortal(page func(pattern string, h http.HandlerFunc)) {
	if s.Recipients == nil || s.Photos == nil || s.Garages == nil {
		panic("web: Server.Recipients, Photos and Garages must be set for the recipient portal")
	}
	page("GET /portal", s.portalSignin)
	page("POST /portal", s.portalRequest)
	page("POST /portal/code", s.portalCode)
	page("GET /portal/in/{token}", s.portalLink)
	page("POST /portal/in/{token}", s.portalSpendLink)
	page("GET /track", s.portalTrack)

	rc := func(pattern string, h http.HandlerFunc) { page(pattern, s.asRecipient(h)) }
	rc("POST /portal/signout", s.portalSignout)
	rc("GET /portal/parcels", s.portalParcels)
	rc("GET /portal/parcels/{trackingId}/photo", s.portalPhoto)
	rc("GET /portal/parcels/{trackingId}/signature", s.portalSignature)
	rc("POST /portal/parcels/{trackingId}/key", s.portalParcelKey)
	rc("GET /portal/settings", s.portalSettings)
	rc("POST /portal/settings/photos", s.portalPhotoPref)
	rc("POST /portal/garages", s.portalEnrol)
	rc("POST /portal/garages/{garageId}/test", s.portalTestGarage)
	rc("POST /portal/garages/{garageId}/key", s.portalGarageKey)
	rc("POST /portal/garages/{garageId}/remove", s.portalRemoveGarage)
}

// portalRecipient is the signed-in recipient of a request: the contact they
// proved they hold, and the CSRF token of their forms.
type portalRecipient struct {
	contact string
	token   string // the session token, kept only to end the session
	csrf    string
}

// portalRecipientKey is the context key of the signed-in recipient.
type portalRecipientKey struct{}

// recipientFrom returns the signed-in recipient of a request, nil outside
// asRecipient.
func recipientFrom(ctx context.Context) *portalRecipient {
	rc, _ := ctx.Value(portalRecipientKey{}).(*portalRecipient)
	return rc
}

// portalCSRF returns the CSRF token of a recipient session, made as the
// staff one is but for another purpose.
func (s *Server) portalCSRF(sessionToken string) string {
	_, mac := s.Keys.MAC(purposePortalCSRF, []byte(sessionToken))
	return hex.EncodeToString(mac)
}

// lookRecipient returns the request's live recipient session, or nil when
// there is none; a stale cookie is cleared. The error is only for faults of
// the store.
func (s *Server) lookRecipient(w http.ResponseWriter, r *http.Request) (*portalRecipient, error) {
	c, err := r.Cookie(portalCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.Recipients.FindRecipientSession(r.Context(), c.Value)
	if handoff.ErrorCode(err) == handoff.EUNAUTHORIZED {
		clearCookie(w, portalCookie)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &portalRecipient{contact: sess.Contact, token: c.Value, csrf: s.portalCSRF(c.Value)}, nil
}

// asRecipient lets only a signed-in recipient through; anyone else is sent
// to the portal's sign-in. A POST must carry the session's CSRF token, or it
// is refused before the handler runs.
func (s *Server) asRecipient(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc, err := s.lookRecipient(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if rc == nil {
			http.Redirect(w, r, "/portal", http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), portalRecipientKey{}, rc))
		if r.Method == http.MethodPost {
			if !s.parseForm(w, r) {
				return
			}
			if !s.checkMAC(purposePortalCSRF, rc.token, r.PostForm.Get(csrfField)) {
				s.Log.InfoContext(r.Context(), "portal form refused: bad CSRF token", "path", r.URL.Path)
				s.renderError(w, r, http.StatusForbidden, "Form expired",
					"This form has expired or did not come from this site, so nothing was changed. Go back, reload the page and try again.")
				return
			}
		}
		h(w, r)
	}
}

// portalView starts the view of a portal page, with the recipient's CSRF
// token when one is signed in.
func portalView(r *http.Request, title string, data any) view {
	v := newView(r, title, portalNav, data)
	if rc := recipientFrom(r.Context()); rc != nil {
		v.CSRF = rc.csrf
	}
	return v
}

// portalFormValid reports whether an anonymous form (the portal's sign-in
// forms) carries the token bound to the browser's sign-in cookie, as the
// staff sign-in form does.
func (s *Server) portalFormValid(r *http.Request) bool {
	c, err := r.Cookie(signinCookie)
	return err == nil && s.checkMAC(purposeSigninCSRF, c.Value, r.PostForm.Get(csrfField))
}

// portalSigninPage is the content of the portal's sign-in page.
type portalSigninPage struct {
	Token      string // the forms' CSRF token, bound to the sign-in cookie
	Contact    string
	Sent       bool   // a sign-in was asked for: show the answer, then the code form
	ContactErr string // next to the contact field of the request form
	CodeErr    string // next to the code field; the code form comes first then too
	Alert      string
	SignedOut  bool
	DevOutbox  bool
}

// portalSignin shows the portal's sign-in: the request for a link and code,
// and the form to enter a code. A recipient already signed in goes straight
// to their parcels.
func (s *Server) portalSignin(w http.ResponseWriter, r *http.Request) {
	rc, err := s.lookRecipient(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rc != nil {
		http.Redirect(w, r, "/portal/parcels", http.StatusSeeOther)
		return
	}
	p := &portalSigninPage{SignedOut: r.URL.Query().Get("signedout") == "1"}
	s.renderSignin(w, r, http.StatusOK, p)
}

// renderSignin shows the portal's sign-in page, giving the browser the
// cookie its forms' token is bound to.
func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, p *portalSigninPage) {
	p.Token = s.signinCookie(w, r)
	p.DevOutbox = s.DevOutbox
	s.render(w, r, status, "portal_signin", portalView(r, "Your parcels: sign in", p))
}

// portalFormExpired answers an anonymous portal form whose token is missing or
// wrong.
func (s *Server) portalFormExpired(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusForbidden, "Form expired",
		"This form has expired or did not come from this site, so nothing was sent. Open the page again and retry.")
}

// portalRequest asks for a sign-in link and code. The answer is the same
// page whether or not the contact is on a label; only a contact that is
// neither a mobile number nor an email address, or too many requests, is
// answered otherwise, and neither says anything about labels.
func (s *Server) portalRequest(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if !s.portalFormValid(r) {
		s.portalFormExpired(w, r)
		return
	}
	contact := strings.TrimSpace(r.PostForm.Get(portalContact))
	p := &portalSigninPage{Contact: clipField(contact)}
	err := s.Recipients.RequestSignin(r.Context(), contact, s.PublicURL)
	switch handoff.ErrorCode(err) {
	case "":
		p.Sent = true
		s.renderSignin(w, r, http.StatusOK, p)
	case handoff.EINVALID:
		p.ContactErr = "Enter the mobile number or the email address exactly as it is on your parcel's label."
		s.renderSignin(w, r, http.StatusBadRequest, p)
	case handoff.ERATELIMITED:
		p.Alert = handoff.ErrorMessage(err)
		s.renderSignin(w, r, http.StatusTooManyRequests, p)
	default:
		s.fail(w, r, err)
	}
}

// portalCode signs in with the contact and the 6-digit code of a message.
// Spaces are dropped from the code, as people copy it in groups.
func (s *Server) portalCode(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if !s.portalFormValid(r) {
		s.portalFormExpired(w, r)
		return
	}
	contact := strings.TrimSpace(r.PostForm.Get(portalContact))
	code := strings.ReplaceAll(r.PostForm.Get(fieldCode), " ", "")
	token, _, err := s.Recipients.SigninWithCode(r.Context(), contact, code)
	if handoff.ErrorCode(err) == handoff.EUNAUTHORIZED {
		p := &portalSigninPage{Contact: clipField(contact), CodeErr: handoff.ErrorMessage(err)}
		s.renderSignin(w, r, http.StatusUnauthorized, p)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.startPortalSession(w, r, token)
}

// portalLinkPage is the content of the page a one-time link opens.
type portalLinkPage struct {
	Token   string // the form's CSRF token
	Action  string // where the form posts: the link itself
	Expired string // why the link cannot be used, once it was tried
}

// portalLink shows the page of a one-time link: a button that spends it.
// Mail scanners and link previews fetch links before people do; if a GET
// spent the link, the recipient's own click would find it used.
func (s *Server) portalLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	p := &portalLinkPage{Action: "/portal/in/" + url.PathEscape(token)}
	status := http.StatusOK
	if len(token) > maxLinkTokenLen {
		p.Expired, status = "This sign-in link is not valid. Ask for a new one.", http.StatusNotFound
	}
	p.Token = s.signinCookie(w, r)
	s.render(w, r, status, "portal_link", portalView(r, "Sign in to your parcels", p))
}

// portalSpendLink spends a one-time link and starts the session.
func (s *Server) portalSpendLink(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if !s.portalFormValid(r) {
		s.renderError(w, r, http.StatusForbidden, "Page expired",
			"This sign-in page has expired or did not come from this site. Open the link in your message again: it has not been used.")
		return
	}
	token, _, err := s.Recipients.SigninWithToken(r.Context(), r.PathValue("token"))
	if handoff.ErrorCode(err) == handoff.EUNAUTHORIZED {
		p := &portalLinkPage{Expired: handoff.ErrorMessage(err)}
		s.render(w, r, http.StatusUnauthorized, "portal_link", portalView(r, "Sign-in link expired", p))
		return
	}
	if err != nil {
		s.fail(w, withoutLinkToken(r), err)
		return
	}
	s.startPortalSession(w, withoutLinkToken(r), token)
}

// withoutLinkToken returns the request with the one-time link's token cut
// from its path, for anything that may log the path: until it is spent, a
// token in a log line would sign its reader in.
func withoutLinkToken(r *http.Request) *http.Request {
	r = r.Clone(r.Context())
	r.URL.Path, r.URL.RawPath = "/portal/in/…", ""
	return r
}

// startPortalSession gives the browser a new recipient session and sends it
// to the parcels. A session the browser already had is ended, so one browser
// holds one.
func (s *Server) startPortalSession(w http.ResponseWriter, r *http.Request, token string) {
	if old, err := r.Cookie(portalCookie); err == nil && old.Value != "" {
		if err := s.Recipients.EndRecipientSession(r.Context(), old.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	setCookie(w, portalCookie, token, int(sessionTTL.Seconds()), http.SameSiteLaxMode)
	http.Redirect(w, r, "/portal/parcels", http.StatusSeeOther)
}

// portalSignout ends the recipient's session.
func (s *Server) portalSignout(w http.ResponseWriter, r *http.Request) {
	if err := s.Recipients.EndRecipientSession(r.Context(), recipientFrom(r.Context()).token); err != nil {
		s.fail(w, r, err)
		return
	}
	clearCookie(w, portalCookie)
	http.Redirect(w, r, "/portal?signedout=1", http.StatusSeeOther)
}

// portalParcelsPage is the content of the recipient's parcels page.
type portalParcelsPage struct {
	Contact string
	Flash   string
	Parcels []portalParcel
	Garages []handoff.Garage // for the per-parcel key delivery choice
}

// portalParcel is one parcel as its recipient (or gift buyer) sees it.
type portalParcel struct {
	handoff.RecipientParcel
	// Events are the timeline, shown by the layout's "history" without
	// actors: who at the carrier did what is not the recipient's concern.
	Events []historyRow
	// Photo is the delivery photo to show, nil when there is none.
	Photo *handoff.PhotoInfo
	// PhotoWhen is when it was taken, in the zone of the delivery.
	PhotoWhen string
	// NoPhoto says why there is no photo to show, "" when there is one or
	// the parcel is not delivered yet.
	NoPhoto string
	// KeyChoice offers the per-parcel key delivery choice: the viewer is the
	// recipient, has a garage, and the parcel is still to be delivered.
	KeyChoice bool
	// Check is the signature (and age check) taken when the parcel was
	// handed over, nil when none was; the recipient sees who signed.
	Check *handoff.DoorCheckInfo
}

// portalFinished are the summary statuses after which nothing more will
// be delivered, so no key delivery choice is offered.
var portalFinished = []string{tracking.StatusDelivered, tracking.StatusRejected, tracking.StatusUndeliverable}

// portalParcels shows the recipient's parcels across shippers: status, bag
// IDs, today's passcode where one is needed, the timeline and the photo.
// This is the one page that shows a passcode, and only to the recipient (or
// gift buyer) it was made for: the store fills it for them alone.
func (s *Server) portalParcels(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rc := recipientFrom(ctx)
	ps, err := s.Recipients.RecipientParcels(ctx, rc.contact)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	garages, err := s.Garages.RecipientGarages(ctx, rc.contact)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := &portalParcelsPage{Contact: rc.contact, Garages: garages}
	if r.URL.Query().Get("saved") == "key" {
		page.Flash = "Saved your key delivery choice."
	}
	for _, p := range ps {
		pp := portalParcel{RecipientParcel: p}
		// Newest first, and a line that only repeats the one before it
		// left out, as on the public tracking page.
		for i := len(p.Events) - 1; i >= 0; i-- {
			row := portalEventView(p.Events[i])
			if n := len(pp.Events); n > 0 && pp.Events[n-1].Event == row.Event && pp.Events[n-1].Detail == row.Detail && pp.Events[n-1].Place == row.Place {
				continue
			}
			pp.Events = append(pp.Events, row)
		}
		delivered := p.Status == tracking.StatusDelivered
		pp.KeyChoice = !p.AsBuyer && len(garages) > 0 && !slices.Contains(portalFinished, p.Status)
		// The photo is the recipient's; a gift buyer is not shown it.
		if !p.AsBuyer {
			info, err := s.Photos.PhotoInfo(ctx, p.TrackingID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			pp.Photo, pp.NoPhoto = portalPhotoShown(info, delivered)
			if delivered {
				if pp.Check, err = s.Photos.DoorCheck(ctx, p.TrackingID); err != nil {
					s.fail(w, r, err)
					return
				}
			}
			if pp.Photo != nil && pp.Photo.TakenAt != nil && len(p.Events) > 0 {
				m, _ := market.Lookup(p.Events[len(p.Events)-1].Location.CountryCode)
				pp.PhotoWhen = formatTime(*pp.Photo.TakenAt, m)
			}
		}
		page.Parcels = append(page.Parcels, pp)
	}
	s.render(w, r, http.StatusOK, "portal_parcels", portalView(r, "Your parcels", page))
}

// portalEventView puts a tracking event into words, its time in the zone of
// the marketplace where it happened (UTC when that is not known), and
// leaves out the actor.
func portalEventView(e tracking.Event) historyRow {
	m, _ := market.Lookup(e.Location.CountryCode)
	row := historyRow{Time: e.Time, When: formatTime(e.Time, m), Event: historyEventWords(e.Code),
		Detail: detailWords(e.Detail), Place: townOf(e.Location)}
	if !strings.EqualFold(e.Note, row.Event) {
		row.Note = e.Note
	}
	return row
}

// portalPhotoShown returns the photo to show, or why there is none: a privacy
// rule, the end of its retention, or, for a delivered parcel, that it was
// not left unattended.
func portalPhotoShown(info *handoff.PhotoInfo, delivered bool) (*handoff.PhotoInfo, string) {
	switch {
	case info == nil && delivered:
		return nil, noPhotoNotNeeded
	case info == nil:
		return nil, ""
	case info.SkippedReason != "":
		return nil, codeWords(portalNoPhotoWords, info.SkippedReason)
	case info.RemovedAt != nil:
		return nil, noPhotoRemoved
	case info.ID == "":
		return nil, ""
	}
	return info, ""
}

// portalPhoto serves the delivery photo of one of the recipient's own
// parcels, full size or as a thumbnail. Anyone else's parcel is the 404
// page, as is a parcel with no photo.
func (s *Server) portalPhoto(w http.ResponseWriter, r *http.Request) {
	s.servePhoto(w, r, func(ctx context.Context, id string, thumb bool) ([]byte, error) {
		return s.Photos.RecipientPhoto(ctx, recipientFrom(ctx).contact, id, thumb)
	})
}

// portalSignature serves the drawn signature of one of the recipient's
// parcels (their own views are not logged).
func (s *Server) portalSignature(w http.ResponseWriter, r *http.Request) {
	s.serveSignature(w, r, func(ctx context.Context, id string) ([]byte, error) {
		return s.Photos.RecipientSignature(ctx, recipientFrom(ctx).contact, id)
	})
}

// portalParcelKey chooses key delivery for one parcel, into one of the
// recipient's garages, or takes the choice back. The store refuses another
// person's parcel or garage as not found.
func (s *Server) portalParcelKey(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "trackingId")
	on := r.PostForm.Get(portalOn) == "1"
	err := s.Garages.SetParcelKeyDelivery(r.Context(), recipientFrom(r.Context()).contact, id, r.PostForm.Get(portalGarage), on)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/portal/parcels?saved=key#parcel-"+url.PathEscape(id), http.StatusSeeOther)
}
