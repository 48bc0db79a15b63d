//go:build !unix

package sqlite

import "os"

// lockFile is a no-op where flock(2) is missing: one process per data
// folder is then the operator's to ensure.
func lockFile(*os.File) error { return nil }
