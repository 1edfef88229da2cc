package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/limit"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// slowPost sends a photo delivery the way a phone on a weak signal does: the
// body goes in 20 pieces with pause between them. A client that stalls sends
// only the first stallAt bytes and then waits for the answer.
func slowPost(t *testing.T, e *env, path, key, contentType string, body []byte, pause time.Duration, stallAt int) resp {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) // the test's own bound
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, key, contentType, len(body))
	step := max(1, len(body)/20)
	for i := 0; i < len(body) && i < stallAt; i += step {
		if _, err := conn.Write(body[i:min(i+step, len(body), stallAt)]); err != nil {
			break // the server gave up on the body: its answer says why
		}
		time.Sleep(pause) // the client's pace, not an ordering of events
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// TestSlowPhotoUpload: with a read timeout of 200 ms, a photo upload gets
// 200 ms plus its size at the minimum rate (here 500 bytes a second, about
// 2.8 s for this one). Sent over about a second it is delivered; stalled
// halfway it is answered 408, saying it was cut off — not that the photo
// could not be read.
func TestSlowPhotoUpload(t *testing.T) {
	// Write is the time to answer once a body is in, for every request of
	// the test (making an associate hashes a password, slow under -race
	// on a busy machine); only the reading is paced tightly.
	pace := limit.Pace{Read: 200 * time.Millisecond, Write: 15 * time.Second, MinRate: 500}
	e := newEnvWith(t, sqlstoretest.Open(t, sqlstore.SQLite), func(s *api.Server, hs *http.Server) {
		s.Pace = pace
		hs.ReadTimeout, hs.WriteTimeout = pace.Read, pace.Write
	})
	d := newDay(t, e, monday)
	a := d.label("Ivy", "1 Elm St", "07700900201", "30", "books")
	b := d.label("Jo", "2 Elm St", "07700900202", "30", "books")
	d.receive(a, b)
	route := d.route("2026-11-23", []any{map[string]any{"trackingId": a}, map[string]any{"trackingId": b}})
	photo, err := os.ReadFile(filepath.Join("..", "photo", "testdata", "gps-orientation6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	form := func() (string, []byte) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("place", "DeliveredToPorch")
		fw, _ := mw.CreateFormFile("photo", "porch.jpg")
		fw.Write(photo)
		mw.Close()
		return mw.FormDataContentType(), body.Bytes()
	}
	ct, body := form()
	if allowed := pace.For(int64(len(body))); allowed < 2*time.Second {
		t.Fatalf("the upload is allowed only %s", allowed)
	}

	start := time.Now()
	r := slowPost(t, e, "/v1/associate/stops/"+stopOf(t, route, a)["stopId"].(string)+"/deliver", d.da1Key, ct, body, 50*time.Millisecond, len(body))
	if took := time.Since(start); r.Status != 200 || took < pace.Read {
		t.Fatalf("a slow upload within its time (%s): %d %s", took, r.Status, r.Body)
	}

	ct, body = form()
	r = slowPost(t, e, "/v1/associate/stops/"+stopOf(t, route, b)["stopId"].(string)+"/deliver", d.da1Key, ct, body, 10*time.Millisecond, len(body)/2)
	p := problem(t, r, 408, "")
	if p["code"] != "timeout" || !strings.Contains(p["detail"].(string), "cut off") {
		t.Errorf("a stalled upload: %v", p)
	}
}
