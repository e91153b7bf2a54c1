package metrics

import (
	"testing"
)

// FuzzParseDuration: any ?timeout= a client sends parses or is refused
// with an error; a parsed one is never negative.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5secs", "1.5mins", "10ms", "2days", "1weeks", "-1secs", "NaNsecs", "1e400secs", "secs", "99999999999999hrs", "9223372036.854775807secs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, a negative timeout", s, d)
		}
	})
}
