package daemon

import (
	"slices"

	"github.com/ebbmail/ebb/internal/queue"
)

// forwardDSN is what the DSN parameters of an alias r become for the
// remote addresses `to` it forwards to (RFC 3461 §5.2.7): each gets the
// alias's NOTIFY and an ORCPT naming the alias (unless the client gave
// one), so that a DSN says which address it was sent to. The Handoff
// recorded on r decides the alias's own success DSN:
//
//   - an alias to one address (no local mailbox): NOTIFY goes on whole and
//     the success report comes from further on (§5.2.7.1), none from us;
//   - an alias to several (remote, or remote and local): we report
//     "expanded" when SUCCESS was asked, and SUCCESS is not passed on
//     (§5.2.7.2), so the sender gets one report for the alias, not one
//     per address it leads to.
func forwardDSN(m *queue.Message, r *queue.Recipient, to []string) (map[string]queue.RecipientDSN, *queue.Handoff) {
	p := m.Envelope.DSNFor(r.Address)
	if p.ORCPT == "" {
		p.ORCPTType, p.ORCPT = "rfc822", r.Address
	}
	var h *queue.Handoff
	switch {
	case len(to)+len(r.Done) == 1:
		h = &queue.Handoff{DSN: true}
	case p.Wants(queue.NotifySuccess) && len(p.Notify) > 0:
		h = &queue.Handoff{Expanded: true}
		n := slices.DeleteFunc(slices.Clone(p.Notify), func(s string) bool { return s == queue.NotifySuccess })
		if len(n) == 0 {
			n = []string{queue.NotifyNever}
		}
		p.Notify = n
	}
	out := make(map[string]queue.RecipientDSN, len(to))
	for _, t := range to {
		out[t] = p
	}
	return out, h
}
