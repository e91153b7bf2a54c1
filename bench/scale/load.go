package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/scheduler"
)

// sched is a framework (pkg/scheduler) that suppresses its offers once
// subscribed and then sends a call every interval, alternately RECONCILE
// of one task it does not have and SUPPRESS, timing each (the master
// answers 202 once its loop has handled the call).
type sched struct {
	cli  *scheduler.Client
	done chan struct{}
	subd chan struct{}

	mu    sync.Mutex
	calls []callTime
	fails int
}

type callTime struct {
	at  time.Time
	dur time.Duration
}

func startScheduler(ctx context.Context, master string, interval time.Duration) (*sched, error) {
	cli, err := scheduler.New(scheduler.Config{
		Master: master,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("bench-scale-load"), Roles: []string{"load"},
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}},
	})
	if err != nil {
		return nil, err
	}
	s := &sched{cli: cli, done: make(chan struct{}), subd: make(chan struct{})}
	var once sync.Once
	go func() {
		defer close(s.done)
		_ = cli.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
			switch ev.GetType() {
			case schedulerpb.Event_SUBSCRIBED:
				_ = cli.Call(ctx, scheduler.Suppress())
				once.Do(func() { close(s.subd) })
			case schedulerpb.Event_OFFERS:
				var ids []*mesospb.OfferID
				for _, o := range ev.GetOffers().GetOffers() {
					ids = append(ids, o.GetId())
				}
				_ = cli.Call(ctx, scheduler.Decline(ids, scheduler.RefuseFor(3600)))
			}
			return nil
		})
	}()
	select {
	case <-s.subd:
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("the scheduler did not subscribe")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	go s.drive(ctx, interval)
	return s, nil
}

func (s *sched) drive(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	unknown := scheduler.ReconcileTask(&mesospb.TaskID{Value: proto.String("no-such-task")}, nil)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		call := scheduler.Reconcile(unknown)
		if i%2 == 1 {
			call = scheduler.Suppress()
		}
		start := time.Now()
		err := s.cli.Call(ctx, call)
		d := time.Since(start)
		s.mu.Lock()
		if err != nil {
			s.fails++
		} else {
			s.calls = append(s.calls, callTime{start, d})
		}
		s.mu.Unlock()
	}
}

// between returns the latencies of the calls started in [a, b), sorted.
func (s *sched) between(a, b time.Time) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, c := range s.calls {
		if !c.at.Before(a) && c.at.Before(b) {
			out = append(out, c.dur)
		}
	}
	slices.Sort(out)
	return out
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

// read is one of the three state reads.
type read struct {
	name string
	do   func(ctx context.Context, c *http.Client, addr string) (int, error)
}

var reads = []read{
	{"/master/state", func(ctx context.Context, c *http.Client, addr string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/master/state", nil)
		if err != nil {
			return 0, err
		}
		return fetch(c, req)
	}},
	{"GET_STATE json", func(ctx context.Context, c *http.Client, addr string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/v1", bytes.NewReader([]byte(`{"type":"GET_STATE"}`)))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return fetch(c, req)
	}},
	{"GET_STATE protobuf", func(ctx context.Context, c *http.Client, addr string) (int, error) {
		body, err := proto.Marshal(&masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()})
		if err != nil {
			return 0, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/v1", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", contentTypeProtobuf)
		req.Header.Set("Accept", contentTypeProtobuf)
		return fetch(c, req)
	}},
}

// fetch sends req and reads the whole answer; it returns the body's size.
func fetch(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", req.URL.Path, resp.Status)
	}
	return int(n), nil
}
