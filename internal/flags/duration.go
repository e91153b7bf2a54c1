package flags

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Mesos duration units (stout's Duration), smallest first.
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"ns", time.Nanosecond},
	{"us", time.Microsecond},
	{"ms", time.Millisecond},
	{"secs", time.Second},
	{"mins", time.Minute},
	{"hrs", time.Hour},
	{"days", 24 * time.Hour},
	{"weeks", 7 * 24 * time.Hour},
}

// ParseDuration parses a Mesos duration "<number><unit>" with unit one of ns,
// us, ms, secs, mins, hrs, days, weeks (e.g. "15secs", "0.5hrs"). As a
// leniency it also accepts Go duration strings such as "15s" or "1h30m"
// (not negative ones: Mesos has none).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == len(s) {
		return 0, fmt.Errorf("invalid duration '%s': missing unit (one of ns, us, ms, secs, mins, hrs, days, weeks)", s)
	}
	unit := s[i:]
	for _, u := range durationUnits {
		if u.name != unit {
			continue
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration '%s': bad number '%s'", s, s[:i])
		}
		ns := v * float64(u.d)
		if ns > math.MaxInt64 {
			return 0, fmt.Errorf("invalid duration '%s': out of range", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			// stout's Duration::parse reads no sign: Mesos has no
			// negative durations.
			return 0, fmt.Errorf("invalid duration '%s': durations cannot be negative", s)
		}
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration '%s': unknown duration unit '%s'; supported units are 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'", s, unit)
}

// FormatDuration prints d the way Mesos prints a Duration: in the unit of the
// bucket d falls into (ns below 1us, us below 1ms, ... weeks from 1 week on),
// dropping to the next smaller unit when that gives a whole number and the
// bucket's unit does not; e.g. 15secs, 1mins, 90secs, 250ms, 10days, 1weeks.
func FormatDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign = "-"
		if d == math.MinInt64 {
			d = math.MaxInt64
		} else {
			d = -d
		}
	}
	// Find the bucket: the largest unit not greater than d.
	b := 0
	for b+1 < len(durationUnits) && d >= durationUnits[b+1].d {
		b++
	}
	u := durationUnits[b]
	if b > 0 && d%u.d != 0 && d%durationUnits[b-1].d == 0 {
		u = durationUnits[b-1]
	}
	var num string
	if u.d == time.Nanosecond {
		num = strconv.FormatInt(int64(d), 10)
	} else {
		// stout streams the double with 15 significant digits.
		num = strconv.FormatFloat(float64(d)/float64(u.d), 'g', 15, 64)
	}
	return sign + num + u.name
}

// Duration is a flag.Value holding a Mesos duration.
type Duration struct{ time.Duration }

// Set implements flag.Value.
func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// String implements flag.Value, printing the Mesos form.
func (d *Duration) String() string {
	if d == nil {
		return FormatDuration(0)
	}
	return FormatDuration(d.Duration)
}
