package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FolderDir returns the Maildir++ directory of an IMAP folder under the top
// Maildir: "" or "INBOX" is the top itself; "Work/Sub" or "Work.Sub" is
// top/.Work.Sub. Both "/" and "." separate levels (Dovecot's Maildir++
// separator is "."); each level is encoded in IMAP modified UTF-7.
func FolderDir(top, folder string) (string, error) {
	name, err := FolderName(folder)
	if err != nil {
		return "", err
	}
	if name == "" {
		return top, nil
	}
	return filepath.Join(top, name), nil
}

// HasFolder reports whether the IMAP folder exists in the Maildir top:
// INBOX always; another folder when its Maildir++ directory has cur/
// (RFC 5490 mailboxexists, as Sieve asks it).
func HasFolder(top, folder string) bool {
	if strings.EqualFold(folder, "INBOX") {
		return true
	}
	dir, err := FolderDir(top, folder)
	if err != nil {
		return false
	}
	st, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && st.IsDir()
}

// FolderName returns the on-disk name (".Work.Sub") of an IMAP folder, or ""
// for INBOX.
func FolderName(folder string) (string, error) {
	if folder == "" || strings.EqualFold(folder, "INBOX") {
		return "", nil
	}
	parts := strings.FieldsFunc(folder, func(r rune) bool { return r == '/' || r == '.' })
	// FieldsFunc drops empty levels; an empty level ("a..b", "/a") is an
	// error, not something to guess about.
	if strings.Count(folder, ".")+strings.Count(folder, "/")+1 != len(parts) {
		return "", fmt.Errorf("folder name %q has an empty level", folder)
	}
	if len(parts) > 0 && strings.EqualFold(parts[0], "INBOX") && len(parts) > 1 {
		// "INBOX/Work" is how some clients name a folder below INBOX;
		// in Maildir++ every folder is below INBOX.
		parts = parts[1:]
	}
	var b strings.Builder
	for _, p := range parts {
		for _, r := range p {
			if r < 0x20 || r == 0x7f {
				return "", fmt.Errorf("folder name %q holds a control character", folder)
			}
		}
		enc, err := EncodeUTF7(p)
		if err != nil {
			return "", fmt.Errorf("folder name %q: %w", folder, err)
		}
		b.WriteByte('.')
		b.WriteString(enc)
	}
	return b.String(), nil
}
