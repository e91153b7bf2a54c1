package hierarchical

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/sorter"
	"github.com/meso-project/meso/internal/allocator/sorter/drf"
	"github.com/meso-project/meso/internal/allocator/sorter/random"
	"github.com/meso-project/meso/pkg/resources"
)

// Name is the name Mesos gives this allocator on --allocator.
const Name = "HierarchicalDRF"

// Defaults applied by New to zero Options fields (Mesos's master flags).
const (
	DefaultAllocationInterval = time.Second // --allocation_interval=1secs
	DefaultSorter             = "drf"       // --role_sorter, --framework_sorter
)

// DefaultMinAllocatable is --min_allocatable_resources=cpus:0.01|mem:32:
// an offer is worth making if it has at least 0.01 cpus or at least 32 MB.
func DefaultMinAllocatable() []map[string]float64 {
	return []map[string]float64{{"cpus": 0.01}, {"mem": 32}}
}

// ErrInvalidOptions is returned by New for options it cannot honour.
var ErrInvalidOptions = errors.New("hierarchical: invalid options")

// Allocator is the HierarchicalDRF allocator. Build it with New.
type Allocator struct {
	interval       time.Duration
	minAllocatable []map[string]float64
	filterGPU      bool
	fwSorterKind   string
	rng            *rand.Rand // agent shuffling
	sorterRNG      *rand.Rand // seeds random sorters

	agents     map[string]*agent
	agentOrder []*agent // index-based: agent.idx is its position
	frameworks map[string]*framework
	roles      map[string]*role
	roleSorter sorter.Sorter
	weights    map[string]float64
	// total is the scalar quantities of every agent's total, the pool all
	// sorters compute shares against.
	total sorter.Quantities
}

var _ allocator.Allocator = (*Allocator)(nil)

// New builds a HierarchicalDRF allocator; it has the signature of
// allocator.Factory.
//
// Zero Options fields take Mesos's defaults (AllocationInterval 1s,
// MinAllocatable DefaultMinAllocatable(), drf sorters, weight 1), with one
// exception: FilterGPUResources is taken as given, because its zero value
// (false) cannot be told apart from an explicit --filter_gpu_resources=false.
// Mesos's default is true; the composition root must pass true unless the
// operator turned the filter off.
func New(opts allocator.Options) (allocator.Allocator, error) {
	return NewAllocator(opts)
}

// NewAllocator is New returning the concrete type (for tests and
// introspection such as DominantShare).
func NewAllocator(opts allocator.Options) (*Allocator, error) {
	if opts.AllocationInterval < 0 {
		return nil, fmt.Errorf("%w: negative allocation interval %v", ErrInvalidOptions, opts.AllocationInterval)
	}
	if opts.AllocationInterval == 0 {
		opts.AllocationInterval = DefaultAllocationInterval
	}
	for r, w := range opts.Weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("%w: weight %v for role %q must be positive", ErrInvalidOptions, w, r)
		}
	}
	minAlloc := opts.MinAllocatable
	if len(minAlloc) == 0 {
		minAlloc = DefaultMinAllocatable()
	}
	for _, kind := range []*string{&opts.RoleSorter, &opts.FrameworkSorter} {
		switch *kind {
		case "":
			*kind = DefaultSorter
		case "drf", "random":
		default:
			return nil, fmt.Errorf("%w: unknown sorter %q (want drf or random)", ErrInvalidOptions, *kind)
		}
	}
	a := &Allocator{
		interval:       opts.AllocationInterval,
		minAllocatable: cloneMinAllocatable(minAlloc),
		filterGPU:      opts.FilterGPUResources,
		fwSorterKind:   opts.FrameworkSorter,
		rng:            rand.New(rand.NewPCG(uint64(opts.Seed), 0x6d65736f)), // "meso"
		sorterRNG:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x736f7274)), // "sort"
		agents:         make(map[string]*agent),
		frameworks:     make(map[string]*framework),
		roles:          make(map[string]*role),
		weights:        make(map[string]float64),
		total:          make(sorter.Quantities),
	}
	a.roleSorter = a.newSorter(opts.RoleSorter)
	a.UpdateWeights(opts.Weights)
	return a, nil
}

func (a *Allocator) newSorter(kind string) sorter.Sorter {
	if kind == "random" {
		// Each random sorter draws from its own stream derived from the
		// seed; a separate source keeps the agent shuffle independent of
		// how many roles come and go.
		return random.New(rand.New(rand.NewPCG(a.sorterRNG.Uint64(), a.sorterRNG.Uint64())))
	}
	return drf.New()
}

func cloneMinAllocatable(in []map[string]float64) []map[string]float64 {
	out := make([]map[string]float64, len(in))
	for i, m := range in {
		c := make(map[string]float64, len(m))
		for k, v := range m {
			c[k] = v
		}
		out[i] = c
	}
	return out
}

// UpdateWeights sets the weights of the roles listed; roles never given a
// weight weigh 1, and roles absent from this call keep their current weight
// (Mesos's updateWeights: the operator API updates a few roles at a time, so
// passing the full merged table is fine too). Non-positive, NaN or infinite
// weights are ignored, as the master rejects them before.
func (a *Allocator) UpdateWeights(weights map[string]float64) {
	for r, w := range weights {
		if !(w > 0) || math.IsInf(w, 0) {
			continue
		}
		a.weights[r] = w
		a.roleSorter.UpdateWeight(r, w)
	}
}

// role is a role tracked by the allocator: it has frameworks subscribed to it
// or holding resources allocated to it. Each role has its own framework
// sorter.
type role struct {
	name       string
	frameworks map[string]struct{}
	sorter     sorter.Sorter
}

// trackFrameworkUnderRole makes the framework a client of the role's
// framework sorter, creating the role (and adding it to the role sorter)
// when needed. The framework starts inactive in the role sorter; callers
// activate it as appropriate.
func (a *Allocator) trackFrameworkUnderRole(fwID, name string) *role {
	r, ok := a.roles[name]
	if !ok {
		r = &role{name: name, frameworks: make(map[string]struct{}), sorter: a.newSorter(a.fwSorterKind)}
		r.sorter.AddTotal(a.total)
		a.roles[name] = r
		a.roleSorter.Add(name)
	}
	if _, ok := r.frameworks[fwID]; !ok {
		r.frameworks[fwID] = struct{}{}
		r.sorter.Add(fwID)
		r.sorter.Deactivate(fwID)
	}
	return r
}

// untrackFrameworkUnderRole removes the framework from the role, and the
// role itself once no framework is left.
func (a *Allocator) untrackFrameworkUnderRole(fwID, name string) {
	r, ok := a.roles[name]
	if !ok {
		return
	}
	delete(r.frameworks, fwID)
	r.sorter.Remove(fwID)
	if len(r.frameworks) == 0 {
		delete(a.roles, name)
		a.roleSorter.Remove(name)
	}
}

// trackAllocated records that the framework holds res (allocated form) on an
// agent, in the role and framework sorters.
func (a *Allocator) trackAllocated(fwID string, res resources.Resources) {
	for roleName, part := range byAllocationRole(res) {
		q := scalarQuantities(part)
		r := a.trackFrameworkUnderRole(fwID, roleName)
		if fw, ok := a.frameworks[fwID]; ok {
			// The framework may hold resources under a role it has since
			// left; it must still not be offered for it.
			r.sorter.Deactivate(fwID)
			if fw.offerable(roleName) {
				r.sorter.Activate(fwID)
			}
		}
		a.roleSorter.Allocated(roleName, q)
		r.sorter.Allocated(fwID, q)
	}
}

// untrackAllocated reverses trackAllocated.
func (a *Allocator) untrackAllocated(fwID string, res resources.Resources) {
	for roleName, part := range byAllocationRole(res) {
		r, ok := a.roles[roleName]
		if !ok || !r.sorter.Contains(fwID) {
			continue
		}
		q := scalarQuantities(part)
		a.roleSorter.Unallocated(roleName, q)
		r.sorter.Unallocated(fwID, q)
		fw, known := a.frameworks[fwID]
		if (!known || !fw.roles[roleName]) && len(r.sorter.Allocation(fwID)) == 0 {
			a.untrackFrameworkUnderRole(fwID, roleName)
		}
	}
}

// DominantShare is the DRF share of a role in the role sorter (0 when the role
// is unknown or the role sorter is not drf). For tests and metrics.
func (a *Allocator) DominantShare(roleName string) float64 {
	if s, ok := a.roleSorter.(*drf.Sorter); ok {
		return s.Share(roleName)
	}
	return 0
}

// FrameworkShare is the DRF share of a framework within one role's framework
// sorter (0 when unknown or not drf).
func (a *Allocator) FrameworkShare(roleName, fwID string) float64 {
	if r, ok := a.roles[roleName]; ok {
		if s, ok := r.sorter.(*drf.Sorter); ok {
			return s.Share(fwID)
		}
	}
	return 0
}

// Roles lists the roles the allocator tracks, sorted.
func (a *Allocator) Roles() []string {
	out := make([]string, 0, len(a.roles))
	for r := range a.roles {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func hasFrameworkCap(info *mesospb.FrameworkInfo, c mesospb.FrameworkInfo_Capability_Type) bool {
	for _, cap := range info.GetCapabilities() {
		if cap.GetType() == c {
			return true
		}
	}
	return false
}
