package resources

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

func scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}}
}

func ranges(name string, bounds ...uint64) *mesospb.Resource {
	r := &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{}}
	for i := 0; i+1 < len(bounds); i += 2 {
		r.Ranges.Range = append(r.Ranges.Range, &mesospb.Value_Range{Begin: proto.Uint64(bounds[i]), End: proto.Uint64(bounds[i+1])})
	}
	return r
}

func set(name string, items ...string) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SET.Enum(), Set: &mesospb.Value_Set{Item: items}}
}

func static(r *mesospb.Resource, role string) *mesospb.Resource {
	r.Reservations = append(r.Reservations, &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String(role)})
	return r
}

func dynamic(r *mesospb.Resource, role, principal string) *mesospb.Resource {
	res := &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role)}
	if principal != "" {
		res.Principal = proto.String(principal)
	}
	r.Reservations = append(r.Reservations, res)
	return r
}

func revocable(r *mesospb.Resource) *mesospb.Resource {
	r.Revocable = &mesospb.Resource_RevocableInfo{}
	return r
}

func mustParse(t testing.TB, s string) Resources {
	t.Helper()
	rs, err := Parse(s, "*")
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return rs
}

func diffResources(want, got Resources) string {
	return cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty())
}

func TestParseText(t *testing.T) {
	tests := []struct {
		in, role string
		want     Resources
	}{
		{in: "", want: Resources{}},
		{in: "{}", want: Resources{}},
		{in: "cpus:4;mem:1024;ports:[31000-32000]", want: Resources{scalar("cpus", 4), scalar("mem", 1024), ranges("ports", 31000, 32000)}},
		{in: " cpus : 4 ; mem: 1 024 ;", want: Resources{scalar("cpus", 4), scalar("mem", 1024)}},
		{in: "ports:[21000-24000,30000-34000]", want: Resources{ranges("ports", 21000, 24000, 30000, 34000)}},
		{in: "ports:[5-10, 1-4, 8-12]", want: Resources{ranges("ports", 1, 12)}},
		{in: "bugs(debug):{a,b,c}", want: Resources{static(set("bugs", "a", "b", "c"), "debug")}},
		{in: "cpus(*):1", role: "web", want: Resources{scalar("cpus", 1)}},
		{in: "cpus:1;mem(web):2", role: "web", want: Resources{static(scalar("cpus", 1), "web"), static(scalar("mem", 2), "web")}},
		{in: "cpus:0.12345", want: Resources{scalar("cpus", 0.123)}},
		{in: "cpus:0.0004", want: Resources{}},
		{in: "cpus:1;cpus:2.5;cpus(a):1", want: Resources{scalar("cpus", 3.5), static(scalar("cpus", 1), "a")}},
		{in: "gpus:2", want: Resources{scalar("gpus", 2)}},
		{in: "cpus{REV}:2", want: Resources{revocable(scalar("cpus", 2))}},
		{in: "cpus(allocated: web)(reservations: [(STATIC,web),(DYNAMIC,web/a,ops)]):2",
			want: Resources{func() *mesospb.Resource {
				r := dynamic(static(scalar("cpus", 2), "web"), "web/a", "ops")
				r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("web")}
				return r
			}()}},
	}
	for _, tt := range tests {
		role := tt.role
		if role == "" {
			role = "*"
		}
		got, err := Parse(tt.in, role)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.in, role, err)
			continue
		}
		if diff := diffResources(tt.want, got); diff != "" {
			t.Errorf("Parse(%q, %q) (-want +got):\n%s", tt.in, role, diff)
		}
	}
}

func TestParseJSON(t *testing.T) {
	in := `[
	  {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.00049}},
	  {"name": "mem", "type": "SCALAR", "scalar": {"value": 512}, "role": "web"},
	  {"name": "disk", "type": "SCALAR", "scalar": {"value": 100}, "role": "web", "reservation": {"principal": "ops"}},
	  {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}, "reservations": [{"type": "STATIC", "role": "x"}]},
	  {"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}, "unknown_key": true}
	]`
	got, err := Parse(in, "dflt")
	if err != nil {
		t.Fatal(err)
	}
	want := Resources{
		static(scalar("cpus", 2), "dflt"),
		static(scalar("mem", 512), "web"),
		dynamic(scalar("disk", 100), "web", "ops"),
		static(ranges("ports", 1, 2), "x"),
		static(scalar("gpus", 1), "dflt"),
	}
	if diff := diffResources(want, got); diff != "" {
		t.Errorf("Parse(JSON) (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cpus", "missing or extra ':' in 'cpus'"},
		{"cpus:1:2", "missing or extra ':' in 'cpus:1:2'"},
		{"cpus(web:1", "mismatched parentheses in 'cpus(web:1'"},
		{"cpus(web)x:1", "unexpected 'x' after ')'"},
		{")(0):1", "mismatched parentheses"},
		{"0((,)0):1", "which the text form cannot carry"},
		{"cpus:-1", "value < 0"},
		{"cpus:abc", "bad type for resource cpus value 'abc' type TEXT"},
		{"cpus:inf", "type TEXT"},
		{":1", "empty resource name"},
		{"cpus():1", "empty role name is invalid"},
		{"cpus(-x):1", "starts with a dash"},
		{"cpus(a//b):1", "two adjacent slashes"},
		{"ports:[1-2", "mismatched brackets"},
		{"ports:[5-1]", "begin > end"},
		{"ports:[1-2-3]", "expecting one or more \"ranges\""},
		{"ports:[a-b]", "expecting non-negative integers in 'a'"},
		{"ports:1[2]", "unexpected '[' found"},
		{"s:{a,a}", "duplicated elements"},
		{"s:x{a}", "unexpected '{' found"},
		{"gpus:1.5", "'gpus' resource must be a non-negative integer"},
		{"x:1;x:[1-2]", "resource 'x' is given with types SCALAR and RANGES"},
		{"cpus(reservations: [(STATIC,a),(STATIC,a/b)]):1", "a refined reservation cannot be STATIC"},
		{"cpus(reservations: [(STATIC,a),(DYNAMIC,b)]):1", "role 'b' is not a refinement of 'a'"},
		{"cpus(reservations: [(BOGUS,a)]):1", "unknown reservation type 'BOGUS'"},
		{"disk<SHARED>:1", "persistent volumes required for shared resources"},
		{"cpus:1e308;cpus:1e308", "value is not finite"},
		{`[{"name": "cpus"}]`, "some JSON resources were not formatted properly"},
		{`[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "*", "reservation": {}}]`, "role \"*\" cannot be dynamically reserved"},
		{`[1`, "missing or extra ':' in '[1'"}, // not JSON: the text form, as Mesos
	}
	for _, tt := range tests {
		_, err := Parse(tt.in, "*")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want containing %q", tt.in, err, tt.want)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestParseQuantities(t *testing.T) {
	got, err := ParseQuantities("cpus:0.01;mem:32;mem:0.0004;disk : 1 0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"cpus": 0.01, "mem": 32, "disk": 10}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{
		"cpus":          "missing or extra ':'",
		"cpus:1:2":      "missing or extra ':'",
		"ports:[1-2]":   "only scalar values are allowed",
		"cpus:-1":       "negative values are not allowed",
		":1":            "empty resource name",
		"cpus:{a}":      "only scalar values",
		"cpus:1;mem:xx": "only scalar values",
	} {
		if _, err := ParseQuantities(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseQuantities(%q) error = %v, want containing %q", in, err, want)
		}
	}
}

func TestParseMinAllocatable(t *testing.T) {
	got, err := ParseMinAllocatable("cpus:0.01|mem:32")
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]float64{{"cpus": 0.01}, {"mem": 32}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = ParseMinAllocatable("cpus:1;mem:64|disk:10")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]map[string]float64{{"cpus": 1, "mem": 64}, {"disk": 10}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseMinAllocatable("cpus:0.01|mem"); err == nil || !strings.Contains(err.Error(), "min_allocatable_resources 'cpus:0.01|mem'") {
		t.Errorf("error = %v", err)
	}
}

func TestParseAttributes(t *testing.T) {
	got, err := ParseAttributes("rack:r1;level:3\nzone:[1-2,5-6];host: a b;url:http://x")
	if err != nil {
		t.Fatal(err)
	}
	text := func(name, v string) *mesospb.Attribute {
		return &mesospb.Attribute{Name: proto.String(name), Type: mesospb.Value_TEXT.Enum(), Text: &mesospb.Value_Text{Value: proto.String(v)}}
	}
	want := []*mesospb.Attribute{
		text("rack", "r1"),
		{Name: proto.String("level"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(3)}},
		{Name: proto.String("zone"), Type: mesospb.Value_RANGES.Enum(), Ranges: ranges("", 1, 2, 5, 6).Ranges},
		text("host", "ab"),
		text("url", "http://x"),
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantMap := map[string]any{"rack": "r1", "level": 3.0, "zone": "[1-2, 5-6]", "host": "ab", "url": "http://x"}
	if diff := cmp.Diff(wantMap, AttributesLegacyMap(got)); diff != "" {
		t.Errorf("AttributesLegacyMap (-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{
		"rack":      "invalid attribute key:value pair 'rack'",
		"rack:":     "invalid attribute key:value pair 'rack:'",
		":r1":       "invalid attribute key:value pair ':r1'",
		"s:{a,b}":   "sets are not allowed for attributes",
		"z:[1-2":    "mismatched brackets",
		"z:[1-2]x]": "mismatched brackets",
	} {
		if _, err := ParseAttributes(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAttributes(%q) error = %v, want containing %q", in, err, want)
		}
	}
}

func TestAdd(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"cpus:1", "cpus:2", "cpus:3"},
		{"cpus:0.1", "cpus:0.2", "cpus:0.3"},
		{"cpus:1", "mem:2", "cpus:1; mem:2"},
		{"ports:[1-5]", "ports:[6-10]", "ports:[1-10]"},
		{"ports:[1-5]", "ports:[7-10]", "ports:[1-5, 7-10]"},
		{"ports:[1-5, 20-30]", "ports:[3-25]", "ports:[1-30]"},
		{"s:{a,b}", "s:{b,c}", "s:{a, b, c}"},
		{"cpus(web):1", "cpus:1", "cpus(reservations: [(STATIC,web)]):1; cpus:1"},
		{"cpus{REV}:1", "cpus:1", "cpus{REV}:1; cpus:1"},
		{"{}", "cpus:1", "cpus:1"},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		aBefore, bBefore := a.String(), b.String()
		got := a.Add(b)
		if got.String() != tt.want {
			t.Errorf("%s + %s = %s, want %s", tt.a, tt.b, got, tt.want)
		}
		if a.String() != aBefore || b.String() != bBefore {
			t.Errorf("%s + %s mutated its inputs", tt.a, tt.b)
		}
	}
}

func TestAddAllocationAndUnnormalisedInput(t *testing.T) {
	a := mustParse(t, "cpus:1").Allocate("web")
	b := mustParse(t, "cpus:1").Allocate("db")
	got := a.Add(b)
	if len(got) != 2 || got.Scalar("cpus") != 2 {
		t.Errorf("allocations to different roles merged: %s", got)
	}
	if got := got.Unallocate(); got.String() != "cpus:2" {
		t.Errorf("Unallocate() = %s", got)
	}
	raw := Resources{scalar("cpus", 1), scalar("cpus", 1.0004), ranges("p", 5, 6, 1, 2)}
	if got := raw.Add(nil); got.String() != "cpus:2; p:[1-2, 5-6]" {
		t.Errorf("normalise = %s", got)
	}
}

func TestSubtract(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"cpus:3", "cpus:1", "cpus:2"},
		{"cpus:0.3", "cpus:0.1", "cpus:0.2"},
		{"cpus:1", "cpus:1", "{}"},
		{"cpus:1", "cpus:2", "{}"},
		{"cpus:1;mem:10", "mem:10", "cpus:1"},
		{"ports:[1-10]", "ports:[4-6]", "ports:[1-3, 7-10]"},
		{"ports:[1-10]", "ports:[1-10]", "{}"},
		{"ports:[1-10, 20-30]", "ports:[5-25]", "ports:[1-4, 26-30]"},
		{"ports:[0-18446744073709551615]", "ports:[0-0, 18446744073709551615-18446744073709551615]", "ports:[1-18446744073709551614]"},
		{"s:{a,b,c}", "s:{b}", "s:{a, c}"},
		{"cpus(web):2", "cpus:1", "cpus(reservations: [(STATIC,web)]):2"},
		{"cpus:2", "gpus:1", "cpus:2"},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		aBefore := a.String()
		got := a.Subtract(b)
		if got.String() != tt.want {
			t.Errorf("%s - %s = %s, want %s", tt.a, tt.b, got, tt.want)
		}
		if a.String() != aBefore {
			t.Errorf("%s - %s mutated its input", tt.a, tt.b)
		}
	}
}

func TestContainsAndEqual(t *testing.T) {
	tests := []struct {
		a, b     string
		contains bool
	}{
		{"cpus:2;mem:10", "cpus:1", true},
		{"cpus:2;mem:10", "cpus:2;mem:10", true},
		{"cpus:2", "cpus:2.001", false},
		{"cpus:2", "cpus:2.0004", true},
		{"cpus:2", "mem:1", false},
		{"ports:[1-10]", "ports:[2-3, 5-9]", true},
		{"ports:[1-5, 7-10]", "ports:[5-7]", false},
		{"s:{a,b}", "s:{b}", true},
		{"s:{a,b}", "s:{c}", false},
		{"cpus(web):2", "cpus:1", false},
		{"cpus:1;cpus(web):1", "cpus:1", true},
		{"cpus:1", "{}", true},
		{"{}", "{}", true},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		if got := a.Contains(b); got != tt.contains {
			t.Errorf("(%s).Contains(%s) = %v, want %v", tt.a, tt.b, got, tt.contains)
		}
	}

	a := Resources{scalar("cpus", 1), scalar("cpus", 1), ranges("p", 1, 2), ranges("p", 3, 4), set("s", "b", "a")}
	b := Resources{ranges("p", 1, 4), scalar("cpus", 2), set("s", "a", "b")}
	if !a.Equal(b) || !b.Equal(a) {
		t.Errorf("%s should equal %s", a, b)
	}
	if a.Equal(mustParse(t, "cpus:2")) {
		t.Errorf("%s should not equal cpus:2", a)
	}
}

func TestFilters(t *testing.T) {
	rs := Resources{
		scalar("cpus", 1),
		static(scalar("cpus", 2), "web"),
		dynamic(scalar("mem", 3), "web", "ops"),
		dynamic(static(scalar("mem", 5), "db"), "db/a", ""),
		revocable(scalar("cpus", 4)),
	}
	tests := []struct {
		name string
		got  Resources
		want string
	}{
		{"Unreserved", rs.Unreserved(), "cpus:1; cpus{REV}:4"},
		{"Reserved", rs.Reserved(), "cpus(reservations: [(STATIC,web)]):2; mem(reservations: [(DYNAMIC,web,ops)]):3; mem(reservations: [(STATIC,db),(DYNAMIC,db/a)]):5"},
		{"ReservedBy web", rs.ReservedBy("web"), "cpus(reservations: [(STATIC,web)]):2; mem(reservations: [(DYNAMIC,web,ops)]):3"},
		{"ReservedBy db", rs.ReservedBy("db"), "{}"},
		{"ReservedBy db/a", rs.ReservedBy("db/a"), "mem(reservations: [(STATIC,db),(DYNAMIC,db/a)]):5"},
		{"Revocable", rs.Revocable(), "cpus{REV}:4"},
		{"NonRevocable scalar", Resources{{Name: proto.String("x")}}.NonRevocable().Filter(func(*mesospb.Resource) bool { return false }), "{}"},
		{"AllocatedTo", rs.Allocate("web").AllocatedTo("web").Unallocate(), rs.Add(nil).String()},
	}
	for _, tt := range tests {
		if got := tt.got.String(); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := rs.Scalar("cpus"); got != 7 {
		t.Errorf("Scalar(cpus) = %v", got)
	}
}

func TestQuantities(t *testing.T) {
	rs := mustParse(t, "cpus:1.5;cpus(web):1;mem:64;ports:[1-10,21-30];s:{a,b,c}")
	want := map[string]float64{"cpus": 2.5, "mem": 64, "ports": 20, "s": 3}
	if diff := cmp.Diff(want, rs.Quantities()); diff != "" {
		t.Errorf("Quantities (-want +got):\n%s", diff)
	}
}

func TestString(t *testing.T) {
	r := dynamic(scalar("disk", 1024), "web", "ops")
	r.Disk = &mesospb.Resource_DiskInfo{
		Source:      &mesospb.Resource_DiskInfo_Source{Type: mesospb.Resource_DiskInfo_Source_MOUNT.Enum(), Mount: &mesospb.Resource_DiskInfo_Source_Mount{Root: proto.String("/mnt/d1")}},
		Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("vol1")},
	}
	r.Reservations[0].Labels = &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("k"), Value: proto.String("v")}, {Key: proto.String("k2")}}}
	r.Shared = &mesospb.Resource_SharedInfo{}
	tests := []struct {
		rs   Resources
		want string
	}{
		{nil, "{}"},
		{Resources{scalar("cpus", 4), scalar("mem", 1024), ranges("ports", 31000, 32000)}, "cpus:4; mem:1024; ports:[31000-32000]"},
		{Resources{scalar("cpus", 0.1), scalar("mem", 1.23456), scalar("x", 1e15), scalar("y", 1234567890123.456)}, "cpus:0.1; mem:1.235; x:1e+15; y:1234567890123.456"},
		{Resources{ranges("ports", 1, 2, 5, 6)}, "ports:[1-2, 5-6]"},
		{Resources{static(set("bugs", "a", "b"), "debug")}, "bugs(reservations: [(STATIC,debug)]):{a, b}"},
		{Resources{revocable(scalar("cpus", 1))}.Allocate("r"), "cpus(allocated: r){REV}:1"},
		{Resources{r}, "disk(reservations: [(DYNAMIC,web,ops,{k: v, k2})])[MOUNT:/mnt/d1,vol1]<SHARED>:1024"},
	}
	for _, tt := range tests {
		if got := tt.rs.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestLegacyMap(t *testing.T) {
	rs := mustParse(t, "cpus:2;cpus(web):1.5;mem:1024;ports:[31000-32000];ports(web):[1-2];bugs:{a,b};cpus{REV}:4;foo:3")
	want := map[string]any{
		"cpus": 3.5, "gpus": 0.0, "mem": 1024.0, "disk": 0.0,
		"ports": "[1-2, 31000-32000]", "bugs": "{a, b}", "foo": 3.0,
		"cpus_revocable": 4.0,
	}
	if diff := cmp.Diff(want, rs.LegacyMap()); diff != "" {
		t.Errorf("LegacyMap (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}, Resources(nil).LegacyMap()); diff != "" {
		t.Errorf("empty LegacyMap (-want +got):\n%s", diff)
	}
}

// TestLegacyMapUnnormalised: LegacyMap of lists simply put one after the
// other, with allocation_info, is that of their normalised sum (the master
// relies on it to write /state without summing).
func TestLegacyMapUnnormalised(t *testing.T) {
	a := mustParse(t, "cpus:0.1;mem:32;ports:[31000-31001];bugs:{a};cpus{REV}:1")
	b := mustParse(t, "cpus:0.2;mem:32;ports:[31001-31005];bugs:{a,b};disk:0;cpus(web):0.3")
	var raw Resources
	for _, r := range append(Resources{}, append(a, b...)...) {
		c := clone(r)
		c.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("web")}
		raw = append(raw, c)
	}
	want := Resources(nil).Add(a).Add(b).LegacyMap()
	if diff := cmp.Diff(want, raw.LegacyMap()); diff != "" {
		t.Errorf("LegacyMap of the unsummed list (-sum +unsummed):\n%s", diff)
	}
	if got := AddScalar(0.1, 0.2); got != 0.3 {
		t.Errorf("AddScalar(0.1, 0.2) = %v, want 0.3", got)
	}
}

func TestFormats(t *testing.T) {
	labels := &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("k")}}}
	dyn := dynamic(scalar("mem", 3), "web", "ops")
	dyn.Reservations[0].Labels = labels
	internal := Resources{scalar("cpus", 1), static(scalar("cpus", 2), "web"), dyn}

	pre, err := internal.ToPreRefinement()
	if err != nil {
		t.Fatal(err)
	}
	withRole := func(r *mesospb.Resource, role string) *mesospb.Resource {
		r.Role = proto.String(role)
		return r
	}
	preDyn := withRole(scalar("mem", 3), "web")
	preDyn.Reservation = &mesospb.Resource_ReservationInfo{Principal: proto.String("ops"), Labels: labels}
	wantPre := Resources{withRole(scalar("cpus", 1), "*"), withRole(scalar("cpus", 2), "web"), preDyn}
	if diff := diffResources(wantPre, pre); diff != "" {
		t.Errorf("ToPreRefinement (-want +got):\n%s", diff)
	}
	if err := Validate(pre); err != nil {
		t.Errorf("Validate(pre): %v", err)
	}
	if diff := diffResources(internal, pre.FromPreRefinement()); diff != "" {
		t.Errorf("FromPreRefinement(ToPreRefinement) (-want +got):\n%s", diff)
	}

	refined := append(internal.Add(nil), dynamic(static(scalar("disk", 1), "a"), "a/b", ""))
	if _, err := refined.ToPreRefinement(); !errors.Is(err, ErrRefined) {
		t.Errorf("ToPreRefinement(refined) error = %v, want ErrRefined", err)
	}

	endpoint := refined.ToEndpointFormat()
	wantEndpoint := Resources{
		withRole(scalar("cpus", 1), "*"),
		withRole(static(scalar("cpus", 2), "web"), "web"),
		func() *mesospb.Resource {
			r := proto.Clone(dyn).(*mesospb.Resource)
			r.Role = proto.String("web")
			r.Reservation = preDyn.Reservation
			return r
		}(),
		dynamic(static(scalar("disk", 1), "a"), "a/b", ""),
	}
	if diff := diffResources(wantEndpoint, endpoint); diff != "" {
		t.Errorf("ToEndpointFormat (-want +got):\n%s", diff)
	}
	if err := Validate(endpoint); err != nil {
		t.Errorf("Validate(endpoint): %v", err)
	}
	if diff := diffResources(refined, endpoint.FromPreRefinement()); diff != "" {
		t.Errorf("FromPreRefinement(endpoint) (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	bad := func(f func(r *mesospb.Resource)) *mesospb.Resource {
		r := scalar("cpus", 1)
		f(r)
		return r
	}
	tests := []struct {
		r    *mesospb.Resource
		want string
	}{
		{scalar("", 1), "empty resource name"},
		{bad(func(r *mesospb.Resource) { r.Ranges = &mesospb.Value_Ranges{} }), "invalid scalar resource"},
		{bad(func(r *mesospb.Resource) { r.Type = mesospb.Value_TEXT.Enum() }), "unsupported resource type"},
		{ranges("p", 1, 5, 5, 6), "overlapping ranges"},
		{ranges("p", 5, 1), "begin > end"},
		{set("s", "a", "a"), "duplicated elements"},
		{bad(func(r *mesospb.Resource) { r.Role = proto.String("a b") }), "contains backspace or whitespace"},
		{bad(func(r *mesospb.Resource) { r.Reservation = &mesospb.Resource_ReservationInfo{} }), "role \"*\" cannot be dynamically reserved"},
		{bad(func(r *mesospb.Resource) {
			r.Reservations = []*mesospb.Resource_ReservationInfo{{Role: proto.String("a")}}
		}), "type' field must be set"},
		{static(scalar("cpus", 1), "*"), "role \"*\" cannot be reserved"},
		{bad(func(r *mesospb.Resource) { static(r, "a"); r.Role = proto.String("b") }), "does not match the role 'a'"},
		{bad(func(r *mesospb.Resource) { dynamic(r, "a", "p"); r.Role = proto.String("a") }), "must either be both set or both not set"},
		{bad(func(r *mesospb.Resource) { r.Disk = &mesospb.Resource_DiskInfo{} }), "DiskInfo should not be set for cpus resource"},
	}
	for _, tt := range tests {
		err := Validate(Resources{scalar("mem", 1), tt.r})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%s) = %v, want containing %q", FormatResource(tt.r), err, tt.want)
		}
	}
	if err := Validate(mustParse(t, "cpus:1;ports:[1-2,4-5];s:{a,b}")); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}

func TestSharedCopies(t *testing.T) {
	vol := scalar("disk", 10)
	vol.Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("v")}}
	vol.Shared = &mesospb.Resource_SharedInfo{}
	two := Resources{vol}.Add(Resources{vol})
	if len(two) != 2 {
		t.Fatalf("shared copies = %d, want 2", len(two))
	}
	if !two.Contains(Resources{vol, vol}) || two.Contains(Resources{vol, vol, vol}) {
		t.Errorf("shared Contains counts copies wrongly")
	}
	if got := two.Subtract(Resources{vol}); len(got) != 1 {
		t.Errorf("shared Subtract left %d copies, want 1", len(got))
	}
	half := proto.Clone(vol).(*mesospb.Resource)
	half.Scalar.Value = proto.Float64(5)
	if two.Contains(Resources{half}) {
		t.Errorf("a persistent volume must be contained only whole")
	}
}

// TestArithmeticKeepsInputs: sums and differences are made in place on the
// result's own copies (mergeInto, subtractFrom), never on an input's
// resources, however many of one kind an unnormalised input holds.
func TestArithmeticKeepsInputs(t *testing.T) {
	raw := Resources{scalar("cpus", 1), scalar("cpus", 2), ranges("p", 1, 2), ranges("p", 3, 9)}
	var before Resources
	for _, r := range raw {
		before = append(before, proto.Clone(r).(*mesospb.Resource))
	}
	sum := raw.Add(raw)
	if got := sum.String(); got != "cpus:6; p:[1-9]" {
		t.Errorf("raw + raw = %s", got)
	}
	sumBefore := sum.String()
	if got := sum.Add(raw).Subtract(raw).Subtract(raw); got.String() != "cpus:3" {
		t.Errorf("sum + raw - raw - raw = %s, want cpus:3", got)
	}
	if sum.String() != sumBefore {
		t.Errorf("a later Add/Subtract changed an earlier result: %s, was %s", sum, sumBefore)
	}
	if diff := raw.Subtract(Resources{scalar("cpus", 0.5), ranges("p", 4, 4)}); diff.String() != "cpus:2.5; p:[1-3, 5-9]" {
		t.Errorf("raw - (cpus:0.5; p:[4-4]) = %s", diff)
	}
	if diff := cmp.Diff(before, raw, protocmp.Transform()); diff != "" {
		t.Errorf("the inputs changed (-before +after):\n%s", diff)
	}
}

// TestCanonicalCopiesEveryField: canonical copies a Resource field by
// field; a field added to the proto must be added there too.
func TestCanonicalCopiesEveryField(t *testing.T) {
	r := &mesospb.Resource{
		ProviderId:     &mesospb.ResourceProviderID{Value: proto.String("rp")},
		Name:           proto.String("cpus"),
		Type:           mesospb.Value_SCALAR.Enum(),
		Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(1.5)},
		Ranges:         &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{{Begin: proto.Uint64(1), End: proto.Uint64(2)}}},
		Set:            &mesospb.Value_Set{Item: []string{"a"}},
		Role:           proto.String("web"),
		AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")},
		Reservation:    &mesospb.Resource_ReservationInfo{Principal: proto.String("p")},
		Reservations:   []*mesospb.Resource_ReservationInfo{{Role: proto.String("web")}},
		Disk:           &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("v")}},
		Revocable:      &mesospb.Resource_RevocableInfo{},
		Shared:         &mesospb.Resource_SharedInfo{},
	}
	r.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	fields := r.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if !r.ProtoReflect().Has(fields.Get(i)) {
			t.Fatalf("the test leaves %s unset: set it here and copy it in canonical", fields.Get(i).Name())
		}
	}
	c := canonical(r)
	if diff := cmp.Diff(r, c, protocmp.Transform()); diff != "" {
		t.Errorf("canonical(r) differs from r (-r +copy):\n%s", diff)
	}
	if string(c.ProtoReflect().GetUnknown()) != string(r.ProtoReflect().GetUnknown()) {
		t.Errorf("unknown fields not copied")
	}
	if c.Scalar == r.Scalar {
		t.Errorf("the copy shares the value it may change")
	}
}
