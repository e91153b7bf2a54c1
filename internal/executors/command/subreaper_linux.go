package command

import "syscall"

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER from <linux/prctl.h>

// becomeSubreaper makes this process the reaper of its descendants' orphans
// (prctl PR_SET_CHILD_SUBREAPER), so that processes a task leaves behind
// when its shell exits stay in the executor's hands and can be reaped by
// reapGroup instead of lingering as zombies under PID 1.
func becomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return errno
	}
	return nil
}
