// Package sievefilter runs users' Sieve scripts at delivery: it finds the
// scripts (the user's active script in a Dovecot layout, global before/after
// scripts), compiles each once and keeps it until the file changes, runs
// them over the staged message, and turns the actions into a
// deliver.Decision: stores with flags, discard, reject, redirects and
// vacation replies for the queue, with vacation and duplicate state kept per
// user in a State: files under server.data_dir, or the database several
// hosts share (internal/cluster).
//
// It implements deliver.Filter; internal/sieve is the interpreter.
package sievefilter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/sieve"
)

// Extensions computes an extension set from a spec in the syntax of
// sieve.extensions and Pigeonhole's sieve_extensions: "all", "pigeonhole",
// plain names (added), "+name" (added) and "-name" (removed), applied in
// order to base. Items may be separated by spaces or commas.
func Extensions(base []string, spec ...string) ([]string, error) {
	set := append([]string{}, base...)
	all := sieve.AllExtensions()
	for _, s := range spec {
		for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			switch {
			case item == "all":
				set = union(set, all)
			case item == "pigeonhole":
				set = union(set, sieve.PigeonholeDefaultExtensions)
			case item == "none":
				set = nil
			case strings.HasPrefix(item, "-"):
				name := item[1:]
				if !slices.Contains(all, name) {
					return nil, fmt.Errorf("unknown Sieve extension %q (known: %s)", name, strings.Join(all, " "))
				}
				set = slices.DeleteFunc(set, func(x string) bool { return x == name })
			default:
				name := strings.TrimPrefix(item, "+")
				if !slices.Contains(all, name) {
					return nil, fmt.Errorf("unknown Sieve extension %q (known: %s)", name, strings.Join(all, " "))
				}
				set = union(set, []string{name})
			}
		}
	}
	if set == nil {
		set = []string{}
	}
	return set, nil
}

func union(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

// Dirs are where include finds scripts (RFC 6609 §3.2).
type Dirs struct {
	Personal string // the user's script directory ("" = none)
	Global   string // sieve.global_dir ("" = none)
}

// Loader returns the include loader for dirs: a script "name" is the file
// name + ".sieve" in the personal or global directory, as in Pigeonhole.
func (d Dirs) Loader() sieve.IncludeLoader {
	return sieve.IncludeFunc(func(loc sieve.IncludeLocation, name string) ([]byte, error) {
		dir := d.Personal
		if loc == sieve.Global {
			dir = d.Global
		}
		if dir == "" {
			return nil, fmt.Errorf("no %s script directory is configured: %w", loc, fs.ErrNotExist)
		}
		// RFC 6609 §3.2: the name is a script name, not a path.
		if name == "" || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
			return nil, fmt.Errorf("%q is not a valid script name (no '/', no leading '.')", name)
		}
		return os.ReadFile(filepath.Join(dir, name+".sieve"))
	})
}

// CompileOptions are the sieve.Options that cfg asks for, with includes
// resolved in dirs. extra modifies the configured extension set (the CLI's
// --extensions).
func CompileOptions(cfg *config.Config, dirs Dirs, extra ...string) (sieve.Options, error) {
	ext, err := Extensions(nil, cfg.Sieve.Extensions...)
	if err != nil {
		return sieve.Options{}, fmt.Errorf("sieve.extensions: %w", err)
	}
	if ext, err = Extensions(ext, extra...); err != nil {
		return sieve.Options{}, err
	}
	lim := sieve.Limits{MaxRedirects: cfg.Sieve.MaxRedirects, MaxActions: cfg.Sieve.MaxActions}
	return sieve.Options{
		Extensions:          ext,
		Limits:              lim,
		Include:             dirs.Loader(),
		SubaddressSeparator: cfg.Sieve.SubaddressSeparator,
	}, nil
}

// IsCompileError reports whether err is a script's own fault (syntax,
// validation) rather than trouble reading it.
func IsCompileError(err error) bool {
	var ce *sieve.CompileError
	var ces sieve.CompileErrors
	return errors.As(err, &ce) || errors.As(err, &ces)
}

// CompileFile compiles the script at path as delivery would under cfg
// (sieve.extensions changed by the extensions spec, the limits, include
// directories): ebb sieve check and test. An empty dirs.Personal is the
// script's own directory, an empty dirs.Global sieve.global_dir.
func CompileFile(cfg *config.Config, path string, dirs Dirs, extensions string) (*sieve.Script, error) {
	if dirs.Personal == "" {
		dirs.Personal = filepath.Dir(path)
	}
	if dirs.Global == "" {
		dirs.Global = cfg.Sieve.GlobalDir
	}
	opts, err := CompileOptions(cfg, dirs, extensions)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return sieve.Compile(path, src, opts)
}
