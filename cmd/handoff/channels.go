package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/handoff-dev/handoff/notify"
)

// channelConfig is where messages go. Secrets come from the environment only,
// so they never show in a process list.
type channelConfig struct {
	SMTPHost, SMTPFrom, SMTPTLS, SMTPUser, SMTPPassword string
	SMTPPort                                            int

	SMSProvider                          string // "", "twilio" or "webhook"
	TwilioBaseURL, TwilioSID, TwilioFrom string
	TwilioToken                          string
	WebhookURL, WebhookSecret            string

	PublicURL string
}

func (c *channelConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.SMTPHost, "smtp-host", getenv("HANDOFF_SMTP_HOST"), "SMTP server for email (env HANDOFF_SMTP_HOST); empty: no email provider")
	port, _ := strconv.Atoi(envOr(getenv, "HANDOFF_SMTP_PORT", "587"))
	fs.IntVar(&c.SMTPPort, "smtp-port", port, "SMTP port (env HANDOFF_SMTP_PORT)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", getenv("HANDOFF_SMTP_FROM"), "sender address of email (env HANDOFF_SMTP_FROM)")
	fs.StringVar(&c.SMTPTLS, "smtp-tls", envOr(getenv, "HANDOFF_SMTP_TLS", "starttls"), "starttls, tls or none (env HANDOFF_SMTP_TLS)")
	c.SMTPUser, c.SMTPPassword = getenv("HANDOFF_SMTP_USERNAME"), getenv("HANDOFF_SMTP_PASSWORD")

	fs.StringVar(&c.SMSProvider, "sms-provider", getenv("HANDOFF_SMS_PROVIDER"), "twilio or webhook (env HANDOFF_SMS_PROVIDER); empty: no SMS provider")
	fs.StringVar(&c.TwilioBaseURL, "twilio-base-url", envOr(getenv, "HANDOFF_TWILIO_BASE_URL", "https://api.twilio.com"), "Twilio-compatible API base URL (env HANDOFF_TWILIO_BASE_URL)")
	fs.StringVar(&c.TwilioFrom, "twilio-from", getenv("HANDOFF_TWILIO_FROM"), "sending number or messaging service SID (env HANDOFF_TWILIO_FROM)")
	c.TwilioSID, c.TwilioToken = getenv("HANDOFF_TWILIO_ACCOUNT_SID"), getenv("HANDOFF_TWILIO_AUTH_TOKEN")
	fs.StringVar(&c.WebhookURL, "sms-webhook-url", getenv("HANDOFF_SMS_WEBHOOK_URL"), "URL the SMS webhook posts to (env HANDOFF_SMS_WEBHOOK_URL)")
	c.WebhookSecret = getenv("HANDOFF_SMS_WEBHOOK_SECRET")
	fs.StringVar(&c.PublicURL, "public-url", getenv("HANDOFF_PUBLIC_URL"), "base URL people reach the server at, for links in messages (env HANDOFF_PUBLIC_URL); default http://<addr>")
}

// senders builds the configured channels. With none configured, both go to
// the dev outbox (returned, for its page); with only one, the other's
// messages stay queued until it is configured, and a warning says so.
func (c *channelConfig) senders(log *slog.Logger) (map[string]notify.Sender, *notify.DevOutbox, error) {
	out := map[string]notify.Sender{}
	if c.SMTPHost != "" {
		s, err := notify.NewSMTP(notify.SMTPConfig{Host: c.SMTPHost, Port: c.SMTPPort, From: c.SMTPFrom, TLS: c.SMTPTLS, Username: c.SMTPUser, Password: c.SMTPPassword})
		if err != nil {
			return nil, nil, err
		}
		out[notify.Email] = s
	}
	switch c.SMSProvider {
	case "":
	case "twilio":
		s, err := notify.NewTwilio(notify.TwilioConfig{BaseURL: c.TwilioBaseURL, AccountSID: c.TwilioSID, AuthToken: c.TwilioToken, From: c.TwilioFrom})
		if err != nil {
			return nil, nil, fmt.Errorf("%w (set HANDOFF_TWILIO_ACCOUNT_SID, HANDOFF_TWILIO_AUTH_TOKEN, --twilio-from)", err)
		}
		out[notify.SMS] = s
	case "webhook":
		secret := []byte(c.WebhookSecret)
		if b, err := base64.StdEncoding.DecodeString(c.WebhookSecret); err == nil && len(b) >= 16 {
			secret = b
		}
		s, err := notify.NewWebhook(notify.WebhookConfig{URL: c.WebhookURL, Secret: secret})
		if err != nil {
			return nil, nil, fmt.Errorf("%w (set --sms-webhook-url and HANDOFF_SMS_WEBHOOK_SECRET)", err)
		}
		out[notify.SMS] = s
	default:
		return nil, nil, errors.New("--sms-provider must be twilio or webhook")
	}
	if len(out) == 0 {
		dev := notify.NewDevOutbox(500)
		out[notify.Email], out[notify.SMS] = dev, dev
		return out, dev, nil
	}
	for _, ch := range []string{notify.Email, notify.SMS} {
		if out[ch] == nil {
			log.Warn("no provider for a channel: its messages stay queued until one is configured", "channel", ch)
		}
	}
	return out, nil, nil
}
