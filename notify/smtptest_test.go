package notify_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps
// what it receives.
type mailbox struct {
	mu       sync.Mutex
	msgs     []received
	sessions int           // connections the server accepted
	closed   chan struct{} // one for each session that ended (QUIT or hang-up)
	addr     string
	refuse   map[string]*smtp.SMTPError // RCPT replies by recipient
}

type received struct {
	From, To, Subject, MessageID, Body string
	Header                             mail.Header
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions++
	return &session{box: m}, nil
}

type session struct {
	box      *mailbox
	from, to string
}

func (s *session) AuthPlain(string, string) error              { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	if e, ok := s.box.refuse[to]; ok {
		return e
	}
	s.to = to
	return nil
}
func (s *session) Reset() {}
func (s *session) Logout() error {
	select {
	case s.box.closed <- struct{}{}:
	default:
	}
	return nil
}

// waitClosed waits until n sessions have ended.
func (m *mailbox) waitClosed(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-m.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d connections closed", i, n)
		}
	}
}

func (s *session) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(msg.Body)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	var body []byte
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body, _ = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	case "base64":
		body, _ = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.ReplaceAll(raw, []byte("\r\n"), nil))))
	default:
		body = raw
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, received{From: s.from, To: s.to, Subject: subject, MessageID: msg.Header.Get("Message-Id"), Body: string(body), Header: msg.Header})
	s.box.mu.Unlock()
	return nil
}

func startSMTP(t *testing.T) *mailbox {
	t.Helper()
	box := &mailbox{closed: make(chan struct{}, 1000)}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box
}

func (m *mailbox) all() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.msgs...)
}
