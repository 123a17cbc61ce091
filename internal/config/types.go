package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "30s", "4h", "5d" in the file.
type Duration struct{ time.Duration }

// D makes a Duration.
func D(d time.Duration) Duration { return Duration{d} }

func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	// Days are the natural unit of queue lifetimes; time.ParseDuration lacks them.
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return fmt.Errorf("invalid duration %q: use forms like 30s, 15m, 4h, 5d", s)
		}
		d.Duration = time.Duration(n * float64(24*time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use forms like 30s, 15m, 4h, 5d", s)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d Duration) String() string {
	v := d.Duration
	if v != 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	s := v.String()
	// time.Duration prints "4h0m0s" and "10m0s"; people write "4h", "10m".
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Size is a byte count written as "50M", "1G", "512K" or a plain number.
type Size int64

func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(strings.ToUpper(string(b)))
	str = strings.TrimSuffix(strings.TrimSuffix(str, "IB"), "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(str, "K"):
		mult, str = 1<<10, strings.TrimSuffix(str, "K")
	case strings.HasSuffix(str, "M"):
		mult, str = 1<<20, strings.TrimSuffix(str, "M")
	case strings.HasSuffix(str, "G"):
		mult, str = 1<<30, strings.TrimSuffix(str, "G")
	case strings.HasSuffix(str, "T"):
		mult, str = 1<<40, strings.TrimSuffix(str, "T")
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q: use forms like 0, 512K, 50M, 2G", string(b))
	}
	*s = Size(n * float64(mult))
	return nil
}

func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Size) String() string {
	v := int64(s)
	switch {
	case v != 0 && v%(1<<30) == 0:
		return fmt.Sprintf("%dG", v>>30)
	case v != 0 && v%(1<<20) == 0:
		return fmt.Sprintf("%dM", v>>20)
	case v != 0 && v%(1<<10) == 0:
		return fmt.Sprintf("%dK", v>>10)
	}
	return strconv.FormatInt(v, 10)
}
