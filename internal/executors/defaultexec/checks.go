package defaultexec

import "fmt"

// startChecks starts the task's check and health check, as Mesos's default
// executor does once the task's container is launched. Checks are not
// wired in yet: a task with one is refused (Mesos fails to create a
// checker it cannot run the same way, and shuts the executor down).
func (x *defaultExecutor) startChecks(c *container) error {
	if c.task.GetCheck() != nil || c.task.GetHealthCheck() != nil {
		return fmt.Errorf("Failed to create checker for task '%s': checks and health checks are not supported by this executor yet",
			c.task.GetTaskId().GetValue())
	}
	return nil
}
