package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// subscription is one SUBSCRIBE response stream. A reader goroutine decodes
// its records into an unbounded queue (so that a slow handler never pushes
// back on the agent) and pokes notify; the run loop takes them with next.
type subscription struct {
	cancel context.CancelFunc // aborts the request, which ends the reader
	notify chan struct{}      // capacity 1: "the queue changed"
	done   chan struct{}      // closed when the reader has returned

	mu     sync.Mutex
	queue  []*executorpb.Event
	ended  bool
	endErr error
}

// errStreamEnded describes a clean end of the event stream.
var errStreamEnded = errors.New("End-Of-File received from agent. The agent closed the event stream")

func (s *subscription) read(body io.ReadCloser, mt codec.MediaType) {
	defer close(s.done)
	defer body.Close()
	r := recordio.NewReader(body, maxEventSize)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			s.finish(err)
			return
		}
		ev := new(executorpb.Event)
		if err := codec.Unmarshal(mt, rec, ev); err != nil {
			// As libmesos: report it as an ERROR event and keep reading.
			ev = errorEvent(fmt.Sprintf("Failed to de-serialize event: %v", err))
		}
		s.push(ev)
	}
}

func (s *subscription) push(ev *executorpb.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.poke()
}

func (s *subscription) finish(err error) {
	s.mu.Lock()
	s.ended, s.endErr = true, err
	s.mu.Unlock()
	s.poke()
}

func (s *subscription) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// next returns the oldest queued event; when the queue is empty it returns
// nil and whether the stream has ended (with the cause).
func (s *subscription) next() (*executorpb.Event, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		ev := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		return ev, false, nil
	}
	return nil, s.ended, s.endErr
}

// close aborts the stream and waits for the reader goroutine to return.
func (s *subscription) close() {
	s.cancel()
	<-s.done
}
