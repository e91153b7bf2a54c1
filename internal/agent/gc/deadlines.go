package gc

import "container/heap"

// deadlines is a min-heap of scheduled entries by removal time; each entry
// knows its index so that unscheduling one is O(log n). Entries being
// removed are not in it (index -1).
type deadlines []*entry

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].deadline.Before(d[j].deadline) }
func (d deadlines) Swap(i, j int) {
	d[i], d[j] = d[j], d[i]
	d[i].index = i
	d[j].index = j
}

// Push and Pop are for container/heap only; use push, pop and remove.
func (d *deadlines) Push(x any) {
	e := x.(*entry)
	e.index = len(*d)
	*d = append(*d, e)
}

func (d *deadlines) Pop() any {
	old := *d
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*d = old[:len(old)-1]
	e.index = -1
	return e
}

func (d *deadlines) push(e *entry) { heap.Push(d, e) }

func (d *deadlines) pop() *entry { return heap.Pop(d).(*entry) }

// remove takes e out of the heap if it is in it.
func (d *deadlines) remove(e *entry) {
	if e.index >= 0 && e.index < len(*d) && (*d)[e.index] == e {
		heap.Remove(d, e.index)
	}
}
