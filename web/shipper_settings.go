package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// registerShipperSettings adds shipper central's webhooks, API keys and
// passcode rules pages. They are left out when the server has no Webhooks or
// APIKeys service.
func (s *Server) registerShipperSettings(page func(string, http.HandlerFunc)) {
	if s.Webhooks == nil || s.APIKeys == nil {
		return
	}
	sh := func(pattern string, h http.HandlerFunc) { page(pattern, s.as(auth.KindShipper, h)) }
	sh("GET /settings/webhooks", s.webhooksPage)
	sh("POST /settings/webhooks", s.addWebhook)
	sh("POST /settings/webhooks/{webhookId}/rotate", s.rotateWebhook)
	sh("POST /settings/webhooks/{webhookId}/test", s.testWebhook)
	sh("POST /settings/webhooks/{webhookId}/delete", s.deleteWebhook)
	sh("GET /settings/api-keys", s.apiKeysPage)
	sh("POST /settings/api-keys", s.createAPIKey)
	sh("POST /settings/api-keys/{apiKeyId}/revoke", s.revokeAPIKey)
	sh("GET /settings/rules", s.rulesPage)
	sh("POST /settings/rules", s.saveRules)
}

// logSize is how many deliveries the webhooks page shows per endpoint.
const logSize = 10

// overlapChoice is a rotation overlap the page offers.
type overlapChoice struct {
	Hours int
	Label string // a catalogue key
}

// overlapChoices are the rotation overlaps the page offers; 24 hours is
// the default.
var overlapChoices = []overlapChoice{{0, "no time: stop it now"}, {1, "1 hour"}, {24, "24 hours"}, {72, "3 days"}, {168, "7 days"}}

// webhookView is one endpoint with its latest deliveries.
type webhookView struct {
	ID, URL, Added string
	PreviousUntil  string // "" when no rotation overlap is running
	Deliveries     []deliveryRow
}

// deliveryRow is one line of a delivery log.
type deliveryRow struct {
	handoff.WebhookDelivery
	Queued, Next string
}

// shownSecret is a secret shown once, right after it was made.
type shownSecret struct {
	WebhookID, URL, Value string
	PreviousUntil         string
}

// stamp writes an instant for the developer pages the same way in every
// language: UTC, as the API and the receiver's logs have it.
func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// webhooksPageData is the content of the webhooks page.
type webhooksPageData struct {
	Webhooks []webhookView
	URL      string // the add form's input, kept after an error
	URLError string
	Other    string // an error no field owns
	Secret   *shownSecret
	Tested   string // the endpoint a test event was just queued for
	Deleted  bool
	Overlaps []overlapChoice
	Max      int
}

// webhooksPage lists the shipper's endpoints with their delivery logs.
func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.renderWebhooks(w, r, http.StatusOK, webhooksPageData{Tested: q.Get("tested"), Deleted: q.Get("deleted") == "1"})
}

func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, page webhooksPageData) {
	p := visitorFrom(r.Context()).principal
	hooks, err := s.Webhooks.ListWebhooks(r.Context(), p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, h := range hooks {
		log, err := s.Webhooks.ListDeliveries(r.Context(), p.ID, h.ID, logSize)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v := webhookView{ID: h.ID, URL: h.URL, Added: stamp(&h.CreatedAt), PreviousUntil: stamp(h.PreviousSecretUntil)}
		for _, d := range log {
			v.Deliveries = append(v.Deliveries, deliveryRow{WebhookDelivery: d, Queued: stamp(&d.CreatedAt), Next: stamp(d.NextAttemptAt)})
		}
		page.Webhooks = append(page.Webhooks, v)
	}
	page.Overlaps, page.Max = overlapChoices, maxWebhooks
	s.render(w, r, status, "webhooks", newView(r, "Webhooks", "webhooks", page))
}

// maxWebhooks is the store's bound, said on the page.
const maxWebhooks = 10

// addWebhook registers an endpoint and shows its secret, this once: the
// answer is the page itself, never a redirect that could carry it.
func (s *Server) addWebhook(w http.ResponseWriter, r *http.Request) {
	p := visitorFrom(r.Context()).principal
	u := strings.TrimSpace(r.PostForm.Get("url"))
	wh, err := s.Webhooks.CreateWebhook(r.Context(), p.ID, u)
	switch handoff.ErrorCode(err) {
	case "":
		noStore(w)
		s.renderWebhooks(w, r, http.StatusOK, webhooksPageData{Secret: &shownSecret{WebhookID: wh.ID, URL: wh.URL, Value: wh.Secret}})
	case handoff.EINVALID:
		msg := handoff.ErrorMessage(err)
		if fs := handoff.ErrorFields(err); len(fs) > 0 {
			msg = fs[0].Message
		}
		s.renderWebhooks(w, r, http.StatusBadRequest, webhooksPageData{URL: u, URLError: msg})
	case handoff.ECONFLICT:
		s.renderWebhooks(w, r, http.StatusConflict, webhooksPageData{URL: u, Other: "conflict"})
	default:
		s.fail(w, r, err)
	}
}

// rotateWebhook gives an endpoint a new secret and shows it once.
func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	p := visitorFrom(r.Context()).principal
	hours := int(handoff.DefaultSecretOverlap / time.Hour)
	if v := r.PostForm.Get("overlap"); v != "" {
		// The form offers only allowed choices; anything else is refused,
		// as the API refuses it, rather than replaced.
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > int(handoff.MaxSecretOverlap/time.Hour) {
			s.fail(w, r, handoff.Invalid(handoff.FieldError{Field: "overlap", Message: fmt.Sprintf("must be a whole number of hours from 0 to %d", int(handoff.MaxSecretOverlap/time.Hour))}))
			return
		}
		hours = n
	}
	wh, err := s.Webhooks.RotateWebhookSecret(r.Context(), p.ID, r.PathValue("webhookId"), time.Duration(hours)*time.Hour)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noStore(w)
	s.renderWebhooks(w, r, http.StatusOK, webhooksPageData{Secret: &shownSecret{WebhookID: wh.ID, URL: wh.URL, Value: wh.Secret, PreviousUntil: stamp(wh.PreviousSecretUntil)}})
}

// testWebhook queues a test event and comes back to the endpoint's log.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("webhookId")
	if _, err := s.Webhooks.SendTestEvent(r.Context(), visitorFrom(r.Context()).principal.ID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/webhooks?tested="+id+"#"+id, http.StatusSeeOther)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.Webhooks.DeleteWebhook(r.Context(), visitorFrom(r.Context()).principal.ID, r.PathValue("webhookId")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/webhooks?deleted=1", http.StatusSeeOther)
}

// noStore keeps a page that shows a secret out of every cache.
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// apiKeysPageData is the content of the API keys page.
type apiKeysPageData struct {
	Keys      []keyRow
	Name      string
	NameError string
	Other     string
	New       *keyRow // the key just made, shown this once
	Revoked   bool
	Max       int
}

func (s *Server) apiKeysPage(w http.ResponseWriter, r *http.Request) {
	s.renderAPIKeys(w, r, http.StatusOK, apiKeysPageData{Revoked: r.URL.Query().Get("revoked") == "1"})
}

func (s *Server) renderAPIKeys(w http.ResponseWriter, r *http.Request, status int, page apiKeysPageData) {
	keys, err := s.APIKeys.ListAPIKeys(r.Context(), visitorFrom(r.Context()).principal.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, k := range keys {
		page.Keys = append(page.Keys, newKeyRow(k))
	}
	page.Max = handoff.MaxAPIKeys
	s.render(w, r, status, "apikeys", newView(r, "API keys", "apikeys", page))
}

// createAPIKey issues a named key and shows it, this once.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	k, err := s.APIKeys.CreateAPIKey(r.Context(), visitorFrom(r.Context()).principal.ID, name)
	switch handoff.ErrorCode(err) {
	case "":
		noStore(w)
		row := newKeyRow(*k)
		s.renderAPIKeys(w, r, http.StatusOK, apiKeysPageData{New: &row})
	case handoff.EINVALID:
		s.renderAPIKeys(w, r, http.StatusBadRequest, apiKeysPageData{Name: name, NameError: "name"})
	case handoff.ECONFLICT:
		s.renderAPIKeys(w, r, http.StatusConflict, apiKeysPageData{Name: name, Other: "conflict"})
	default:
		s.fail(w, r, err)
	}
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := s.APIKeys.RevokeAPIKey(r.Context(), visitorFrom(r.Context()).principal.ID, r.PathValue("apiKeyId")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/api-keys?revoked=1", http.StatusSeeOther)
}

// keyRow is an API key as the page shows it.
type keyRow struct {
	handoff.APIKey
	Created, LastUsed string
}

func newKeyRow(k handoff.APIKey) keyRow {
	return keyRow{APIKey: k, Created: stamp(&k.CreatedAt), LastUsed: stamp(k.LastUsedAt)}
}
