package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebbmail/ebb/internal/passwd"
)

// HashPassword returns a new argon2id hash with the configured parameters
// (directory.argon2_*), in Dovecot's {ARGON2ID} form.
func (d *Directory) HashPassword(password string) (string, error) {
	return d.policy.Hash(password)
}

// CheckHash reports whether a stored hash can be verified here (a known
// scheme, well formed, and {PLAIN} only when allowed).
func (d *Directory) CheckHash(stored string) error { return d.policy.Check(stored) }

// dummyHash is verified against when the mailbox does not exist, so that an
// unknown user costs as much time as a wrong password.
const dummyHash = "{SHA512-CRYPT}$6$7Pj0oYkHx2Rz3AbC$ZUmZdQ9nm7v3m3qj2y5V5zS2sA3kO5E8nUf3cC8mTNd0i4W7xgU.pY8y5w0S6OxA4b5KQ0bP3r7f8h9j0k1l2."

// Authenticate checks a login for SMTP AUTH (and anything else that logs
// users in). address is the full address; a domain alias reaches its target.
// A wrong password, an unknown or disabled mailbox, or one without a
// password give an error wrapping ErrAuthFailed and no more detail, so the
// caller cannot leak which it was; trouble with the database is a
// *diag.Error (temporary). A hash in an older scheme is replaced by argon2id
// after a successful login.
func (d *Directory) Authenticate(ctx context.Context, address, password string) (*Mailbox, error) {
	key, _, _, err := d.mailboxKey(ctx, address)
	if err != nil {
		if errors.Is(err, ErrBadAddress) || errors.Is(err, ErrNotHosted) {
			d.policy.Verify(dummyHash, password)
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		return nil, err
	}
	mb, err := d.mailboxByKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if mb == nil {
		d.policy.Verify(dummyHash, password)
		return nil, fmt.Errorf("%w: no such mailbox", ErrAuthFailed)
	}
	rehash, err := d.policy.Verify(mb.PasswordHash, password)
	if err != nil {
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
	if rehash {
		if h, err := d.policy.Hash(password); err == nil {
			// Only if nobody changed the password meanwhile.
			_, err := d.db.ExecContext(ctx, d.q(`UPDATE mailboxes SET password = ? WHERE lookup = ? AND password = ?`), h, key, mb.PasswordHash)
			if err != nil {
				d.log.Warn("cannot rehash password to argon2id", "address", mb.Address, "database", d.where, "err", err)
			} else {
				d.log.Info("password rehashed to argon2id", "address", mb.Address, "from", passwd.Scheme(mb.PasswordHash))
				mb.PasswordHash = h
				d.resolved.clear()
			}
		}
	}
	return mb, nil
}
