package verbosity

import (
	"log/slog"
	"testing"
)

func TestLevel(t *testing.T) {
	tests := []struct {
		base slog.Level
		v    uint32
		want slog.Level
	}{
		{slog.LevelInfo, 0, slog.LevelInfo},
		{slog.LevelWarn, 0, slog.LevelWarn},
		{slog.LevelInfo, 1, slog.LevelDebug},
		{slog.LevelError, 1, slog.LevelDebug},
		{slog.LevelInfo, 2, slog.LevelDebug - 1},
		{slog.LevelDebug - 3, 1, slog.LevelDebug - 3},
		{slog.LevelInfo, 1 << 31, slog.LevelDebug - maxSteps},
	}
	for _, tt := range tests {
		if got := Level(tt.base, tt.v); got != tt.want {
			t.Errorf("Level(%v, %d) = %v, want %v", tt.base, tt.v, got, tt.want)
		}
	}
}
