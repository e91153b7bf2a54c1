package hierarchical

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/internal/allocator/sorter"
	"github.com/meso-project/meso/internal/allocator/sorter/drf"
	"github.com/meso-project/meso/internal/allocator/sorter/random"
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
	minAllocatable []minAlt
	filterGPU      bool
	excluded       quantity.Vec // dimensions left out of DRF shares
	roleSorterKind string
	fwSorterKind   string
	rng            *rand.Rand // agent shuffling
	sorterRNG      *rand.Rand // seeds random sorters

	dims *quantity.Dims
	pool sorter.Pool // cluster total, shared by every sorter

	agents      []*agent // by dense index; nil when free
	agentIndex  map[string]int32
	freeAgents  []int32
	activeAgent bitset

	frameworks []*framework
	fwIndex    map[string]int32
	freeFws    []int32

	slots []*slot // (framework, role) pairs: framework-sorter clients
	// eligible lists the slots that may be offered resources now.
	eligible  []int32
	freeSlots []int32
	// filterSlots and filterAgents are the slots and agents that have
	// refused-offer filters (filters.go).
	filterSlots  map[int32]struct{}
	filterAgents map[int32]struct{}
	refused      []refusedEntry // [0] unused: ID 0 means "no filter"
	refusedIndex map[string]uint32
	freeRefused  []uint32
	nextExpiry   int64  // earliest filter expiry (unix ns)
	memoGen      uint32 // numbers reverify's passes for refusedEntry memos
	// grown lists agents whose available resources grew since the last
	// cycle: their verified-filter bits must be rechecked.
	grown []int32

	roles      map[string]*role
	roleList   []*role // by role-sorter client index
	freeRoles  []int32
	roleSorter sorter.Sorter
	weights    map[string]float64

	quotas   map[string]*quotaState // by (top-level) role
	quotaGen uint64                 // bumped by UpdateQuota
	// usage is per top-level role: reservations and unreserved allocations,
	// what quota consumption is made of.
	usage map[string]*usage
	// freeUnreserved is the sum over agents of available unreserved
	// non-revocable scalars: the available quota headroom.
	freeUnreserved quantity.Vec

	// scratch buffers reused across cycles
	roleBuf, fwBuf []int
	candBuf        []int32
	andBuf         bitset
	// reverifyGrown's scratch: per slot, the verified bits and the agents
	// gathered for one word of agents; the slots touched.
	verAcc, verMask []uint64
	verTouched      []int32
	cycle           []cycleAlloc
	take            []amount
}

var _ allocator.Allocator = (*Allocator)(nil)

// New builds a HierarchicalDRF allocator; it has the signature of
// allocator.Factory.
//
// Zero Options fields take Mesos's defaults (AllocationInterval 1s,
// MinAllocatable DefaultMinAllocatable(), drf sorters, weight 1, GPU agents
// withheld from frameworks without GPU_RESOURCES, every resource counted in
// shares).
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
		filterGPU:      !opts.DisableGPUFilter,
		roleSorterKind: opts.RoleSorter,
		fwSorterKind:   opts.FrameworkSorter,
		rng:            rand.New(rand.NewPCG(uint64(opts.Seed), 0x6d65736f)), // "meso"
		sorterRNG:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x736f7274)), // "sort"
		dims:           quantity.NewDims(),
		agentIndex:     make(map[string]int32),
		fwIndex:        make(map[string]int32),
		filterSlots:    make(map[int32]struct{}),
		filterAgents:   make(map[int32]struct{}),
		refused:        make([]refusedEntry, 1),
		refusedIndex:   make(map[string]uint32),
		nextExpiry:     math.MaxInt64,
		roles:          make(map[string]*role),
		weights:        make(map[string]float64),
		quotas:         make(map[string]*quotaState),
		usage:          make(map[string]*usage),
	}
	for _, name := range opts.FairSharingExcludedResourceNames {
		a.excluded[a.dims.Intern(name)] = 1
	}
	a.minAllocatable = a.compileMin(minAlloc)
	a.roleSorter = a.newSorter(opts.RoleSorter)
	a.UpdateWeights(opts.Weights)
	return a, nil
}

func (a *Allocator) newSorter(kind string) sorter.Sorter {
	if kind == "random" {
		// Each random sorter draws from its own stream derived from the
		// seed, which keeps the agent shuffle independent of them.
		return random.New(&a.pool, rand.New(rand.NewPCG(a.sorterRNG.Uint64(), a.sorterRNG.Uint64())))
	}
	return drf.New(&a.pool, a.excluded)
}

// minAlt is one alternative of --min_allocatable_resources: every listed
// quantity must be reached. Scalars tracked in vectors are compared by
// dimension, other names (ports, untracked scalars) by element count.
type minAlt struct {
	dims  []int
	need  []int64
	names []string // non-vector names
	nneed []int64
}

func (a *Allocator) compileMin(alts []map[string]float64) []minAlt {
	out := make([]minAlt, 0, len(alts))
	for _, m := range alts {
		var alt minAlt
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			v := quantity.FromFloat(m[name])
			if d := a.dims.Lookup(name); d >= 0 || isWellKnownScalar(name) {
				if d < 0 {
					d = a.dims.Intern(name)
				}
				alt.dims = append(alt.dims, d)
				alt.need = append(alt.need, v)
			} else {
				alt.names = append(alt.names, name)
				alt.nneed = append(alt.nneed, v)
			}
		}
		out = append(out, alt)
	}
	return out
}

func isWellKnownScalar(name string) bool {
	switch name {
	case "cpus", "mem", "disk", "gpus":
		return true
	}
	return false
}

// UpdateWeights sets the weights of the roles listed; roles never given a
// weight weigh 1, and roles absent from this call keep their current weight
// (Mesos's updateWeights). Non-positive, NaN or infinite weights are
// ignored, as the master rejects them before.
func (a *Allocator) UpdateWeights(weights map[string]float64) {
	for r, w := range weights {
		if !(w > 0) || math.IsInf(w, 0) {
			continue
		}
		a.weights[r] = w
		a.roleSorter.UpdateWeight(r, w)
	}
}

// quotaState is a role's quota in vector form.
type quotaState struct {
	guarantees             quantity.Vec
	limits                 quantity.Vec
	hasLimit               [quantity.MaxDims]bool
	anyGuarantee, anyLimit bool
}

// usage is what counts against a top-level role's quota.
type usage struct {
	reserved quantity.Vec // reservations on agents' totals (role subtree)
	alloc    quantity.Vec // offered or allocated unreserved non-revocable scalars
}

func (u *usage) consumed() quantity.Vec {
	c := u.reserved
	c.Add(&u.alloc)
	return c
}

// topRole is the top-level role of a role path ("eng" for "eng/web").
func topRole(role string) string {
	if i := strings.IndexByte(role, '/'); i >= 0 {
		return role[:i]
	}
	return role
}

func (a *Allocator) usageOf(role string) *usage {
	top := topRole(role)
	u := a.usage[top]
	if u == nil {
		u = &usage{}
		a.usage[top] = u
	}
	return u
}

// UpdateQuota sets a role's quota (spec §6.4); a zero Quota removes it.
// Quota applies to a top-level role and its whole subtree: a role's
// consumption is its subtree's reservations plus the unreserved
// non-revocable scalars offered or allocated to the subtree.
func (a *Allocator) UpdateQuota(role string, q allocator.Quota) {
	role = topRole(role)
	a.quotaGen++
	if len(q.Guarantees) == 0 && len(q.Limits) == 0 {
		delete(a.quotas, role)
		return
	}
	qs := &quotaState{}
	for name, v := range q.Guarantees {
		if d := a.dims.Intern(name); d >= 0 && v > 0 {
			qs.guarantees[d] = quantity.FromFloat(v)
			qs.anyGuarantee = true
		}
	}
	for name, v := range q.Limits {
		if d := a.dims.Intern(name); d >= 0 {
			qs.limits[d] = max(quantity.FromFloat(v), 0)
			qs.hasLimit[d] = true
			qs.anyLimit = true
		}
	}
	a.quotas[role] = qs
}

// DominantShare is the DRF share of a role in the role sorter, aggregating
// its subtree (0 when unknown or when the role sorter is random). For tests
// and metrics.
func (a *Allocator) DominantShare(roleName string) float64 {
	if t, ok := a.roleSorter.(*sorter.Tree); ok {
		return t.PathShare(roleName)
	}
	return 0
}

// FrameworkShare is the DRF share of a framework within one role's framework
// sorter (0 when unknown).
func (a *Allocator) FrameworkShare(roleName, fwID string) float64 {
	r := a.roles[roleName]
	fi, ok := a.fwIndex[fwID]
	if r == nil || !ok {
		return 0
	}
	s, ok := a.frameworks[fi].slots[roleName]
	if !ok {
		return 0
	}
	if t, ok := r.sorter.(*sorter.Tree); ok {
		return t.Share(int(s))
	}
	return 0
}

// Roles lists the roles the allocator tracks (those with frameworks
// subscribed or holding resources), sorted.
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
