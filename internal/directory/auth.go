package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ebbmail/ebb/internal/passwd"
)

// ErrAuthBusy: too many password verifications are running; the login
// waited directory.auth_wait for its turn. Temporary (454 4.7.0).
var ErrAuthBusy = errors.New("too many logins being checked at once")

// authGate is what bounds the cost of logins: the passwd.Gate sized from
// directory.auth_concurrency and directory.auth_memory, and the dummy hash
// verified for unknown users. Both are made at the first login, so that
// commands that never log anyone in pay nothing.
type authGate struct {
	once  sync.Once
	gate  *passwd.Gate
	dummy string
}

func (d *Directory) authGate() *authGate {
	a := &d.auth
	a.once.Do(func() {
		a.gate = passwd.NewGate(d.cfg.AuthConcurrency, int64(d.cfg.AuthMemory))
		// A hash of a random password with the parameters of the hashes
		// made here: an unknown user costs what a wrong password costs.
		var pw [18]byte
		rand.Read(pw[:])
		h, err := d.policy.Hash(base64.RawStdEncoding.EncodeToString(pw[:]))
		if err != nil {
			h = fallbackDummyHash
		}
		a.dummy = h
		d.log.Info("password verification bounded", "at_once", a.gate.Slots(passwd.Cost(h)),
			"auth_concurrency", d.cfg.AuthConcurrency, "auth_memory", d.cfg.AuthMemory.String(),
			"argon2_memory", d.cfg.Argon2Memory.String())
	})
	return a
}

// verify checks password against stored within the gate: it waits (at
// most directory.auth_wait) for room for the hash's cost.
func (d *Directory) verify(ctx context.Context, stored, password string) (bool, error) {
	a := d.authGate()
	ctx, cancel := d.authWait(ctx)
	defer cancel()
	release, err := a.gate.Acquire(ctx, passwd.Cost(stored))
	if err != nil {
		return false, fmt.Errorf("%w (waited %s with %d others waiting; directory.auth_concurrency = %d, directory.auth_memory = %s)",
			ErrAuthBusy, d.cfg.AuthWait.Duration, a.gate.Waiting(), d.cfg.AuthConcurrency, d.cfg.AuthMemory)
	}
	defer release()
	return d.policy.Verify(stored, password)
}

// verifyDummy spends on an unknown login what a real one costs.
func (d *Directory) verifyDummy(ctx context.Context, password string) error {
	_, err := d.verify(ctx, d.authGate().dummy, password)
	if errors.Is(err, ErrAuthBusy) {
		return err
	}
	return nil
}

// HashPassword returns a new argon2id hash with the configured parameters
// (directory.argon2_*), in Dovecot's {ARGON2ID} form.
func (d *Directory) HashPassword(password string) (string, error) {
	return d.policy.Hash(password)
}

// CheckHash reports whether a stored hash can be verified here (a known
// scheme, well formed, and {PLAIN} only when allowed).
func (d *Directory) CheckHash(stored string) error { return d.policy.Check(stored) }

// fallbackDummyHash stands in when no dummy hash can be made (no random
// numbers): an unknown user then still costs a verification.
const fallbackDummyHash = "{SHA512-CRYPT}$6$7Pj0oYkHx2Rz3AbC$ZUmZdQ9nm7v3m3qj2y5V5zS2sA3kO5E8nUf3cC8mTNd0i4W7xgU.pY8y5w0S6OxA4b5KQ0bP3r7f8h9j0k1l2."

// Authenticate checks a login for SMTP AUTH (and anything else that logs
// users in). address is the full address; a domain alias reaches its target.
// A wrong password, an unknown or disabled mailbox, or one without a
// password give an error wrapping ErrAuthFailed and no more detail, so the
// caller cannot leak which it was; trouble with the database is a
// *diag.Error (temporary). A hash in an older scheme is replaced by argon2id
// after a successful login, unless the directory was opened ReadOnly.
func (d *Directory) Authenticate(ctx context.Context, address, password string) (*Mailbox, error) {
	mb, key, err := d.loginMailbox(ctx, address)
	if err != nil {
		if errors.Is(err, ErrAuthFailed) {
			// Every refused login costs a verification.
			if err := d.verifyDummy(ctx, password); err != nil {
				return nil, err
			}
		}
		return nil, err
	}
	rehash, err := d.verify(ctx, mb.PasswordHash, password)
	if err != nil {
		if errors.Is(err, ErrAuthBusy) {
			return nil, err
		}
		if errors.Is(err, passwd.ErrMismatch) {
			return nil, fmt.Errorf("%w: wrong password", ErrAuthFailed)
		}
		// Refused {PLAIN}, an unknown scheme, no password: the user cannot
		// log in; the reason is for the log, not the client.
		return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
	}
	if !mb.Enabled {
		return nil, fmt.Errorf("%w: mailbox disabled", ErrAuthFailed)
	}
	if rehash && !d.readOnly { // a directory opened for reading (ebb user check) is left as it is
		if h, err := d.hashInGate(ctx, password); err == nil {
			// Only if nobody changed the password meanwhile.
			_, err := d.db.ExecContext(ctx, d.q(`UPDATE mailboxes SET password = ? WHERE lookup = ? AND password = ?`), h, key, mb.PasswordHash)
			if err != nil {
				d.log.Warn("cannot rehash password to argon2id", "address", mb.Address, "database", d.where, "err", err)
			} else {
				d.log.Info("password rehashed to argon2id", "address", mb.Address, "from", passwd.Scheme(mb.PasswordHash))
				mb.PasswordHash = h
				d.resolved.clear()
				// The database's files changed: the delivery map (which
				// holds no password) is written again, or it would be
				// taken for stale.
				d.mapChanged()
			}
		}
	}
	return mb, nil
}

// loginMailbox is the password-free part of Authenticate: the mailbox a
// login as address is for and its lookup key. A bad or unhosted address,
// no such mailbox, or one without a password wrap ErrAuthFailed; database
// trouble is returned as is. Whether the mailbox is enabled is the
// caller's to check (Authenticate: only after the password).
func (d *Directory) loginMailbox(ctx context.Context, address string) (*Mailbox, string, error) {
	key, _, _, err := d.mailboxKey(ctx, address)
	if err != nil {
		if errors.Is(err, ErrBadAddress) || errors.Is(err, ErrNotHosted) {
			return nil, "", fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		return nil, "", err
	}
	mb, err := d.mailboxByKey(ctx, key)
	if err != nil {
		return nil, "", err
	}
	if mb == nil {
		return nil, "", fmt.Errorf("%w: no such mailbox", ErrAuthFailed)
	}
	if mb.PasswordHash == "" {
		return nil, "", fmt.Errorf("%w: %v", ErrAuthFailed, passwd.ErrNoPassword)
	}
	return mb, key, nil
}

// LoginMailbox is the mailbox a login as address would reach, without
// asking the password (ebb route --auth): Authenticate's own lookup and
// refusals (wrapping ErrAuthFailed), a disabled mailbox included.
func (d *Directory) LoginMailbox(ctx context.Context, address string) (*Mailbox, error) {
	mb, _, err := d.loginMailbox(ctx, address)
	if err != nil {
		return nil, err
	}
	if !mb.Enabled {
		return nil, fmt.Errorf("%w: mailbox disabled", ErrAuthFailed)
	}
	return mb, nil
}

// LoginKey names the account a login as address is for, for counting its
// failed logins (policy.AuthGuard): the mailbox lookup key (lower case, a
// domain alias as its target domain). It never depends on whether the
// mailbox exists, so the counts cannot tell a guesser which accounts do;
// an address in no hosted domain, or one the database cannot place now,
// is the address in lower case.
func (d *Directory) LoginKey(ctx context.Context, address string) string {
	if key, _, _, err := d.mailboxKey(ctx, address); err == nil {
		return key
	}
	return strings.ToLower(strings.TrimSpace(address))
}

// hashInGate makes a new hash within the gate (a rehash after login costs
// what a verification costs).
func (d *Directory) hashInGate(ctx context.Context, password string) (string, error) {
	a := d.authGate()
	ctx, cancel := d.authWait(ctx)
	defer cancel()
	release, err := a.gate.Acquire(ctx, passwd.Cost(a.dummy))
	if err != nil {
		return "", ErrAuthBusy
	}
	defer release()
	return d.policy.Hash(password)
}

// authWait bounds the wait for the gate by directory.auth_wait (0: only
// by ctx).
func (d *Directory) authWait(ctx context.Context) (context.Context, context.CancelFunc) {
	if w := d.cfg.AuthWait.Duration; w > 0 {
		return context.WithTimeout(ctx, w)
	}
	return ctx, func() {}
}
