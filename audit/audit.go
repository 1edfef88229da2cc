// Package audit is the rule book of the tamper-evident audit log (SPEC §7):
// what an entry is, how it is hashed, and how a chain of entries is checked.
// Entries are appended in chains; each carries the hash of the one before it
// in its chain, and the hash covers every field, its place (seq) included,
// so that changing, deleting or reordering entries breaks a link that Walker
// finds. The package has no I/O: package sqlstore appends and reads, the
// command line walks.
//
// The hash of an entry is hex(SHA-256(M)), where M is the bytes
// "handoff/audit/v1" followed by, for each of chain, seq (decimal), at,
// action, actor, subject, outcome, detail and prevHash in that order, the
// field's UTF-8 length as 4 bytes big-endian and then its bytes: exactly the
// strings an export line holds, so an auditor can recompute it with any
// SHA-256.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Entry is one audited action. Entries name accounts, parcels, stops and
// garages by ID, never a recipient's contact data, a passcode or a secret.
type Entry struct {
	Chain   string `json:"chain"`
	Seq     int64  `json:"seq"`
	At      string `json:"at"` // UTC, RFC 3339 with exactly 6 fractional digits (Stamp)
	Action  string `json:"action"`
	Actor   string `json:"actor"`
	Subject string `json:"subject"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
	// PrevHash is the hash of the chain's previous entry; "" for the first.
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// Stamp formats a time as entries hold it.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// Sum returns the hash of the entry's fields (all but Hash).
func (e Entry) Sum() string {
	h := sha256.New()
	h.Write([]byte("handoff/audit/v1"))
	var n [4]byte
	for _, f := range []string{e.Chain, strconv.FormatInt(e.Seq, 10), e.At, e.Action, e.Actor, e.Subject, e.Outcome, e.Detail, e.PrevHash} {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Actions audited, by name.
const (
	ActionCodeCheck     = "code_check"       // outcome correct or wrong; detail names the method (code, phone_digits: the fallback)
	ActionCodeRefused   = "code_refused"     // a check not evaluated: the associate is locked or rate-limited
	ActionCodeResend    = "code_resend"      // the stop's code re-sent to the label's contacts
	ActionAssociateLock = "associate_locked" // too many wrong codes: checks locked until the station unlocks
	ActionAssociateOpen = "associate_unlocked"
	ActionDelivered     = "delivered"      // subject the tracking ID; detail the method and proof ID
	ActionAttemptFailed = "attempt_failed" // subject the stop; outcome the reason (OtpNotAvailable: three wrong entries)
	ActionBagSeal       = "bag_seal"
	ActionBagVoid       = "bag_void"
	ActionBagScan       = "bag_scan"       // outcome matched or mismatch
	ActionRefusal       = "parcel_refused" // a tampered bag refused at the door
	ActionPhotoView     = "photo_view"
	ActionContactView   = "contact_view"      // customer service revealed a parcel's recipient contacts (the reason is in contact_views)
	ActionCaseOpen      = "case_opened"       // customer service opened an enquiry; detail the case
	ActionCaseNote      = "case_note"         // customer service noted on a case; detail the case
	ActionGarage        = "garage_"           // + the garage log's step: requested, opened, closed, revoked, key_delivery_off…
	ActionSignin        = "staff_signin"      // outcome ok or failed
	ActionSettings      = "settings_change"   // detail the patch
	ActionKeyAdded      = "secret_key_added"  // a node started with a key the database had not seen: a rotation
	ActionKeysReset     = "secret_keys_reset" // the operator made the database forget its keys
	ActionAPIKeyCreated = "api_key_created"   // subject the key's ID, detail its name and prefix
	ActionAPIKeyRevoked = "api_key_revoked"   // subject the key's ID
	ActionWebhook       = "webhook_"          // + created, rotated or deleted; subject the webhook's ID
	OutcomeOK           = "ok"
	OutcomeFailed       = "failed"
)

// Head is where a chain ends, as the database records it.
type Head struct {
	Seq  int64
	Hash string
}

// Break is the first broken link of a chain: the entry at Seq of Chain is
// missing, changed or out of place, as Reason says.
type Break struct {
	Chain  string
	Seq    int64
	Reason string
}

func (b Break) String() string {
	return fmt.Sprintf("chain %q, entry %d: %s", b.Chain, b.Seq, b.Reason)
}

// Walker checks entries given to Add in order of chain and seq, as the
// database or an export lists them, in constant memory per chain. It keeps
// the first break of each chain; a chain's later entries are not checked
// against a broken one.
type Walker struct {
	// Partial is for an export of a time range: a chain may start at any
	// seq, its first entry's link to the entry before the range is not
	// checked, and there are no heads to compare with.
	Partial bool

	Breaks  []Break
	Entries int
	Chains  int

	cur    string
	last   Entry
	broken bool
	seen   map[string]bool
	ends   map[string]Head // the last good entry of each chain walked
}

// Add checks the next entry.
func (w *Walker) Add(e Entry) {
	w.Entries++
	if w.seen == nil {
		w.seen, w.ends = map[string]bool{}, map[string]Head{}
	}
	if e.Chain != w.cur || w.Chains == 0 {
		if w.seen[e.Chain] {
			// The chain's entries are not together: a row was moved.
			w.fail(e.Chain, e.Seq, "out of order: the chain's entries are not listed together")
			return
		}
		w.seen[e.Chain] = true
		w.Chains++
		w.cur, w.broken = e.Chain, false
		w.last = Entry{}
		if !w.Partial && e.Seq != 1 {
			w.fail(e.Chain, 1, fmt.Sprintf("missing: the chain starts at entry %d", e.Seq))
			return
		}
		if !w.Partial && e.PrevHash != "" {
			w.fail(e.Chain, e.Seq, "the first entry links to an entry before it")
			return
		}
		if e.Sum() != e.Hash {
			w.fail(e.Chain, e.Seq, "changed: its contents do not match its hash")
			return
		}
		w.keep(e)
		return
	}
	if w.broken {
		return
	}
	switch {
	case e.Seq > w.last.Seq+1:
		w.fail(e.Chain, w.last.Seq+1, fmt.Sprintf("missing: entry %d does not follow entry %d (deleted or moved; entry %d comes next)", w.last.Seq+1, w.last.Seq, e.Seq))
	case e.Seq <= w.last.Seq:
		w.fail(e.Chain, e.Seq, fmt.Sprintf("out of order: listed after entry %d", w.last.Seq))
	case e.Sum() != e.Hash:
		w.fail(e.Chain, e.Seq, "changed: its contents do not match its hash")
	case e.PrevHash != w.last.Hash:
		w.fail(e.Chain, e.Seq, fmt.Sprintf("broken link: it does not carry the hash of entry %d (one of the two was changed)", w.last.Seq))
	default:
		w.keep(e)
	}
}

func (w *Walker) keep(e Entry) {
	w.last = e
	w.ends[e.Chain] = Head{Seq: e.Seq, Hash: e.Hash}
}

func (w *Walker) fail(chain string, seq int64, reason string) {
	w.Breaks = append(w.Breaks, Break{Chain: chain, Seq: seq, Reason: reason})
	w.broken = true
}

// End compares each chain's last entry with its recorded head: entries
// deleted from the end of a chain, or a whole chain, show here. heads may be
// nil for a partial walk.
func (w *Walker) End(heads map[string]Head) {
	if w.Partial {
		return
	}
	chains := map[string]bool{}
	for c := range w.seen {
		chains[c] = true
	}
	for c := range heads {
		chains[c] = true
	}
	for _, c := range sortedKeys(chains) {
		h, ok := heads[c]
		last, listed := w.ends[c]
		switch {
		case w.brokenChain(c):
		case !ok:
			w.Breaks = append(w.Breaks, Break{Chain: c, Seq: 1, Reason: "the chain has no head: its head row was deleted"})
		case !listed:
			w.Breaks = append(w.Breaks, Break{Chain: c, Seq: 1, Reason: fmt.Sprintf("missing: all %d entries were deleted", h.Seq)})
		case h.Seq > last.Seq:
			w.Breaks = append(w.Breaks, Break{Chain: c, Seq: last.Seq + 1, Reason: fmt.Sprintf("missing: entries %d to %d were deleted from the end", last.Seq+1, h.Seq)})
		case h.Seq < last.Seq || h.Hash != last.Hash:
			w.Breaks = append(w.Breaks, Break{Chain: c, Seq: last.Seq, Reason: fmt.Sprintf("the last entry does not match the chain's head (entry %d)", h.Seq)})
		}
	}
}

func (w *Walker) brokenChain(chain string) bool {
	for _, b := range w.Breaks {
		if b.Chain == chain {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
