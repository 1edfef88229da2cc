package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// This file is where the load test reads the day's codes: the messages the
// server sends, from its dev outbox page (no provider configured) or from
// the sinks the load test runs in place of an SMS provider and a mail
// server. A recipient's code is read only from a message sent to them, as
// their phone would.

// codeRe finds a passcode: six digits on their own, not part of a tracking
// ID, phone number or date.
var codeRe = regexp.MustCompile(`\b\d{6}\b`)

// codeBook holds the codes that reached recipients, by phone or email.
type codeBook struct {
	mu    sync.Mutex
	codes map[string]string
	seen  map[string]bool // dev outbox message IDs already read
	// latency is how long the sinks take to answer each message.
	latency time.Duration
}

// answerLater waits the sinks' latency, as a provider's answer takes its
// round trip across a network.
func (b *codeBook) answerLater(ctx context.Context) {
	if b.latency <= 0 {
		return
	}
	t := time.NewTimer(b.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func newCodeBook() *codeBook { return &codeBook{codes: map[string]string{}, seen: map[string]bool{}} }

// of returns the code that reached a recipient, by text or by email.
func (b *codeBook) of(r *recipient) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.codes[r.mobile]; ok {
		return c, true
	}
	c, ok := b.codes[r.email]
	return c, ok
}

// read takes the code out of a message of a kind that carries one.
func (b *codeBook) read(kind, to, text string) {
	if kind != "out_for_delivery" && kind != "resend" && kind != "" {
		return
	}
	code := codeRe.FindString(text)
	if code == "" {
		return
	}
	b.mu.Lock()
	b.codes[to] = code
	b.mu.Unlock()
}

// poll reads the dev outbox every tenth of a second until the returned
// function is called, when no sink is listening: the page keeps only the
// newest messages, so it is read while they arrive.
func (b *codeBook) poll(ctx context.Context, lt *loadtest) func() {
	if lt.cfg.SMSSink != "" || lt.cfg.SMTPSink != "" {
		return func() {}
	}
	b.readOutbox(ctx, lt)
	return every(ctx, 100*time.Millisecond, func() { b.readOutbox(ctx, lt) })
}

func (b *codeBook) readOutbox(ctx context.Context, lt *loadtest) {
	var page struct {
		Messages []struct {
			ID, Kind, To, Text string
		} `json:"messages"`
	}
	if _, err := lt.do(context.WithoutCancel(ctx), &call{method: "GET", path: "/dev/outbox?format=json", want: 200, into: &page}); err != nil {
		return
	}
	for _, m := range page.Messages {
		b.mu.Lock()
		seen := b.seen[m.ID]
		b.seen[m.ID] = true
		b.mu.Unlock()
		if !seen {
			b.read(m.Kind, m.To, m.Text)
		}
	}
}

// listen starts the sinks that are asked for, and returns how to stop them.
func (b *codeBook) listen(smsAddr, smtpAddr string) (func(), error) {
	var stops []func()
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	if smsAddr != "" {
		ln, err := net.Listen("tcp", smsAddr)
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(b.serveSMS), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		stops = append(stops, func() { srv.Close() })
	}
	if smtpAddr != "" {
		ln, err := net.Listen("tcp", smtpAddr)
		if err != nil {
			stop()
			return nil, err
		}
		srv := smtp.NewServer(smtpSink{b})
		srv.Domain = "localhost"
		srv.AllowInsecureAuth = true
		go srv.Serve(ln)
		stops = append(stops, func() { srv.Close() })
	}
	return stop, nil
}

// serveSMS is the SMS webhook provider: {"id","to","text","kind"}.
func (b *codeBook) serveSMS(w http.ResponseWriter, r *http.Request) {
	var m struct{ To, Text, Kind string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	b.read(m.Kind, m.To, m.Text)
	b.answerLater(r.Context())
	w.WriteHeader(http.StatusAccepted)
}

// smtpSink is the mail server: it reads each message's code.
type smtpSink struct{ b *codeBook }

func (s smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{b: s.b}, nil }

type sinkSession struct {
	b  *codeBook
	to string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *sinkSession) Reset()                                    {}
func (s *sinkSession) Logout() error                             { return nil }
func (s *sinkSession) AuthPlain(string, string) error            { return nil }

func (s *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	text, _ := io.ReadAll(io.LimitReader(body, 1<<20))
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	// Only code messages' subjects and bodies say "code".
	if strings.Contains(strings.ToLower(subject+string(text)), "code") {
		s.b.read("", strings.ToLower(s.to), string(text))
	}
	s.b.answerLater(context.Background())
	return nil
}

// samplePhoto returns a real JPEG, of the size of a phone's photo after the
// app shrinks it for upload.
func samplePhoto() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x * 255 / 640), uint8(y * 255 / 480), uint8((x + y) % 256), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
