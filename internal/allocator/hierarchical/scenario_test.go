package hierarchical_test

// Data-driven scenario tests, in the style of etcd-io/raft's testdata: each
// file in testdata/*.txt is a sequence of blocks
//
//	command arg arg key=value ...
//	----
//	expected output (may be empty)
//
// separated by blank lines; lines starting with # are comments. Run with
// -update to rewrite the expected outputs from what the allocator does
// (then review the diff).
//
// Commands (times t are seconds after an arbitrary epoch; each command
// that takes a time defaults to the last time used):
//
//	agent <id> <resources> [nocaps]     add an agent (Mesos resource text)
//	framework <id> roles=a,b [caps=gpu,revocable] [suppressed=a] [inactive]
//	remove-framework <id>
//	allocate [t=N]                      run a cycle; prints "fw@agent/role resources"
//	                                    per offer, sorted, or "no offers"
//	decline <fw> <agent> [refuse=S] [t=N]  give back everything the framework
//	                                    holds on the agent, with a filter of S seconds
//	                                    (no filter when refuse is absent)
//	recover <fw> <agent> <resources> [role=r] [t=N]  give back part of a holding
//	suppress <fw> [roles=a,b]
//	revive <fw> [roles=a,b] [t=N]
//	weight <role> <w>
//	quota <role> [guarantees=<quantities>] [limits=<quantities>]
//	shares                              print each tracked role's dominant share
//	held                                print what each framework holds, by agent

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/pkg/resources"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt expected outputs")

type scenario struct {
	t    *testing.T
	a    *hierarchical.Allocator
	now  time.Time
	held map[[2]string]resources.Resources // {fw, agent} -> allocated form
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

type block struct {
	cmd, want string
}

func parseBlocks(t *testing.T, text string) []block {
	var out []block
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		b := block{cmd: l}
		i++
		if i >= len(lines) || strings.TrimSpace(lines[i]) != "----" {
			t.Fatalf("line %d: want ---- after %q", i+1, l)
		}
		var want []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			want = append(want, lines[i])
		}
		b.want = strings.Join(want, "\n")
		out = append(out, b)
	}
	return out
}

func runScenario(t *testing.T, file string) {
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a, err := hierarchical.NewAllocator(allocator.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, a: a, now: t0, held: map[[2]string]resources.Resources{}}
	var rewritten strings.Builder
	for _, b := range parseBlocks(t, string(text)) {
		got := s.run(b.cmd)
		if *update {
			fmt.Fprintf(&rewritten, "%s\n----\n%s", b.cmd, got)
			if got != "" {
				rewritten.WriteString("\n")
			}
			rewritten.WriteString("\n")
			continue
		}
		if got != b.want {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, b.cmd, got, b.want)
		}
	}
	if *update {
		// Keep the leading comment block.
		var head strings.Builder
		for _, l := range strings.Split(string(text), "\n") {
			if !strings.HasPrefix(l, "#") {
				break
			}
			head.WriteString(l + "\n")
		}
		if head.Len() > 0 {
			head.WriteString("\n")
		}
		if err := os.WriteFile(file, []byte(head.String()+rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// args splits a command into positional arguments and key=value options.
func args(cmd string) ([]string, map[string]string) {
	var pos []string
	kv := map[string]string{}
	for _, f := range strings.Fields(cmd) {
		if k, v, ok := strings.Cut(f, "="); ok && !strings.Contains(k, ":") && !strings.Contains(k, ";") {
			kv[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	return pos, kv
}

func (s *scenario) setTime(kv map[string]string) {
	if v, ok := kv["t"]; ok {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.t.Fatalf("bad time %q", v)
		}
		s.now = t0.Add(time.Duration(secs * float64(time.Second)))
	}
}

func list(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func (s *scenario) run(cmd string) string {
	t := s.t
	pos, kv := args(cmd)
	s.setTime(kv)
	switch pos[0] {
	case "agent":
		ag := agentWith(t, pos[1], pos[2])
		if _, ok := kv["nocaps"]; ok || slices.Contains(pos, "nocaps") {
			ag.Capabilities = nil
		}
		s.a.AddAgent(pos[1], ag, nil)
	case "framework":
		var caps []mesospb.FrameworkInfo_Capability_Type
		for _, c := range list(kv["caps"]) {
			switch c {
			case "gpu":
				caps = append(caps, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)
			case "revocable":
				caps = append(caps, mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES)
			default:
				t.Fatalf("unknown capability %q", c)
			}
		}
		fw := allocator.Framework{
			Info:            fwInfo(pos[1], list(kv["roles"]), caps...),
			Active:          !slices.Contains(pos, "inactive"),
			SuppressedRoles: list(kv["suppressed"]),
		}
		s.a.AddFramework(pos[1], fw, nil)
	case "remove-framework":
		s.a.RemoveFramework(pos[1])
		for k := range s.held {
			if k[0] == pos[1] {
				delete(s.held, k)
			}
		}
	case "allocate":
		als := s.a.Allocate(s.now)
		if len(als) == 0 {
			return "no offers"
		}
		var lines []string
		for _, al := range als {
			k := [2]string{al.FrameworkID, al.AgentID}
			s.held[k] = s.held[k].Add(al.Resources)
			lines = append(lines, fmt.Sprintf("%s@%s/%s %s", al.FrameworkID, al.AgentID, al.Role, al.Resources.Unallocate()))
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	case "decline":
		k := [2]string{pos[1], pos[2]}
		var f *mesospb.Filters
		if v, ok := kv["refuse"]; ok {
			secs, _ := strconv.ParseFloat(v, 64)
			f = refuse(secs)
		}
		s.a.RecoverResources(pos[1], pos[2], s.held[k], f, s.now)
		delete(s.held, k)
	case "recover":
		k := [2]string{pos[1], pos[2]}
		role := kv["role"]
		if role == "" {
			role = "*"
		}
		part := res(t, pos[3]).Allocate(role)
		s.a.RecoverResources(pos[1], pos[2], part, nil, s.now)
		s.held[k] = s.held[k].Subtract(part)
	case "suppress":
		s.a.SuppressOffers(pos[1], list(kv["roles"]))
	case "revive":
		s.a.ReviveOffers(pos[1], list(kv["roles"]), s.now)
	case "weight":
		w, _ := strconv.ParseFloat(pos[2], 64)
		s.a.UpdateWeights(map[string]float64{pos[1]: w})
	case "quota":
		var q allocator.Quota
		var err error
		if v := kv["guarantees"]; v != "" {
			if q.Guarantees, err = resources.ParseQuantities(v); err != nil {
				t.Fatal(err)
			}
		}
		if v := kv["limits"]; v != "" {
			if q.Limits, err = resources.ParseQuantities(v); err != nil {
				t.Fatal(err)
			}
		}
		s.a.UpdateQuota(pos[1], q)
	case "shares":
		var lines []string
		for _, r := range s.a.Roles() {
			lines = append(lines, fmt.Sprintf("%s %.3f", r, s.a.DominantShare(r)))
		}
		return strings.Join(lines, "\n")
	case "held":
		var lines []string
		for k, r := range s.held {
			if !r.Empty() {
				lines = append(lines, fmt.Sprintf("%s@%s %s", k[0], k[1], r.Unallocate()))
			}
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	default:
		t.Fatalf("unknown command %q", pos[0])
	}
	return ""
}
