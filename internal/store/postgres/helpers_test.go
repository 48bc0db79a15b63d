package postgres

import (
	"fmt"

	"github.com/keyward/keyward/internal/audit"
)

func storetestEvent(i, j int) []audit.Event {
	e := func(s string) audit.Event {
		return audit.Event{Account: "acme", Event: fmt.Sprintf("i%d-%d-%s", i, j, s), Outcome: audit.Success}
	}
	return []audit.Event{e("a"), e("b")}
}
