package metrics

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/meso-project/meso/internal/httpapi"
)

// ParseTimeout reads the optional ?timeout= of /metrics/snapshot as
// libprocess's MetricsProcess does: a stout duration ("5secs", "100ms").
// ok is false without one. A bad value is a 400 whose body is libprocess's
// "Invalid timeout '<value>': <reason>.\n".
func ParseTimeout(r *http.Request) (d time.Duration, ok bool, err error) {
	v, present := httpapi.QueryValue(r.URL.Query(), "timeout")
	if !present {
		return 0, false, nil
	}
	d, perr := ParseDuration(v)
	if perr != nil {
		return 0, false, httpapi.Errorf(http.StatusBadRequest, "Invalid timeout '%s': %v.\n", v, perr)
	}
	return d, true, nil
}

// ParseDuration is stout's Duration::parse: a decimal number (digits and
// dots, no sign) followed by one of the units ns, us, ms, secs, mins, hrs,
// days, weeks. The errors carry stout's messages.
func ParseDuration(s string) (time.Duration, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c == '.' {
			continue
		}
		num, unit := s[:i], s[i:]
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("Failed to convert '%s' to number", num)
		}
		var factor time.Duration
		switch unit {
		case "ns":
			factor = time.Nanosecond
		case "us":
			factor = time.Microsecond
		case "ms":
			factor = time.Millisecond
		case "secs":
			factor = time.Second
		case "mins":
			factor = time.Minute
		case "hrs":
			factor = time.Hour
		case "days":
			factor = 24 * time.Hour
		case "weeks":
			factor = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("Unknown duration unit '%s'; supported units are 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'", unit)
		}
		ns := v * float64(factor)
		// float64(MaxInt64) is 2^63, itself out of range.
		if ns >= math.MaxInt64 || ns < math.MinInt64 {
			return 0, fmt.Errorf("Argument out of the range that a Duration can represent due to int64_t's size limit")
		}
		return time.Duration(ns), nil
	}
	return 0, fmt.Errorf("Invalid duration '%s'", s)
}

// WriteJSON answers /metrics/snapshot with snap: a JSON object of values
// by name, wrapped for ?jsonp= as libprocess's OK(json, jsonp) does.
func WriteJSON(w http.ResponseWriter, r *http.Request, snap *Snapshot) {
	httpapi.WriteJSON(w, r, http.StatusOK, snap.Values())
}
