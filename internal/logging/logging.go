// Package logging makes ebb's slog logger from the [log] settings: logfmt
// (slog's text handler writes key=value pairs, quoted where needed) or JSON,
// one line per event, with a level that SIGHUP can change.
//
// Conventions the components follow: a line about a message carries
// queue_id; a line about an SMTP connection carries conn; a *diag.Error is
// logged under the key "diag" (its LogValue expands to op, path, errno,
// reason, uid, found_mode, setting, hint, ref).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Logger is the process logger and its adjustable level.
type Logger struct {
	*slog.Logger
	Level *slog.LevelVar
}

// New makes the logger writing to w. format is "logfmt" or "json"; level is
// debug, info, warn or error.
func New(w io.Writer, format, level string) (*Logger, error) {
	lv := new(slog.LevelVar)
	if err := SetLevel(lv, level); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "", "logfmt":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log.format %q: want logfmt or json", format)
	}
	return &Logger{Logger: slog.New(h), Level: lv}, nil
}

// SetLevel sets lv from a level name.
func SetLevel(lv *slog.LevelVar, level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return fmt.Errorf("log.level %q: want debug, info, warn or error", level)
	}
	lv.Set(l)
	return nil
}
