package codec

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A master's GET_STATE at 200,000 tasks is a message of hundreds of
// megabytes in JSON, most of it in four lists (get_tasks.tasks,
// get_executors.executors, get_agents.agents, get_frameworks.frameworks)
// two or three messages deep. Both encoders, and the required-field check
// before them, handle the elements of such big lists on several goroutines
// and the rest of the message as before.

// minParallel is the number of elements from which a list of messages is
// handled in parallel. On two cores, splitting GET_STATE's lists gains
// nothing at 128 tasks and a third at 512 (BenchmarkMarshalListSize).
const minParallel = 512

// maxSplitDepth is how many singular message fields deep a big list is
// looked for: Response.get_state.get_tasks.tasks is 3.
const maxSplitDepth = 4

// parallel calls do(c) for every c in [0, n) on up to GOMAXPROCS
// goroutines, the caller's among them, and returns when all calls have
// returned; no goroutine outlives it. A panic in one call is raised again
// in the caller, once the others have stopped.
func parallel(n int, do func(c int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var (
		next     atomic.Int64
		mu       sync.Mutex
		panicked bool
		reason   any
	)
	work := func() {
		defer func() {
			if r := recover(); r != nil {
				next.Store(int64(n)) // the others take no more
				mu.Lock()
				if !panicked {
					panicked, reason = true, r
				}
				mu.Unlock()
			}
		}()
		for {
			c := int(next.Add(1) - 1)
			if c >= n {
				return
			}
			do(c)
			runtime.Gosched() // see chunkSize
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	if panicked {
		panic(reason)
	}
}

// chunkSize is how many of n elements one call of parallel's handles:
// small enough that the goroutines finish together, and that a chunk
// takes a millisecond or two (parallel yields the processor between
// chunks, so that the master's loop and its other requests are not kept
// waiting behind a 100 MB answer), large enough that each has work.
func chunkSize(n int) int {
	return max(64, min(512, n/(8*runtime.GOMAXPROCS(0))))
}

// join concatenates segs into one buffer of the exact size.
func join(segs [][]byte) []byte {
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	out := make([]byte, 0, n)
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// splitNode is a message holding, within maxSplitDepth singular message
// fields, a list of at least minPar messages: its populated fields in
// field-number order, each a big list, a sub-message holding one, or a
// plain field handled as before.
type splitNode struct {
	m     protoreflect.Message
	parts []splitPart
	size  int // protobuf: the size of m's encoding
}

type splitPart struct {
	fd     protoreflect.FieldDescriptor
	sub    *splitNode        // a singular message field holding a big list
	list   protoreflect.List // a big list; neither: a plain field
	chunks []*listChunk      // the big list's
	// enc: protobuf: the encoding of the run of plain fields this part
	// starts.
	enc []byte
}

// holdsBigList reports whether m, a message of p's type, holds a list of
// at least minPar messages within maxSplitDepth non-required singular
// message fields (where splitTree looks). It reads generated messages with
// Go's reflection, as the JSON encoder does, so that the look costs small
// messages little.
func holdsBigList(m protoreflect.Message, p *jsonPlan, minPar, depth int) bool {
	if p.goType != nil {
		if x := m.Interface(); reflect.TypeOf(x) == p.goType && !reflect.ValueOf(x).IsNil() {
			return holdsBigListGo(reflect.ValueOf(x).Elem(), p, minPar, depth)
		}
	}
	for _, i := range p.messageFields {
		if fieldHoldsBigList(m, &p.fields[i], minPar, depth) {
			return true
		}
	}
	return false
}

// fieldHoldsBigList is holdsBigList's look at one message field f of m,
// through protoreflect.
func fieldHoldsBigList(m protoreflect.Message, f *jsonField, minPar, depth int) bool {
	if !m.Has(f.fd) {
		return false
	}
	if f.shape == shapeList {
		return m.Get(f.fd).List().Len() >= minPar
	}
	return depth < maxSplitDepth && holdsBigList(m.Get(f.fd).Message(), f.sub, minPar, depth+1)
}

// holdsBigListGo is holdsBigList on s, the struct of a generated message.
func holdsBigListGo(s reflect.Value, p *jsonPlan, minPar, depth int) bool {
	for _, i := range p.messageFields {
		f := &p.fields[i]
		if f.goIndex < 0 {
			if fieldHoldsBigList(s.Addr().Interface().(protoreflect.ProtoMessage).ProtoReflect(), f, minPar, depth) {
				return true
			}
			continue
		}
		rf := s.Field(f.goIndex)
		if f.shape == shapeList {
			if rf.Len() >= minPar {
				return true
			}
			continue
		}
		if depth >= maxSplitDepth || rf.IsNil() {
			continue
		}
		if f.sub.goType == rf.Type() {
			if holdsBigListGo(rf.Elem(), f.sub, minPar, depth+1) {
				return true
			}
		} else if holdsBigList(rf.Interface().(protoreflect.ProtoMessage).ProtoReflect(), f.sub, minPar, depth+1) {
			return true
		}
	}
	return false
}

// splitTree returns m's split tree, or nil when it holds no big list.
// Required fields and messages with extensions are never split (they stay
// plain), so that a shallow copy of a node's plain fields has what the
// required-field check and the protobuf encoding need.
func splitTree(m protoreflect.Message, minPar, depth int) *splitNode {
	fields := m.Descriptor().Fields()
	var parts []splitPart
	split := false
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		p := splitPart{fd: fd}
		switch {
		case fd.Cardinality() == protoreflect.Required || fd.IsMap() || fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			if l := m.Get(fd).List(); l.Len() >= minPar {
				p.list = l
			}
		case depth < maxSplitDepth:
			p.sub = splitTree(m.Get(fd).Message(), minPar, depth+1)
		}
		split = split || p.list != nil || p.sub != nil
		parts = append(parts, p)
	}
	if !split || hasExtensions(m) {
		return nil
	}
	slices.SortFunc(parts, func(a, b splitPart) int { return int(a.fd.Number()) - int(b.fd.Number()) })
	return &splitNode{m: m, parts: parts}
}

func hasExtensions(m protoreflect.Message) bool {
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		found = fd.IsExtension()
		return !found
	})
	return found
}

// shallow returns a new message of n's type holding n's plain fields of
// parts (the same values, not copies).
func (n *splitNode) shallow(parts []splitPart) protoreflect.Message {
	s := n.m.New()
	for _, p := range parts {
		if p.sub == nil && p.list == nil {
			s.Set(p.fd, n.m.Get(p.fd))
		}
	}
	return s
}

// walk calls node for n and every node below it, and list for every big
// list, in field-number order.
func (n *splitNode) walk(node func(*splitNode), list func(*splitPart)) {
	node(n)
	for i := range n.parts {
		p := &n.parts[i]
		switch {
		case p.sub != nil:
			p.sub.walk(node, list)
		case p.list != nil:
			list(p)
		}
	}
}

// listChunk is elements [lo, hi) of a big list, handled by one call.
type listChunk struct {
	num    protowire.Number
	l      protoreflect.List
	lo, hi int
	bytes  int    // protobuf: the chunk's encoding's size
	off    int    // protobuf: where in the output the chunk starts
	enc    []byte // protobuf: the chunk's encoding, when held (encodeChunk)
}

// chunks splits n's big lists into chunks.
func (n *splitNode) chunks() (plain []protoreflect.Message, chunks []*listChunk) {
	n.walk(func(n *splitNode) { plain = append(plain, n.shallow(n.parts)) },
		func(p *splitPart) {
			n := p.list.Len()
			size := chunkSize(n)
			for lo := 0; lo < n; lo += size {
				ch := &listChunk{num: p.fd.Number(), l: p.list, lo: lo, hi: min(n, lo+size)}
				p.chunks = append(p.chunks, ch)
				chunks = append(chunks, ch)
			}
		})
	return plain, chunks
}

// allComplete reports whether the plain messages and the chunks' elements
// are complete; each, if each is given, also runs on every chunk.
func allComplete(plain []protoreflect.Message, chunks []*listChunk, each func(*listChunk)) bool {
	for _, p := range plain {
		if !complete(p) {
			return false
		}
	}
	var incomplete atomic.Bool
	parallel(len(chunks), func(c int) {
		ch := chunks[c]
		for i := ch.lo; i < ch.hi && !incomplete.Load(); i++ {
			if !complete(ch.l.Get(i).Message()) {
				incomplete.Store(true)
			}
		}
		if each != nil && !incomplete.Load() {
			each(ch)
		}
	})
	return !incomplete.Load()
}

// marshalProtobuf is Marshal(Protobuf, m), encoding lists of at least
// minPar messages in parallel. Go's marshal writes known fields in
// field-number order, then the unknown ones, and a list of messages as
// each element's tag, length and bytes: the output is byte for byte
// proto.Marshal's (up to the order of map entries, which is random there).
// The big lists' chunks are encoded on several goroutines (encodeChunk),
// then the output allocated once at its exact size and the chunks copied
// into their places.
func marshalProtobuf(m proto.Message, minPar int) ([]byte, error) {
	rm := m.ProtoReflect()
	var t *splitNode
	if runtime.GOMAXPROCS(0) > 1 && holdsBigList(rm, jsonPlanFor(rm.Descriptor()), minPar, 0) {
		t = splitTree(rm, minPar, 0)
	}
	if t == nil {
		return marshalProtobufPlain(m, true)
	}
	plain, chunks := t.chunks()
	if !allComplete(plain, chunks, encodeChunk) {
		if err := missingRequired(rm); err != nil {
			return nil, err
		}
		return marshalProtobufPlain(m, true)
	}
	if err := t.layout(); err != nil {
		return marshalProtobufPlain(m, true) // its error, as before
	}
	out := make([]byte, t.size)
	if end := t.write(out, 0); end != len(out) {
		return nil, fmt.Errorf("codec: marshal %s: wrote %d bytes of %d", rm.Descriptor().FullName(), end, len(out))
	}
	for _, ch := range chunks {
		copy(out[ch.off:ch.off+ch.bytes], ch.enc)
		putChunkBuffer(ch.enc)
		ch.enc = nil
	}
	return out, nil
}

// layout computes the size of n's encoding (the big lists' chunks are
// sized) and encodes its runs of plain fields.
func (n *splitNode) layout() error {
	opts := proto.MarshalOptions{AllowPartial: true}
	n.size = len(n.m.GetUnknown())
	for i := 0; i < len(n.parts); {
		p := &n.parts[i]
		switch {
		case p.sub != nil:
			if err := p.sub.layout(); err != nil {
				return err
			}
			n.size += protowire.SizeTag(p.fd.Number()) + protowire.SizeBytes(p.sub.size)
			i++
		case p.list != nil:
			for _, ch := range p.chunks {
				n.size += ch.bytes
			}
			i++
		default:
			j := i + 1
			for j < len(n.parts) && n.parts[j].sub == nil && n.parts[j].list == nil {
				j++
			}
			var err error
			if p.enc, err = opts.Marshal(n.shallow(n.parts[i:j]).Interface()); err != nil {
				return err
			}
			n.size += len(p.enc)
			i = j
		}
	}
	return nil
}

// write writes n's encoding into out from off, but for the big lists'
// chunks, whose offsets it sets, and returns the offset after it.
func (n *splitNode) write(out []byte, off int) int {
	for _, p := range n.parts {
		switch {
		case p.sub != nil:
			b := protowire.AppendTag(out[off:off], p.fd.Number(), protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(p.sub.size))
			off = p.sub.write(out, off+len(b))
		case p.list != nil:
			for _, ch := range p.chunks {
				ch.off = off
				off += ch.bytes
			}
		default:
			off += copy(out[off:], p.enc) // nil for all but a run's first
		}
	}
	return off + copy(out[off:], n.m.GetUnknown())
}

// marshalProtobufPlain is the encoding of a message without big lists.
func marshalProtobufPlain(m proto.Message, check bool) ([]byte, error) {
	rm := m.ProtoReflect()
	if !check {
		// Not asked to (NewEncodingUnchecked).
	} else if err := checkRequired(rm); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("codec: marshal %s: %w", rm.Descriptor().FullName(), err)
	}
	return b, nil
}
