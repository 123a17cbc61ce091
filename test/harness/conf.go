package harness

import (
	"fmt"
	"path/filepath"
)

// ConfHead is how a test instance's ebb.toml begins: [server] (hostname,
// the user it runs as, data_dir DIR/data), [mail] (root DIR/mail) and
// [queue] (spool DIR/spool). The text a caller appends is still in
// [queue] until its first table header: retry settings go first.
func ConfHead(hostname, user, dir string) string {
	return ConfHeadAt(hostname, user, filepath.Join(dir, "data"), filepath.Join(dir, "mail"), filepath.Join(dir, "spool"))
}

// ConfHeadAt is ConfHead with its three paths named one by one.
// server.data_dir stands on line 4 (a test that checks where a setting
// was read counts on it).
func ConfHeadAt(hostname, user, dataDir, mailRoot, spool string) string {
	return fmt.Sprintf(`[server]
hostname = %q
user = %q
data_dir = %q

[mail]
root = %q

[queue]
spool = %q
`, hostname, user, dataDir, mailRoot, spool)
}
