package core

import "golang.org/x/sys/unix"

// lowerThreadPriority gives the calling OS thread nice 10, so the kernel
// prefers the threads serving cheap requests. Failure leaves it as it was.
func lowerThreadPriority() {
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 10)
}
