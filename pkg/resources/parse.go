package resources

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// value is a parsed Mesos Value (values::parse in Mesos).
type value struct {
	typ    mesospb.Value_Type
	scalar float64
	ranges []interval
	set    []string
	text   string
}

func bracketsMatch(s string, open, close byte) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case open:
			depth++
		case close:
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// parseScalar accepts what Mesos's numify<double> accepts, but only finite
// values.
func parseScalar(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// parseValue mirrors Mesos's values::parse: spaces are removed; "[...]" is
// RANGES ("[1-5,8-10]"), "{...}" is SET, a number is SCALAR, anything else
// TEXT.
func parseValue(text string) (value, error) {
	s := strings.ReplaceAll(text, " ", "")
	if s == "" {
		return value{}, fmt.Errorf("expecting non-empty string")
	}
	if !bracketsMatch(s, '{', '}') || !bracketsMatch(s, '[', ']') || !bracketsMatch(s, '(', ')') {
		return value{}, fmt.Errorf("mismatched brackets")
	}
	switch i := strings.IndexByte(s, '['); {
	case i == 0:
		tokens := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune("[]-,\n", r) })
		if len(tokens)%2 != 0 {
			return value{}, fmt.Errorf("expecting one or more \"ranges\"")
		}
		var ivs []interval
		for j := 0; j < len(tokens); j += 2 {
			var bounds [2]uint64
			for k := range bounds {
				n, err := strconv.ParseUint(tokens[j+k], 10, 64)
				if err != nil {
					return value{}, fmt.Errorf("expecting non-negative integers in '%s'", tokens[j+k])
				}
				bounds[k] = n
			}
			if bounds[0] > bounds[1] {
				return value{}, fmt.Errorf("invalid range '%d-%d': begin > end", bounds[0], bounds[1])
			}
			ivs = append(ivs, interval{bounds[0], bounds[1]})
		}
		return value{typ: mesospb.Value_RANGES, ranges: coalesce(ivs)}, nil
	case i > 0:
		return value{}, fmt.Errorf("unexpected '[' found")
	}
	switch i := strings.IndexByte(s, '{'); {
	case i == 0:
		items := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune("{},\n", r) })
		return value{typ: mesospb.Value_SET, set: items}, nil
	case i > 0:
		return value{}, fmt.Errorf("unexpected '{' found")
	}
	if v, ok := parseScalar(s); ok {
		return value{typ: mesospb.Value_SCALAR, scalar: v}, nil
	}
	return value{typ: mesospb.Value_TEXT, text: s}, nil
}

// tokens splits s at any of seps, dropping blank tokens (stout's tokenize,
// lenient about whitespace-only tokens).
func tokens(s, seps string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if strings.TrimSpace(t) != "" {
			out = append(out, t)
		}
	}
	return out
}

// Parse parses --resources text as Mesos's Resources::parse does. The input
// is either a JSON array of Resource objects (Mesos JSON, snake_case keys;
// text that parses as a JSON array) or the text form
//
//	name(role):value;name:value;...
//
// with scalar ("cpus:4"), ranges ("ports:[31000-32000,40000-40010]") and
// set ("bugs(debug):{a,b}") values. A role in parentheses other than "*"
// means a STATIC reservation for it; resources without one get defaultRole
// ("*" for unreserved). JSON resources without role or reservations get
// defaultRole too, and pre-refinement role/reservation fields are converted
// to the reservation stack. As an extension the text form also accepts what
// String prints: "(allocated: r)", "(reservations: [(STATIC,r),(DYNAMIC,r/x,principal)])",
// "{REV}", "<SHARED>", and "{}" for nothing.
//
// Every resource is validated; the result is normalised (duplicates merged,
// scalars rounded to 3 decimals, empty resources dropped). A "gpus"
// resource must be a whole number, and a name may not be used with two
// types.
func Parse(text string, defaultRole string) (Resources, error) {
	var list []*mesospb.Resource
	var err error
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "[") && json.Valid([]byte(t)) {
		// As Mesos: JSON when the text is a JSON array, else the text
		// form (where a name may start with '[').
		list, err = parseJSON(t, defaultRole)
	} else if t != "{}" {
		list, err = parseText(text, defaultRole)
	}
	if err != nil {
		return nil, err
	}
	if err := Validate(list); err != nil {
		return nil, err
	}
	out := Resources(list).FromPreRefinement()
	// Merging may overflow scalars; check the result too.
	if err := Validate(out); err != nil {
		return nil, err
	}
	if gpus := out.Scalar("gpus"); gpus != math.Trunc(gpus) {
		return nil, invalidf("the 'gpus' resource must be a non-negative integer, not %s", FormatScalar(gpus))
	}
	types := map[string]mesospb.Value_Type{}
	for _, r := range out {
		if t, ok := types[r.GetName()]; ok && t != r.GetType() {
			return nil, invalidf("resource '%s' is given with types %s and %s", r.GetName(), t, r.GetType())
		}
		types[r.GetName()] = r.GetType()
	}
	return out, nil
}

func parseJSON(text, defaultRole string) ([]*mesospb.Resource, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, invalidf("resources JSON is not an array: %v", err)
	}
	var out []*mesospb.Resource
	for i, m := range raw {
		r := &mesospb.Resource{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(m, r); err != nil {
			return nil, invalidf("some JSON resources were not formatted properly: element %d: %v", i, err)
		}
		if r.Role == nil && len(r.Reservations) == 0 {
			r.Role = proto.String(defaultRole)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseText(text, defaultRole string) ([]*mesospb.Resource, error) {
	var out []*mesospb.Resource
	for _, tok := range tokens(text, ";") {
		colon := strings.LastIndexByte(tok, ':')
		if colon < 0 || colonOutsideParens(tok[:colon]) {
			return nil, invalidf("bad value for resources, missing or extra ':' in '%s'", tok)
		}
		r, err := parseQualifiedName(tok[:colon], defaultRole)
		if err != nil {
			return nil, invalidf("bad value for resources, %v in '%s'", err, tok)
		}
		valText := tok[colon+1:]
		v, err := parseValue(valText)
		if err != nil {
			return nil, invalidf("failed to parse resource %s value '%s': %v", r.GetName(), valText, err)
		}
		switch v.typ {
		case mesospb.Value_SCALAR:
			r.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(v.scalar)}
		case mesospb.Value_RANGES:
			r.Ranges = toRanges(v.ranges)
		case mesospb.Value_SET:
			r.Set = &mesospb.Value_Set{Item: v.set}
		default:
			return nil, invalidf("bad type for resource %s value '%s' type %s", r.GetName(), valText, v.typ)
		}
		r.Type = v.typ.Enum()
		out = append(out, r)
	}
	return out, nil
}

func colonOutsideParens(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ':':
			if depth <= 0 {
				return true
			}
		}
	}
	return false
}

// parseQualifiedName parses "name", "name(role)" and the qualifiers that
// FormatResource prints into a Resource without a value.
func parseQualifiedName(s, defaultRole string) (*mesospb.Resource, error) {
	r := &mesospb.Resource{}
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutSuffix(s, "<SHARED>"); ok {
		r.Shared, s = &mesospb.Resource_SharedInfo{}, rest
	}
	if rest, ok := strings.CutSuffix(s, "{REV}"); ok {
		r.Revocable, s = &mesospb.Resource_RevocableInfo{}, rest
	}
	open := strings.IndexByte(s, '(')
	if c := strings.IndexByte(s, ')'); c >= 0 && (open < 0 || c < open) {
		return nil, fmt.Errorf("mismatched parentheses")
	}
	if open < 0 {
		r.Name = proto.String(strings.TrimSpace(s))
		r.Role = proto.String(defaultRole)
		return r, nil
	}
	r.Name = proto.String(strings.TrimSpace(s[:open]))
	rest := s[open:]
	roleGiven := false
	for rest != "" {
		if rest[0] != '(' {
			return nil, fmt.Errorf("unexpected '%s' after ')'", rest)
		}
		end := matchingParen(rest)
		if end < 0 {
			return nil, fmt.Errorf("mismatched parentheses")
		}
		group := rest[1:end]
		rest = strings.TrimSpace(rest[end+1:])
		if a, ok := strings.CutPrefix(group, "allocated:"); ok {
			if r.AllocationInfo != nil {
				return nil, fmt.Errorf("allocation given twice")
			}
			role, err := textRole(a)
			if err != nil {
				return nil, err
			}
			r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
			continue
		}
		if roleGiven {
			return nil, fmt.Errorf("role given twice")
		}
		roleGiven = true
		if list, ok := strings.CutPrefix(group, "reservations:"); ok {
			res, err := parseReservations(strings.TrimSpace(list))
			if err != nil {
				return nil, err
			}
			r.Reservations = res
			continue
		}
		role, err := textRole(group)
		if err != nil {
			return nil, err
		}
		r.Role = proto.String(role)
	}
	if !roleGiven {
		r.Role = proto.String(defaultRole)
	}
	return r, nil
}

// textRole trims a role (or principal) given in the text form and rejects
// the characters that the text form uses as delimiters, so that what String
// prints parses back unchanged.
func textRole(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "()[],") {
		return "", fmt.Errorf("'%s' contains one of ()[], which the text form cannot carry", s)
	}
	return s, nil
}

// matchingParen returns the index of the ')' closing s[0] == '(' or -1.
func matchingParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parseReservations parses "[(STATIC,role),(DYNAMIC,role,principal)]".
func parseReservations(s string) ([]*mesospb.Resource_ReservationInfo, error) {
	inner, ok := strings.CutPrefix(s, "[")
	if inner, ok = strings.CutSuffix(inner, "]"); !ok || !strings.HasPrefix(s, "[") {
		return nil, fmt.Errorf("reservations must be a list in brackets")
	}
	var out []*mesospb.Resource_ReservationInfo
	for inner = strings.TrimSpace(inner); inner != ""; {
		if inner[0] != '(' {
			return nil, fmt.Errorf("expected '(' in reservations, got '%s'", inner)
		}
		end := matchingParen(inner)
		if end < 0 {
			return nil, fmt.Errorf("mismatched parentheses")
		}
		fields := strings.Split(inner[1:end], ",")
		inner = strings.TrimSpace(inner[end+1:])
		if after, ok := strings.CutPrefix(inner, ","); ok {
			inner = strings.TrimSpace(after)
		}
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("reservation '%s' must be (TYPE,role[,principal]); labels are not supported in text", strings.Join(fields, ","))
		}
		typ, ok := mesospb.Resource_ReservationInfo_Type_value[strings.TrimSpace(fields[0])]
		if !ok {
			return nil, fmt.Errorf("unknown reservation type '%s'", strings.TrimSpace(fields[0]))
		}
		role, err := textRole(fields[1])
		if err != nil {
			return nil, err
		}
		res := &mesospb.Resource_ReservationInfo{
			Type: mesospb.Resource_ReservationInfo_Type(typ).Enum(),
			Role: proto.String(role),
		}
		if len(fields) == 3 {
			p, err := textRole(fields[2])
			if err != nil {
				return nil, err
			}
			res.Principal = proto.String(p)
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty reservations")
	}
	return out, nil
}

// ParseQuantities parses "name:quantity;..." with non-negative scalar
// quantities (Mesos's ResourceQuantities::fromString), e.g. "cpus:0.01;mem:32".
// Repeated names are summed; values are rounded to 3 decimals.
func ParseQuantities(text string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, tok := range tokens(text, ";") {
		name, val, ok := strings.Cut(tok, ":")
		name = strings.TrimSpace(name)
		if !ok || strings.Contains(val, ":") {
			return nil, invalidf("failed to parse '%s': missing or extra ':'", tok)
		}
		if name == "" {
			return nil, invalidf("failed to parse '%s': empty resource name", tok)
		}
		v, err := parseValue(val)
		if err != nil {
			return nil, invalidf("failed to parse '%s' to quantity: %v", val, err)
		}
		if v.typ != mesospb.Value_SCALAR {
			return nil, invalidf("failed to parse '%s' to quantity: only scalar values are allowed", val)
		}
		if v.scalar < 0 {
			return nil, invalidf("failed to parse '%s' to quantity: negative values are not allowed", val)
		}
		out[name] = addScalar(out[name], v.scalar)
	}
	return out, nil
}

// ParseMinAllocatable parses --min_allocatable_resources: '|'-separated
// alternatives, each a ParseQuantities list ("cpus:0.01|mem:32").
func ParseMinAllocatable(text string) ([]map[string]float64, error) {
	var out []map[string]float64
	for _, alt := range tokens(text, "|") {
		q, err := ParseQuantities(alt)
		if err != nil {
			return nil, fmt.Errorf("error parsing min_allocatable_resources '%s': %w", text, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// ParseAttributes parses --attributes: "name:value" pairs separated by ';' or
// newlines. A value starting with '[' is RANGES, a number is SCALAR,
// anything else TEXT (spaces are removed, as in Mesos); sets are rejected.
func ParseAttributes(text string) ([]*mesospb.Attribute, error) {
	var out []*mesospb.Attribute
	for _, tok := range tokens(text, ";\n") {
		name, val, ok := strings.Cut(tok, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.TrimSpace(val) == "" {
			return nil, invalidf("invalid attribute key:value pair '%s'", tok)
		}
		v, err := parseValue(val)
		if err != nil {
			return nil, invalidf("failed to parse attribute %s text '%s': %v", name, val, err)
		}
		a := &mesospb.Attribute{Name: proto.String(name), Type: v.typ.Enum()}
		switch v.typ {
		case mesospb.Value_SCALAR:
			a.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(v.scalar)}
		case mesospb.Value_RANGES:
			a.Ranges = toRanges(v.ranges)
		case mesospb.Value_TEXT:
			a.Text = &mesospb.Value_Text{Value: proto.String(v.text)}
		default:
			return nil, invalidf("bad type for attribute %s text '%s' type %s: sets are not allowed for attributes", name, val, v.typ)
		}
		out = append(out, a)
	}
	return out, nil
}
