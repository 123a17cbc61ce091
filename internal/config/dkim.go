package config

import (
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// DKIM is the signing of mail that leaves ebb (RFC 6376; keys: ebb dkim).
type DKIM struct {
	Sign    bool     `toml:"sign" default:"true" doc:"Sign mail that starts here and leaves ebb (relayed to other hosts) with the keys of its From: domain in dkim.key_dir, one signature per key (Ed25519 and RSA both, when both exist). A domain without a key leaves unsigned; ebb dkim list and ebb doctor show which. Mail that came from outside (port 25, fetched) is never signed, nor are its forwards and Sieve redirects."`
	KeyDir  string   `toml:"key_dir" default:"" doc:"Where the private keys are kept, as <key_dir>/<domain>/<selector>.pem (mode 0600, owned by server.user; ebb dkim keygen writes them). Empty: dkim under server.data_dir."`
	Headers []string `toml:"headers" default:"From,From,Reply-To,To,Cc,Subject,Date,Message-ID,In-Reply-To,References,MIME-Version,Content-Type,Content-Transfer-Encoding,Content-Disposition" doc:"The header fields each signature covers (h=), in order. From is listed twice so that a From: added on the way breaks the signature (oversigning, RFC 6376 8.15). Must contain From."`
}

// DKIMKeyDir is dkim.key_dir, or its default under server.data_dir.
func (c *Config) DKIMKeyDir() string {
	if c.DKIM.KeyDir != "" {
		return c.DKIM.KeyDir
	}
	return filepath.Join(c.Server.DataDir, "dkim")
}

// DKIMKeyDirSetting names the setting that chose DKIMKeyDir, for diag.
func (c *Config) DKIMKeyDirSetting() *diag.Setting {
	if c.DKIM.KeyDir != "" {
		return c.Setting("dkim.key_dir")
	}
	// Empty: server.data_dir/dkim. The key, with the directory in use as
	// its value, so that a fix can set it.
	s := c.Setting("dkim.key_dir")
	s.Value = c.DKIMKeyDir()
	return s
}

// check: RFC 6376 §5.4 requires From among the signed fields.
func (d DKIM) check() []Problem {
	for _, h := range d.Headers {
		if strings.EqualFold(strings.TrimSpace(h), "From") {
			return nil
		}
	}
	return []Problem{{Key: "dkim.headers", Msg: "dkim.headers: must contain From (RFC 6376 5.4: the From field is always signed)"}}
}
