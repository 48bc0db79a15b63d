//go:build unix

package server

import (
	"os"
	"syscall"
)

// Flags to open the prune request and result files: never through a
// symlink, never blocking on a FIFO.
const (
	noFollow = syscall.O_NOFOLLOW
	nonBlock = syscall.O_NONBLOCK
)

// ownedByUs reports whether fi is owned by this process's user.
func ownedByUs(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
