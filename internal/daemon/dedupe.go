package daemon

import "github.com/ebbmail/ebb/internal/queue"

// deliveredInMessage is what an attempt for one recipient must not deliver
// again: the mailboxes this recipient already got (a retry after a partial
// failure) and those that every other recipient of the same message
// reached. Many RCPTs that lead to one mailbox — a catch-all flooded with
// x1@, x2@, …, two aliases of one list, an address and its alias — then
// store one copy, as Postfix's duplicate filter does after alias
// expansion. The recipients of one message are attempted one after the
// other (queue.round), so the lists are complete when read.
func deliveredInMessage(m *queue.Message, r *queue.Recipient) []string {
	out := append([]string(nil), r.Done...)
	for _, o := range m.Recipients {
		out = append(out, o.Done...)
	}
	return out
}
