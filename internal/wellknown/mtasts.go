package wellknown

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MTASTSPath is where senders fetch the policy (RFC 8461 §3.3).
const MTASTSPath = "/.well-known/mta-sts.txt"

// PolicyText is the MTA-STS policy ebb serves for every hosted domain
// (RFC 8461 §3.2: key: value lines, CRLF) and its id: the first 20 hex
// digits of the policy's SHA-256, so that the id changes exactly when the
// policy does, as §3.1 asks of the _mta-sts TXT record. ok is false when
// web.mta_sts_mode is off (no policy is served).
func PolicyText(s Settings) (text, id string, ok bool) {
	if s.MTASTSMode == "off" || s.MTASTSMode == "" {
		return "", "", false
	}
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	fmt.Fprintf(&b, "mode: %s\r\n", s.MTASTSMode)
	for _, mx := range s.MTASTSMX {
		fmt.Fprintf(&b, "mx: %s\r\n", strings.ToLower(strings.TrimSuffix(strings.TrimSpace(mx), ".")))
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(s.MTASTSMaxAge.Seconds()))
	text = b.String()
	sum := sha256.Sum256([]byte(text))
	return text, hex.EncodeToString(sum[:])[:20], true
}

// MTASTSRecord is the _mta-sts TXT record's value for the policy
// (RFC 8461 §3.1).
func MTASTSRecord(id string) string { return "v=STSv1; id=" + id }
