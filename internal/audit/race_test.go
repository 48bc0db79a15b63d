//go:build race

package audit

// raceEnabled: the race detector makes sync.Pool drop what it is given, so
// pooled states are rebuilt and allocation counts are not the production ones.
const raceEnabled = true
