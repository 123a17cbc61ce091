package acme

import (
	"os"
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
)

// ServerNames is the server's certificate: server.hostname (the machine's
// name when empty) and acme.names.
func ServerNames(cfg *config.Config) []string {
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	names := []string{strings.ToLower(strings.TrimSuffix(host, "."))}
	for _, n := range cfg.ACME.Names {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// DomainNames is one certificate per acme.domain_names label of each
// hosted domain and domain alias ("@": the domain itself).
func DomainNames(cfg *config.Config, domains []string) [][]string {
	var out [][]string
	for _, dom := range domains {
		for _, label := range cfg.ACME.DomainNames {
			switch label = strings.ToLower(strings.TrimSpace(label)); label {
			case "":
			case "@":
				out = append(out, []string{dom})
			default:
				out = append(out, []string{label + "." + dom})
			}
		}
	}
	return out
}
