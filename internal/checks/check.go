package checks

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// Checker runs a general check (CheckInfo) and reports its status whenever
// it changes (Mesos's checks::Checker).
type Checker struct {
	loop
	info *mesospb.CheckInfo
	prev *mesospb.CheckStatusInfo // owned by the loop's goroutine
	cb   func(context.Context, *mesospb.CheckStatusInfo)
}

// NewChecker validates ci (ValidateCheckInfo) and starts checking: the first
// attempt runs after delay_seconds. report is called from the checker's
// goroutine, one call at a time, with each CheckStatusInfo that differs from
// the previous one (the first from the empty status of the check's type, see
// EmptyStatus); a failed attempt reports the empty status. report must not
// block beyond ctx, which ends when Stop is called, and must not call Stop.
func NewChecker(ci *mesospb.CheckInfo, cfg Config, report func(ctx context.Context, status *mesospb.CheckStatusInfo)) (*Checker, error) {
	if err := ValidateCheckInfo(ci); err != nil {
		return nil, err
	}
	c := &Checker{info: proto.Clone(ci).(*mesospb.CheckInfo), cb: report}
	c.prev = EmptyStatus(c.info)
	c.loop = loop{
		name:   ci.GetType().String() + " check",
		what:   what(ci.GetType()),
		taskID: cfg.TaskID,
		log:    discardLogger(cfg.Logger),
		sched: schedule{
			delay:    seconds(c.info.GetDelaySeconds()),
			interval: seconds(c.info.GetIntervalSeconds()),
			timeout:  seconds(c.info.GetTimeoutSeconds()),
		},
	}
	switch ci.GetType() {
	case mesospb.CheckInfo_COMMAND:
		if cfg.Runner == nil {
			return nil, ErrNoRunner
		}
		c.probe = commandProbe(cfg.Runner, ci.GetCommand().GetCommand())
	case mesospb.CheckInfo_HTTP:
		c.probe = httpProbe(target{scheme: "http", host: ipv4Host, port: ci.GetHttp().GetPort(), path: ci.GetHttp().GetPath()})
	case mesospb.CheckInfo_TCP:
		c.probe = tcpProbe(target{host: ipv4Host, port: ci.GetTcp().GetPort()})
	default:
		return nil, fmt.Errorf("'%s' is not a valid check type", ci.GetType())
	}
	c.deliver = c.result
	c.start()
	return c, nil
}

func (c *Checker) result(ctx context.Context, res *mesospb.CheckStatusInfo, err error) {
	if err != nil {
		c.log.Warn(c.name+" failed", "task_id", c.taskID, "error", err)
		res = EmptyStatus(c.info)
	} else {
		c.log.Info(c.name+" returned", "task_id", c.taskID, "status", res)
	}
	if proto.Equal(res, c.prev) {
		return
	}
	c.prev = res
	c.cb(ctx, proto.Clone(res).(*mesospb.CheckStatusInfo))
}
