package fetchstate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/directory"
)

// FetchAccount is a remote IMAP or POP3 account whose mail ebb fetches into
// a local mailbox (internal/fetch, docs/fetch.md).
type FetchAccount struct {
	Name     string        `json:"name"`
	Protocol string        `json:"protocol"` // imap, pop3
	Host     string        `json:"host"`
	Port     int           `json:"port"`
	TLS      string        `json:"tls"`    // implicit, starttls, none
	Verify   bool          `json:"verify"` // certificate verification
	CAFile   string        `json:"ca_file,omitempty"`
	Username string        `json:"username"`
	Auth     string        `json:"auth"`              // password, oauth2
	Password string        `json:"-"`                 // the secret; never printed
	OAuth    *OAuth2       `json:"oauth2,omitempty"`  // provider settings and tokens
	Folders  []string      `json:"folders"`           // IMAP; POP3 has only its one maildrop
	Mailbox  string        `json:"mailbox"`           // the local address it delivers to
	After    string        `json:"after"`             // keep, delete, move
	MoveTo   string        `json:"move_to,omitempty"` // the folder for after = move
	Interval time.Duration `json:"interval"`          // 0: fetch.interval
	Enabled  bool          `json:"enabled"`
	Status   FetchStatus   `json:"status"`
	Created  time.Time     `json:"created"`
}

// OAuth2 is an account's OAuth2 provider settings and its tokens.
type OAuth2 struct {
	Provider     string    `json:"provider"` // google, microsoft, custom
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret,omitempty"`
	AuthURL      string    `json:"auth_url,omitempty"`
	TokenURL     string    `json:"token_url"`
	DeviceURL    string    `json:"device_url,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	Mechanism    string    `json:"mechanism,omitempty"` // XOAUTH2 (default), OAUTHBEARER
	RefreshToken string    `json:"refresh_token,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Consented is when the user last granted access (ebb fetch auth):
	// refresh tokens expire after long disuse (Microsoft: 90 days).
	Consented time.Time `json:"consented,omitzero"`
}

// FetchStatus is the outcome of an account's last attempt.
type FetchStatus struct {
	At       time.Time `json:"at,omitzero"`
	OK       bool      `json:"ok"`
	Text     string    `json:"text,omitempty"`  // the sentence: the real cause
	Cause    string    `json:"cause,omitempty"` // dns, refused, tls, login, token-expired, token-revoked, folder, quota, ...
	Failures int       `json:"failures,omitempty"`
	LastOK   time.Time `json:"last_ok,omitzero"`
	Fetched  int64     `json:"fetched,omitempty"` // messages delivered in all
}

// FetchFolder is the state of one folder of an account.
type FetchFolder struct {
	UIDValidity uint32
	LastUID     uint32
	ModSeq      uint64
	// Stopped says why nothing more is fetched from it ("" when running).
	Stopped string
}

const fetchColumns = `name, protocol, host, port, tls, verify, ca_file, username, auth, password, oauth,
	folders, mailbox, after_fetch, move_to, interval_seconds, enabled, status, created`

func scanFetchAccount(r interface{ Scan(...any) error }) (*FetchAccount, error) {
	var a FetchAccount
	var verify, enabled int
	var oauth, folders, status string
	var interval, created int64
	if err := r.Scan(&a.Name, &a.Protocol, &a.Host, &a.Port, &a.TLS, &verify, &a.CAFile, &a.Username, &a.Auth,
		&a.Password, &oauth, &folders, &a.Mailbox, &a.After, &a.MoveTo, &interval, &enabled, &status, &created); err != nil {
		return nil, err
	}
	a.Verify, a.Enabled = verify != 0, enabled != 0
	if folders != "" {
		a.Folders = strings.Split(folders, "\n")
	}
	a.Interval = time.Duration(interval) * time.Second
	a.Created = time.Unix(created, 0)
	if oauth != "" {
		a.OAuth = &OAuth2{}
		if err := json.Unmarshal([]byte(oauth), a.OAuth); err != nil {
			return nil, fmt.Errorf("fetch account %s: its OAuth2 settings: %w", a.Name, err)
		}
	}
	if status != "" {
		if err := json.Unmarshal([]byte(status), &a.Status); err != nil {
			return nil, fmt.Errorf("fetch account %s: its status: %w", a.Name, err)
		}
	}
	return &a, nil
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// AddFetchAccount stores a new account; its name must be unused
// (directory.ErrExists) and its mailbox a hosted mailbox (directory.ErrNotFound), so that
// nothing is fetched that could only bounce.
func (d *Store) AddFetchAccount(ctx context.Context, a FetchAccount) error {
	mb, err := d.dir.Mailbox(ctx, a.Mailbox)
	if err != nil {
		return fmt.Errorf("fetch account %s delivers to %s: %w", a.Name, a.Mailbox, err)
	}
	a.Mailbox = mb.Address
	if len(a.Folders) == 0 {
		a.Folders = []string{"INBOX"}
	}
	var oauth string
	if a.OAuth != nil {
		oauth = jsonText(a.OAuth)
	}
	_, err = d.dir.DB().ExecContext(ctx, d.dir.Rebind(`INSERT INTO fetch_accounts (`+fetchColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.Name, a.Protocol, a.Host, a.Port, a.TLS, boolInt(a.Verify), a.CAFile, a.Username, a.Auth,
		a.Password, oauth, strings.Join(a.Folders, "\n"), a.Mailbox, a.After, a.MoveTo,
		int64(a.Interval/time.Second), boolInt(a.Enabled), "", nowUnix())
	if directory.IsUnique(err) {
		return fmt.Errorf("fetch account %s: %w", a.Name, directory.ErrExists)
	}
	return d.dir.DBError("add a fetch account", err)
}

// FetchAccount returns the account name, or an error wrapping ErrNotFound.
func (d *Store) FetchAccount(ctx context.Context, name string) (*FetchAccount, error) {
	a, err := scanFetchAccount(d.dir.DB().QueryRowContext(ctx, d.dir.Rebind(`SELECT `+fetchColumns+` FROM fetch_accounts WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("fetch account %s: %w", name, directory.ErrNotFound)
	}
	if err != nil {
		return nil, d.dir.DBError("read a fetch account", err)
	}
	return a, nil
}

// FetchAccounts lists every account by name.
func (d *Store) FetchAccounts(ctx context.Context) ([]*FetchAccount, error) {
	rows, err := d.dir.DB().QueryContext(ctx, `SELECT `+fetchColumns+` FROM fetch_accounts ORDER BY name`)
	if err != nil {
		return nil, d.dir.DBError("list fetch accounts", err)
	}
	defer rows.Close()
	var out []*FetchAccount
	for rows.Next() {
		a, err := scanFetchAccount(rows)
		if err != nil {
			return nil, d.dir.DBError("list fetch accounts", err)
		}
		out = append(out, a)
	}
	return out, d.dir.DBError("list fetch accounts", rows.Err())
}

// RemoveFetchAccount forgets the account and everything it fetched.
func (d *Store) RemoveFetchAccount(ctx context.Context, name string) error {
	tx, err := d.dir.DB().BeginTx(ctx, nil)
	if err != nil {
		return d.dir.DBError("remove a fetch account", err)
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, d.dir.Rebind(`DELETE FROM fetch_accounts WHERE name = ?`), name)
	if err != nil {
		return d.dir.DBError("remove a fetch account", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("fetch account %s: %w", name, directory.ErrNotFound)
	}
	for _, t := range []string{"fetch_folders", "fetch_seen"} {
		if _, err := tx.ExecContext(ctx, d.dir.Rebind(`DELETE FROM `+t+` WHERE account = ?`), name); err != nil {
			return d.dir.DBError("remove a fetch account", err)
		}
	}
	return d.dir.DBError("remove a fetch account", tx.Commit())
}

func (d *Store) updateFetchAccount(ctx context.Context, op, name, set string, args ...any) error {
	r, err := d.dir.DB().ExecContext(ctx, d.dir.Rebind(`UPDATE fetch_accounts SET `+set+` WHERE name = ?`), append(args, name)...)
	if err != nil {
		return d.dir.DBError(op, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("fetch account %s: %w", name, directory.ErrNotFound)
	}
	return nil
}

// SetFetchOAuth stores an account's OAuth2 settings and tokens (after
// ebb fetch auth, and after every refresh: providers may rotate the
// refresh token).
func (d *Store) SetFetchOAuth(ctx context.Context, name string, o *OAuth2) error {
	return d.updateFetchAccount(ctx, "store OAuth2 tokens", name, `oauth = ?`, jsonText(o))
}

// SetFetchStatus records the outcome of an attempt.
func (d *Store) SetFetchStatus(ctx context.Context, name string, s FetchStatus) error {
	return d.updateFetchAccount(ctx, "record a fetch status", name, `status = ?`, jsonText(s))
}

// SetFetchEnabled turns an account on or off.
func (d *Store) SetFetchEnabled(ctx context.Context, name string, on bool) error {
	return d.updateFetchAccount(ctx, "change a fetch account", name, `enabled = ?`, boolInt(on))
}

// SetFetchPassword replaces an account's password.
func (d *Store) SetFetchPassword(ctx context.Context, name, password string) error {
	return d.updateFetchAccount(ctx, "change a fetch account", name, `password = ?`, password)
}

// FetchFolderState returns the state of one folder (zero when new).
func (d *Store) FetchFolderState(ctx context.Context, account, folder string) (FetchFolder, error) {
	var f FetchFolder
	var uv, last, modseq int64
	err := d.dir.DB().QueryRowContext(ctx, d.dir.Rebind(`SELECT uidvalidity, last_uid, modseq, stopped FROM fetch_folders WHERE account = ? AND folder = ?`),
		account, folder).Scan(&uv, &last, &modseq, &f.Stopped)
	if errors.Is(err, sql.ErrNoRows) {
		return FetchFolder{}, nil
	}
	if err != nil {
		return f, d.dir.DBError("read a fetch folder's state", err)
	}
	f.UIDValidity, f.LastUID, f.ModSeq = uint32(uv), uint32(last), uint64(modseq)
	return f, nil
}

func (d *Store) upsertFolder(ctx context.Context, db execer, account, folder string, f FetchFolder) error {
	args := []any{int64(f.UIDValidity), int64(f.LastUID), int64(f.ModSeq), f.Stopped, account, folder}
	r, err := db.ExecContext(ctx, d.dir.Rebind(`UPDATE fetch_folders SET uidvalidity = ?, last_uid = ?, modseq = ?, stopped = ? WHERE account = ? AND folder = ?`), args...)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n > 0 {
		return nil
	}
	_, err = db.ExecContext(ctx, d.dir.Rebind(`INSERT INTO fetch_folders (uidvalidity, last_uid, modseq, stopped, account, folder) VALUES (?, ?, ?, ?, ?, ?)`), args...)
	return err
}

// SetFetchFolderState replaces the state of one folder.
func (d *Store) SetFetchFolderState(ctx context.Context, account, folder string, f FetchFolder) error {
	return d.dir.DBError("record a fetch folder's state", d.upsertFolder(ctx, d.dir.DB(), account, folder, f))
}

// ResetFetchFolders forgets the UIDVALIDITY and position of every folder
// of the account and clears a stop: the next run goes through the folders
// again and skips what it delivered before (by hash). What was delivered
// stays recorded.
func (d *Store) ResetFetchFolders(ctx context.Context, account string) error {
	_, err := d.dir.DB().ExecContext(ctx, d.dir.Rebind(`DELETE FROM fetch_folders WHERE account = ?`), account)
	return d.dir.DBError("reset a fetch account's folders", err)
}

// UpdateFetchAccount stores a's connection and behaviour settings (server,
// TLS, CA file, folders, after-action, interval): what ebb fetch set
// changes. What the account fetched stays recorded.
func (d *Store) UpdateFetchAccount(ctx context.Context, a FetchAccount) error {
	return d.updateFetchAccount(ctx, "change a fetch account", a.Name,
		`host = ?, port = ?, tls = ?, verify = ?, ca_file = ?, folders = ?, after_fetch = ?, move_to = ?, interval_seconds = ?`,
		a.Host, a.Port, a.TLS, boolInt(a.Verify), a.CAFile, strings.Join(a.Folders, "\n"), a.After, a.MoveTo, int64(a.Interval/time.Second))
}
