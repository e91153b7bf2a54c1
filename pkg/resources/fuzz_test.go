package resources

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"cpus:4;mem:1024;ports:[31000-32000];bugs(debug):{a,b}",
		"cpus(web):0.5;cpus:0.25;gpus:1",
		"ports:[1-5,6-10, 20-20]",
		"cpus(allocated: r)(reservations: [(STATIC,a),(DYNAMIC,a/b,p)]){REV}:1",
		"disk<SHARED>:1",
		"x:1e300;y:{};z:[]",
		"{}",
		`[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"r"}]`,
		";[:[0,0]", // a name starting with '[' (not JSON: the text form); printed, it parsed as broken JSON
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := Parse(text, "*")
		if err != nil {
			return
		}
		if err := Validate(rs); err != nil {
			t.Fatalf("Parse(%q) returned invalid resources %s: %v", text, rs, err)
		}
		_ = rs.LegacyMap()
		_ = rs.Quantities()
		if !rs.Contains(rs) || !rs.Add(rs).Contains(rs) || !rs.Subtract(rs).Empty() {
			t.Fatalf("algebra broken for %s", rs)
		}
		if t := strings.TrimSpace(text); strings.HasPrefix(t, "[") && json.Valid([]byte(t)) {
			return // JSON may carry disk info and labels, which text cannot
		}
		s := rs.String()
		back, err := Parse(s, "*")
		if err != nil {
			t.Fatalf("Parse(%q) = %s; parsing that back: %v", text, s, err)
		}
		if !back.Equal(rs) {
			t.Fatalf("Parse(%q) = %s; parses back as %s", text, s, back)
		}
	})
}
