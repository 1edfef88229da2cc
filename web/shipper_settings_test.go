package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/shipperhooks"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/web"
)

// withHooks gives the pages the webhooks and API keys services.
func withHooks(s *web.Server) {
	db := s.Settings.(*sqlstore.DB)
	s.Webhooks, s.APIKeys = shipperhooks.New(db, true, true), db
}

// TestShipperSettingsForms posts the webhooks, API keys and rules forms as
// a browser without JavaScript does: a bad URL or key name comes back at its
// field with the input kept, another shipper's webhook or key is not found,
// and a rule's dry run shows the decision without saving it.
func TestShipperSettingsForms(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine, withHooks)
		b := e.signedIn(t, e.seed.Shipper)
		_, page := b.get("/settings/webhooks")
		tok := csrf(t, page)

		res, body := b.post("/settings/webhooks", url.Values{"csrf": {tok}, "url": {"ftp://shop.example.com/x"}})
		wantStatus(t, res, body, 400)
		if !strings.Contains(body, `id="url-error"`) || !strings.Contains(body, `value="ftp://shop.example.com/x"`) {
			t.Errorf("a bad URL is not named at its field with the input kept:\n%s", body)
		}
		res, body = b.post("/settings/webhooks", url.Values{"csrf": {tok}, "url": {"http://127.0.0.1:9/hooks"}})
		if res.StatusCode != 200 {
			t.Log(e.log.String())
		}
		wantStatus(t, res, body, 200)
		if !strings.Contains(body, `id="webhook-secret"`) || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("the new webhook's secret is not shown (or may be cached):\n%s", body)
		}
		hooks, err := e.db.ListWebhooks(t.Context(), e.seed.Shipper.Principal.ID)
		if err != nil || len(hooks) != 1 {
			t.Fatalf("webhooks %v %v", hooks, err)
		}
		id := hooks[0].ID

		// An overlap the form does not offer is refused, not replaced, and
		// the secret is not rotated.
		res, body = b.post("/settings/webhooks/"+id+"/rotate", url.Values{"csrf": {tok}, "overlap": {"999"}})
		wantStatus(t, res, body, 400)
		if strings.Contains(body, `id="webhook-secret"`) {
			t.Errorf("a refused rotation showed a new secret")
		}
		if again, _ := e.db.ListWebhooks(t.Context(), e.seed.Shipper.Principal.ID); len(again) != 1 || again[0].PreviousSecretUntil != nil {
			t.Errorf("a refused rotation rotated the secret: %+v", again)
		}
		res, body = b.post("/settings/webhooks/"+id+"/rotate", url.Values{"csrf": {tok}, "overlap": {"0"}})
		wantStatus(t, res, body, 200)
		if !strings.Contains(body, `id="webhook-secret"`) {
			t.Errorf("an allowed rotation showed no new secret:\n%s", body)
		}

		// Another shipper's webhook and key are not found.
		other := e.signedIn(t, e.seed.Station) // not a shipper: refused outright
		res, body = other.post("/settings/webhooks/"+id+"/rotate", url.Values{"csrf": {tok}})
		if res.StatusCode == 200 {
			t.Fatalf("a station rotated a shipper's webhook")
		}
		p2, cred2, err := e.db.CreatePrincipal(t.Context(), handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Other shop"})
		if err != nil {
			t.Fatal(err)
		}
		o := e.signedIn(t, account{p2, cred2})
		_, opage := o.get("/settings/webhooks")
		for _, path := range []string{"/settings/webhooks/" + id + "/rotate", "/settings/webhooks/" + id + "/test", "/settings/webhooks/" + id + "/delete"} {
			res, body = o.post(path, url.Values{"csrf": {csrf(t, opage)}})
			wantStatus(t, res, body, 404)
		}
		keys, _ := e.db.ListAPIKeys(t.Context(), e.seed.Shipper.Principal.ID)
		res, body = o.post("/settings/api-keys/"+keys[0].ID+"/revoke", url.Values{"csrf": {csrf(t, opage)}})
		wantStatus(t, res, body, 404)

		res, body = b.post("/settings/api-keys", url.Values{"csrf": {tok}, "name": {strings.Repeat("k", 101)}})
		wantStatus(t, res, body, 400)
		if !strings.Contains(body, `id="name-error"`) {
			t.Errorf("an overlong key name is not named at its field:\n%s", body)
		}

		// The dry run: the rule decides the sample, nothing is saved.
		form := url.Values{"csrf": {tok}, "rows": {"2"}, "name_0": {"Phones"}, "expression_0": {"'smartphone' in categories"},
			"market": {"GB"}, "value": {"20"}, "payment": {"PREPAID"}, "phone": {"+447700900123"}, "categories": {"smartphone"}, "action": {"dryrun"}}
		res, body = b.post("/settings/rules", form)
		wantStatus(t, res, body, 200)
		if !strings.Contains(body, `data-reason="SHIPPER_RULE"`) || !strings.Contains(body, "Passcode required") {
			t.Errorf("the dry run does not show the rule's decision:\n%s", body)
		}
		if set, _ := e.db.Settings(t.Context(), e.seed.Shipper.Principal.ID); len(set.SecureDelivery.Rules) != 0 {
			t.Error("the dry run saved the rule")
		}
		form.Set("categories", "books")
		_, body = b.post("/settings/rules", form)
		if !strings.Contains(body, `data-reason="AT_OR_BELOW_THRESHOLD"`) || !strings.Contains(body, "No passcode") {
			t.Errorf("a sample the rule does not match still gets a passcode:\n%s", body)
		}
		form.Set("value", "lots")
		res, body = b.post("/settings/rules", form)
		wantStatus(t, res, body, 400)
		if !strings.Contains(body, `id="value-error"`) || !strings.Contains(body, `value="lots"`) {
			t.Errorf("a bad sample value is not named at its field:\n%s", body)
		}
	})
}
