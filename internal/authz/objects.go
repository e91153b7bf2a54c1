package authz

import (
	"sort"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// RunTaskUser is RUN_TASK's object: the user the task runs as — its
// command's user, else its executor's command's user, else the
// framework's user (LocalAuthorizerObjectApprover).
func RunTaskUser(task *mesospb.TaskInfo, fw *mesospb.FrameworkInfo) string {
	switch {
	case task.GetCommand() != nil && task.GetCommand().User != nil:
		return task.GetCommand().GetUser()
	case task.GetExecutor().GetCommand() != nil && task.GetExecutor().GetCommand().User != nil:
		return task.GetExecutor().GetCommand().GetUser()
	}
	return fw.GetUser()
}

// TaskUser is VIEW_TASK's object for a launched task: Task.user, else the
// framework's user.
func TaskUser(task *mesospb.Task, fw *mesospb.FrameworkInfo) string {
	if task.User != nil {
		return task.GetUser()
	}
	return fw.GetUser()
}

// ExecutorUser is VIEW_EXECUTOR's and ACCESS_SANDBOX's object: the
// executor's command's user, else the framework's user.
func ExecutorUser(e *mesospb.ExecutorInfo, fw *mesospb.FrameworkInfo) string {
	if c := e.GetCommand(); c != nil && c.User != nil { // the default executor has no command
		return c.GetUser()
	}
	return fw.GetUser()
}

// FrameworkRoles are REGISTER_FRAMEWORK's objects
// (protobuf::framework::getRoles): the roles of a MULTI_ROLE framework,
// else its one role ("*" by default).
func FrameworkRoles(fw *mesospb.FrameworkInfo) []string {
	for _, c := range fw.GetCapabilities() {
		if c.GetType() == mesospb.FrameworkInfo_Capability_MULTI_ROLE {
			return fw.GetRoles()
		}
	}
	return []string{fw.GetRole()}
}

// Subject is the subject of a request with an optional principal: nil
// (ANY) when there is none.
func Subject(principal string, ok bool) *string {
	if !ok {
		return nil
	}
	return &principal
}

// FrameworkSubject is the subject of a scheduler call: the framework's
// principal, as Mesos's framework object approvers use it; none when the
// framework has no principal.
func FrameworkSubject(fw *mesospb.FrameworkInfo) *string {
	if fw.Principal == nil {
		return nil
	}
	return Ptr(fw.GetPrincipal())
}

// DeniedRegistration is Mesos's message for a refused SUBSCRIBE:
// "Not authorized to register framework <id> with roles { a, b }".
func DeniedRegistration(fw *mesospb.FrameworkInfo) string {
	roles := append([]string(nil), FrameworkRoles(fw)...)
	sort.Strings(roles)
	set := "{  }"
	if len(roles) > 0 {
		set = "{ " + strings.Join(roles, ", ") + " }"
	}
	return "Not authorized to register framework " + fw.GetId().GetValue() + " with roles " + set
}

// DeniedLaunch is Mesos's message of the TASK_ERROR for a task whose
// RUN_TASK is refused.
func DeniedLaunch(task *mesospb.TaskInfo, fw *mesospb.FrameworkInfo) string {
	return "Not authorized to launch task " + task.GetTaskId().GetValue() + " of framework " +
		fw.GetId().GetValue() + " under user '" + RunTaskUser(task, fw) + "'"
}
