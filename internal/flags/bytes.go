package flags

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binary size units as stout's Bytes uses them (1KB = 1024B).
var bytesUnits = []struct {
	name string
	n    uint64
}{
	{"B", 1},
	{"KB", 1 << 10},
	{"MB", 1 << 20},
	{"GB", 1 << 30},
	{"TB", 1 << 40},
}

// ParseBytes parses a Mesos byte size: a whole number followed by B, KB, MB,
// GB or TB (case-insensitive), e.g. "512MB", "2GB". As a leniency a plain
// number is taken as bytes. Fractions are rejected, as in Mesos.
func ParseBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i < len(s) && s[i] == '.' {
		return 0, fmt.Errorf("invalid bytes '%s': fractional bytes", s)
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid bytes '%s'", s)
	}
	v, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid bytes '%s': %w", s, err)
	}
	unit := strings.ToUpper(strings.TrimSpace(s[i:]))
	if unit == "" {
		return v, nil
	}
	for _, u := range bytesUnits {
		if u.name == unit {
			if v > math.MaxUint64/u.n {
				return 0, fmt.Errorf("invalid bytes '%s': out of range", s)
			}
			return v * u.n, nil
		}
	}
	return 0, fmt.Errorf("invalid bytes '%s': unknown bytes unit '%s'; supported units are 'B', 'KB', 'MB', 'GB' and 'TB'", s, unit)
}

// FormatBytes prints n like Mesos: in the largest unit that divides it
// exactly ("2GB", "1536MB", "10B", "0B").
func FormatBytes(n uint64) string {
	u := bytesUnits[0]
	if n != 0 {
		for _, c := range bytesUnits[1:] {
			if n%c.n != 0 {
				break
			}
			u = c
		}
	}
	return strconv.FormatUint(n/u.n, 10) + u.name
}

// Bytes is a flag.Value holding a size in bytes.
type Bytes uint64

// Set implements flag.Value.
func (b *Bytes) Set(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(v)
	return nil
}

// String implements flag.Value, printing the Mesos form.
func (b *Bytes) String() string {
	if b == nil {
		return FormatBytes(0)
	}
	return FormatBytes(uint64(*b))
}
