package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// mtastsChecks: with mta_sts.enable, the policy cache directory (or the
// directory it will be made in) is writable by server.user, and
// mta_sts.ca_file, when set, holds PEM certificates.
func mtastsChecks() []Check {
	return []Check{{Name: "mta_sts", Run: checkMTASTS}}
}

func checkMTASTS(ctx context.Context, env *Env) []Finding {
	const name = "mta_sts"
	cfg := env.Cfg
	if !cfg.MTASTS.Enable {
		return nil
	}
	var out []Finding
	dir := strings.ReplaceAll(cfg.MTASTS.CacheDir, "{data_dir}", cfg.Server.DataDir)
	// ebb serve makes it at the first policy.
	if e, _ := env.Probe.DirToBe(ctx, dir, cfg.Setting("mta_sts.cache_dir")); e != nil {
		e.Reason += " (without it policies are kept in memory only and fetched again after each restart)"
		out = append(out, Warned(name, e))
	} else {
		out = append(out, Passed(name, dir, "policy cache writable by "+env.Probe.Who()))
	}
	if f := cfg.MTASTS.CAFile; f != "" {
		b, err := os.ReadFile(f)
		switch {
		case err != nil:
			out = append(out, Failed(name, diag.PathError("ebb doctor", "open", "read the MTA-STS CA file", f, err, cfg.Setting("mta_sts.ca_file"))))
		case !x509.NewCertPool().AppendCertsFromPEM(b):
			e := diag.New("parse", "read the MTA-STS CA file", f, errors.New("no PEM certificate in it"))
			e.Setting = cfg.Setting("mta_sts.ca_file")
			e.Hint = "give a PEM file of CA certificates, or leave mta_sts.ca_file empty for the system's roots"
			out = append(out, Failed(name, e))
		default:
			out = append(out, Passed(name, f, "extra CA certificates for policy hosts"))
		}
	}
	if cfg.MTASTS.Port != 443 {
		e := diag.New("config", "fetch MTA-STS policies from", "port", errors.New("mta_sts.port is not 443: real policy hosts are only on 443 (RFC 8461 §3.3)"))
		e.Setting = cfg.Setting("mta_sts.port")
		e.Hint = "mta_sts.port is for tests on loopback; remove it"
		out = append(out, Warned(name, e))
	}
	return out
}
