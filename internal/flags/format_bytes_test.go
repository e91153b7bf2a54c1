package flags

import "testing"

// TestFormatBytes checks stout's Bytes output, which Mesos's messages use
// ("Disk usage (3MB) exceeds quota (1MB)").
func TestFormatBytes(t *testing.T) {
	const (
		kb = 1 << 10
		mb = 1 << 20
		gb = 1 << 30
		tb = 1 << 40
	)
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0B"}, {1, "1B"}, {1023, "1023B"}, {kb, "1KB"}, {kb + 1, "1025B"}, {3 * kb, "3KB"},
		{mb, "1MB"}, {mb + kb, "1025KB"}, {3*mb + 1, "3145729B"}, {1536 * kb, "1536KB"}, {10 * mb, "10MB"},
		{gb, "1GB"}, {gb + mb, "1025MB"}, {5 * gb, "5GB"}, {tb, "1TB"}, {3 * tb, "3TB"},
	}
	for _, tc := range tests {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
