package notify_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/handoff-dev/handoff/notify"
)

// scripted is an SMTP server on 127.0.0.1 that offers PIPELINING and
// CHUNKING only when told (go-smtp always offers both), answers RCPT for
// refused with the reply given, and closes each connection after close
// messages (0: never), as a server does with a connection left idle.
type scripted struct {
	refuse               map[string]string // recipient → reply line
	close                int
	pipelining, chunking bool

	mu       sync.Mutex
	sessions int
	got      []string // recipients of the messages accepted
	bodies   []string // and their messages as they came
	commands []string
	// turns counts the times the server, within a mail transaction, had
	// read everything the client sent and waited for more: the round
	// trips the client made.
	turns int
	addr  string
}

func startScripted(t testing.TB, s *scripted) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sessions++
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

func (s *scripted) serve(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	reply("220 scripted ESMTP")
	var to string
	done := 0
	waited := func() {
		if r.Buffered() == 0 {
			s.mu.Lock()
			s.turns++
			s.mu.Unlock()
		}
	}
	accept := func(body string) {
		s.mu.Lock()
		s.got = append(s.got, to)
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		reply("250 queued")
	}
	for {
		idle := r.Buffered() == 0
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		s.mu.Lock()
		s.commands = append(s.commands, strings.Fields(line + " x")[0])
		if idle && (verb == "MAIL" || verb == "RCPT" || verb == "DATA" || verb == "BDAT") {
			s.turns++
		}
		s.mu.Unlock()
		switch verb {
		case "EHLO":
			w.WriteString("250-scripted\r\n")
			if s.pipelining {
				w.WriteString("250-PIPELINING\r\n")
			}
			if s.chunking {
				w.WriteString("250-CHUNKING\r\n")
			}
			w.WriteString("250 8BITMIME\r\n")
			w.Flush()
		case "HELO", "NOOP", "RSET":
			reply("250 OK")
		case "MAIL":
			to = ""
			reply("250 OK")
		case "RCPT":
			to = strings.TrimSuffix(strings.TrimPrefix(line[len("RCPT TO:"):], "<"), ">")
			if r, ok := s.refuse[to]; ok {
				to = ""
				reply(r)
				continue
			}
			reply("250 OK")
		case "DATA":
			if to == "" {
				reply("503 no valid recipients")
				continue
			}
			reply("354 go ahead")
			var body strings.Builder
			for {
				waited()
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(strings.TrimPrefix(l, "."))
			}
			accept(body.String())
			if done++; s.close > 0 && done >= s.close {
				return
			}
		case "BDAT":
			// One chunk, the last (RFC 3030): what the client sends.
			f := strings.Fields(line)
			n, err := strconv.Atoi(f[1])
			if !s.chunking || len(f) != 3 || f[2] != "LAST" || err != nil || n < 0 {
				reply("501 bad BDAT")
				return
			}
			waited()
			chunk := make([]byte, n)
			if _, err := io.ReadFull(r, chunk); err != nil {
				return
			}
			if to == "" {
				reply("503 no valid recipients")
				continue
			}
			accept(string(chunk))
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown")
		}
	}
}

func newSMTP(t testing.TB, addr string) *notify.SMTP {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	s, err := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: p, From: "parcels@example.com", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func email(id, to string) notify.Message {
	return notify.Message{ID: id, Kind: "out_for_delivery", Channel: notify.Email, To: to, Subject: "Your parcel", Text: "It comes today.\n.\nA line with a dot."}
}

// TestSMTPPipelinesOneConnection sends a claim's emails over one
// connection to a server that offers PIPELINING, each once and whole (a
// line of a single dot included), and refuses for good what the server
// refuses with 5xx.
func TestSMTPPipelinesOneConnection(t *testing.T) {
	box := startSMTP(t)
	s := newSMTP(t, box.addr)
	defer s.Release()
	for i, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := s.Send(context.Background(), email(fmt.Sprint("msg_", i), to)); err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
	}
	got := box.all()
	if len(got) != 3 || box.sessions != 1 { // sessions: no send is running
		t.Fatalf("%d emails over %d connections, want 3 over 1", len(got), box.sessions)
	}
	for i, m := range got {
		if m.From != "parcels@example.com" || m.MessageID != fmt.Sprintf("<msg_%d@handoff>", i) || !strings.Contains(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n.\nA line with a dot.") {
			t.Errorf("email %d: %+v", i, m)
		}
	}
	box.mu.Lock()
	box.refuse = map[string]*smtp.SMTPError{"gone@example.com": {Code: 550, Message: "no such user"}}
	box.mu.Unlock()
	if err := s.Send(context.Background(), email("msg_x", "gone@example.com")); err == nil || !notify.IsPermanent(err) {
		t.Errorf("a refused recipient: %v, want a permanent failure", err)
	}
	if err := s.Send(context.Background(), email("msg_y", "d@example.com")); err != nil {
		t.Errorf("the next email after a refusal: %v", err)
	}
	if n := len(box.all()); n != 4 {
		t.Errorf("%d emails accepted, want 4", n)
	}
}

// TestSMTPRoundTrips sends three emails over one connection to servers
// offering PIPELINING and CHUNKING, PIPELINING alone, and neither: each
// arrives whole and as written (the line of a single dot included, which
// DATA stuffs and a BDAT chunk carries as it is), in one round trip a
// message with both, two with PIPELINING alone and four without. A
// recipient refused before the chunk fails its message for good and leaves
// the next one to go through.
func TestSMTPRoundTrips(t *testing.T) {
	for _, c := range []struct {
		name                 string
		pipelining, chunking bool
		last                 string // the command that carries the message
		turns                int
	}{
		{"pipelining and chunking", true, true, "BDAT", 1},
		{"pipelining", true, false, "DATA", 2},
		{"chunking without pipelining", false, true, "DATA", 4},
		{"neither", false, false, "DATA", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startScripted(t, &scripted{pipelining: c.pipelining, chunking: c.chunking, refuse: map[string]string{"gone@example.com": "550 no such user"}})
			s := newSMTP(t, srv.addr)
			defer s.Release()
			for i, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
				if err := s.Send(context.Background(), email(fmt.Sprint("msg_", i), to)); err != nil {
					t.Fatalf("send to %s: %v", to, err)
				}
			}
			srv.mu.Lock()
			turns, bodies, sessions := srv.turns, append([]string(nil), srv.bodies...), srv.sessions
			var carried []string
			for _, cmd := range srv.commands {
				if cmd == "DATA" || cmd == "BDAT" {
					carried = append(carried, cmd)
				}
			}
			srv.mu.Unlock()
			if len(bodies) != 3 || sessions != 1 {
				t.Fatalf("%d emails over %d connections, want 3 over 1", len(bodies), sessions)
			}
			if turns != 3*c.turns {
				t.Errorf("%d round trips for 3 emails, want %d each", turns, c.turns)
			}
			if want := strings.TrimSpace(strings.Repeat(c.last+" ", 3)); strings.Join(carried, " ") != want {
				t.Errorf("messages carried by %v, want %s", carried, want)
			}
			for i, b := range bodies {
				if !strings.Contains(b, "\r\nMessage-ID: <msg_"+fmt.Sprint(i)+"@handoff>\r\n") ||
					!strings.HasSuffix(b, "It comes today.\r\n.\r\nA line with a dot.\r\n") {
					t.Errorf("email %d arrived as %q", i, b)
				}
			}
			if err := s.Send(context.Background(), email("msg_x", "gone@example.com")); err == nil || !notify.IsPermanent(err) {
				t.Errorf("a refused recipient: %v, want a permanent failure", err)
			}
			if err := s.Send(context.Background(), email("msg_y", "d@example.com")); err != nil {
				t.Errorf("the next email after a refusal: %v", err)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if strings.Join(srv.got, " ") != "a@example.com b@example.com c@example.com d@example.com" {
				t.Errorf("accepted for %v", srv.got)
			}
		})
	}
}

// BenchmarkSMTPSend sends emails one after another over a kept connection
// to a local server (scripted, in this process: its work is counted too)
// offering PIPELINING with and without CHUNKING.
func BenchmarkSMTPSend(b *testing.B) {
	for _, chunking := range []bool{true, false} {
		b.Run(map[bool]string{true: "bdat", false: "data"}[chunking], func(b *testing.B) {
			srv := startScripted(b, &scripted{pipelining: true, chunking: chunking})
			s := newSMTP(b, srv.addr)
			defer s.Release()
			m := email("msg_1", "a@example.com")
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Send(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSMTPWithoutPipelining sends command by command to a server that does
// not offer PIPELINING; tells a refusal for good (5xx) from one that may
// pass (4xx); and, when the server has closed the kept connection, sends on
// a new one, once.
func TestSMTPWithoutPipelining(t *testing.T) {
	srv := startScripted(t, &scripted{close: 2, refuse: map[string]string{
		"gone@example.com": "550 5.1.1 no such user", "full@example.com": "452 4.2.2 mailbox full"}})
	s := newSMTP(t, srv.addr)
	defer s.Release()
	for i, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := s.Send(context.Background(), email(fmt.Sprint("msg_", i), to)); err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
	}
	if err := s.Send(context.Background(), email("msg_g", "gone@example.com")); err == nil || !notify.IsPermanent(err) {
		t.Errorf("550: %v, want a permanent failure", err)
	}
	if err := s.Send(context.Background(), email("msg_f", "full@example.com")); err == nil || notify.IsPermanent(err) {
		t.Errorf("452: %v, want a failure that may pass", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if strings.Join(srv.got, " ") != "a@example.com b@example.com c@example.com" || srv.sessions < 2 {
		t.Errorf("accepted %v over %d connections; want a, b, c, the third on a second connection", srv.got, srv.sessions)
	}
	for _, c := range srv.commands {
		if c == "NOOP" || c == "RSET" {
			t.Errorf("the client sent %s; a completed transaction needs neither", c)
		}
	}
}

// TestSMTPSendsSideBySide sends from four goroutines at once: each email
// arrives once and whole, over at most four connections (one per send in
// flight), which the next emails use again instead of dialling.
func TestSMTPSendsSideBySide(t *testing.T) {
	box := startSMTP(t)
	s := newSMTP(t, box.addr)
	defer s.Release()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				errs <- s.Send(context.Background(), email(fmt.Sprintf("msg_%d_%d", g, i), fmt.Sprintf("r%d@example.com", g)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(context.Background(), email("msg_last", "z@example.com")); err != nil {
		t.Fatal(err)
	}
	got := box.all()
	ids := map[string]bool{}
	for _, m := range got {
		ids[m.MessageID] = true
	}
	if len(got) != 21 || len(ids) != 21 {
		t.Fatalf("%d emails (%d different) accepted, want 21", len(got), len(ids))
	}
	box.mu.Lock()
	sessions := box.sessions
	box.mu.Unlock()
	if sessions < 1 || sessions > 4 {
		t.Errorf("%d connections for 4 senders, want at most 4", sessions)
	}
}

// TestSMTPHeaders sends words outside ASCII in the subject, the sender's
// name and the text, and a subject with a line break in it: each arrives
// as written, and the line break never starts a header of its own.
func TestSMTPHeaders(t *testing.T) {
	box := startSMTP(t)
	host, port, _ := net.SplitHostPort(box.addr)
	var p int
	fmt.Sscan(port, &p)
	s, err := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: p, From: "Colis Rapides Élan <parcels@example.com>", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	long := strings.Repeat("Votre colis arrive aujourd'hui, entre 10:00 et 12:00. ", 5)
	m := notify.Message{ID: "msg_h", Kind: "out_for_delivery", Channel: notify.Email, To: "zoé@example.com",
		Subject: "Élan : HO7Q arrive aujourd’hui\r\nBcc: evil@example.com", Text: "Bonjour Zoé,\n\n" + long + "\n"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := box.all()
	if len(got) != 1 {
		t.Fatalf("%d emails, want 1", len(got))
	}
	e := got[0]
	if e.Subject != m.Subject || e.Header.Get("Bcc") != "" || e.To != "zoé@example.com" || e.From != "parcels@example.com" {
		t.Errorf("subject %q, Bcc %q, to %q, from %q", e.Subject, e.Header.Get("Bcc"), e.To, e.From)
	}
	if from, err := (&mime.WordDecoder{}).DecodeHeader(e.Header.Get("From")); err != nil || !strings.Contains(from, "Colis Rapides Élan") {
		t.Errorf("From header %q (%v), want the sender's name", e.Header.Get("From"), err)
	}
	if body := strings.ReplaceAll(e.Body, "\r\n", "\n"); body != m.Text {
		t.Errorf("body %q, want %q", body, m.Text)
	}
	if e.Header.Get("Date") == "" || e.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Errorf("headers %v", e.Header)
	}
}
