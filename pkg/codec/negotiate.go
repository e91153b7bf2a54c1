package codec

import (
	"strconv"
	"strings"
)

// Negotiate picks the response encoding for an Accept header value (several
// Accept headers may be joined with commas). It returns [JSON] or [Protobuf]
// and true, or false when the header allows neither (Mesos answers 406).
//
// As in Mesos, JSON is chosen whenever the header admits it (an empty
// header, "*/*" and "application/*" all do), and protobuf only when JSON is
// excluded. A type is admitted when the most specific media range matching it
// (RFC 9110 §12.5.1) has q > 0.
func Negotiate(accept string) (MediaType, bool) {
	if strings.TrimSpace(accept) == "" {
		return JSON, true
	}
	// Mesos asks "is JSON acceptable?" before "is protobuf acceptable?", so
	// JSON wins whenever the header admits it at all, whatever the q-values
	// or order say (src/common/http.cpp). Clients that want protobuf ask for
	// it alone, as libmesos does.
	if match(accept, JSON).q > 0 {
		return JSON, true
	}
	if match(accept, Protobuf).q > 0 {
		return Protobuf, true
	}
	return "", false
}

// Accepts reports whether an Accept header value admits mt (an empty
// header admits everything), by the rule [Negotiate] uses. The agent's
// operator API asks it of application/recordio, which it accepts after
// JSON and protobuf, and of the Message-Accept header of streaming
// responses (Mesos's Request::acceptsMediaType).
func Accepts(accept string, mt MediaType) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	return match(accept, mt).q > 0
}

// quality is how well an Accept header admits one media type.
type quality struct {
	q           float64
	specificity int // 0 none, 1 */*, 2 type/*, 3 exact
}

// match returns the quality the Accept header gives to mt.
func match(accept string, mt MediaType) quality {
	typ, sub, _ := strings.Cut(string(mt), "/")
	best := quality{}
	for _, r := range strings.Split(accept, ",") {
		params := strings.Split(r, ";")
		rt, rs, ok := strings.Cut(strings.ToLower(strings.TrimSpace(params[0])), "/")
		if !ok {
			continue // malformed range: ignore it
		}
		rt, rs = strings.TrimSpace(rt), strings.TrimSpace(rs)
		spec := 0
		switch {
		case rt == typ && rs == sub:
			spec = 3
		case rt == typ && rs == "*":
			spec = 2
		case rt == "*" && rs == "*":
			spec = 1
		default:
			continue
		}
		q, ok := parseQ(params[1:])
		if !ok {
			continue
		}
		if spec > best.specificity {
			best = quality{q: q, specificity: spec}
		}
	}
	return best
}

// parseQ returns the q parameter among params (1 if absent) and whether it
// is valid.
func parseQ(params []string) (float64, bool) {
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(q >= 0 && q <= 1) { // also rejects NaN
			return 0, false
		}
		return q, true
	}
	return 1, true
}
