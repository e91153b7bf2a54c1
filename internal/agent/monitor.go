package agent

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
)

// liveContainer is what the monitor endpoints say about one executor's
// container, read on the actor.
type liveContainer struct {
	frameworkID, executorID, name, source, containerID string
}

// liveContainers lists the containers of executors that have not
// terminated (Mesos's Slave::usage skips TERMINATED executors), in /state
// order.
func (a *Agent) liveContainers(ctx context.Context) ([]liveContainer, error) {
	var out []liveContainer
	err := a.call(ctx, func() {
		for _, fw := range a.sortedFrameworks() {
			for _, ex := range fw.sortedExecutors() {
				if ex.state == executorTerminated || ex.containerID == "" {
					continue
				}
				out = append(out, liveContainer{
					frameworkID: ex.info.GetFrameworkId().GetValue(), executorID: ex.id,
					name: ex.info.GetName(), source: ex.info.GetSource(), containerID: ex.containerID,
				})
			}
		}
	})
	return out, err
}

// serveStatistics is /monitor/statistics: each live executor's
// ResourceStatistics, as Mesos's monitor lists them. An executor whose
// statistics cannot be read (its container is still launching, or just
// ended) is left out, as Mesos leaves it out.
func (a *Agent) serveStatistics(w http.ResponseWriter, r *http.Request) {
	live, err := a.liveContainers(r.Context())
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	stats := a.usages(r.Context(), live)
	out := []any{}
	for i, c := range live {
		if stats[i] == nil {
			continue
		}
		out = append(out, map[string]any{
			"framework_id":  c.frameworkID,
			"executor_id":   c.executorID,
			"executor_name": c.name,
			"source":        c.source,
			"statistics":    protoJSON(stats[i]),
		})
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
}

// serveContainers is /containers: each live executor's container with its
// status and statistics (?container_id= selects one).
func (a *Agent) serveContainers(w http.ResponseWriter, r *http.Request) {
	live, err := a.liveContainers(r.Context())
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	view := a.viewerFor(r)
	live = slices.DeleteFunc(live, func(c liveContainer) bool {
		return !a.containerVisible(r.Context(), view, &mesospb.ContainerID{Value: proto.String(c.containerID)})
	})
	if want := r.URL.Query().Get("container_id"); want != "" {
		var sel []liveContainer
		for _, c := range live {
			if c.containerID == want {
				sel = append(sel, c)
			}
		}
		live = sel
	}
	stats := a.usages(r.Context(), live)
	out := []any{}
	for i, c := range live {
		entry := map[string]any{
			"framework_id":  c.frameworkID,
			"executor_id":   c.executorID,
			"executor_name": c.name,
			"source":        c.source,
			"container_id":  c.containerID,
		}
		if st, err := a.cz.Status(r.Context(), c.containerID); err == nil {
			entry["status"] = protoJSON(st.ContainerStatus)
		}
		if stats[i] != nil {
			entry["statistics"] = protoJSON(stats[i])
		}
		out = append(out, entry)
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
}

// usages reads every container's statistics concurrently (a few at a time:
// the isolators read /proc and cgroup files); nil where unreadable.
func (a *Agent) usages(ctx context.Context, live []liveContainer) []*mesospb.ResourceStatistics {
	out := make([]*mesospb.ResourceStatistics, len(live))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, c := range live {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if st, err := a.cz.Usage(ctx, c.containerID); err == nil {
				out[i] = st
			}
		}()
	}
	wg.Wait()
	return out
}
