package pickupd

import (
	"fmt"
	"time"
)

// received is the trace field for a local submission (RFC 5321 §4.4), in
// the form Postfix writes for its sendmail: no "from" clause, because no
// network peer exists, and the uid in the comment.
func received(hostname string, uid int, user, via string, now time.Time) string {
	who := fmt.Sprintf("from userid %d", uid)
	if user != "" {
		who += " " + user
	}
	return fmt.Sprintf("Received: by %s (ebb sendmail via %s, %s)\r\n\twith LOCAL; %s\r\n", hostname, via, who, now.Format(time.RFC1123Z))
}
