package main

import (
	"strings"
	"testing"
)

// Review 20a, F4: a store URL with the wrong scheme was echoed with its
// password, which put the password in the journal after a typo.
func TestReviewStoreURLNotEchoed(t *testing.T) {
	clearSettingsEnv(t)
	for _, cmd := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--store", "mysql://keyward:SECRETPW@db/keyward"},
		{"init", "--store", "Postgres://keyward:SECRETPW@db/keyward"},
		{"admin", "recover", "--store", "postgress://keyward:SECRETPW@db/keyward"},
	} {
		_, out, errs := cli(t, cmd...)
		if strings.Contains(out+errs, "SECRETPW") {
			t.Errorf("%v: the password is in the error: %s", cmd, errs)
		}
	}
}
