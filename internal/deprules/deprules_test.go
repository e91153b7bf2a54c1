package deprules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Deps       []string
}

// listPackages returns every package of the module with its transitive
// (non-test) dependencies.
func listPackages(t *testing.T) (module string, pkgs []pkg) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module = strings.TrimSpace(string(out))
	out, err = exec.Command("go", "list", "-e", "-json=ImportPath,Deps", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return module, pkgs
}

func under(path, module, dir string) bool {
	p := module + "/" + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

func TestDependencyRules(t *testing.T) {
	module, pkgs := listPackages(t)
	for _, v := range violations(module, pkgs) {
		t.Error(v)
	}
}

// TestViolationsAreFound feeds the rules an import graph that breaks each
// of them, so a rule that can never fire does not go unnoticed.
func TestViolationsAreFound(t *testing.T) {
	m := "example.com/meso"
	pkgs := []pkg{
		{ImportPath: m + "/pkg/scheduler", Deps: []string{m + "/internal/master"}},
		{ImportPath: m + "/internal/master", Deps: []string{m + "/internal/agent/paths"}},
		{ImportPath: m + "/internal/agent", Deps: []string{m + "/internal/master"}},
		{ImportPath: m + "/internal/allocator/sorter", Deps: []string{m + "/internal/master/validation"}},
		{ImportPath: m + "/internal/containerizer", Deps: []string{m + "/internal/agent"}},
		{ImportPath: m + "/internal/master/x", Deps: []string{m + "/internal/allocator/hierarchical"}},
		{ImportPath: m + "/internal/agent", Deps: []string{m + "/internal/containerizer/launcher"}},
		// Allowed: composition roots, and a concrete package's own subpackages.
		{ImportPath: m + "/cmd/meso", Deps: []string{m + "/internal/allocator/hierarchical"}},
		{ImportPath: m + "/internal/local", Deps: []string{m + "/internal/allocator/hierarchical"}},
		{ImportPath: m + "/internal/builtin", Deps: []string{m + "/internal/containerizer/launcher"}},
		{ImportPath: m + "/internal/allocator/hierarchical", Deps: []string{m + "/internal/allocator/hierarchical/scenario"}},
	}
	got := violations(m, pkgs)
	if len(got) != 7 {
		t.Errorf("found %d violations, want 7:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// violations applies the rules to an import graph and describes each breach.
func violations(module string, pkgs []pkg) []string {
	rules := []struct {
		name     string
		from     func(string) bool
		forbids  func(string) bool
		allowed  func(string) bool
		describe string
	}{
		{
			name:     "public packages stay public",
			from:     func(p string) bool { return under(p, module, "pkg") || under(p, module, "api") },
			forbids:  func(d string) bool { return under(d, module, "internal") },
			describe: "pkg/ and api/ must not import internal/",
		},
		{
			name:     "master does not import agent",
			from:     func(p string) bool { return under(p, module, "internal/master") },
			forbids:  func(d string) bool { return under(d, module, "internal/agent") },
			describe: "internal/master must not import internal/agent",
		},
		{
			name:     "agent does not import master",
			from:     func(p string) bool { return under(p, module, "internal/agent") },
			forbids:  func(d string) bool { return under(d, module, "internal/master") },
			describe: "internal/agent must not import internal/master",
		},
		{
			name:     "allocator does not import master",
			from:     func(p string) bool { return under(p, module, "internal/allocator") },
			forbids:  func(d string) bool { return under(d, module, "internal/master") },
			describe: "internal/allocator must not import internal/master",
		},
		{
			name:     "containerizer does not import agent",
			from:     func(p string) bool { return under(p, module, "internal/containerizer") },
			forbids:  func(d string) bool { return under(d, module, "internal/agent") },
			describe: "internal/containerizer must not import internal/agent",
		},
		{
			name: "only the composition roots pick implementations",
			from: func(p string) bool {
				return !under(p, module, "cmd/meso") && !under(p, module, "internal/local") &&
					!under(p, module, "internal/builtin") && !under(p, module, "bench")
			},
			forbids: func(d string) bool {
				return under(d, module, "internal/allocator/hierarchical") ||
					under(d, module, "internal/registry/store") ||
					under(d, module, "internal/containerizer/isolator") ||
					under(d, module, "internal/containerizer/launcher")
			},
			// A concrete package may of course depend on its own subpackages.
			allowed: func(p string) bool {
				return under(p, module, "internal/allocator/hierarchical") ||
					under(p, module, "internal/registry/store") ||
					under(p, module, "internal/containerizer/isolator") ||
					under(p, module, "internal/containerizer/launcher")
			},
			describe: "concrete allocators, stores, launchers and isolators are chosen only in the composition roots (cmd/meso, internal/local, internal/builtin)",
		},
	}
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.from(p.ImportPath) || (r.allowed != nil && r.allowed(p.ImportPath)) {
				continue
			}
			for _, d := range p.Deps {
				if r.forbids(d) {
					out = append(out, fmt.Sprintf("%s: %s imports %s (%s)", r.name, p.ImportPath, d, r.describe))
				}
			}
		}
	}
	return out
}
