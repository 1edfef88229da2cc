package api_test

import (
	"bytes"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/photo"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// deliverWithPhoto completes a stop's open non-OTP parcels at place with a
// photo from photo/testdata, as the associate's phone uploads it.
func (d *day) deliverWithPhoto(stopID, place, file string, ids ...string) resp {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "photo", "testdata", file))
	if err != nil {
		d.t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("place", place)
	for _, id := range ids {
		mw.WriteField("trackingIds", id)
	}
	fw, _ := mw.CreateFormFile("photo", file)
	fw.Write(data)
	mw.Close()
	return d.do("POST", "/v1/associate/stops/"+stopID+"/deliver", d.da1Key, body.Bytes(), "Content-Type", mw.FormDataContentType())
}

// photoFiles counts the blobs in the test store.
func photoFiles(t *testing.T, e *env) int {
	t.Helper()
	dir := sqlstoretest.Blobs(e.db).(interface{ Root() string }).Root()
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".jpg") {
			n++
		}
	}
	return n
}

func TestPhotoOnDelivery(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "Casey"}).JSON(t)["apiKey"].(string)
		plain := d.label("Ivy", "1 Elm St", "07700900201", "30", "books")
		otp := d.label("Ivy", "1 Elm St", "07700900201", "300", "books")
		d.receive(plain, otp)
		stopID := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": plain}, map[string]any{"trackingId": otp}}), plain)["stopId"].(string)

		// Bad uploads are refused with a clear error and nothing is stored.
		for _, c := range []struct {
			file, want string
			status     int
		}{{"truncated.jpg", "damaged", 400}, {"bomb.png", "pixels", 413}, {"not-an-image.jpg", "not a JPEG", 400}} {
			file, want := c.file, c.want
			r := d.deliverWithPhoto(stopID, "DeliveredToPorch", file)
			p := problem(t, r, c.status, "photo")
			if !strings.Contains(string(r.Body), want) {
				t.Errorf("%s: %v", file, p)
			}
		}
		e.door.Cleaner = photo.Limits{MaxBytes: 100, MaxPixels: photo.DefaultLimits.MaxPixels}
		problem(t, d.deliverWithPhoto(stopID, "DeliveredToPorch", "gps-orientation6.jpg"), 413, "photo")
		e.door.Cleaner = photo.Limits{MaxBytes: 10 << 20, MaxPixels: photo.DefaultLimits.MaxPixels}
		if n := photoFiles(t, e); n != 0 {
			t.Fatalf("%d files stored after refused uploads", n)
		}
		// An OTP parcel is never completed by photo.
		problem(t, d.deliverWithPhoto(stopID, "DeliveredToPorch", "gps-orientation6.jpg", otp), 403, "")

		if r := d.deliverWithPhoto(stopID, "DeliveredToPorch", "gps-orientation6.jpg"); r.Status != 200 {
			t.Fatalf("deliver: %d %s", r.Status, r.Body)
		}
		tr := d.do("GET", "/v1/tracking/"+plain, d.shipperKey, nil).JSON(t)
		pod, _ := tr["summary"].(map[string]any)["proofOfDelivery"].(map[string]any)
		if pod == nil || pod["photo"] != "/v1/tracking/"+plain+"/photo" {
			t.Fatalf("proofOfDelivery = %v", tr["summary"])
		}
		img := d.do("GET", "/v1/tracking/"+plain+"/photo", d.shipperKey, nil)
		if img.Status != 200 || img.Header.Get("Content-Type") != "image/jpeg" || bytes.Contains(img.Body, []byte("Exif")) || bytes.Contains(img.Body, []byte("TestPhone")) {
			t.Fatalf("photo: %d %s, exif left: %v", img.Status, img.Header.Get("Content-Type"), bytes.Contains(img.Body, []byte("Exif")))
		}
		// Another shipper cannot see it.
		_, other := e.shipper()
		problem(t, d.do("GET", "/v1/tracking/"+plain+"/photo", other, nil), 404, "")

		// The photo is stored alone; its thumbnail is made when first
		// asked for, kept, and served from the store after that.
		if n := photoFiles(t, e); n != 1 {
			t.Fatalf("%d files stored with the photo, want the photo alone", n)
		}
		// Customer service sees it; every staff view is logged and shown.
		r := d.do("GET", "/v1/parcels/"+plain+"/photo?size=thumb", cs, nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("agent photo: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		// The photo (40 × 20, turned upright) is smaller than a thumbnail.
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(r.Body)); err != nil || cfg.Width != 20 || cfg.Height != 40 {
			t.Fatalf("thumbnail: %d × %d, %v; want the upright photo's 20 × 40", cfg.Width, cfg.Height, err)
		}
		if n := photoFiles(t, e); n != 2 {
			t.Fatalf("%d files after the first thumbnail, want the photo and its thumbnail", n)
		}
		if again := d.do("GET", "/v1/parcels/"+plain+"/photo?size=thumb", cs, nil); again.Status != 200 || !bytes.Equal(again.Body, r.Body) {
			t.Fatalf("thumbnail again: %d, same bytes %v", again.Status, bytes.Equal(again.Body, r.Body))
		}
		view := d.do("GET", "/v1/parcels/"+plain, cs, nil).JSON(t)
		views := view["photoViews"].([]any)
		kinds := map[any]int{}
		for _, v := range views {
			kinds[v.(map[string]any)["viewerKind"]]++
		}
		if len(views) != 3 || kinds["agent"] != 2 || kinds["shipper"] != 1 {
			t.Errorf("photo views = %v", views)
		}

		// Retention: after 90 days the photo is gone; the record stays.
		later := monday.Add(91 * 24 * time.Hour)
		e.db.Now = func() time.Time { return later }
		n, err := sqlstoretest.Photos(e.db).PurgeExpiredPhotos(t0ctx, 100)
		if err != nil || n != 1 {
			t.Fatalf("purge = %d, %v", n, err)
		}
		if n := photoFiles(t, e); n != 0 {
			t.Errorf("%d files left after purge", n)
		}
		problem(t, d.do("GET", "/v1/tracking/"+plain+"/photo", d.shipperKey, nil), 410, "")
		pod = d.do("GET", "/v1/tracking/"+plain, d.shipperKey, nil).JSON(t)["summary"].(map[string]any)["proofOfDelivery"].(map[string]any)
		if pod["removedAt"] == nil || pod["photo"] != nil {
			t.Errorf("after purge: %v", pod)
		}
		if n, _ := sqlstoretest.Photos(e.db).PurgeExpiredPhotos(t0ctx, 100); n != 0 {
			t.Errorf("purged again: %d", n)
		}
	})
}

func TestPhotoPrivacyRules(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		mk := func(name, mobile string, prefs map[string]any) string {
			b := shipment("GB", "GBP", "20", mobile)
			b["shipTo"].(map[string]any)["name"] = name
			b["shipTo"].(map[string]any)["addressLine1"] = name + " House"
			if prefs != nil {
				b["deliveryPreferences"] = prefs
			}
			r := d.do("POST", "/v1/shipments", d.shipperKey, b)
			if r.Status != 201 {
				t.Fatalf("label: %d %s", r.Status, r.Body)
			}
			return r.JSON(t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
		}
		confidential := mk("Cy", "07700900301", map[string]any{"confidentialAddress": true})
		registry := mk("Gi", "07700900302", map[string]any{"giftRegistry": true})
		optedOut := mk("Oz", "07700900303", nil)
		if err := e.db.SetRecipientPrefs(t0ctx, "+447700900303", recipientPrefsOptOut()); err != nil {
			t.Fatal(err)
		}
		d.receive(confidential, registry, optedOut)
		rt := d.route("2026-11-23", []any{map[string]any{"trackingId": confidential}, map[string]any{"trackingId": registry}, map[string]any{"trackingId": optedOut}})
		for id, reason := range map[string]string{confidential: "ConfidentialAddress", registry: "GiftRegistry", optedOut: "RecipientOptedOut"} {
			stop := stopOf(t, rt, id)
			if stop["needs"].(map[string]any)["photo"] != false {
				t.Errorf("%s: the stop asks for a photo", reason)
			}
			stopID := stop["stopId"].(string)
			// A photo is not accepted…
			problem(t, d.deliverWithPhoto(stopID, "DeliveredToPorch", "gps-orientation6.jpg"), 403, "")
			// …and the delivery completes without one, saying why.
			if r := d.do("POST", "/v1/associate/stops/"+stopID+"/deliver", d.da1Key, map[string]any{"place": "DeliveredToPorch"}); r.Status != 200 {
				t.Fatalf("%s: %d %s", reason, r.Status, r.Body)
			}
			pod := d.do("GET", "/v1/tracking/"+id, d.shipperKey, nil).JSON(t)["summary"].(map[string]any)["proofOfDelivery"].(map[string]any)
			if pod["skippedReason"] != reason || pod["photo"] != nil {
				t.Errorf("%s: proofOfDelivery = %v", reason, pod)
			}
		}
		if n := photoFiles(t, e); n != 0 {
			t.Errorf("%d photos kept despite the privacy rules", n)
		}
		_ = http.StatusOK
	})
}

func recipientPrefsOptOut() handoff.RecipientPrefs { return handoff.RecipientPrefs{PhotoOptOut: true} }
