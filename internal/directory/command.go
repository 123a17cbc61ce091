package directory

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/ebbmail/ebb/internal/config"
)

// What ebb domain add and ebb user quota make of their arguments; cmd/ebb
// declares their flags.

// AddDomainFromCommand is ebb domain add: name hosted, or with aliasOf a
// domain alias of that hosted domain; it says on w which, by the name as
// stored.
func (d *Directory) AddDomainFromCommand(ctx context.Context, w io.Writer, name, aliasOf string) error {
	if aliasOf != "" {
		if err := d.AddDomainAlias(ctx, name, aliasOf); err != nil {
			return err
		}
		n, _ := NormalizeDomain(name)
		fmt.Fprintf(w, "domain alias %s → %s added\n", n, aliasOf)
		return nil
	}
	if err := d.AddDomain(ctx, name); err != nil {
		return err
	}
	n, _ := NormalizeDomain(name)
	fmt.Fprintf(w, "domain %s added\n", n)
	return nil
}

// ParseQuota reads ebb user quota's SIZE (bytes, or 512M, 2G; 0: the
// mail.quota default) and MESSAGES, a count (none given: 0, the
// mail.quota_messages default).
func ParseQuota(size string, messages ...string) (config.Size, int64, error) {
	var q config.Size
	if err := q.UnmarshalText([]byte(size)); err != nil {
		return 0, 0, err
	}
	var msgs int64
	if len(messages) > 0 {
		n, err := strconv.ParseInt(messages[0], 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("MESSAGES %q is not a count", messages[0])
		}
		msgs = n
	}
	return q, msgs, nil
}
