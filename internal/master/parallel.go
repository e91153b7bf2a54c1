package master

import (
	"runtime"
	"sync"
)

// forEachParallel runs fn(i) for every i in [0, n) on up to GOMAXPROCS
// goroutines, in contiguous runs of indexes, and returns when all are
// done. The reads that build big answers off the loop (GET_STATE's agents
// and frameworks at 20,000 agents) use it; fn must touch only its own
// index's data.
func forEachParallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64)
	if workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}
