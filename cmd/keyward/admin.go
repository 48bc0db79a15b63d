package main

import (
	"fmt"
	"io"
)

// cmdAdmin runs the admin subcommands over the native API.
func cmdAdmin(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "keyward: admin commands are not built yet")
	return 2
}
