//go:build linux

package cgroups

import (
	"context"
	"sync"

	"github.com/meso-project/meso/internal/cgroups"
)

// pressure counts the memory pressure events of each container on cgroups
// v1, as Mesos's memory subsystem does for the statistics'
// mem_{low,medium,critical}_pressure_counter. The counts are owned by one
// goroutine (loop); each container has one listener per level, which
// reports to it.
type pressure struct {
	mailbox chan func()
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup // the listeners

	// Owned by loop.
	counts  map[string]*[3]uint64
	cancels map[string]context.CancelFunc
}

var pressureLevels = [3]string{cgroups.PressureLow, cgroups.PressureMedium, cgroups.PressureCritical}

func newPressure() *pressure {
	p := &pressure{mailbox: make(chan func()), stop: make(chan struct{}), done: make(chan struct{}),
		counts: map[string]*[3]uint64{}, cancels: map[string]context.CancelFunc{}}
	go p.loop()
	return p
}

func (p *pressure) loop() {
	defer close(p.done)
	for {
		select {
		case f := <-p.mailbox:
			f()
		case <-p.stop:
			for _, cancel := range p.cancels {
				cancel()
			}
			return
		}
	}
}

// do runs f on the loop; false once closed.
func (p *pressure) do(f func()) bool {
	done := make(chan struct{})
	select {
	case p.mailbox <- func() { f(); close(done) }:
		<-done
		return true
	case <-p.stop:
		return false
	}
}

// watch starts counting the group's pressure events for container id.
func (p *pressure) watch(id string, g *cgroups.Group) {
	ctx, cancel := context.WithCancel(context.Background())
	var counts *[3]uint64
	if !p.do(func() {
		if old := p.cancels[id]; old != nil {
			old()
		}
		counts = &[3]uint64{}
		p.counts[id], p.cancels[id] = counts, cancel
	}) {
		cancel()
		return
	}
	for i, level := range pressureLevels {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			_ = g.WatchPressure(ctx, level, func(n uint64) {
				p.do(func() { counts[i] += n })
			})
		}()
	}
}

// get returns the container's counts, if they are being counted.
func (p *pressure) get(id string) (c [3]uint64, ok bool) {
	p.do(func() {
		if counts := p.counts[id]; counts != nil {
			c, ok = *counts, true
		}
	})
	return c, ok
}

// forget stops counting for the container.
func (p *pressure) forget(id string) {
	p.do(func() {
		if cancel := p.cancels[id]; cancel != nil {
			cancel()
		}
		delete(p.cancels, id)
		delete(p.counts, id)
	})
}

// close stops every listener and waits for them.
func (p *pressure) close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	p.wg.Wait()
}
