package main

import (
	"context"
	"net/http"
	osuser "os/user"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/scheduler"
)

// framework is a scheduler (pkg/scheduler) that finds the leader through
// ZooKeeper, survives failovers (failover_timeout) and declines every offer
// for an hour. It records when it is SUBSCRIBED and when its subscription
// attempts fail.
type framework struct {
	det  *detector.ZooKeeper
	tr   *http.Transport
	done chan struct{}

	mu          sync.Mutex
	subscribed  []time.Time
	disconnects []time.Time
	wake        chan struct{} // closed and replaced on every SUBSCRIBED
}

func startFramework(ctx context.Context, zkURL string) (*framework, error) {
	det, err := detector.NewZooKeeper(zkURL, detector.Options{})
	if err != nil {
		return nil, err
	}
	user := "root"
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		user = u.Username
	}
	f := &framework{det: det, tr: http.DefaultTransport.(*http.Transport).Clone(),
		done: make(chan struct{}), wake: make(chan struct{})}
	cli, err := scheduler.New(scheduler.Config{
		Detector:   det,
		HTTPClient: &http.Client{Transport: f.tr},
		Framework: &mesospb.FrameworkInfo{User: proto.String(user), Name: proto.String("bench-failover"),
			FailoverTimeout: proto.Float64(3600)},
		OnDisconnect: func(error, int, bool) error {
			f.mu.Lock()
			f.disconnects = append(f.disconnects, time.Now())
			f.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		det.Close()
		return nil, err
	}
	go func() {
		defer close(f.done)
		_ = cli.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
			switch ev.GetType() {
			case schedulerpb.Event_SUBSCRIBED:
				f.mu.Lock()
				f.subscribed = append(f.subscribed, time.Now())
				close(f.wake)
				f.wake = make(chan struct{})
				f.mu.Unlock()
			case schedulerpb.Event_OFFERS:
				var ids []*mesospb.OfferID
				for _, o := range ev.GetOffers().GetOffers() {
					ids = append(ids, o.GetId())
				}
				// A failed decline (the master went away) is of no
				// consequence: the next master offers again.
				_ = cli.Call(ctx, scheduler.Decline(ids, scheduler.RefuseFor(3600)))
			}
			return nil
		})
	}()
	return f, nil
}

// subscribedAfter waits for a SUBSCRIBED received after t and returns its
// time.
func (f *framework) subscribedAfter(ctx context.Context, t time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		wake := f.wake
		for _, s := range f.subscribed {
			if s.After(t) {
				f.mu.Unlock()
				return s, true
			}
		}
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return time.Time{}, false
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// disconnectsBetween returns when subscription attempts failed (or streams
// ended) between a and b, as offsets from a.
func (f *framework) disconnectsBetween(a, b time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for _, d := range f.disconnects {
		if d.After(a) && !d.After(b) {
			out = append(out, d.Sub(a))
		}
	}
	return out
}

// stop waits for Run to end (its ctx must be done) and releases the
// detector's session and the connections.
func (f *framework) stop() {
	<-f.done
	f.det.Close()
	f.tr.CloseIdleConnections()
}
