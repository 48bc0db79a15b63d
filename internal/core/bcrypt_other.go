//go:build !linux

package core

// lowerThreadPriority is a no-op where per-thread priorities are not set.
func lowerThreadPriority() {}
