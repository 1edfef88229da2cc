package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
)

// This file keeps the tamper-evident audit log (package audit). Security-
// relevant store operations call appendAudit in their own transaction, so
// an action and its entry are committed together or not at all.

// ChainSystem is the chain of actions no account took (the server's own).
const ChainSystem = "system"

// appendAudit appends es, in order, each to its chain — e.Chain, or else
// the actor's own chain — at the store's time, in the caller's
// transaction. Each chain's head moves once for all of its entries, and the
// entries are written together (insertRows): a delivery's check and its
// parcels' entries cost two statements, not two each. Moving a head is a
// conditional UPDATE that locks the head row until commit (PostgreSQL;
// SQLite has one writer), so two nodes appending to one chain take turns,
// and each entry links to the one committed before it.
func (d *DB) appendAudit(ctx context.Context, tx *sql.Tx, es ...audit.Entry) error {
	if len(es) == 0 {
		return nil
	}
	at := micros(d.Now())
	stamp := audit.Stamp(fromMicros(at))
	for i := range es {
		if es[i].Chain == "" {
			es[i].Chain = es[i].Actor
		}
		if es[i].Chain == "" {
			es[i].Chain = ChainSystem
		}
		es[i].At = stamp
	}
	// The chains in the order they first appear, each with its entries in
	// their order.
	done := make([]bool, len(es))
	for i := range es {
		if done[i] {
			continue
		}
		var group []*audit.Entry
		for j := i; j < len(es); j++ {
			if !done[j] && es[j].Chain == es[i].Chain {
				group, done[j] = append(group, &es[j]), true
			}
		}
		if err := d.advanceHead(ctx, tx, group); err != nil {
			return err
		}
	}
	rows := make([][]any, len(es))
	for i, e := range es {
		rows[i] = []any{e.Chain, e.Seq, at, e.Action, e.Actor, e.Subject, e.Outcome, e.Detail, e.PrevHash, e.Hash}
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO audit_log (chain, seq, at, action, actor, subject, outcome, detail, prev_hash, hash) VALUES `, rows, ""); err != nil {
		return handoff.Internal(err, "append audit")
	}
	for _, e := range es {
		d.heads.put(e.Chain, auditHead{e.Seq, e.Hash}) // the last of each chain stays
	}
	return nil
}

// advanceHead numbers the entries of one chain (in their order), links each
// to the one before, hashes them, and moves the chain's head to the last of
// them in tx.
func (d *DB) advanceHead(ctx context.Context, tx *sql.Tx, group []*audit.Entry) error {
	chain, last := group[0].Chain, group[len(group)-1]
	// The head this node last wrote is most often still the head: then
	// the entries are linked to it and the head moved on in one
	// conditional UPDATE, which changes nothing unless the row still holds
	// that very head (another node's append, a rolled-back one, moves it),
	// and on PostgreSQL locks it until commit like the bump below.
	if h, ok := d.heads.get(chain); ok {
		link(group, h.seq, h.hash)
		res, err := d.txExec(ctx, tx, `UPDATE audit_heads SET seq = $1, hash = $2 WHERE chain = $3 AND seq = $4 AND hash = $5`,
			last.Seq, last.Hash, chain, h.seq, h.hash)
		if err != nil {
			return handoff.Internal(err, "audit head")
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return nil
		}
	}
	const bump = `UPDATE audit_heads SET seq = seq + $2 WHERE chain = $1 RETURNING seq, hash`
	var seq int64
	var prev string
	err := d.txQueryRow(ctx, tx, bump, chain, len(group)).Scan(&seq, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		// A new chain: of two nodes starting it at once, the second waits
		// for the first's head row and then bumps it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 0, '') ON CONFLICT (chain) DO NOTHING`, chain); err != nil {
			return handoff.Internal(err, "start audit chain")
		}
		err = d.txQueryRow(ctx, tx, bump, chain, len(group)).Scan(&seq, &prev)
	}
	if err != nil {
		return handoff.Internal(err, "audit head")
	}
	link(group, seq-int64(len(group)), prev)
	if _, err := d.txExec(ctx, tx, `UPDATE audit_heads SET hash = $1 WHERE chain = $2`, last.Hash, chain); err != nil {
		return handoff.Internal(err, "audit head")
	}
	return nil
}

// link numbers a chain's new entries after the head (seq, hash), each
// linked to the one before it, and hashes them.
func link(group []*audit.Entry, seq int64, hash string) {
	for _, e := range group {
		seq++
		e.Seq, e.PrevHash = seq, hash
		e.Hash = e.Sum()
		hash = e.Hash
	}
}

// auditHead is an audit chain's head: its last entry's number and hash.
type auditHead struct {
	seq  int64
	hash string
}

// AppendAudit appends es (see appendAudit) in a transaction of its own, for
// actions that happen outside the store.
func (d *DB) AppendAudit(ctx context.Context, es ...audit.Entry) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return d.appendAudit(ctx, tx, es...) })
}

// auditPage is how many entries a walk reads at a time.
const auditPage = 1000

// eachAudit calls fn with the entries whose time is in [from, to) (all
// when both are zero), in order of chain and seq, a page at a time.
func (d *DB) eachAudit(ctx context.Context, from, to time.Time, fn func(audit.Entry) error) error {
	lo, hi := int64(-1<<62), int64(1<<62)
	if !from.IsZero() {
		lo = micros(from)
	}
	if !to.IsZero() {
		hi = micros(to)
	}
	chain, seq := "", int64(-1)
	for {
		rows, err := d.db.QueryContext(ctx, `SELECT chain, seq, at, action, actor, subject, outcome, detail, prev_hash, hash FROM audit_log
			WHERE (chain, seq) > ($1, $2) AND at >= $3 AND at < $4 ORDER BY chain, seq LIMIT `+itoa(auditPage), chain, seq, lo, hi)
		if err != nil {
			return handoff.Internal(err, "read audit log")
		}
		n := 0
		for rows.Next() {
			var e audit.Entry
			var at int64
			if err := rows.Scan(&e.Chain, &e.Seq, &at, &e.Action, &e.Actor, &e.Subject, &e.Outcome, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
				rows.Close()
				return handoff.Internal(err, "read audit log")
			}
			e.At = audit.Stamp(fromMicros(at))
			if err := fn(e); err != nil {
				rows.Close()
				return err
			}
			chain, seq = e.Chain, e.Seq
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return handoff.Internal(err, "read audit log")
		}
		if n < auditPage {
			return nil
		}
	}
}

// VerifyAudit walks the whole audit log and compares each chain with its
// head; the walker holds the first broken link of each chain, if any.
func (d *DB) VerifyAudit(ctx context.Context) (*audit.Walker, error) {
	w := &audit.Walker{}
	if err := d.eachAudit(ctx, time.Time{}, time.Time{}, func(e audit.Entry) error { w.Add(e); return nil }); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT chain, seq, hash FROM audit_heads WHERE seq > 0`)
	if err != nil {
		return nil, handoff.Internal(err, "read audit heads")
	}
	defer rows.Close()
	heads := map[string]audit.Head{}
	for rows.Next() {
		var c string
		var h audit.Head
		if err := rows.Scan(&c, &h.Seq, &h.Hash); err != nil {
			return nil, handoff.Internal(err, "read audit heads")
		}
		heads[c] = h
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "read audit heads")
	}
	w.End(heads)
	return w, nil
}

// ExportAudit calls fn with the entries whose time is in [from, to), in
// order of chain and seq, for an auditor to re-verify.
func (d *DB) ExportAudit(ctx context.Context, from, to time.Time, fn func(audit.Entry) error) error {
	return d.eachAudit(ctx, from, to, fn)
}
