package codec

import (
	"fmt"
	"io"
	"iter"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Writing a big message as it is encoded.
//
// A master's GET_STATE at 200,000 tasks is ~70 MB in protobuf and ~180 MB
// in JSON. Encoding it whole before writing it costs a buffer of that
// size per read, a heap grown by it (and collected again), and the time to
// write it after the encoding rather than during it. An Encoding checks the
// message first (required fields, unless NewEncodingUnchecked).
//   - JSON: WriteTo encodes its big lists' chunks on every core into pooled
//     buffers and writes them in order, holding a few chunks at a time.
//   - Protobuf: a list's length prefixes need its elements' sizes before
//     anything is written, and sizing every element in one pass and then
//     writing them in another read each task from memory twice (most of
//     the time at 200,000 tasks). So NewEncoding encodes the big lists'
//     chunks on every core, each element sized and written at once, and
//     holds them (the message's size, ~80 MB at 200,000 tasks, against
//     ~210 MB of JSON never held); WriteTo writes them.

// Encoding is a message encoded as a media type, ready to be written
// (NewEncoding). It must be written once.
type Encoding struct {
	size  int    // of the encoding; -1: known once written
	whole []byte // a message without big lists: its encoding
	write func(io.Writer) (int64, error)
}

// NewEncoding checks m and prepares its encoding as mt ([JSON] or
// [Protobuf]): every error [Marshal] would return is returned here, before
// anything is written. A message holding no list of hundreds of messages
// is encoded at once.
func NewEncoding(mt MediaType, m proto.Message) (*Encoding, error) {
	return newEncoding(mt, m, true)
}

// NewEncodingUnchecked is NewEncoding without the check of required
// fields, for an answer a server builds from what it holds, every part of
// which was checked when it came in (Unmarshal checks) or was made by the
// server with its required fields set. Mesos writes its answers so: its
// protobuf library checks required fields on serialising only in debug
// builds. A required field that is missing all the same is left out of
// the encoding. The check is a second walk over every message: at a
// master's 200,000 tasks it was a third of a GET_STATE's encoding.
func NewEncodingUnchecked(mt MediaType, m proto.Message) (*Encoding, error) {
	return newEncoding(mt, m, false)
}

func newEncoding(mt MediaType, m proto.Message, check bool) (*Encoding, error) {
	switch mt {
	case JSON:
		return newJSONEncoding(m, false, minParallel, check)
	case Protobuf:
		return newProtobufEncoding(m, minParallel, check)
	}
	return nil, fmt.Errorf("%w: cannot marshal a message as %q", ErrUnsupportedMediaType, mt)
}

// Len is the length of the encoding, or -1 when it is known only once
// written (JSON of a big message).
func (e *Encoding) Len() int { return e.size }

// WriteTo writes the encoding to w. Its error is w's.
func (e *Encoding) WriteTo(w io.Writer) (int64, error) {
	if e.write == nil {
		n, err := w.Write(e.whole)
		return int64(n), err
	}
	return e.write(w)
}

func wholeEncoding(b []byte) *Encoding { return &Encoding{size: len(b), whole: b} }

// newJSONEncoding is NewEncoding(JSON) (v0: MarshalJSONV0's names;
// check: required fields are checked).
func newJSONEncoding(m proto.Message, v0 bool, minPar int, check bool) (*Encoding, error) {
	rm := m.ProtoReflect()
	if runtime.GOMAXPROCS(0) < 2 || !holdsBigList(rm, jsonPlanFor(rm.Descriptor()), minPar, 0) {
		b, err := marshalJSON(m, v0, minPar, check)
		if err != nil {
			return nil, err
		}
		return wholeEncoding(b), nil
	}
	// The encoder checks required fields as it writes, too late for an
	// answer already sent: they are checked first, on every core.
	if !check {
		// Not asked to.
	} else if t := splitTree(rm, minPar, 0); t != nil {
		if plain, chunks := t.chunks(); !allComplete(plain, chunks, nil) {
			if err := missingRequired(rm); err != nil {
				return nil, err
			}
		}
	} else if err := checkRequired(rm); err != nil {
		return nil, err
	}
	return &Encoding{size: -1, write: func(w io.Writer) (int64, error) {
		cw := &countingWriter{w: w}
		e := newEncoder(v0)
		e.minPar = minPar
		e.out = func(b []byte) bool { return cw.write(b) }
		b := e.appendMessage(make([]byte, 0, 4096), rm, jsonPlanFor(rm.Descriptor()))
		cw.write(b)
		return cw.n, cw.err
	}}, nil
}

// newProtobufEncoding is NewEncoding(Protobuf): marshalProtobuf's checks
// (unless !check), chunks (encodeChunk) and layout; WriteTo writes them in
// order.
func newProtobufEncoding(m proto.Message, minPar int, check bool) (*Encoding, error) {
	rm := m.ProtoReflect()
	var t *splitNode
	if runtime.GOMAXPROCS(0) > 1 && holdsBigList(rm, jsonPlanFor(rm.Descriptor()), minPar, 0) {
		t = splitTree(rm, minPar, 0)
	}
	whole := func() (*Encoding, error) {
		b, err := marshalProtobufPlain(m, check)
		if err != nil {
			return nil, err
		}
		return wholeEncoding(b), nil
	}
	if t == nil {
		return whole()
	}
	plain, chunks := t.chunks()
	if !check {
		parallel(len(chunks), func(c int) { encodeChunk(chunks[c]) })
	} else if !allComplete(plain, chunks, encodeChunk) {
		if err := missingRequired(rm); err != nil {
			return nil, err
		}
		return whole()
	}
	if err := t.layout(); err != nil {
		return whole() // its error, as Marshal's
	}
	return &Encoding{size: t.size, write: func(w io.Writer) (int64, error) {
		cw := &countingWriter{w: w}
		cw.write(t.stream(cw, nil))
		if cw.err == nil && cw.n != int64(t.size) {
			cw.err = fmt.Errorf("codec: marshal %s: wrote %d bytes of %d", rm.Descriptor().FullName(), cw.n, t.size)
		}
		return cw.n, cw.err
	}}, nil
}

// stream writes n's encoding to cw: the parts in order, the big lists'
// chunks as encodeChunk left them. head holds what is written next, in a
// buffer of its own; stream returns it.
func (n *splitNode) stream(cw *countingWriter, head []byte) []byte {
	for _, p := range n.parts {
		switch {
		case p.sub != nil:
			head = protowire.AppendTag(head, p.fd.Number(), protowire.BytesType)
			head = protowire.AppendVarint(head, uint64(p.sub.size))
			head = p.sub.stream(cw, head)
		case p.list != nil:
			if !cw.write(head) {
				return nil
			}
			head = head[:0]
			for _, ch := range p.chunks {
				if !cw.write(ch.enc) {
					return nil
				}
				putChunkBuffer(ch.enc) // written (a writer keeps nothing)
				ch.enc = nil
			}
		default:
			head = append(head, p.enc...)
		}
	}
	return append(head, n.m.GetUnknown()...)
}

// encodeChunk encodes a chunk's elements into ch.enc, each sized and
// written at once, while its messages are in the cache: a pass sizing
// every element of a big list and another writing them read each of its
// messages from memory twice. At a master's 200,000 tasks those reads
// were most of the encoding's time. The encodings are held until written.
func encodeChunk(ch *listChunk) {
	opts := proto.MarshalOptions{AllowPartial: true, UseCachedSize: true}
	sizeOpts := proto.MarshalOptions{AllowPartial: true}
	b := (*chunkBuffers.Get().(*[]byte))[:0]
	var p *jsonPlan
	next := ch.l.Get(ch.lo).Message().Interface()
	for i := ch.lo; i < ch.hi; i++ {
		m := next
		if p == nil {
			p = jsonPlanFor(m.ProtoReflect().Descriptor())
		}
		if i+1 < ch.hi {
			next = ch.l.Get(i + 1).Message().Interface()
			touchMessageOf(next, p)
		}
		s := sizeOpts.Size(m) // fills the size caches opts then uses
		b = protowire.AppendTag(b, ch.num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(s))
		b, _ = opts.MarshalAppend(b, m) // AllowPartial: no error
		if i == ch.lo {
			// Room for the rest, guessed from the first.
			b = slices.Grow(b, len(b)*(ch.hi-ch.lo-1)*9/8)
		}
	}
	ch.enc, ch.bytes = b, len(b)
}

// putChunkBuffer gives a chunk's encoding, written, back to chunkBuffers:
// a protobuf GET_STATE at 200,000 tasks holds ~80 MB of them, which were
// most of its garbage.
func putChunkBuffer(b []byte) {
	if cap(b) > 0 && cap(b) <= 4<<20 { // one huge chunk's buffer is not kept
		b = b[:0]
		chunkBuffers.Put(&b)
	}
}

// countingWriter writes to w until its first error, and counts.
type countingWriter struct {
	w   io.Writer
	n   int64
	mu  sync.Mutex // err may be set by the encoding goroutines (fail)
	err error
}

// write writes b unless an error came first; it reports whether all is
// well.
func (cw *countingWriter) write(b []byte) bool {
	if cw.failed() {
		return false
	}
	if len(b) == 0 {
		return true
	}
	n, err := cw.w.Write(b)
	cw.n += int64(n)
	if err != nil {
		cw.fail(err)
		return false
	}
	return true
}

func (cw *countingWriter) fail(err error) {
	cw.mu.Lock()
	if cw.err == nil {
		cw.err = err
	}
	cw.mu.Unlock()
}

func (cw *countingWriter) failed() bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.err != nil
}

// pipelineWindow is how many chunks per core may be encoded ahead of the
// one being written.
const pipelineWindow = 4

var chunkBuffers = sync.Pool{New: func() any { return new([]byte) }}

// pipeline encodes chunks [0, n) on up to GOMAXPROCS goroutines and calls
// write with each in order (EncodeInOrder).
func pipeline(n int, encode func(c int, b []byte) []byte, write func([]byte) bool) {
	workers := min(runtime.GOMAXPROCS(0), n)
	jobs := func(yield func(func([]byte) []byte) bool) {
		for c := range n {
			if !yield(func(b []byte) []byte { return encode(c, b) }) {
				return
			}
		}
	}
	EncodeInOrder(jobs, workers, pipelineWindow*workers, write)
}

// EncodeInOrder runs the jobs jobs yields on up to workers goroutines,
// each appending its encoding to a buffer taken from a pool, and calls
// write with each job's encoding in the order jobs yielded them, from the
// caller's goroutine; write keeps nothing it is given. At most window
// jobs are yielded and not yet written, so an output of any size is held
// a few buffers at a time. jobs runs on a goroutine of its own, ahead of
// the encoding; after write returns false, jobs is told to stop (yield
// returns false) and no job is encoded or written any more. It returns
// when every goroutine it started has ended.
func EncodeInOrder(jobs iter.Seq[func([]byte) []byte], workers, window int, write func([]byte) bool) {
	type slot struct {
		encode func([]byte) []byte
		out    []byte
		done   chan struct{}
	}
	order := make(chan *slot, max(window, 1))
	work := make(chan *slot, max(window, 1))
	stop := make(chan struct{})
	var stopped atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(work)
		defer close(order)
		for encode := range jobs {
			sl := &slot{encode: encode, done: make(chan struct{})}
			select {
			case order <- sl:
			case <-stop:
				return
			}
			work <- sl
		}
	})
	for range max(workers, 1) {
		wg.Go(func() {
			for sl := range work {
				if !stopped.Load() {
					buf := chunkBuffers.Get().(*[]byte)
					sl.out = sl.encode((*buf)[:0])
				}
				close(sl.done)
				// Let the loop and the writer have the processor between
				// jobs: every core may be encoding (see chunkSize).
				runtime.Gosched()
			}
		})
	}
	for sl := range order {
		<-sl.done
		if !stopped.Load() && !write(sl.out) {
			stopped.Store(true)
			close(stop)
		}
		putChunkBuffer(sl.out)
	}
	wg.Wait()
}
