package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ebbmail/ebb/internal/servetest"
)

// SignedDNS is a DNSSEC-signed test namespace on loopback, served by a
// real authoritative server (NSD) and validated by a real recursive
// resolver (unbound) that trusts the test root's key: the resolver ebb
// asks (dns.resolver = Addr, dns.dnssec = true).
//
// The root zone "." is signed with a key of the test's own, the trust
// anchor unbound is given. Each child zone the test names is delegated
// from it and is one of:
//   - Signed: signed with its own key, its DS in the root (answers are
//     secure: unbound sets the AD bit);
//   - Insecure: unsigned, delegated without DS (answers are insecure);
//   - Bogus: signed, but the root's DS names another key (unbound answers
//     SERVFAIL, as for a broken or forged chain).
//
// Zones are signed with ldns-signzone (ldnsutils); nothing leaves
// loopback: unbound asks only NSD (stub zones), never the real root.
type SignedDNS struct {
	Addr string // unbound's host:port
	Dir  string
	nsd  string
}

// ZoneKind is how a child zone is delegated.
type ZoneKind int

const (
	Signed ZoneKind = iota
	Insecure
	Bogus
)

// Zone is one child zone of the test root: its name ("dane.test"), how it
// is delegated, and its records in zone-file syntax with absolute names
// ("mx.dane.test. A 127.0.0.31"); SOA and NS are added.
type Zone struct {
	Name    string
	Kind    ZoneKind
	Records []string
}

// StartSignedDNS signs the zones, starts NSD and unbound on free loopback
// ports and waits until unbound answers the root's SOA with the AD bit.
func StartSignedDNS(t testing.TB, zones ...Zone) *SignedDNS {
	t.Helper()
	Install(t, "nsd", "unbound", "ldnsutils")
	dir := Dir(t)
	s := &SignedDNS{Dir: dir}
	nsdPort, unboundPort := freeUDPTCPPort(t), freeUDPTCPPort(t)
	s.nsd = fmt.Sprintf("127.0.0.1:%d", nsdPort)
	s.Addr = fmt.Sprintf("127.0.0.1:%d", unboundPort)

	// The children first: the root needs their DS records.
	var rootRecs []string
	var zoneFiles []string
	for _, z := range zones {
		name := dns.Fqdn(strings.ToLower(z.Name))
		recs := append([]string{
			fmt.Sprintf("%s 60 IN SOA ns.%s hostmaster.%s 1 3600 600 86400 5", name, name, name),
			fmt.Sprintf("%s 60 IN NS ns.%s", name, name),
			fmt.Sprintf("ns.%s 60 IN A 127.0.0.1", name),
		}, z.Records...)
		rootRecs = append(rootRecs, fmt.Sprintf("%s 60 IN NS ns.%s", name, name), fmt.Sprintf("ns.%s 60 IN A 127.0.0.1", name))
		file := filepath.Join(dir, strings.TrimSuffix(name, ".")+".zone")
		writeZone(t, file, recs)
		switch z.Kind {
		case Signed:
			key := ldnsKey(t, dir, name)
			file = ldnsSign(t, file, name, key)
			rootRecs = append(rootRecs, readDS(t, key))
		case Bogus:
			key := ldnsKey(t, dir, name)
			file = ldnsSign(t, file, name, key)
			// The DS of a key that signs nothing: the chain breaks here.
			other := ldnsKey(t, filepath.Join(dir, "other-"+strings.TrimSuffix(name, ".")), name)
			rootRecs = append(rootRecs, readDS(t, other))
		}
		zoneFiles = append(zoneFiles, name+"\x00"+file)
	}
	root := append([]string{
		". 60 IN SOA ns.root.test. hostmaster.root.test. 1 3600 600 86400 5",
		". 60 IN NS ns.root.test.",
		"ns.root.test. 60 IN A 127.0.0.1",
	}, rootRecs...)
	rootFile := filepath.Join(dir, "root.zone")
	writeZone(t, rootFile, root)
	rootKey := ldnsKey(t, dir, ".")
	rootFile = ldnsSign(t, rootFile, ".", rootKey)
	zoneFiles = append(zoneFiles, ".\x00"+rootFile)
	// unbound's trust anchor: the root key's DS.
	if err := os.WriteFile(filepath.Join(dir, "root.anchor"), []byte(readDS(t, rootKey)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var nsdConf strings.Builder
	fmt.Fprintf(&nsdConf, `server:
	ip-address: 127.0.0.1@%[2]d
	port: %[2]d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "%[1]s"
	pidfile: "%[1]s/nsd.pid"
	xfrdfile: "%[1]s/xfrd.state"
	zonelistfile: "%[1]s/zone.list"
	xfrdir: "%[1]s"
	database: ""
	server-count: 1
	verbosity: 1
	hide-version: yes
remote-control:
	control-enable: no
`, dir, nsdPort)
	for _, zf := range zoneFiles {
		name, file, _ := strings.Cut(zf, "\x00")
		fmt.Fprintf(&nsdConf, "zone:\n\tname: %q\n\tzonefile: %q\n", name, file)
	}
	nsdConfPath := filepath.Join(dir, "nsd.conf")
	writeFile(t, nsdConfPath, nsdConf.String())
	startDaemon(t, dir, "nsd", "nsd", "-d", "-c", nsdConfPath)
	waitDNS(t, s.nsd, ".", false)

	var ub strings.Builder
	fmt.Fprintf(&ub, `server:
	interface: 127.0.0.1@%[2]d
	port: %[2]d
	do-ip6: no
	do-udp: yes
	do-tcp: yes
	username: ""
	chroot: ""
	directory: %[1]q
	pidfile: "%[1]s/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	val-log-level: 2
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	module-config: "validator iterator"
	trust-anchor-file: "%[1]s/root.anchor"
	trust-anchor-signaling: no
	root-key-sentinel: no
	harden-dnssec-stripped: yes
	qname-minimisation: no
	aggressive-nsec: no
	num-threads: 1
	cache-max-ttl: 60
	cache-max-negative-ttl: 5
	# unbound answers these special-use names itself (RFC 6761): the
	# test's zones are under test.
	local-zone: "test." nodefault
	local-zone: "example." nodefault
	local-zone: "invalid." nodefault
remote-control:
	control-enable: no
stub-zone:
	name: "."
	stub-addr: 127.0.0.1@%[3]d
`, dir, unboundPort, nsdPort)
	for _, z := range zones {
		fmt.Fprintf(&ub, "stub-zone:\n\tname: %q\n\tstub-addr: 127.0.0.1@%d\n", dns.Fqdn(z.Name), nsdPort)
	}
	ubConf := filepath.Join(dir, "unbound.conf")
	writeFile(t, ubConf, ub.String())
	if out, err := exec.Command("unbound-checkconf", ubConf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	startDaemon(t, dir, "unbound", "unbound", "-d", "-c", ubConf)
	waitDNS(t, s.Addr, ".", true)
	return s
}

// freeUDPTCPPort is a port free for both UDP and TCP on 127.0.0.1
// (servetest.FreePort checks both).
func freeUDPTCPPort(t testing.TB) int {
	t.Helper()
	return servetest.FreePort(t)
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeZone writes records as a zone file, the SOA first.
func writeZone(t testing.TB, path string, recs []string) {
	t.Helper()
	var out []string
	for _, r := range recs {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("zone record %q: %v", r, err)
		}
		if rr.Header().Ttl == 0 {
			rr.Header().Ttl = 60
		}
		out = append(out, rr.String())
	}
	writeFile(t, path, strings.Join(out, "\n")+"\n")
}

// ldnsKey makes an ECDSA P-256 key with the SEP flag for zone in dir and
// returns its file base (dir/Kzone.+013+tag).
func ldnsKey(t testing.TB, dir, zone string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldns-keygen %s: %v\n%s", zone, err, out)
	}
	return filepath.Join(dir, strings.TrimSpace(string(out)))
}

// ldnsSign signs file with key (valid from a day ago for 30 days) and
// returns the signed file.
func ldnsSign(t testing.TB, file, zone, key string) string {
	t.Helper()
	now := time.Now().UTC()
	cmd := exec.Command("ldns-signzone", "-o", zone, "-i", now.Add(-24*time.Hour).Format("20060102150405"),
		"-e", now.Add(30*24*time.Hour).Format("20060102150405"), file, key)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ldns-signzone %s: %v\n%s", file, err, out)
	}
	return file + ".signed"
}

// readDS is the DS record ldns-keygen wrote beside the key.
func readDS(t testing.TB, key string) string {
	t.Helper()
	b, err := os.ReadFile(key + ".ds")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// startDaemon runs a foreground daemon with its output in dir/name.log
// and stops it when the test ends.
func startDaemon(t testing.TB, dir, name string, argv ...string) {
	t.Helper()
	startLogged(t, dir, name, exec.Command(argv[0], argv[1:]...))
}

// startLogged starts cmd with its output in dir/name.log, and at the end
// of the test kills it, waits for it, and shows the log's end if the test
// failed.
func startLogged(t testing.TB, dir, name string, cmd *exec.Cmd) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, tailLines(string(b), 60))
		}
	})
}

// waitDNS waits until server answers SOA for name (with the AD bit when
// ad).
func waitDNS(t testing.TB, server, name string, ad bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeSOA)
		m.AuthenticatedData = true
		c := &dns.Client{Timeout: time.Second}
		in, _, err := c.Exchange(m, server)
		switch {
		case err != nil:
			last = err.Error()
		case in.Rcode != dns.RcodeSuccess:
			last = dns.RcodeToString[in.Rcode]
		case ad && !in.AuthenticatedData:
			last = "answer without the AD bit"
		default:
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not answer SOA %s (ad=%v): %s", server, name, ad, last)
}
