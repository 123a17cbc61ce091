package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The quick start's order, as root: the admin commands create the
// directory database for the mail user, or refuse — naming the user to
// create first — rather than leave root-owned state the daemon cannot use.
func TestPackageAdminCommandsStateOwner(t *testing.T) {
	// Not t.Parallel: the quick start as root, with users it may create: alone.
	harness.RequireRoot(t)
	u := harness.Unprivileged(t)
	dir := harness.Dir(t)
	write := func(name, user, dataDir string) string {
		p := filepath.Join(dir, name)
		conf := fmt.Sprintf("[server]\nuser = %q\ndata_dir = %q\n[mail]\nroot = %q\n[directory]\nargon2_memory = \"8M\"\n",
			user, dataDir, filepath.Join(dir, "mail"))
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	asRoot := func(stdin []byte, args ...string) harness.Result {
		return harness.Run(t, exec.Command(harness.Ebb(t), args...), stdin)
	}
	owner := func(p string) (int, int) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		s := st.Sys().(*syscall.Stat_t)
		return int(s.Uid), int(s.Gid)
	}

	t.Run("mail user missing: refused, nothing created", func(t *testing.T) {
		data := filepath.Join(dir, "data-nouser")
		conf := write("nouser.toml", "ebb-no-such-user", data)
		r := asRoot(nil, "domain", "add", "-c", conf, "example.test")
		if r.Code != 67 || !strings.Contains(r.Stderr, `server.user "ebb-no-such-user"`) || !strings.Contains(r.Stderr, "adduser --system --group") {
			t.Errorf("exit %d, want 67 naming the user and how to create it:\n%s", r.Code, r.Stderr)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("%s was created (%v) although the mail user is missing", data, err)
		}
	})

	t.Run("root-owned data directory: refused with the fix", func(t *testing.T) {
		data := filepath.Join(dir, "data-root")
		os.Mkdir(data, 0o755)
		conf := write("rootdir.toml", u.Name, data)
		r := asRoot(nil, "domain", "add", "-c", conf, "example.test")
		group := strconv.Itoa(u.GID)
		if g, err := user.LookupGroupId(group); err == nil {
			group = g.Name
		}
		if r.Code != 77 || !strings.Contains(r.Stderr, "run: chown "+u.Name+":"+group+" "+data) {
			t.Errorf("exit %d, want 77 with the chown of ebb's own directory:\n%s", r.Code, r.Stderr)
		}
		if _, err := os.Stat(filepath.Join(data, "directory.db")); !os.IsNotExist(err) {
			t.Errorf("directory.db created in a directory the daemon cannot write: %v", err)
		}
	})

	t.Run("quick start order: root's files belong to the mail user", func(t *testing.T) {
		data := filepath.Join(dir, "data-ok")
		conf := write("ok.toml", u.Name, data)
		if r := asRoot(nil, "domain", "add", "-c", conf, "example.test"); r.Code != 0 {
			t.Fatalf("domain add as root: %d %s", r.Code, r.Stderr)
		}
		if r := asRoot([]byte("pw\n"), "user", "add", "-c", conf, "alice@example.test"); r.Code != 0 {
			t.Fatalf("user add as root: %d %s", r.Code, r.Stderr)
		}
		for _, p := range []string{data, filepath.Join(data, "directory.db")} {
			if uid, gid := owner(p); uid != u.UID || gid != u.GID {
				t.Errorf("%s is %d:%d, want the mail user %d:%d", p, uid, gid, u.UID, u.GID)
			}
		}
		// The daemon's user can now write what root made.
		harness.EbbAs(t, u, []byte("pw\n"), "user", "add", "-c", conf, "bob@example.test")
		// A database an older ebb left root-owned is given back.
		db := filepath.Join(data, "directory.db")
		os.Chown(db, 0, 0)
		if r := asRoot(nil, "alias", "add", "-c", conf, "info@example.test", "alice@example.test"); r.Code != 0 {
			t.Fatalf("alias add as root: %d %s", r.Code, r.Stderr)
		}
		if uid, _ := owner(db); uid != u.UID {
			t.Errorf("root-owned %s not given to the mail user (uid %d)", db, uid)
		}
		harness.EbbAs(t, u, nil, "alias", "add", "-c", conf, "sales@example.test", "bob@example.test")
	})
}
