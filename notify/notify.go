// Package notify delivers the messages the store queues: it renders each from
// a template in the marketplace's language, puts the day's passcode in at the
// moment of sending (so the queue never holds it), and hands it to a channel:
// email over SMTP, SMS over a Twilio-compatible API or a signed webhook, or,
// when nothing is configured, the local dev outbox.
//
// Delivery is at least once. A worker claims messages with a lease and starts
// a send only while the lease outlasts it, renewing the lease of the messages
// still waiting; a worker that dies after claiming leaves the message to be
// claimed again when the lease ends, and a worker that lost its lease neither
// starts the send nor settles it. Every attempt carries the same message ID
// (the outbox row ID) as the provider's idempotency key where the provider has
// one (the webhooks' Idempotency-Key, the email's Message-ID), so a duplicate
// can be recognised.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Channels.
const (
	SMS   = "sms"
	Email = "email"
)

// Message is one rendered message, ready for a channel.
type Message struct {
	ID      string // stable across retries
	Kind    string
	Channel string
	To      string
	Subject string // email only
	Text    string

	secrets []string // what must never reach a log or error column
}

// Sender hands messages to one provider.
type Sender interface {
	// Send delivers m or returns why not; a *PermanentError means retrying
	// will not help.
	Send(ctx context.Context, m Message) error
	// Name names the provider for logs and metrics.
	Name() string
}

// ErrLeaseLost is what the store answers when a claim is no longer the
// caller's: its lease ended and another worker claimed the message.
var ErrLeaseLost = errors.New("the claim on the message was lost")

// Reuser is a Sender that keeps its connections open from one message to the
// next (SMTP), and from one batch to the next; the worker calls Release once
// a whole poll interval went by with nothing due (and when it stops), so no
// connection is held while the queue is idle.
type Reuser interface {
	Release()
}

// PermanentError is a refusal that retrying will not cure (a bad address, a
// 4xx from the provider).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(format string, args ...any) error {
	return &PermanentError{Err: fmt.Errorf(format, args...)}
}

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Entry is what the operator sees of a queued message: never its text.
type Entry struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Channel   string    `json:"channel"`
	Recipient string    `json:"recipient"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	NextTry   time.Time `json:"nextAttemptAt"`
}

// Admin is the operator's view of the outbox.
type Admin interface {
	// ListNotifications returns the newest messages of a status ("" for all).
	ListNotifications(ctx context.Context, status string, limit int) ([]Entry, error)
	// RetryNotification queues a dead message again; ENOTFOUND if not dead.
	RetryNotification(ctx context.Context, id string) error
}
