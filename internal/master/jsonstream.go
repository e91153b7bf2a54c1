package master

import (
	"io"
	"slices"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
)

// Streaming a read-only endpoint's model (/state: ~100 MB at 20,000 agents
// and 200,000 tasks) to its client.
//
// streamModel writes exactly appendJSON(nil, v), without ever holding it
// whole: a walker goes through the model in order and cuts it into jobs
// of a bounded size (object keys and brackets, up to jobLeaves values, or
// up to jobTasks tasks of a taskList); codec.EncodeInOrder encodes the jobs
// on every core into pooled buffers and writes them in order. At most
// jobWindow jobs are ahead of the writer, so an answer of any size costs a
// few megabytes, in buffers that stay hot in the cache, instead of a heap grown by the whole answer on every
// read (which at 200,000 tasks was most of a read's time: growing the
// buffers, faulting in fresh memory, and collecting it again).

const (
	jobLeaves = 64  // values (an agent's object, a framework's field) a job holds at most
	jobTasks  = 256 // tasks of a taskList a job holds at most
	jobWindow = 16  // jobs encoded or being encoded ahead of the writer
)

// jsonJob is a run of the model's JSON: literal bytes and values, in order.
type jsonJob struct {
	lits []byte
	ops  []jsonOp
}

// jsonOp is one part of a job: literal bytes lits[from:to] (v nil, tasks
// nil), a value appendJSON writes, or tasks written as a taskList writes
// its elements (comma-separated, without the brackets).
type jsonOp struct {
	from, to int
	v        any
	tasks    []*mesospb.Task
}

// encode appends the job's JSON to b.
func (j *jsonJob) encode(b []byte) []byte {
	for _, op := range j.ops {
		switch {
		case op.tasks != nil:
			for i, t := range op.tasks {
				if i > 0 {
					b = append(b, ',')
				}
				if i+1 < len(op.tasks) {
					codec.Touch(op.tasks[i+1])
				}
				b = appendTaskJSON(b, t)
			}
		case op.v != nil:
			b = appendJSON(b, op.v)
		default:
			b = append(b, j.lits[op.from:op.to]...)
		}
	}
	return b
}

// streamModel writes appendJSON(nil, v) to w, encoded by up to workers
// goroutines (codec.EncodeInOrder, jobWindow jobs ahead of the writer).
// It returns w's first error, after which it stops walking; it returns
// once every goroutine it started has ended.
func streamModel(w io.Writer, v any, workers int) error {
	jobs := func(yield func(func([]byte) []byte) bool) {
		wk := &jsonWalker{job: newJSONJob(), emit: func(j *jsonJob) bool { return yield(j.encode) }}
		wk.walk(v)
		wk.cut()
	}
	var err error
	codec.EncodeInOrder(jobs, workers, jobWindow, func(b []byte) bool {
		_, err = w.Write(b)
		return err == nil
	})
	return err
}

func newJSONJob() *jsonJob { return &jsonJob{} }

// jsonWalker cuts a model into jobs, in order.
type jsonWalker struct {
	job     *jsonJob
	leaves  int
	emit    func(*jsonJob) bool // false: stop walking
	stopped bool
}

// lit adds literal bytes (appended by add) to the job.
func (wk *jsonWalker) lit(add func([]byte) []byte) {
	j := wk.job
	from := len(j.lits)
	j.lits = add(j.lits)
	if n := len(j.ops); n > 0 && j.ops[n-1].v == nil && j.ops[n-1].tasks == nil && j.ops[n-1].to == from {
		j.ops[n-1].to = len(j.lits)
		return
	}
	j.ops = append(j.ops, jsonOp{from: from, to: len(j.lits)})
}

func (wk *jsonWalker) char(c byte) { wk.lit(func(b []byte) []byte { return append(b, c) }) }

// leaf adds a value appendJSON writes whole.
func (wk *jsonWalker) leaf(v any) {
	if v == nil {
		wk.lit(func(b []byte) []byte { return append(b, "null"...) })
		return
	}
	wk.job.ops = append(wk.job.ops, jsonOp{v: v})
	if wk.leaves++; wk.leaves >= jobLeaves {
		wk.cut()
	}
}

// cut ends the job, if it holds anything, and starts the next.
func (wk *jsonWalker) cut() {
	if wk.stopped || len(wk.job.ops) == 0 {
		return
	}
	if !wk.emit(wk.job) {
		wk.stopped = true
		return
	}
	wk.job, wk.leaves = newJSONJob(), 0
}

// walk adds v as appendJSON writes it, descending into objects, lists and
// task lists; every other value is a leaf.
func (wk *jsonWalker) walk(v any) {
	if wk.stopped {
		return
	}
	switch v := v.(type) {
	case object:
		if v == nil {
			wk.leaf(v)
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		wk.char('{')
		for i, k := range keys {
			wk.lit(func(b []byte) []byte {
				if i > 0 {
					b = append(b, ',')
				}
				return append(appendJSONString(b, k), ':')
			})
			wk.walk(v[k])
		}
		wk.char('}')
	case []any:
		walkList(wk, v)
	case []object:
		walkList(wk, v)
	case taskList:
		if v.sort {
			v.tasks = sortedTasksByID(nil, v.tasks)
		}
		wk.char('[')
		for i := 0; i < len(v.tasks) && !wk.stopped; i += jobTasks {
			if i > 0 {
				wk.char(',')
			}
			wk.job.ops = append(wk.job.ops, jsonOp{tasks: v.tasks[i:min(i+jobTasks, len(v.tasks))]})
			wk.cut()
		}
		wk.char(']')
	default:
		wk.leaf(v)
	}
}

func walkList[T any](wk *jsonWalker, xs []T) {
	if xs == nil {
		wk.leaf(nil)
		return
	}
	wk.char('[')
	for i, x := range xs {
		if wk.stopped {
			return
		}
		if i > 0 {
			wk.char(',')
		}
		wk.walk(x)
	}
	wk.char(']')
}
