package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/handoff-dev/handoff"
)

// SMTPConfig configures the email channel.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLS is "starttls" (default; required), "tls" (implicit TLS, port 465),
	// or "none" (only for a local relay).
	TLS     string
	Timeout time.Duration
}

// SMTP sends email through an SMTP server with go-mail. It keeps its
// connections open from a message to the next until the worker releases them
// at the end of a batch, so a batch costs one handshake (TLS, AUTH) per
// connection, not one per message. Messages sent side by side (the worker's
// Concurrency) each take a connection of their own.
type SMTP struct {
	cfg    SMTPConfig
	from   *netmail.Address // cfg.From, parsed
	client *mail.Client

	mu   sync.Mutex
	idle []*smtp.Client // open connections no send is using
}

// NewSMTP returns an SMTP sender; it fails for an incomplete configuration.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.From == "" {
		return nil, fmt.Errorf("smtp: host and from are required")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from: %w", err)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.TLS == "" {
		cfg.TLS = "starttls"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		return nil, fmt.Errorf("smtp: tls must be starttls, tls or none")
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &SMTP{cfg: cfg, from: from, client: c}, nil
}

// Name implements Sender.
func (s *SMTP) Name() string { return "smtp" }

// Send implements Sender. The Message-ID is derived from the message ID, so a
// retried message is recognisable as the same one.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return Permanent("smtp to: %v", err)
	}
	msg := &email{from: s.from, to: to, subject: m.Subject, id: m.ID + "@handoff", text: m.Text, date: time.Now()}
	err = s.send(ctx, msg, s.take())
	if errors.Is(err, errStale) {
		// The server closed the kept connection while it was idle; nothing
		// of this message was accepted on it.
		err = s.send(ctx, msg, nil)
	}
	if err != nil {
		// A 5xx reply is a refusal of this message; anything else may pass.
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return Permanent("smtp: %v", err)
		}
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}

// take returns an idle kept connection, or nil when there is none.
func (s *SMTP) take() *smtp.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	conn := s.idle[n-1]
	s.idle = s.idle[:n-1]
	return conn
}

// send sends msg on conn, or on a new connection when conn is nil, and keeps
// the connection for the next message. The connection is cut when ctx ends,
// so a send keeps to the worker's deadline; after any failure it is closed,
// as the session's state is unknown.
func (s *SMTP) send(ctx context.Context, msg *email, conn *smtp.Client) error {
	if conn == nil {
		var err error
		if conn, err = s.client.DialToSMTPClientWithContext(ctx); err != nil {
			return fmt.Errorf("dial: %w", err)
		}
	}
	// Each message gets the whole timeout: a connection kept for many
	// messages would otherwise run out of the one it was dialled with.
	if err := conn.UpdateDeadline(s.cfg.Timeout); err != nil {
		conn.Close()
		return fmt.Errorf("%w: %w", errStale, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err := transact(conn, msg)
	if !stop() || err != nil {
		conn.Close()
		return err
	}
	s.mu.Lock()
	s.idle = append(s.idle, conn)
	s.mu.Unlock()
	return nil
}

// errStale is a kept connection found closed before the server answered
// anything of a message.
var errStale = errors.New("the server closed the connection")

// transact runs one mail transaction (RFC 5321) on c: MAIL, RCPT, and the
// message. When the server offers PIPELINING (RFC 2920) the commands go out
// in one write and their replies are read together: go-mail's own send
// checks the connection with NOOP first and ends with RSET, neither of
// which a completed transaction needs (its end resets the session). When
// it also offers CHUNKING (RFC 3030), the message goes in that same write
// as one BDAT LAST chunk, so a message costs one round trip; otherwise it
// follows DATA's 354 reply, two round trips. Without PIPELINING each
// command waits for its reply: four round trips.
func transact(c *smtp.Client, msg *email) error {
	from, rcpt := msg.from.Address, msg.to.Address
	mailCmd := "MAIL FROM:<" + from + ">"
	if ok, _ := c.Extension("SMTPUTF8"); ok && !isASCII(from+rcpt) {
		mailCmd += " SMTPUTF8"
	}
	cmds := []string{mailCmd, "RCPT TO:<" + rcpt + ">", "DATA"}
	for _, cmd := range cmds {
		if strings.ContainsAny(cmd, "\r\n") {
			return Permanent("smtp: an address holds a line break")
		}
	}
	t := c.Text
	pipelined, _ := c.Extension("PIPELINING")
	chunked, _ := c.Extension("CHUNKING")
	chunked = chunked && pipelined
	var body string
	if chunked {
		body = msg.render()
		cmds[2] = "BDAT " + strconv.Itoa(len(body)) + " LAST"
	}
	expect := func(i int) int {
		switch {
		case i == 0:
			return 250
		case i == len(cmds)-1 && !chunked:
			return 354
		case i == len(cmds)-1:
			return 250
		default:
			return 25 // 250 or 251
		}
	}
	if pipelined {
		for _, cmd := range cmds {
			t.W.WriteString(cmd)
			t.W.WriteString("\r\n")
		}
		// The chunk follows its BDAT whatever the replies to MAIL and
		// RCPT will be: a server that refused them reads it and refuses
		// the BDAT too.
		t.W.WriteString(body)
		if err := t.W.Flush(); err != nil {
			return fmt.Errorf("%w: %w", errStale, err)
		}
	}
	var first error
	for i, cmd := range cmds {
		if !pipelined {
			if err := t.PrintfLine("%s", cmd); err != nil {
				if i == 0 {
					return fmt.Errorf("%w: %w", errStale, err)
				}
				return err
			}
		}
		_, _, err := t.ReadResponse(expect(i))
		var te *textproto.Error
		switch {
		case err == nil:
		case i == 0 && !errors.As(err, &te):
			// No reply at all to the first command: the server had gone.
			return fmt.Errorf("%w: %w", errStale, err)
		case !errors.As(err, &te):
			return err
		case first == nil:
			first = fmt.Errorf("%s: %w", strings.Fields(cmd)[0], err)
			if !pipelined {
				return first
			}
		}
	}
	if first != nil {
		// The commands after the refused one were refused as out of
		// sequence; the connection is closed after any failure.
		return first
	}
	if chunked {
		return nil
	}
	w := t.DotWriter()
	if _, err := io.WriteString(w, msg.render()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	return nil
}

// email is a plain-text message as it goes over SMTP.
type email struct {
	from, to    *netmail.Address
	subject, id string // id without the angle brackets
	text        string
	date        time.Time
}

// render returns the message (RFC 5322): its headers, the subject and
// names encoded (RFC 2047) where they are not plain ASCII, and the text in
// UTF-8, quoted-printable, so no line is too long and no byte is 8-bit.
// Every line ends with CRLF, the last one too, as a BDAT chunk carries it
// unchanged; DATA's writer stuffs leading dots.
func (e *email) render() string {
	var b strings.Builder
	b.Grow(len(e.text)*11/10 + 400)
	b.WriteString("Date: ")
	b.WriteString(e.date.Format(time.RFC1123Z))
	b.WriteString("\r\nMIME-Version: 1.0\r\nMessage-ID: <")
	b.WriteString(e.id)
	b.WriteString(">\r\nSubject: ")
	// A line break in the subject is encoded with the rest, never a
	// header of its own.
	b.WriteString(mime.QEncoding.Encode("UTF-8", e.subject))
	b.WriteString("\r\nFrom: ")
	b.WriteString(e.from.String())
	b.WriteString("\r\nTo: ")
	b.WriteString(e.to.String())
	b.WriteString("\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	// The writer turns each line break of the text (LF, CR or CRLF) into
	// CRLF; it cannot fail on a strings.Builder.
	qp := quotedprintable.NewWriter(&b)
	io.WriteString(qp, e.text)
	qp.Close()
	if !strings.HasSuffix(b.String(), "\r\n") {
		b.WriteString("\r\n")
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Release implements Reuser: it ends the kept connections with QUIT.
func (s *SMTP) Release() {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, conn := range idle {
		s.client.CloseWithSMTPClient(conn)
		conn.Close()
	}
}

// TwilioConfig configures the Twilio-compatible SMS channel.
type TwilioConfig struct {
	BaseURL    string // https://api.twilio.com by default
	AccountSID string
	AuthToken  string
	From       string // a number or a messaging service SID (MG…)
	Client     *http.Client
}

// Twilio sends SMS through the Twilio Messages API (or any server speaking
// it): POST {base}/2010-04-01/Accounts/{sid}/Messages.json with form fields
// To, From (or MessagingServiceSid) and Body, basic auth sid:token. Twilio's
// Messages API takes no idempotency key, so a node that dies between the
// provider's answer and marking the message sent leaves it to be sent again;
// leases keep that to crashes.
type Twilio struct {
	cfg TwilioConfig
}

// maxProviderConns is how many connections to an SMS provider stay open
// between messages: as many as the worker sends at once (its Concurrency,
// 32 as served) and then some. Go's default keeps 2, so all but two of the
// sends in flight would open a connection, TLS handshake and all, for
// every message.
const maxProviderConns = 64

// providerClient is the HTTP client of an SMS provider: a 15-second
// deadline per message, and connections kept for the next ones.
func providerClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxProviderConns
	return &http.Client{Timeout: 15 * time.Second, Transport: t}
}

// NewTwilio returns a Twilio sender; it fails for an incomplete configuration.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, fmt.Errorf("twilio: account SID, auth token and from are required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.twilio.com"
	}
	if cfg.Client == nil {
		cfg.Client = providerClient()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Twilio{cfg: cfg}, nil
}

// Name implements Sender.
func (t *Twilio) Name() string { return "twilio" }

// Send implements Sender.
func (t *Twilio) Send(ctx context.Context, m Message) error {
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if strings.HasPrefix(t.cfg.From, "MG") {
		form.Set("MessagingServiceSid", t.cfg.From)
	} else {
		form.Set("From", t.cfg.From)
	}
	u := t.cfg.BaseURL + "/2010-04-01/Accounts/" + url.PathEscape(t.cfg.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return Permanent("twilio: %v", err)
	}
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return doHTTP(t.cfg.Client, req, "twilio")
}

// WebhookConfig configures the generic signed SMS webhook.
type WebhookConfig struct {
	URL    string
	Secret []byte
	Client *http.Client
	Now    func() time.Time
}

// Webhook posts each SMS as JSON {"id","to","text","kind"} to a URL. The body
// is signed: header Handoff-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the shared secret>, and Idempotency-Key carries the
// message ID, so the receiver can reject forgeries, replays and duplicates.
type Webhook struct {
	cfg WebhookConfig
}

// NewWebhook returns a webhook sender; it fails without a URL or secret.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.URL == "" || len(cfg.Secret) < 16 {
		return nil, fmt.Errorf("webhook: a URL and a secret of at least 16 bytes are required")
	}
	if cfg.Client == nil {
		cfg.Client = providerClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{cfg: cfg}, nil
}

// Name implements Sender.
func (w *Webhook) Name() string { return "webhook" }

// Sign returns the Handoff-Signature header value for body at time t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Send implements Sender.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, _ := json.Marshal(map[string]string{"id": m.ID, "to": m.To, "text": m.Text, "kind": m.Kind})
	req, err := http.NewRequestWithContext(ctx, "POST", w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent("webhook: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.ID)
	req.Header.Set("Handoff-Signature", Sign(w.cfg.Secret, body, w.cfg.Now()))
	return doHTTP(w.cfg.Client, req, "webhook")
}

// doHTTP runs a provider request: 2xx is success, 4xx other than 408 and 429
// is permanent, anything else may pass on a retry. The provider's answer is
// not echoed into the error beyond its status: it may quote the message.
func doHTTP(c *http.Client, req *http.Request, name string) error {
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != 408 && res.StatusCode != 429:
		return Permanent("%s: HTTP %d", name, res.StatusCode)
	default:
		return fmt.Errorf("%s: HTTP %d", name, res.StatusCode)
	}
}

// DevOutbox stands in for the recipient's phone and inbox when no real
// channel is configured: it keeps the last messages in memory (never on
// disk) for the /dev/outbox page. It is the one place a passcode is shown
// outside the recipient's own portal.
type DevOutbox struct {
	mu   sync.Mutex
	msgs []Delivered
	max  int
	now  func() time.Time
}

// Delivered is a message the dev outbox received.
type Delivered struct {
	Message
	At time.Time
}

// NewDevOutbox returns an outbox keeping up to max messages.
func NewDevOutbox(max int) *DevOutbox { return &DevOutbox{max: max, now: time.Now} }

// Name implements Sender.
func (o *DevOutbox) Name() string { return "dev-outbox" }

// Send implements Sender. A retried message replaces nothing: the outbox
// shows what a phone would have shown, duplicates included.
func (o *DevOutbox) Send(_ context.Context, m Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, Delivered{Message: m, At: o.now().UTC()})
	if len(o.msgs) > o.max {
		o.msgs = o.msgs[len(o.msgs)-o.max:]
	}
	return nil
}

// List returns the messages, newest first.
func (o *DevOutbox) List() []Delivered {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Delivered, len(o.msgs))
	for i, m := range o.msgs {
		out[len(o.msgs)-1-i] = m
	}
	return out
}

// ShipperWebhook is the channel of shipper webhook deliveries.
const ShipperWebhook = "shipper_webhook"

// ShipperWebhooks delivers tracking events to shippers' endpoints. Each
// delivery is the queued JSON as it is, signed per the Standard Webhooks
// specification (see SignStandard) with each of the endpoint's live secrets,
// and, for receivers written before, with Handoff-Signature (as Sign makes
// it, one v1 per secret) and the delivery's ID in Idempotency-Key. Only a
// definite refusal ends a delivery: the endpoint was deleted, or it answered
// 4xx other than 408 and 429. Anything else (our database, the network, 5xx,
// 408, 429) is retried with backoff, for about two days.
type ShipperWebhooks struct {
	// Resolve returns an endpoint's URL and signing secrets ("whsec_…"),
	// the current one first; an ENOTFOUND error (see handoff.ErrorCode)
	// means the endpoint is gone.
	Resolve func(ctx context.Context, webhookID string) (url string, secrets [][]byte, err error)
	// Client makes the deliveries; required. It is the network adapter's
	// (egress.Client): it reaches public addresses only unless private
	// networks are allowed, so that a shipper's URL cannot make the server
	// call into its own network.
	Client *http.Client
	Now    func() time.Time
}

// Name implements Sender.
func (s *ShipperWebhooks) Name() string { return "shipper-webhook" }

// MaxAttempts implements Patient: a shipper's endpoint may be down for a
// while, and an event should still reach it.
func (s *ShipperWebhooks) MaxAttempts() int { return 48 }

// WebhookKey returns the HMAC key of a "whsec_" secret: the bytes its base64
// encodes. Secrets are made in standard base64, as the Standard Webhooks
// libraries read them; early ones were URL-safe without padding.
func WebhookKey(secret []byte) []byte {
	b64 := strings.TrimPrefix(string(secret), "whsec_")
	if k, err := base64.StdEncoding.DecodeString(b64); err == nil {
		return k
	}
	if k, err := base64.RawURLEncoding.DecodeString(b64); err == nil {
		return k
	}
	return secret
}

// SignStandard returns the webhook-signature header of a delivery per the
// Standard Webhooks specification: for each secret, "v1," and the base64
// HMAC-SHA256, under the secret's key, of "<id>.<timestamp>.<body>";
// space-separated.
func SignStandard(secrets [][]byte, id string, ts int64, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		mac := hmac.New(sha256.New, WebhookKey(secret))
		mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
		mac.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// signLegacy is Sign with one v1 per secret, current first.
func signLegacy(secrets [][]byte, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	parts := []string{"t=" + ts}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		parts = append(parts, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(parts, ",")
}

// Send implements Sender.
func (s *ShipperWebhooks) Send(ctx context.Context, m Message) error {
	u, secrets, err := s.Resolve(ctx, m.To)
	if handoff.ErrorCode(err) == handoff.ENOTFOUND {
		return Permanent("webhook %s: endpoint deleted", m.To)
	}
	if err != nil {
		return fmt.Errorf("webhook %s: %w", m.To, err)
	}
	client, now := s.Client, s.Now
	if client == nil {
		return errors.New("webhook: no HTTP client configured")
	}
	if now == nil {
		now = time.Now
	}
	body := []byte(m.Text)
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
	if err != nil {
		return Permanent("webhook: %v", err)
	}
	at := now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", SignStandard(secrets, m.ID, at.Unix(), body))
	req.Header.Set("Idempotency-Key", m.ID)
	req.Header.Set("Handoff-Signature", signLegacy(secrets, body, at))
	// A 4xx is the shipper's answer to this event; the operator can queue a
	// dead delivery again once the shipper has fixed its endpoint.
	return doHTTP(client, req, "webhook")
}

// Patient is a Sender whose messages deserve more attempts than the worker's
// default before they are dead.
type Patient interface {
	MaxAttempts() int
}
