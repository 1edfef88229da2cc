package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
)

// idPrefix is the prefix of each kind's IDs, so an ID says what it names.
var idPrefix = map[auth.Kind]string{
	auth.KindShipper:   "shp_",
	auth.KindStation:   "stn_",
	auth.KindAssociate: "da_",
	auth.KindAgent:     "cs_",
}

// newID returns prefix followed by the time in milliseconds (9 characters
// of auth's base32 alphabet, which is in ASCII order) and 16 random
// characters (80 bits). IDs made later sort after earlier ones, so a new
// row's key lands at the right edge of its indexes instead of on a random
// page of them, which grows costly once the tables outgrow the cache: with
// 100,000 parcels stored, a 5,000-parcel day cost 10 % less CPU and loading
// a van 36 % less (handoff loadtest, interleaved). The random part is what
// makes an ID unguessable, as before; the time part tells no more than when
// the object was made.
func newID(prefix string) string { return newIDAt(prefix, time.Now()) }

func newIDAt(prefix string, t time.Time) string {
	ms := uint64(t.UnixMilli())
	var b [9 + 16]byte
	for i := 8; i >= 0; i-- {
		b[i] = auth.Alphabet[ms&31]
		ms >>= 5
	}
	copy(b[9:], auth.Random(16))
	return prefix + string(b[:])
}

// CreatePrincipal implements handoff.PrincipalService.
func (d *DB) CreatePrincipal(ctx context.Context, np handoff.NewPrincipal) (*handoff.Principal, handoff.Credentials, error) {
	var fe handoff.FieldErrors
	name, city := np.Name, np.City
	handoff.Text{Required: true}.Check(&fe, "name", &name)
	handoff.Text{}.Check(&fe, "city", &city)
	prefix, ok := idPrefix[np.Kind]
	if !ok {
		return nil, handoff.Credentials{}, handoff.Internal(nil, "unknown principal kind "+string(np.Kind))
	}
	mkt := ""
	if np.Market != "" {
		if m, ok := market.Lookup(np.Market); ok {
			mkt = string(m.Code)
		} else {
			fe.Add("marketplace", "must be one of %s", strings.Join(market.Codes(), ", "))
		}
	}
	if err := fe.Err(); err != nil {
		return nil, handoff.Credentials{}, err
	}
	p := &handoff.Principal{ID: newID(prefix), Kind: np.Kind, Name: name, StationID: np.StationID, Market: mkt, City: city, CreatedAt: d.Now()}
	cred := handoff.Credentials{APIKey: auth.NewAPIKey(), Password: auth.NewPassword()}
	pwHash, err := hashPassword(ctx, cred.Password)
	if err != nil {
		return nil, handoff.Credentials{}, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if p.StationID != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM principals WHERE id = $1 AND kind = $2`, p.StationID, auth.KindStation).Scan(&n); err != nil {
				return handoff.Internal(err, "find station")
			}
			if n == 0 {
				return handoff.Invalid(handoff.FieldError{Field: "stationId", Message: "no such station"})
			}
		}
		var station any
		if p.StationID != "" {
			station = p.StationID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO principals (id, kind, name, station_id, market, city, api_key_digest, password_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			p.ID, p.Kind, p.Name, station, p.Market, p.City, auth.Digest(cred.APIKey), pwHash, micros(p.CreatedAt)); err != nil {
			return handoff.Internal(err, "insert principal")
		}
		if _, err := d.insertAPIKey(ctx, tx, p.ID, OnboardingKeyName, cred.APIKey, p.CreatedAt); err != nil {
			return err
		}
		if p.Kind == auth.KindShipper {
			body, _ := json.Marshal(handoff.DefaultSettings())
			if _, err := tx.ExecContext(ctx, `INSERT INTO shipper_settings (shipper_id, body, version, updated_at) VALUES ($1, $2, 1, $3)`,
				p.ID, string(body), micros(p.CreatedAt)); err != nil {
				return handoff.Internal(err, "insert settings")
			}
		}
		return nil
	})
	if err != nil {
		return nil, handoff.Credentials{}, err
	}
	return p, cred, nil
}

const principalCols = `id, kind, name, COALESCE(station_id, ''), market, city, created_at`

func scanPrincipal(row interface{ Scan(...any) error }) (*handoff.Principal, error) {
	var p handoff.Principal
	var created int64
	if err := row.Scan(&p.ID, &p.Kind, &p.Name, &p.StationID, &p.Market, &p.City, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// AuthenticateAPIKey implements handoff.PrincipalService. Any live key of
// the principal's authenticates (api_keys; principals.api_key_digest is kept
// only for its uniqueness), and its use is recorded at most once a minute.
func (d *DB) AuthenticateAPIKey(ctx context.Context, apiKey string) (*handoff.Principal, error) {
	if apiKey == "" || len(apiKey) > 200 {
		return nil, handoff.Errorf(handoff.EUNAUTHORIZED, "A valid API key is required.")
	}
	digest := auth.Digest(apiKey)
	var epoch int64
	if err := d.queryRow(ctx, `SELECT n FROM auth_epoch WHERE id = 1`).Scan(&epoch); err != nil {
		return nil, handoff.Internal(err, "authenticate api key")
	}
	k, ok := d.keys.get(digest)
	if !ok || k.epoch != epoch {
		// The epoch is read again with the key, in one statement, so what
		// is remembered is never older than the epoch it is kept under.
		var created int64
		err := d.queryRow(ctx, `SELECT p.id, p.kind, p.name, COALESCE(p.station_id, ''), p.market, p.city, p.created_at, k.id, k.last_used_at,
			(SELECT n FROM auth_epoch WHERE id = 1)
			FROM api_keys k JOIN principals p ON p.id = k.principal_id WHERE k.digest = $1 AND k.revoked_at = 0`, digest).
			Scan(&k.p.ID, &k.p.Kind, &k.p.Name, &k.p.StationID, &k.p.Market, &k.p.City, &created, &k.id, &k.used, &k.epoch)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, handoff.Errorf(handoff.EUNAUTHORIZED, "A valid API key is required.")
		}
		if err != nil {
			return nil, handoff.Internal(err, "authenticate api key")
		}
		k.p.CreatedAt = fromMicros(created)
	}
	if used, err := d.touchAPIKey(ctx, k.id, k.used); err != nil {
		// A missed record of use must not refuse a valid key.
		d.Log.Warn("api key use not recorded", "api_key_id", k.id, "err", err)
	} else {
		k.used = used
	}
	d.keys.put(digest, k)
	p := k.p
	return &p, nil
}

// knownKey is an API key this node authenticated: whose it is, its ID,
// when its use was last recorded, and the auth epoch it was read under.
type knownKey struct {
	p     handoff.Principal
	id    string
	used  int64
	epoch int64
}

// Sign-in limits, each per window: failures per account ID lock that
// account's sign-in until the window ends; failures per client address
// (one IPv4 address or IPv6 /64, as the HTTP layer names it) stop one
// source from trying many accounts. A depot's staff behind one NAT address
// sign in successfully, which does not count against the address.
const (
	signinLimit        = 10
	signinAddressLimit = 50
	signinWindow       = 15 * time.Minute
)

// Keys of the sign-in counters in signin_guard, apart from each other and
// from the portal's, so that no typed account ID can spend another counter.
const (
	guardAccount = "account:"
	guardAddress = "address:"
)

// AuthenticatePassword implements handoff.PrincipalService. An unknown ID
// costs as much time as a wrong password. Only Passwords' few checks run at
// once on this node; past them the answer is EUNAVAILABLE at once, before
// any work. Each account ID (known or not) and each client address gets a
// bounded number of failures per window, counted in the database so the
// limits hold across nodes.
func (d *DB) AuthenticatePassword(ctx context.Context, id, password, client string) (*handoff.Principal, error) {
	bad := handoff.Errorf(handoff.EUNAUTHORIZED, "The account ID or password is wrong.")
	id = strings.TrimSpace(id)
	if id == "" || len(id) > 64 || len(password) > 200 {
		return nil, bad
	}
	leave, err := d.Passwords.Enter(ctx)
	if err != nil {
		return nil, &handoff.Error{Code: handoff.EUNAVAILABLE, RetryAfter: time.Second, Err: err,
			Message: "Too many sign-ins are being checked right now; try again in a few seconds."}
	}
	defer leave()
	if err := d.claimSignin(ctx, id, client); err != nil {
		return nil, err
	}
	row := d.db.QueryRowContext(ctx, `SELECT `+principalCols+`, password_hash FROM principals WHERE id = $1`, id)
	var p handoff.Principal
	var created int64
	var hash string
	err = row.Scan(&p.ID, &p.Kind, &p.Name, &p.StationID, &p.Market, &p.City, &created, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		auth.CheckNoAccount(password)
		return nil, bad
	}
	if err != nil {
		return nil, handoff.Internal(err, "authenticate password")
	}
	if ok, err := auth.CheckPassword(hash, password); err != nil || !ok {
		if err := d.AppendAudit(ctx, audit.Entry{Action: audit.ActionSignin, Actor: p.ID, Subject: p.ID, Outcome: audit.OutcomeFailed, Detail: "client=" + client}); err != nil {
			return nil, err
		}
		return nil, bad
	}
	if err := d.AppendAudit(ctx, audit.Entry{Action: audit.ActionSignin, Actor: p.ID, Subject: p.ID, Outcome: audit.OutcomeOK, Detail: "client=" + client}); err != nil {
		return nil, err
	}
	// A success clears the account's count, so an owner who mistyped is not
	// locked out by their own earlier tries, and gives back the address's
	// try, so that colleagues behind one address are not either.
	if _, err := d.exec(ctx, `DELETE FROM signin_guard WHERE account = $1`, guardAccount+id); err != nil {
		return nil, handoff.Internal(err, "clear sign-in guard")
	}
	if _, err := d.exec(ctx, `UPDATE signin_guard SET failures = failures - 1 WHERE account = $1 AND failures > 0`, guardAddress+client); err != nil {
		return nil, handoff.Internal(err, "clear sign-in guard")
	}
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// claimSignin counts one try against the client address and then the
// account ID, pessimistically as failures, and refuses when either's tries
// are spent. A refused address spends nothing of the account's.
func (d *DB) claimSignin(ctx context.Context, id, client string) error {
	if d.guardClaims.Add(1)%pruneEvery == 0 {
		if err := d.pruneGuards(ctx); err != nil {
			return err
		}
	}
	say := func(err error, msg string) error {
		var e *handoff.Error
		if errors.As(err, &e) && e.Code == handoff.ERATELIMITED {
			e.Message = msg
		}
		return err
	}
	if err := d.claimGuard(ctx, guardAddress+client, signinAddressLimit, signinWindow); err != nil {
		return say(err, "Too many failed sign-ins from your network; try again later.")
	}
	if err := d.claimGuard(ctx, guardAccount+id, signinLimit, signinWindow); err != nil {
		return say(err, "Too many sign-in attempts for this account; try again later.")
	}
	return nil
}

// pruneEvery is how many sign-in claims a node makes between prunings.
const pruneEvery = 256

// pruneGuards deletes counters whose window has ended, which count for
// nothing: without it, a flood of made-up account IDs would leave a row
// each behind for good.
func (d *DB) pruneGuards(ctx context.Context) error {
	cutoff := d.Now().Add(-max(signinWindow, portalSigninWindow))
	if _, err := d.exec(ctx, `DELETE FROM signin_guard WHERE window_start < $1`, micros(cutoff)); err != nil {
		return handoff.Internal(err, "prune sign-in guard")
	}
	return nil
}

// FindPrincipal implements handoff.PrincipalService.
func (d *DB) FindPrincipal(ctx context.Context, id string) (*handoff.Principal, error) {
	p, err := scanPrincipal(d.db.QueryRowContext(ctx, `SELECT `+principalCols+` FROM principals WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Account")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find principal")
	}
	return p, nil
}

// CreateSession implements handoff.SessionService.
func (d *DB) CreateSession(ctx context.Context, principalID string, ttl time.Duration) (string, *handoff.Session, error) {
	p, err := d.FindPrincipal(ctx, principalID)
	if err != nil {
		return "", nil, err
	}
	token := auth.NewToken()
	now := d.Now()
	s := &handoff.Session{Principal: p, ExpiresAt: now.Add(ttl)}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		// Expired sessions go as new ones come, so the table stays small.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < $1`, micros(now)); err != nil {
			return handoff.Internal(err, "purge sessions")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (digest, principal_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			auth.Digest(token), p.ID, micros(now), micros(s.ExpiresAt)); err != nil {
			return handoff.Internal(err, "insert session")
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return token, s, nil
}

// FindSession implements handoff.SessionService.
func (d *DB) FindSession(ctx context.Context, token string) (*handoff.Session, error) {
	if token == "" || len(token) > 100 {
		return nil, handoff.Errorf(handoff.EUNAUTHORIZED, "Please sign in.")
	}
	row := d.db.QueryRowContext(ctx, `SELECT p.id, p.kind, p.name, COALESCE(p.station_id, ''), p.market, p.city, p.created_at, s.expires_at
		FROM sessions s JOIN principals p ON p.id = s.principal_id WHERE s.digest = $1 AND s.expires_at > $2`, auth.Digest(token), micros(d.Now()))
	var p handoff.Principal
	var created, expires int64
	err := row.Scan(&p.ID, &p.Kind, &p.Name, &p.StationID, &p.Market, &p.City, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.Errorf(handoff.EUNAUTHORIZED, "Please sign in.")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find session")
	}
	p.CreatedAt = fromMicros(created)
	return &handoff.Session{Principal: &p, ExpiresAt: fromMicros(expires)}, nil
}

// DeleteSession implements handoff.SessionService.
func (d *DB) DeleteSession(ctx context.Context, token string) error {
	if _, err := d.exec(ctx, `DELETE FROM sessions WHERE digest = $1`, auth.Digest(token)); err != nil {
		return handoff.Internal(err, "delete session")
	}
	return nil
}

// ListPrincipals returns the principals of one kind, oldest first.
func (d *DB) ListPrincipals(ctx context.Context, kind auth.Kind) ([]*handoff.Principal, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+principalCols+` FROM principals WHERE kind = $1 ORDER BY created_at, id`, kind)
	if err != nil {
		return nil, handoff.Internal(err, "list principals")
	}
	defer rows.Close()
	var out []*handoff.Principal
	for rows.Next() {
		p, err := scanPrincipal(rows)
		if err != nil {
			return nil, handoff.Internal(err, "scan principal")
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list principals")
	}
	return out, nil
}

// ResetCredentials replaces a principal's API keys and password with a new
// key and password, returned in plain text this once; the old ones, named
// keys included, stop working at once. It also ends the principal's sessions.
func (d *DB) ResetCredentials(ctx context.Context, id string) (handoff.Credentials, error) {
	cred := handoff.Credentials{APIKey: auth.NewAPIKey(), Password: auth.NewPassword()}
	hash, err := hashPassword(ctx, cred.Password)
	if err != nil {
		return handoff.Credentials{}, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE principals SET api_key_digest = $1, password_hash = $2 WHERE id = $3`, auth.Digest(cred.APIKey), hash, id)
		if err != nil {
			return handoff.Internal(err, "reset credentials")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return handoff.NotFound("Account")
		}
		// A reset answers a leak: every key the principal had goes, the
		// ones it named itself included.
		now := d.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE principal_id = $2 AND revoked_at = 0`, micros(now), id); err != nil {
			return handoff.Internal(err, "revoke api keys")
		}
		if _, err := d.insertAPIKey(ctx, tx, id, OnboardingKeyName, cred.APIKey, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE principal_id = $1`, id); err != nil {
			return handoff.Internal(err, "end sessions")
		}
		return nil
	})
	if err != nil {
		return handoff.Credentials{}, err
	}
	return cred, nil
}

// hashPassword hashes a new password when its turn comes (see
// auth.HashPasswordContext); a request that cannot wait longer is told the
// server is busy.
func hashPassword(ctx context.Context, password string) (string, error) {
	hash, err := auth.HashPasswordContext(ctx, password)
	if err != nil {
		return "", &handoff.Error{Code: handoff.EUNAVAILABLE, RetryAfter: time.Second, Err: err,
			Message: "Too many accounts are being set up right now; try again in a few seconds."}
	}
	return hash, nil
}
