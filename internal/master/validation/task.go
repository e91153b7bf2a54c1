package validation

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/checks"
	"github.com/meso-project/meso/internal/commonvalidation"
	"github.com/meso-project/meso/pkg/resources"
)

// Minimum executor resources for task groups (MIN_CPUS, MIN_MEM in Mesos).
const (
	MinExecutorCPUs  = 0.01
	MinExecutorMemMB = 32
)

// TaskContext is what task validation needs to know about the master's
// state. Resources are in the master's internal format (post-refinement,
// with allocation_info).
type TaskContext struct {
	FrameworkID string
	AgentID     string
	// TaskIDInUse reports whether the framework already has a task with this
	// ID (active or unreachable).
	TaskIDInUse func(taskID string) (inUse, unreachable bool)
	// Executor returns the ExecutorInfo of an executor of this framework
	// already known on the agent.
	Executor func(executorID string) (*mesospb.ExecutorInfo, bool)
	// AgentSupportsLimits is the agent's TASK_RESOURCE_LIMITS capability.
	AgentSupportsLimits bool
	// Available is what the ACCEPT call's offers still hold.
	Available resources.Resources
}

func (c TaskContext) executor(id string) (*mesospb.ExecutorInfo, bool) {
	if c.Executor == nil {
		return nil, false
	}
	return c.Executor(id)
}

// Task validates a TaskInfo of a LAUNCH operation (task::validate).
func Task(task *mesospb.TaskInfo, c TaskContext) error {
	if err := taskFields(task, c); err != nil {
		return err
	}
	if err := taskExecutor(task, c); err != nil {
		return err
	}
	if li := task.GetContainer().GetLinuxInfo(); li != nil && li.ShareCgroups != nil && !li.GetShareCgroups() {
		return errors.New("Only tasks in a task group may have 'share_cgroups' set to 'false'")
	}
	return nil
}

// taskFields are the checks common to LAUNCH and LAUNCH_GROUP tasks
// (task::internal::validateTask).
func taskFields(task *mesospb.TaskInfo, c TaskContext) error {
	id := task.GetTaskId().GetValue()
	if err := ID(id); err != nil {
		return err
	}
	if c.TaskIDInUse != nil {
		if inUse, unreachable := c.TaskIDInUse(id); inUse {
			if unreachable {
				return fmt.Errorf("Task reuses the ID of an unreachable task: %s", id)
			}
			return fmt.Errorf("Task has duplicate ID: %s", id)
		}
	}
	if got := task.GetAgentId().GetValue(); got != c.AgentID {
		return fmt.Errorf("Task uses invalid agent %s while agent %s is expected", got, c.AgentID)
	}
	if kp := task.GetKillPolicy(); kp.GetGracePeriod() != nil && kp.GetGracePeriod().GetNanoseconds() < 0 {
		return errors.New("Task's 'kill_policy.grace_period' must be non-negative")
	}
	if mct := task.GetMaxCompletionTime(); mct != nil && mct.GetNanoseconds() < 0 {
		return errors.New("Task's `max_completion_time` must be non-negative")
	}
	if ci := task.GetCheck(); ci != nil {
		if err := checks.ValidateCheckInfo(ci); err != nil {
			return fmt.Errorf("Task uses invalid check: %v", err)
		}
	}
	if hc := task.GetHealthCheck(); hc != nil {
		if err := checks.ValidateHealthCheck(hc); err != nil {
			return fmt.Errorf("Task uses invalid health check: %v", err)
		}
	}
	if err := taskResources(task.GetResources()); err != nil {
		return err
	}
	if ci := task.GetCommand(); ci != nil {
		if err := commandInfo(ci); err != nil {
			return fmt.Errorf("Task's `CommandInfo` is invalid: %v", err)
		}
	}
	if lim := task.GetLimits(); len(lim) > 0 {
		if !c.AgentSupportsLimits {
			return errors.New("Agent is not capable of handling task resource limits")
		}
		for name := range lim {
			if name != "cpus" && name != "mem" {
				return errors.New("Only cpus and mem may be included in a task's resource limits")
			}
		}
		rs := resources.Resources(task.GetResources())
		if l, ok := lim["cpus"]; ok {
			cpus, has := scalar(rs, "cpus")
			if !has {
				return errors.New("When a CPU limit is specified, a CPU request must also be specified")
			}
			if l.GetValue() < cpus {
				return errors.New("The cpu limit must be greater than or equal to the cpu request")
			}
		}
		if l, ok := lim["mem"]; ok {
			mem, has := scalar(rs, "mem")
			if !has {
				return errors.New("When a memory limit is specified, a memory request must also be specified")
			}
			if l.GetValue() < mem {
				return errors.New("The memory limit must be greater than or equal to the memory request")
			}
		}
	}
	return nil
}

func taskResources(rs []*mesospb.Resource) error {
	if len(rs) == 0 {
		return errors.New("Task uses no resources")
	}
	if err := resources.Validate(rs); err != nil {
		return fmt.Errorf("Task uses invalid resources: %v", err)
	}
	if err := singleRole(rs); err != nil {
		return fmt.Errorf("Invalid task resources: %v", err)
	}
	if err := revocableMix(rs); err != nil {
		return fmt.Errorf("Task mixes revocable and non-revocable resources: %v", err)
	}
	return nil
}

// singleRole checks that all resources are allocated to one role.
func singleRole(rs []*mesospb.Resource) error {
	role, seen := "", false
	for _, r := range rs {
		ai := r.GetAllocationInfo()
		if ai == nil {
			return errors.New("The resources are not allocated to a role")
		}
		if !seen {
			role, seen = ai.GetRole(), true
		} else if ai.GetRole() != role {
			return fmt.Errorf("The resources have multiple allocation roles ('%s' and '%s') but only one allocation role is allowed", role, ai.GetRole())
		}
	}
	return nil
}

func revocableMix(rs []*mesospb.Resource) error {
	var rev, non bool
	for _, r := range rs {
		if r.Revocable != nil {
			rev = true
		} else {
			non = true
		}
	}
	if rev && non {
		return errors.New("both revocable and non-revocable resources are present")
	}
	return nil
}

func commandInfo(ci *mesospb.CommandInfo) error {
	if ci.GetShell() && ci.Value == nil {
		return errors.New("Command value is required for shell commands")
	}
	return commonvalidation.CommandInfo(ci)
}

// Executor checks an ExecutorInfo on its own (executor::validate).
func Executor(e *mesospb.ExecutorInfo) error {
	switch e.GetType() {
	case mesospb.ExecutorInfo_DEFAULT:
		if e.Command != nil {
			return errors.New("'ExecutorInfo.command' must not be set for 'DEFAULT' executor")
		}
		if ci := e.GetContainer(); ci != nil {
			if ci.GetType() != mesospb.ContainerInfo_MESOS {
				return errors.New("'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor")
			}
			if ci.GetMesos().GetImage() != nil {
				return errors.New("'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor")
			}
		}
	case mesospb.ExecutorInfo_CUSTOM:
		if e.Command == nil {
			return errors.New("'ExecutorInfo.command' must be set for 'CUSTOM' executor")
		}
	}
	if err := ID(e.GetExecutorId().GetValue()); err != nil {
		return err
	}
	if g := e.GetShutdownGracePeriod(); g != nil && g.GetNanoseconds() < 0 {
		return errors.New("ExecutorInfo's 'shutdown_grace_period' must be non-negative")
	}
	if ci := e.GetCommand(); ci != nil {
		if err := commandInfo(ci); err != nil {
			return fmt.Errorf("Executor's `CommandInfo` is invalid: %v", err)
		}
	}
	return nil
}

// executorWithContext adds the checks that need the framework and agent
// (executor::internal::validate).
func executorWithContext(e *mesospb.ExecutorInfo, c TaskContext) error {
	if err := Executor(e); err != nil {
		return err
	}
	if e.FrameworkId == nil {
		return errors.New("'ExecutorInfo.framework_id' must be set")
	}
	if e.GetFrameworkId().GetValue() != c.FrameworkID {
		return fmt.Errorf("ExecutorInfo has an invalid FrameworkID (Actual: %s vs Expected: %s)", e.GetFrameworkId().GetValue(), c.FrameworkID)
	}
	if len(e.GetResources()) > 0 {
		if err := resources.Validate(e.GetResources()); err != nil {
			return fmt.Errorf("Executor uses invalid resources: %v", err)
		}
		if err := singleRole(e.GetResources()); err != nil {
			return fmt.Errorf("Invalid executor resources: %v", err)
		}
		if err := revocableMix(e.GetResources()); err != nil {
			return fmt.Errorf("Executor mixes revocable and non-revocable resources: %v", err)
		}
	}
	if existing, ok := c.executor(e.GetExecutorId().GetValue()); ok && !proto.Equal(existing, e) {
		return errors.New("ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID")
	}
	return nil
}

func taskExecutor(task *mesospb.TaskInfo, c TaskContext) error {
	if (task.Executor != nil) == (task.Command != nil) {
		return errors.New("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
	}
	total := resources.Resources(task.GetResources())
	if e := task.GetExecutor(); e != nil {
		if err := executorWithContext(e, c); err != nil {
			return err
		}
		if e.Type != nil && e.GetType() != mesospb.ExecutorInfo_CUSTOM {
			return errors.New("'ExecutorInfo.type' must be 'CUSTOM'")
		}
		if e.Command == nil {
			return errors.New("'ExecutorInfo.command' must be set")
		}
		if li := e.GetContainer().GetLinuxInfo(); li != nil && li.ShareCgroups != nil && li.GetShareCgroups() {
			return errors.New("The 'share_cgroups' field cannot be set to 'true' on executor containers")
		}
		if _, ok := c.executor(e.GetExecutorId().GetValue()); !ok {
			total = addResources(total, e.GetResources())
		}
		if err := revocableMix(total); err != nil {
			return fmt.Errorf("Task and its executor mix revocable and non-revocable resources: %v", err)
		}
	}
	if !contains(c.Available, total) {
		return fmt.Errorf("Total resources %s required by task and its executor is more than available %s",
			resString(total), resString(c.Available))
	}
	return nil
}

// TaskGroup validates a LAUNCH_GROUP operation (task::group::validate).
func TaskGroup(group *mesospb.TaskGroupInfo, e *mesospb.ExecutorInfo, c TaskContext) error {
	if len(group.GetTasks()) == 0 {
		return errors.New("Task group must contain at least one task")
	}
	seen := map[string]bool{}
	for _, t := range group.GetTasks() {
		id := t.GetTaskId().GetValue()
		err := taskFields(t, c)
		if err == nil && seen[id] {
			err = fmt.Errorf("Task has duplicate ID: %s", id)
		}
		if err == nil && t.Executor == nil {
			err = errors.New("'TaskInfo.executor' must be set")
		}
		if err == nil && t.Container != nil && len(t.GetContainer().GetNetworkInfos()) > 0 && t.HealthCheck != nil &&
			(t.GetHealthCheck().GetType() == mesospb.HealthCheck_HTTP || t.GetHealthCheck().GetType() == mesospb.HealthCheck_TCP) {
			err = errors.New("HTTP and TCP health checks are not supported for nested containers not joining parent's network")
		}
		if err == nil && t.Container != nil && t.GetContainer().GetType() == mesospb.ContainerInfo_DOCKER {
			err = errors.New("Docker ContainerInfo is not supported on the task")
		}
		if err == nil && len(t.GetLimits()) > 0 {
			if li := t.GetContainer().GetLinuxInfo(); li == nil || li.GetShareCgroups() {
				err = errors.New("Resource limits may only be set for tasks within a task group when the 'share_cgroups' field is set to 'false'.")
			}
		}
		if err != nil {
			return fmt.Errorf("Task '%s' is invalid: %v", id, err)
		}
		seen[id] = true
	}
	if err := executorWithContext(e, c); err != nil {
		return err
	}
	if e.Type == nil {
		return errors.New("'ExecutorInfo.type' must be set")
	}
	if e.GetType() == mesospb.ExecutorInfo_UNKNOWN {
		return errors.New("Unknown executor type")
	}
	if e.Container != nil && e.GetContainer().GetType() == mesospb.ContainerInfo_DOCKER {
		return errors.New("Docker ContainerInfo is not supported on the executor")
	}
	for _, t := range group.GetTasks() {
		if t.Executor != nil && !proto.Equal(t.GetExecutor(), e) {
			return fmt.Errorf("The `ExecutorInfo` of task '%s' is different from executor '%s'",
				t.GetTaskId().GetValue(), e.GetExecutorId().GetValue())
		}
	}
	er := resources.Resources(e.GetResources())
	if cpus, ok := scalar(er, "cpus"); !ok || cpus < MinExecutorCPUs {
		return fmt.Errorf("Executor '%s' uses less CPUs (%s) than the minimum required (%v)",
			e.GetExecutorId().GetValue(), optional(cpus, ok), MinExecutorCPUs)
	}
	if mem, ok := scalar(er, "mem"); !ok || mem < MinExecutorMemMB {
		return fmt.Errorf("Executor '%s' uses less memory (%s) than the minimum required (32MB)",
			e.GetExecutorId().GetValue(), optional(mem, ok))
	}
	if _, ok := scalar(er, "disk"); !ok {
		return fmt.Errorf("Executor '%s' uses no disk", e.GetExecutorId().GetValue())
	}
	var total resources.Resources
	for _, t := range group.GetTasks() {
		total = addResources(total, t.GetResources())
	}
	if _, ok := c.executor(e.GetExecutorId().GetValue()); !ok {
		total = addResources(total, er)
	}
	if err := revocableMix(total); err != nil {
		return fmt.Errorf("Task group and executor mix revocable and non-revocable resources: %v", err)
	}
	if !contains(c.Available, total) {
		return fmt.Errorf("Total resources %s required by task group and its executor are more than available %s",
			resString(total), resString(c.Available))
	}
	return nil
}

func optional(v float64, ok bool) string {
	if !ok {
		return "None"
	}
	return fmt.Sprint(v)
}
