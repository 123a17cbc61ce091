package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
)

// FlushDomain retries now every message with a deferred or pending
// recipient in domain (`ebb queue flush --domain D`). Before, the
// transports' Resume (the relay) lifts a suspension of that destination,
// so that the retry really connects instead of meeting "suspended".
func (q *Queue) FlushDomain(domain string) ([]OpResult, error) {
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if domain == "" {
		return nil, errors.New("flush --domain needs a domain")
	}
	q.mu.Lock()
	resume := q.resume
	entries := make([]*entry, 0, len(q.entries))
	for _, e := range q.entries {
		if !e.removed {
			entries = append(entries, e)
		}
	}
	q.mu.Unlock()
	if resume != nil {
		if n := resume(domain); n > 0 {
			q.log.Info("destination resumed by the operator", "domain", domain, "destinations", n)
		}
	}
	var ids []string
	for _, e := range entries {
		e.mu.Lock()
		if e.msg != nil && hasWaitingIn(e.msg, domain) {
			ids = append(ids, e.id)
		}
		e.mu.Unlock()
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Strings(ids)
	return q.Do(OpFlush, ids)
}

func hasWaitingIn(m *Message, domain string) bool {
	for _, r := range m.Recipients {
		if r.State != Deferred && r.State != Pending {
			continue
		}
		if _, d, ok := envaddr.Split(r.Address); ok && strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// ControlDomain is FlushDomain through the running daemon's control
// socket, or on the spool files when no daemon runs.
func ControlDomain(ctx context.Context, cfg *config.Config, log *slog.Logger, domain string) ([]OpResult, error) {
	spool := cfg.Queue.Spool
	path := filepath.Join(spool, ControlSocket)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		defer c.Close()
		res, err := controlAsk(c, path, controlRequest{Op: OpFlush, Domain: domain})
		var rerr *remoteError
		if errors.As(err, &rerr) {
			return nil, rerr.diag()
		}
		return res, err
	}
	q, oerr := open(cfg, log, 0)
	if oerr != nil {
		if de, ok := diag.As(oerr); ok && de.Op == "lock" {
			de.Reason += fmt.Sprintf("; its control socket %s did not answer: %v", path, err)
		}
		return nil, oerr
	}
	defer q.Close()
	return q.FlushDomain(domain)
}
