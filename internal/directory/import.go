package directory

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// Import formats (ebb import's subcommands).
const (
	ImportCSV           = "csv"
	ImportDovecotPasswd = "dovecot-passwd"
)

// badImportFile is an import file that does not parse at all: exit 65.
type badImportFile struct{ error }

func (badImportFile) ExitCode() int { return diag.ExDataErr }

// OpenImportFile opens the file ebb import reads. A file that cannot be
// opened is the command line's (permanent, exit 66): the error says why,
// who and what is there.
func OpenImportFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		d := diag.PathError("", "open", "read the import file", path, err, nil)
		d.Class, d.Exit = diag.Permanent, diag.ExNoInput
		return nil, d
	}
	return f, nil
}

// ImportFile is ebb import: r (the file name) in format (ImportCSV, or
// ImportDovecotPasswd with defaultDomain for users without @domain),
// parsed and imported in one transaction; dryRun changes nothing. A file
// that does not parse is an error with exit code 65; its bad lines are
// the result's Bad (skipped).
func (d *Directory) ImportFile(ctx context.Context, format string, r io.Reader, name, defaultDomain string, dryRun bool) (*ImportResult, error) {
	var plan *ImportPlan
	var err error
	if format == ImportCSV {
		plan, err = d.ParseCSV(r)
	} else {
		plan, err = d.ParseDovecotPasswd(r, defaultDomain)
	}
	if err != nil {
		return nil, badImportFile{fmt.Errorf("%s: %w", name, err)}
	}
	return d.Import(ctx, plan, dryRun)
}

// ImportPlan is a parsed import file: the mailboxes to create or update,
// and the lines that were refused (they are skipped, never half-applied).
type ImportPlan struct {
	Entries []ImportEntry
	Bad     []BadLine
}

// ImportEntry is one mailbox from line Line of the file.
type ImportEntry struct {
	Line    int
	Mailbox Mailbox
	// Has says which optional fields the line set; an update changes only those.
	HasQuota, HasMaildir, HasEnabled bool
}

// BadLine is a refused line.
type BadLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportResult is what an import did, or would do on a dry run.
type ImportResult struct {
	DryRun           bool      `json:"dry_run"`
	AddedDomains     []string  `json:"added_domains"`
	AddedMailboxes   int       `json:"added_mailboxes"`
	UpdatedMailboxes int       `json:"updated_mailboxes"`
	Changes          []string  `json:"changes"`
	Bad              []BadLine `json:"bad_lines"`
}

func (p *ImportPlan) bad(line int, format string, args ...any) {
	p.Bad = append(p.Bad, BadLine{Line: line, Reason: fmt.Sprintf(format, args...)})
}

// add checks one entry (address, hash, duplicates) and keeps it or refuses it.
func (d *Directory) addEntry(p *ImportPlan, seen map[string]int, e ImportEntry) {
	n, err := NormalizeAddress(e.Mailbox.Address)
	if err == nil && strings.HasPrefix(n, "@") {
		err = errors.New("no local part")
	}
	if err != nil {
		p.bad(e.Line, "address %q: %v", e.Mailbox.Address, err)
		return
	}
	e.Mailbox.Address = n
	if err := checkMailboxName(n); err != nil {
		p.bad(e.Line, "%v", err)
		return
	}
	if err := checkMaildirPath(e.Mailbox.Maildir); err != nil {
		p.bad(e.Line, "%s: %v", n, err)
		return
	}
	if e.Mailbox.PasswordHash != "" {
		if err := d.policy.Check(e.Mailbox.PasswordHash); err != nil {
			p.bad(e.Line, "%s: %v", n, err)
			return
		}
	}
	l, dom, _ := SplitAddress(n)
	k := lookupKey(l, dom)
	if first, dup := seen[k]; dup {
		p.bad(e.Line, "%s: already given on line %d", n, first)
		return
	}
	seen[k] = e.Line
	p.Entries = append(p.Entries, e)
}

// ParseDovecotPasswd reads a Dovecot passwd-file
// (user:password:uid:gid:gecos:home:shell:extra_fields). A user without
// "@domain" gets defaultDomain, or is refused when that is "". Extra fields
// understood: userdb_quota_rule=*:storage=SIZE / *:messages=N and
// userdb_mail=maildir:PATH. uid, gid and home are not used: virtual
// mailboxes all belong to server.user.
func (d *Directory) ParseDovecotPasswd(r io.Reader, defaultDomain string) (*ImportPlan, error) {
	p := &ImportPlan{}
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		f := strings.SplitN(text, ":", 8)
		if len(f) < 2 {
			p.bad(line, "not user:password[:uid:gid:gecos:home:shell:extra]")
			continue
		}
		user := strings.TrimSpace(f[0])
		if user == "" {
			p.bad(line, "empty user name")
			continue
		}
		if !strings.Contains(user, "@") {
			if defaultDomain == "" {
				p.bad(line, "user %q has no @domain (give --domain)", user)
				continue
			}
			user += "@" + defaultDomain
		}
		e := ImportEntry{Line: line, Mailbox: Mailbox{Address: user, PasswordHash: f[1], Enabled: true}}
		if len(f) == 8 {
			if err := dovecotExtra(&e, f[7]); err != nil {
				p.bad(line, "%s: %v", user, err)
				continue
			}
		}
		d.addEntry(p, seen, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return p, nil
}

func dovecotExtra(e *ImportEntry, extra string) error {
	for _, kv := range strings.Fields(extra) {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.TrimPrefix(k, "userdb_")
		switch k {
		case "quota_rule":
			// *:storage=1G or *:messages=1000 (Dovecot quota rule syntax).
			rule := strings.TrimPrefix(v, "*:")
			rk, rv, _ := strings.Cut(rule, "=")
			switch rk {
			case "storage", "bytes":
				var s config.Size
				if err := s.UnmarshalText([]byte(rv)); err != nil {
					return fmt.Errorf("quota_rule %q: %v", v, err)
				}
				e.Mailbox.QuotaBytes = int64(s)
				e.HasQuota = true
			case "messages":
				n, err := strconv.ParseInt(rv, 10, 64)
				if err != nil || n < 0 {
					return fmt.Errorf("quota_rule %q: bad message count", v)
				}
				e.Mailbox.QuotaMessages = n
				e.HasQuota = true
			}
		case "mail":
			if rest, ok := strings.CutPrefix(v, "maildir:"); ok {
				path, _, _ := strings.Cut(rest, ":")
				e.Mailbox.Maildir = path
				e.HasMaildir = true
			}
		}
	}
	return nil
}

// ParseCSV reads address,password,quota,quota_messages,enabled,maildir lines
// (only the address is required; a first line starting "address" is a
// header). password is a {SCHEME} hash or empty; quota takes 0, 512M, 2G.
func (d *Directory) ParseCSV(r io.Reader) (*ImportPlan, error) {
	p := &ImportPlan{}
	seen := map[string]int{}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				p.bad(pe.StartLine, "%v", pe.Err)
				continue
			}
			return nil, err
		}
		// FieldPos is only valid after a successful Read.
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if strings.EqualFold(strings.TrimSpace(rec[0]), "address") {
				continue
			}
		}
		if len(rec) > 6 {
			p.bad(line, "%d fields; want at most 6 (address,password,quota,quota_messages,enabled,maildir)", len(rec))
			continue
		}
		rec = append(rec, make([]string, 6-len(rec))...)
		e := ImportEntry{Line: line, Mailbox: Mailbox{Address: strings.TrimSpace(rec[0]), PasswordHash: strings.TrimSpace(rec[1]), Enabled: true}}
		if q := strings.TrimSpace(rec[2]); q != "" {
			var s config.Size
			if err := s.UnmarshalText([]byte(q)); err != nil {
				p.bad(line, "quota: %v", err)
				continue
			}
			e.Mailbox.QuotaBytes, e.HasQuota = int64(s), true
		}
		if q := strings.TrimSpace(rec[3]); q != "" {
			n, err := strconv.ParseInt(q, 10, 64)
			if err != nil || n < 0 {
				p.bad(line, "quota_messages %q is not a count", q)
				continue
			}
			e.Mailbox.QuotaMessages, e.HasQuota = n, true
		}
		if v := strings.TrimSpace(rec[4]); v != "" {
			switch strings.ToLower(v) {
			case "1", "true", "yes", "y":
				e.Mailbox.Enabled = true
			case "0", "false", "no", "n":
				e.Mailbox.Enabled = false
			default:
				p.bad(line, "enabled %q is not true or false", v)
				continue
			}
			e.HasEnabled = true
		}
		if m := strings.TrimSpace(rec[5]); m != "" {
			if !strings.HasPrefix(m, "/") {
				p.bad(line, "maildir %q is not an absolute path", m)
				continue
			}
			e.Mailbox.Maildir, e.HasMaildir = m, true
		}
		d.addEntry(p, seen, e)
	}
	return p, nil
}

// Import applies a plan in one transaction: missing domains are added,
// new mailboxes created, existing ones get the password (and the quota,
// Maildir and enabled flag the line set). Either every good line is applied
// or, on any database error, none. A dry run does the same work and rolls
// it back, so it reports exactly what a real run would change.
func (d *Directory) Import(ctx context.Context, plan *ImportPlan, dryRun bool) (*ImportResult, error) {
	res := &ImportResult{DryRun: dryRun, Bad: plan.Bad, Changes: []string{}, AddedDomains: []string{}}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, d.dbError("import", err)
	}
	defer tx.Rollback()
	// Domains first, so that domain aliases in the file resolve.
	domains := map[string]string{} // asked → canonical
	var order []string
	for _, e := range plan.Entries {
		_, dom, _ := SplitAddress(e.Mailbox.Address)
		if _, ok := domains[dom]; ok {
			continue
		}
		var aliasOf string
		err := tx.QueryRowContext(ctx, d.q(`SELECT alias_of FROM domains WHERE name = ?`), dom).Scan(&aliasOf)
		switch {
		case err == nil:
			domains[dom] = dom
			if aliasOf != "" {
				domains[dom] = aliasOf
			}
		case errors.Is(err, errNoRows):
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO domains (name, alias_of, created) VALUES (?, '', ?)`), dom, nowUnix()); err != nil {
				return nil, d.dbError("import", err)
			}
			domains[dom] = dom
			order = append(order, dom)
		default:
			return nil, d.dbError("import", err)
		}
	}
	sort.Strings(order)
	for _, dom := range order {
		res.AddedDomains = append(res.AddedDomains, dom)
		res.Changes = append(res.Changes, "add domain "+dom)
	}
	for _, e := range plan.Entries {
		l, dom, _ := SplitAddress(e.Mailbox.Address)
		canon := domains[dom]
		key := lookupKey(l, canon)
		mb := e.Mailbox
		mb.Address = l + "@" + canon
		var exists int
		if err := tx.QueryRowContext(ctx, d.q(`SELECT count(*) FROM mailboxes WHERE lookup = ?`), key).Scan(&exists); err != nil {
			return nil, d.dbError("import", err)
		}
		if exists == 0 {
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO mailboxes (lookup, address, domain, password, quota_bytes, quota_messages, enabled, maildir, created)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), key, mb.Address, canon, mb.PasswordHash, mb.QuotaBytes, mb.QuotaMessages, boolInt(mb.Enabled), mb.Maildir, nowUnix()); err != nil {
				return nil, d.dbError("import", fmt.Errorf("line %d: %w", e.Line, err))
			}
			res.AddedMailboxes++
			res.Changes = append(res.Changes, fmt.Sprintf("add mailbox %s (line %d)", mb.Address, e.Line))
			continue
		}
		set, args, what := []string{"password = ?"}, []any{mb.PasswordHash}, []string{"password"}
		if e.HasQuota {
			set, args, what = append(set, "quota_bytes = ?", "quota_messages = ?"), append(args, mb.QuotaBytes, mb.QuotaMessages), append(what, "quota")
		}
		if e.HasMaildir {
			set, args, what = append(set, "maildir = ?"), append(args, mb.Maildir), append(what, "maildir")
		}
		if e.HasEnabled {
			set, args, what = append(set, "enabled = ?"), append(args, boolInt(mb.Enabled)), append(what, "enabled")
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE mailboxes SET `+strings.Join(set, ", ")+` WHERE lookup = ?`), append(args, key)...); err != nil {
			return nil, d.dbError("import", fmt.Errorf("line %d: %w", e.Line, err))
		}
		res.UpdatedMailboxes++
		res.Changes = append(res.Changes, fmt.Sprintf("update mailbox %s: %s (line %d)", mb.Address, strings.Join(what, ", "), e.Line))
	}
	if dryRun {
		return res, nil // the deferred Rollback undoes it all
	}
	if err := tx.Commit(); err != nil {
		return nil, d.dbError("import", err)
	}
	d.changed()
	return res, nil
}
