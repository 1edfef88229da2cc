package api_test

import (
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/handoff-dev/handoff/api/apitest"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/egress"
	"github.com/handoff-dev/handoff/notify"
)

// hookWorker delivers the shipper webhooks the store has queued.
func hookWorker(e *env) *notify.Worker {
	return &notify.Worker{Store: e.db, Now: e.db.Now, Log: slog.New(slog.DiscardHandler),
		Senders: map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: e.db.ResolveWebhook, Client: egress.Client(15*time.Second, true)}}}
}

// deliveries reads a webhook's delivery log through the API.
func deliveries(t *testing.T, e *env, key, id string) []map[string]any {
	t.Helper()
	r := e.do("GET", "/v1/account/webhooks/"+id+"/deliveries", key, nil)
	if r.Status != 200 {
		t.Fatalf("deliveries: %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	for _, d := range r.JSON(t)["deliveries"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

var standardSecret = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

// TestWebhookStandardSignatures follows a webhook through its life over the
// API: the secret in the Standard Webhooks form, a test event the receiver
// verifies the specification's way (and the ready-made Go library does too),
// a tracking event carrying the shipment ID and the shipper's reference, the
// delivery log through a failure and its retry, and a rotation during whose
// overlap a delivery verifies with either secret.
func TestWebhookStandardSignatures(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.hooks.AllowHTTP = true
		_, key := e.shipper()
		_, other := e.shipper()
		rc := apitest.NewReceiver(t)
		r := e.do("POST", "/v1/account/webhooks", key, map[string]any{"url": rc.URL})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		wh := r.JSON(t)
		id, secret := wh["webhookId"].(string), wh["secret"].(string)
		if !standardSecret.MatchString(secret) {
			t.Fatalf("secret %q is not whsec_ and the standard base64 of 32 bytes", secret)
		}
		rc.SetSecrets(secret)
		w := hookWorker(e)

		// Another shipper's webhook is not found, whatever the action.
		problem(t, e.do("POST", "/v1/account/webhooks/"+id+"/test", other, nil), 404, "")
		problem(t, e.do("POST", "/v1/account/webhooks/"+id+"/rotate", other, nil), 404, "")
		problem(t, e.do("GET", "/v1/account/webhooks/"+id+"/deliveries", other, nil), 404, "")

		r = e.do("POST", "/v1/account/webhooks/"+id+"/test", key, nil)
		if r.Status != 202 {
			t.Fatalf("test: %d %s", r.Status, r.Body)
		}
		testID := r.JSON(t)["deliveryId"].(string)
		if log := deliveries(t, e, key, id); len(log) != 1 || log[0]["status"] != "pending" || log[0]["type"] != "webhook.test" {
			t.Fatalf("log before sending: %v", log)
		}
		if err := w.Drain(t0ctx); err != nil {
			t.Fatal(err)
		}
		d := rc.Next(t, 10*time.Second)
		if len(d.Verified) != 1 || d.Header.Get("webhook-id") != testID || d.Payload["type"] != "webhook.test" {
			t.Fatalf("test delivery: verified %d, webhook-id %q (want %q), payload %v", len(d.Verified), d.Header.Get("webhook-id"), testID, d.Payload)
		}
		lib, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := lib.Verify(d.Body, d.Header); err != nil {
			t.Errorf("the Standard Webhooks Go library refuses the delivery: %v", err)
		}
		if log := deliveries(t, e, key, id); log[0]["status"] != "sent" || log[0]["attempts"] != 1.0 || log[0]["sentAt"] == nil {
			t.Fatalf("log after sending: %v", log)
		}

		// A label's event: the receiver fails once, the log says so and
		// when it is tried again; the retry carries the same webhook-id.
		rc.Fail(1)
		label := e.do("POST", "/v1/shipments", key, shipment("GB", "GBP", "20", "")).JSON(t)
		w.Drain(t0ctx)
		first := rc.Next(t, 10*time.Second)
		log := deliveries(t, e, key, id)
		if log[0]["status"] != "pending" || log[0]["attempts"] != 1.0 || log[0]["lastError"] != "webhook: HTTP 500" || log[0]["nextAttemptAt"] == nil {
			t.Fatalf("log after a failure: %v", log[0])
		}
		later := time.Now().Add(2 * time.Hour)
		e.db.Now = func() time.Time { return later }
		w.Drain(t0ctx)
		retry := rc.Next(t, 10*time.Second)
		if retry.Header.Get("webhook-id") != first.Header.Get("webhook-id") || len(retry.Verified) != 1 {
			t.Fatalf("retry: webhook-id %q then %q, verified %d", first.Header.Get("webhook-id"), retry.Header.Get("webhook-id"), len(retry.Verified))
		}
		if retry.Payload["shipmentId"] != label["shipmentId"] || retry.Payload["packageClientReferenceId"] != "ref-1" || retry.Payload["type"] != "tracking.event" {
			t.Errorf("payload %v lacks the shipment %v or the reference ref-1", retry.Payload, label["shipmentId"])
		}
		e.db.Now = time.Now

		// Rotation with an overlap: each delivery carries both signatures,
		// and each secret alone verifies it.
		problem(t, e.do("POST", "/v1/account/webhooks/"+id+"/rotate", key, map[string]any{"overlapHours": 169}), 400, "overlapHours")
		r = e.do("POST", "/v1/account/webhooks/"+id+"/rotate", key, map[string]any{"overlapHours": 1})
		if r.Status != 200 {
			t.Fatalf("rotate: %d %s", r.Status, r.Body)
		}
		rot := r.JSON(t)
		fresh := rot["secret"].(string)
		if !standardSecret.MatchString(fresh) || fresh == secret || rot["previousSecretUntil"] == nil {
			t.Fatalf("rotation answered %v", rot)
		}
		list := e.do("GET", "/v1/account/webhooks", key, nil)
		if strings.Contains(string(list.Body), fresh) || !strings.Contains(string(list.Body), "previousSecretUntil") {
			t.Fatalf("list after rotation: %s", list.Body)
		}
		rc.SetSecrets(secret, fresh)
		e.do("POST", "/v1/account/webhooks/"+id+"/test", key, nil)
		w.Drain(t0ctx)
		d = rc.Next(t, 10*time.Second)
		if n := len(strings.Fields(d.Header.Get("webhook-signature"))); n != 2 || !slices.Equal(d.Verified, []string{secret, fresh}) {
			t.Fatalf("during the overlap: %d signatures, verified with %d of the two secrets", n, len(d.Verified))
		}

		// Without an overlap the old secret stops at once.
		fresher := e.do("POST", "/v1/account/webhooks/"+id+"/rotate", key, map[string]any{"overlapHours": 0}).JSON(t)["secret"].(string)
		rc.SetSecrets(fresh, fresher)
		e.do("POST", "/v1/account/webhooks/"+id+"/test", key, nil)
		w.Drain(t0ctx)
		d = rc.Next(t, 10*time.Second)
		if !slices.Equal(d.Verified, []string{fresher}) {
			t.Fatalf("after a rotation without overlap the delivery verified with %d secrets (want only the newest)", len(d.Verified))
		}
	})
}

// TestAPIKeys creates, uses and revokes a named key over the API: the key is
// shown once, listed by name and prefix with its last use, and refused the
// moment it is revoked, while the other keys go on working.
func TestAPIKeys(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		_, other := e.shipper()
		problem(t, e.do("POST", "/v1/account/api-keys", key, map[string]any{"name": "  "}), 400, "name")
		r := e.do("POST", "/v1/account/api-keys", key, map[string]any{"name": "Label printer"})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		k := r.JSON(t)
		printer, id := k["key"].(string), k["apiKeyId"].(string)
		if k["prefix"] != printer[:8] || k["name"] != "Label printer" {
			t.Fatalf("created %v", k)
		}
		if r := e.do("GET", "/v1/account/settings", printer, nil); r.Status != 200 {
			t.Fatalf("the new key: %d %s", r.Status, r.Body)
		}
		list := e.do("GET", "/v1/account/api-keys", key, nil)
		if strings.Contains(string(list.Body), printer) {
			t.Fatal("the key is listed in full")
		}
		keys := list.JSON(t)["apiKeys"].([]any)
		if len(keys) != 2 || keys[0].(map[string]any)["name"] != "Onboarding key" || keys[1].(map[string]any)["lastUsedAt"] == nil {
			t.Fatalf("list: %s", list.Body)
		}
		used := keys[1].(map[string]any)["lastUsedAt"]

		// Use within the minute writes nothing; after it, the time moves.
		e.do("GET", "/v1/account/settings", printer, nil)
		if got := e.do("GET", "/v1/account/api-keys", key, nil).JSON(t)["apiKeys"].([]any)[1].(map[string]any)["lastUsedAt"]; got != used {
			t.Errorf("last use rewritten within the minute: %v then %v", used, got)
		}
		later := time.Now().Add(2 * time.Minute)
		e.db.Now = func() time.Time { return later }
		e.do("GET", "/v1/account/settings", printer, nil)
		if got := e.do("GET", "/v1/account/api-keys", key, nil).JSON(t)["apiKeys"].([]any)[1].(map[string]any)["lastUsedAt"]; got == used {
			t.Errorf("last use still %v two minutes later", got)
		}

		problem(t, e.do("DELETE", "/v1/account/api-keys/"+id, other, nil), 404, "")
		if r := e.do("DELETE", "/v1/account/api-keys/"+id, key, nil); r.Status != 204 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		problem(t, e.do("GET", "/v1/account/settings", printer, nil), 401, "")
		problem(t, e.do("DELETE", "/v1/account/api-keys/"+id, key, nil), 404, "")
		if r := e.do("GET", "/v1/account/settings", key, nil); r.Status != 200 {
			t.Fatalf("the onboarding key after revoking another: %d", r.Status)
		}
		if n := len(e.do("GET", "/v1/account/api-keys", key, nil).JSON(t)["apiKeys"].([]any)); n != 1 {
			t.Errorf("%d keys listed after revoking one of two", n)
		}
		var acts []string
		e.db.ExportAudit(t0ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), func(en audit.Entry) error {
			if en.Subject == id {
				acts = append(acts, en.Action)
			}
			return nil
		})
		if !slices.Equal(acts, []string{audit.ActionAPIKeyCreated, audit.ActionAPIKeyRevoked}) {
			t.Errorf("the audit log of the key: %v", acts)
		}
	})
}

// TestSettingsPreview dry-runs a rule against a sample label: the decision
// and its reason come back, nothing is saved, and a broken rule or label is
// named at its field.
func TestSettingsPreview(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		e.otpOn(key)
		sample := shipment("GB", "GBP", "20", "+447700900123")
		sample["packages"].([]any)[0].(map[string]any)["items"] = []any{map[string]any{"description": "Phone", "quantity": 1, "category": "smartphone"}}
		rule := map[string]any{"secureDelivery": map[string]any{"rules": []any{map[string]any{"name": "Phones", "expression": "'smartphone' in categories"}}}}
		r := e.do("POST", "/v1/account/settings/preview", key, map[string]any{"settings": rule, "shipment": sample})
		if r.Status != 200 {
			t.Fatalf("preview: %d %s", r.Status, r.Body)
		}
		otp := r.JSON(t)["packages"].([]any)[0].(map[string]any)["secureDelivery"].(map[string]any)["otp"].(map[string]any)
		if otp["required"] != true || !slices.Contains(otp["reasons"].([]any), any("SHIPPER_RULE")) {
			t.Fatalf("the rule's decision: %v", otp)
		}
		if s := e.do("GET", "/v1/account/settings", key, nil); strings.Contains(string(s.Body), "Phones") {
			t.Fatal("the dry run saved the rule")
		}
		// Without the rule the same label needs no passcode.
		r = e.do("POST", "/v1/account/settings/preview", key, map[string]any{"shipment": sample})
		if otp := r.JSON(t)["packages"].([]any)[0].(map[string]any)["secureDelivery"].(map[string]any)["otp"].(map[string]any); otp["required"] != false {
			t.Fatalf("without the rule: %v", otp)
		}
		bad := map[string]any{"secureDelivery": map[string]any{"rules": []any{map[string]any{"name": "Broken", "expression": "categories >"}}}}
		problem(t, e.do("POST", "/v1/account/settings/preview", key, map[string]any{"settings": bad, "shipment": sample}), 400, "settings.secureDelivery.rules[0].expression")
		problem(t, e.do("POST", "/v1/account/settings/preview", key, map[string]any{"settings": rule}), 400, "shipment")
		broken := shipment("GB", "GBP", "20", "")
		delete(broken["packages"].([]any)[0].(map[string]any), "insuredValue")
		problem(t, e.do("POST", "/v1/account/settings/preview", key, map[string]any{"shipment": broken}), 400, "shipment.packages[0].insuredValue")
	})
}
