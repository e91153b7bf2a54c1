// Package statusupdate is the agent's task status update manager (Mesos's
// TaskStatusUpdateManager): it makes status updates reliable between the
// agent and the scheduler.
//
// Every task has an ordered stream of updates. Only the head of a stream is
// in flight to the master; it is re-sent with exponential backoff (the
// retry interval starts at the minimum, 10 s in Mesos, and doubles up to the
// maximum, 10 min) until the scheduler's acknowledgement for its uuid comes
// back, then the next update becomes the head and is sent. While the agent
// has no master the manager is paused; resuming re-sends every head.
//
// The Manager is a deterministic core: it does no I/O, starts no goroutines
// and reads no clock (time is an argument). The agent's actor owns it and
// does the sending. Each stream is a plain record (pending updates plus the
// uuids seen), so checkpointing a stream to task.updates later means
// appending each Update/Acknowledge as a record and replaying them.
package statusupdate

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/taskstate"
)

// Sentinel errors.
var (
	// ErrDuplicate: the update (or acknowledgement) was already handled.
	// Callers treat a duplicate update as held (and ack it to the executor).
	ErrDuplicate = errors.New("statusupdate: duplicate")
	// ErrUnexpectedAck: the acknowledgement is not for the stream's head.
	ErrUnexpectedAck = errors.New("statusupdate: unexpected acknowledgement")
	// ErrUnknownStream: no stream for the framework and task.
	ErrUnknownStream = errors.New("statusupdate: unknown stream")
	// ErrTerminated: the task's terminal update was already acknowledged.
	ErrTerminated = errors.New("statusupdate: task already terminated")
	// ErrInvalid: the update has no task ID or no 16 byte uuid.
	ErrInvalid = errors.New("statusupdate: invalid update")
)

// Update is a status update to send to the master.
type Update struct {
	FrameworkID string
	Status      *mesospb.TaskStatus
}

type key struct{ framework, task string }

type stream struct {
	key
	pending  []*mesospb.TaskStatus
	received map[string]bool // uuids ever added
	acked    map[string]bool // uuids acknowledged
	// interval is the current retry interval of the head; next is when the
	// head is due again (zero while nothing is in flight).
	interval time.Duration
	next     time.Time
	// terminated is set once a terminal update was acknowledged.
	terminated bool
}

// Manager holds the status update streams of all tasks on the agent.
type Manager struct {
	min, max time.Duration
	paused   bool
	streams  map[key]*stream
}

// New returns a paused Manager retrying after min, doubling up to max.
// Defaults: 10 s and 10 min (Mesos's STATUS_UPDATE_RETRY_INTERVAL_MIN/MAX).
func New(min, max time.Duration) *Manager {
	if min <= 0 {
		min = 10 * time.Second
	}
	if max <= 0 {
		max = 10 * time.Minute
	}
	if max < min {
		max = min
	}
	return &Manager{min: min, max: max, paused: true, streams: make(map[key]*stream)}
}

// Update adds status (which must carry a 16 byte uuid) to the end of its
// task's stream. When it becomes the head of the stream and the manager is
// not paused, it is returned for sending now.
func (m *Manager) Update(frameworkID string, status *mesospb.TaskStatus, now time.Time) (*Update, error) {
	taskID := status.GetTaskId().GetValue()
	if taskID == "" || len(status.GetUuid()) != 16 {
		return nil, fmt.Errorf("%w: task %q: a task ID and a 16 byte uuid are required", ErrInvalid, taskID)
	}
	k := key{frameworkID, taskID}
	s := m.streams[k]
	if s == nil {
		s = &stream{key: k, received: make(map[string]bool), acked: make(map[string]bool)}
		m.streams[k] = s
	}
	u := string(status.GetUuid())
	if s.received[u] || s.acked[u] {
		return nil, fmt.Errorf("%w: update for task %s of framework %s", ErrDuplicate, taskID, frameworkID)
	}
	if s.terminated {
		return nil, fmt.Errorf("%w: task %s of framework %s", ErrTerminated, taskID, frameworkID)
	}
	s.received[u] = true
	s.pending = append(s.pending, status)
	if len(s.pending) == 1 && !m.paused {
		return m.sendHead(s, now), nil
	}
	return nil, nil
}

func (m *Manager) sendHead(s *stream, now time.Time) *Update {
	s.interval = m.min
	s.next = now.Add(s.interval)
	return &Update{FrameworkID: s.framework, Status: s.pending[0]}
}

// Acknowledge handles the scheduler's acknowledgement of uuid for a task.
// It returns the acknowledged status and, when another update is waiting
// (and the manager is not paused), the next head to send now.
func (m *Manager) Acknowledge(frameworkID, taskID string, uuid []byte, now time.Time) (acked *mesospb.TaskStatus, next *Update, err error) {
	s := m.streams[key{frameworkID, taskID}]
	if s == nil {
		return nil, nil, fmt.Errorf("%w: task %s of framework %s", ErrUnknownStream, taskID, frameworkID)
	}
	if s.acked[string(uuid)] {
		return nil, nil, fmt.Errorf("%w: acknowledgement for task %s of framework %s", ErrDuplicate, taskID, frameworkID)
	}
	if len(s.pending) == 0 || !bytes.Equal(s.pending[0].GetUuid(), uuid) {
		return nil, nil, fmt.Errorf("%w: task %s of framework %s", ErrUnexpectedAck, taskID, frameworkID)
	}
	acked = s.pending[0]
	s.pending = s.pending[1:]
	s.acked[string(uuid)] = true
	s.next = time.Time{}
	if taskstate.IsTerminal(acked.GetState()) {
		s.terminated = true
	}
	switch {
	case len(s.pending) > 0 && !m.paused:
		next = m.sendHead(s, now)
	case len(s.pending) == 0 && s.terminated:
		delete(m.streams, s.key)
	}
	return acked, next, nil
}

// Due returns the heads whose retry time has come, and doubles their retry
// interval (up to the maximum).
func (m *Manager) Due(now time.Time) []*Update {
	if m.paused {
		return nil
	}
	var out []*Update
	for _, s := range m.sorted() {
		if len(s.pending) == 0 || s.next.IsZero() || now.Before(s.next) {
			continue
		}
		s.interval = min(2*s.interval, m.max)
		s.next = now.Add(s.interval)
		out = append(out, &Update{FrameworkID: s.framework, Status: s.pending[0]})
	}
	return out
}

// Next returns when the earliest head is due, or false when none is in
// flight.
func (m *Manager) Next() (time.Time, bool) {
	var t time.Time
	if m.paused {
		return t, false
	}
	for _, s := range m.streams {
		if len(s.pending) > 0 && !s.next.IsZero() && (t.IsZero() || s.next.Before(t)) {
			t = s.next
		}
	}
	return t, !t.IsZero()
}

// Pause stops sending, e.g. while the agent has no master.
func (m *Manager) Pause() {
	m.paused = true
	for _, s := range m.streams {
		s.next = time.Time{}
	}
}

// Resume starts sending again and returns every head, to be sent now
// (Mesos re-sends all pending updates after re-registration).
func (m *Manager) Resume(now time.Time) []*Update {
	m.paused = false
	var out []*Update
	for _, s := range m.sorted() {
		if len(s.pending) > 0 {
			out = append(out, m.sendHead(s, now))
		}
	}
	return out
}

// Paused reports whether the manager is paused.
func (m *Manager) Paused() bool { return m.paused }

// Pending returns the unacknowledged updates of a task, oldest first.
func (m *Manager) Pending(frameworkID, taskID string) []*mesospb.TaskStatus {
	s := m.streams[key{frameworkID, taskID}]
	if s == nil {
		return nil
	}
	return slices.Clone(s.pending)
}

// Cleanup drops every stream of a framework (it was removed; nobody will
// acknowledge its updates).
func (m *Manager) Cleanup(frameworkID string) {
	for k := range m.streams {
		if k.framework == frameworkID {
			delete(m.streams, k)
		}
	}
}

// Remove drops the stream of one task.
func (m *Manager) Remove(frameworkID, taskID string) {
	delete(m.streams, key{frameworkID, taskID})
}

// Len returns the number of updates not yet acknowledged.
func (m *Manager) Len() int {
	n := 0
	for _, s := range m.streams {
		n += len(s.pending)
	}
	return n
}

func (m *Manager) sorted() []*stream {
	out := make([]*stream, 0, len(m.streams))
	for _, s := range m.streams {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *stream) int {
		return cmp.Or(cmp.Compare(a.framework, b.framework), cmp.Compare(a.task, b.task))
	})
	return out
}
