package sorter

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/meso-project/meso/internal/allocator/quantity"
)

// Tree is the shared implementation of both sorters: a tree of nodes whose
// children are kept ordered. In DRF mode the order is (weighted dominant
// share, allocation count, path) and is maintained incrementally: an
// allocation moves the changed node and its ancestors to their new places
// among their siblings (a binary search and a short copy), and only a change
// of the pool or of weights re-sorts everything, lazily, at the next
// AppendSorted. In random mode every AppendSorted draws a fresh weighted
// permutation at each level.
type Tree struct {
	pool    *Pool
	poolGen uint64
	random  *rand.Rand // nil for DRF
	weights map[string]float64
	// excluded dimensions do not count towards shares.
	excluded quantity.Vec

	root    *node
	leaves  map[int]*node // by client
	paths   map[string]*node
	active  int
	dirty   bool // all shares and orders must be recomputed
	scratch []*node
}

type node struct {
	path     string
	parent   *node
	children []*node // ordered (DRF); position kept in pos
	pos      int
	client   int // -1 for internal nodes
	virtual  bool
	alloc    quantity.Vec // own (leaf) or subtree (internal) allocation
	count    uint64
	share    float64
	weight   float64
	active   int // active leaves in the subtree (1/0 for a leaf)
	key      float64
}

// NewTree returns an empty sorter over pool; rng selects random mode.
// Dimensions set (non-zero) in excluded do not count towards shares
// (--fair_sharing_excluded_resource_names).
func NewTree(pool *Pool, rng *rand.Rand, excluded quantity.Vec) *Tree {
	return &Tree{
		pool:     pool,
		random:   rng,
		weights:  make(map[string]float64),
		excluded: excluded,
		root:     &node{client: -1, weight: 1},
		paths:    make(map[string]*node),
		leaves:   make(map[int]*node),
	}
}

var _ Sorter = (*Tree)(nil)

func (t *Tree) leaf(client int) *node {
	return t.leaves[client]
}

func (t *Tree) Contains(client int) bool { return t.leaf(client) != nil }
func (t *Tree) ActiveCount() int         { return t.active }

func (t *Tree) weightOf(path string) float64 {
	if w, ok := t.weights[path]; ok {
		return w
	}
	return 1
}

// Add adds a client at path, creating internal nodes along the way.
func (t *Tree) Add(client int, path string) {
	if client < 0 || t.leaf(client) != nil {
		return
	}
	parent := t.root
	// Walk or create the internal nodes above the leaf.
	if strings.IndexByte(path, '/') >= 0 {
		segs := strings.Split(path, "/")
		for i := range segs[:len(segs)-1] {
			p := strings.Join(segs[:i+1], "/")
			n := t.paths[p]
			if n == nil {
				n = &node{path: p, parent: parent, client: -1, weight: t.weightOf(p)}
				t.paths[p] = n
				t.insertChild(parent, n)
			} else if n.client >= 0 {
				n = t.makeInternal(n)
			}
			parent = n
		}
	}
	l := &node{path: path, parent: parent, client: client, weight: t.weightOf(path), active: 1}
	if n := t.paths[path]; n != nil {
		// path is already an internal node: the client is its virtual leaf.
		l.parent, l.virtual = n, true
		parent = n
	} else {
		t.paths[path] = l
	}
	t.leaves[client] = l
	t.insertChild(parent, l)
	t.addActive(parent, 1)
	t.active++
	t.dirty = true
}

// makeInternal turns leaf n into an internal node holding n's client as a
// virtual leaf.
func (t *Tree) makeInternal(n *node) *node {
	in := &node{path: n.path, parent: n.parent, client: -1, weight: n.weight,
		alloc: n.alloc, count: n.count, active: n.active, pos: n.pos}
	n.parent.children[n.pos] = in
	t.paths[n.path] = in
	n.parent, n.virtual, n.pos = in, true, 0
	in.children = []*node{n}
	return in
}

func (t *Tree) insertChild(parent, n *node) {
	n.pos = len(parent.children)
	parent.children = append(parent.children, n)
	t.dirty = true
}

func (t *Tree) addActive(n *node, d int) {
	for ; n != nil; n = n.parent {
		n.active += d
	}
}

// Remove removes a client; its allocation leaves its ancestors' totals and
// empty internal nodes are pruned.
func (t *Tree) Remove(client int) {
	l := t.leaf(client)
	if l == nil {
		return
	}
	if l.active > 0 {
		t.addActive(l.parent, -1)
		t.active--
	}
	for n := l.parent; n != nil && n != t.root; n = n.parent {
		n.alloc.Sub(&l.alloc)
	}
	delete(t.leaves, client)
	if !l.virtual {
		delete(t.paths, l.path)
	}
	n := l
	for {
		p := n.parent
		p.children = slices.Delete(p.children, n.pos, n.pos+1)
		for i := n.pos; i < len(p.children); i++ {
			p.children[i].pos = i
		}
		if p == t.root || len(p.children) > 0 {
			break
		}
		delete(t.paths, p.path)
		n = p
	}
	t.dirty = true
}

func (t *Tree) Activate(client int)   { t.setActive(client, true) }
func (t *Tree) Deactivate(client int) { t.setActive(client, false) }

func (t *Tree) setActive(client int, on bool) {
	l := t.leaf(client)
	if l == nil || (l.active > 0) == on {
		return
	}
	d := 1
	if !on {
		d = -1
	}
	l.active += d
	t.addActive(l.parent, d)
	t.active += d
}

func (t *Tree) IsActive(client int) bool {
	l := t.leaf(client)
	return l != nil && l.active > 0
}

// UpdateWeight sets the weight of path (applies to a leaf or an internal
// node with that path, now or later).
func (t *Tree) UpdateWeight(path string, w float64) {
	if !(w > 0) || math.IsInf(w, 0) {
		return
	}
	t.weights[path] = w
	if n := t.paths[path]; n != nil {
		n.weight = w
		for _, c := range n.children {
			if c.virtual {
				c.weight = w
			}
		}
	}
	t.dirty = true
}

func (t *Tree) Allocation(client int) quantity.Vec {
	if l := t.leaf(client); l != nil {
		return l.alloc
	}
	return quantity.Vec{}
}

func (t *Tree) Allocated(client int, q *quantity.Vec) { t.change(client, q, true) }

func (t *Tree) Unallocated(client int, q *quantity.Vec) { t.change(client, q, false) }

func (t *Tree) change(client int, q *quantity.Vec, add bool) {
	l := t.leaf(client)
	if l == nil {
		return
	}
	t.syncPool()
	for n := l; n != t.root; n = n.parent {
		if add {
			n.alloc.Add(q)
			n.count++
		} else {
			n.alloc.Sub(q)
		}
		if !t.dirty && t.random == nil {
			n.share = t.shareOf(n)
			t.reposition(n)
		}
	}
}

func (t *Tree) syncPool() {
	if t.pool.Gen != t.poolGen {
		t.poolGen = t.pool.Gen
		t.dirty = true
	}
}

func (t *Tree) shareOf(n *node) float64 {
	var s float64
	total := &t.pool.Total
	for i, tot := range total {
		if tot <= 0 || t.excluded[i] != 0 || n.alloc[i] <= 0 {
			continue
		}
		if f := float64(n.alloc[i]) / float64(tot); f > s {
			s = f
		}
	}
	return s / n.weight
}

func less(a, b *node) int {
	if a.share != b.share {
		return cmp.Compare(a.share, b.share)
	}
	if a.count != b.count {
		return cmp.Compare(a.count, b.count)
	}
	if c := strings.Compare(a.path, b.path); c != 0 {
		return c
	}
	// A virtual leaf and a sibling with the same path cannot exist; order
	// deterministically anyway.
	return cmp.Compare(a.client, b.client)
}

// reposition moves n to its ordered place among its siblings.
func (t *Tree) reposition(n *node) {
	sib := n.parent.children
	i := n.pos
	for i > 0 && less(n, sib[i-1]) < 0 {
		// moving left: find the place by binary search in sib[:i]
		j, _ := slices.BinarySearchFunc(sib[:i], n, less)
		copy(sib[j+1:i+1], sib[j:i])
		sib[j] = n
		for k := j; k <= i; k++ {
			sib[k].pos = k
		}
		return
	}
	if i+1 < len(sib) && less(sib[i+1], n) < 0 {
		j, _ := slices.BinarySearchFunc(sib[i+1:], n, less)
		j += i // final index of n
		copy(sib[i:j], sib[i+1:j+1])
		sib[j] = n
		for k := i; k <= j; k++ {
			sib[k].pos = k
		}
	}
}

// resort recomputes every share and order.
func (t *Tree) resort(n *node) {
	for _, c := range n.children {
		c.share = t.shareOf(c)
		if c.client < 0 {
			t.resort(c)
		}
	}
	slices.SortFunc(n.children, less)
	for i, c := range n.children {
		c.pos = i
	}
}

// AppendSorted appends the active clients in allocation order.
func (t *Tree) AppendSorted(dst []int) []int {
	if t.active == 0 {
		return dst
	}
	if t.random != nil {
		return t.appendRandom(dst, t.root)
	}
	t.syncPool()
	if t.dirty {
		t.resort(t.root)
		t.dirty = false
	}
	return appendDFS(dst, t.root)
}

func appendDFS(dst []int, n *node) []int {
	for _, c := range n.children {
		if c.active == 0 {
			continue
		}
		if c.client >= 0 {
			dst = append(dst, c.client)
		} else {
			dst = appendDFS(dst, c)
		}
	}
	return dst
}

// appendRandom draws a weighted random order of n's active children
// (Efraimidis–Spirakis: key U^(1/w), largest first) and recurses. Children
// are visited in their stored order, which only depends on the history of
// calls, so a seeded rng gives repeatable orders.
func (t *Tree) appendRandom(dst []int, n *node) []int {
	start := len(t.scratch)
	for _, c := range n.children {
		if c.active > 0 {
			c.key = math.Pow(t.random.Float64(), 1/c.weight)
			t.scratch = append(t.scratch, c)
		}
	}
	level := t.scratch[start:]
	slices.SortStableFunc(level, func(a, b *node) int { return cmp.Compare(b.key, a.key) })
	for _, c := range level {
		if c.client >= 0 {
			dst = append(dst, c.client)
		} else {
			dst = t.appendRandom(dst, c)
		}
	}
	t.scratch = t.scratch[:start]
	return dst
}

// Share is the weighted dominant share of the client's node (its own
// allocation, not its subtree's); 0 for unknown clients or random sorters.
func (t *Tree) Share(client int) float64 {
	l := t.leaf(client)
	if l == nil {
		return 0
	}
	return t.shareOf(l)
}

// PathShare is the weighted dominant share of the node at path, aggregating
// its subtree; 0 when there is no such node.
func (t *Tree) PathShare(path string) float64 {
	n := t.paths[path]
	if n == nil {
		return 0
	}
	return t.shareOf(n)
}
