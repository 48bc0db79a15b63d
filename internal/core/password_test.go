package core

import (
	"strings"
	"testing"
)

// bcrypt reads only the first 72 bytes of a password, so a longer one would
// let anyone who knows its first 72 bytes log in: such passwords are refused
// by their length in UTF-8 bytes, not runes.
func TestPasswordStrengthRefusesOver72Bytes(t *testing.T) {
	cases := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"72 bytes", "Aa1!Bb" + strings.Repeat("x", 66), true},
		{"73 bytes", "Aa1!Bb" + strings.Repeat("x", 67), false},
		{"finding: 72 a then AB1!", strings.Repeat("a", 72) + "AB1!", false},
		{"under 128 runes, over 72 bytes", strings.Repeat("ä", 37) + "ABcd1!", false},
		{"multibyte within 72 bytes", strings.Repeat("ä", 33) + "ABcd1!", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordStrength(tc.pw)
			if tc.ok {
				if err != nil {
					t.Fatalf("%d bytes refused: %v", len(tc.pw), err)
				}
				return
			}
			e := AsError(err)
			if err == nil || e.Kind != Invalid || e.Field != "password" {
				t.Fatalf("%d bytes: err = %v, want Invalid on field password", len(tc.pw), err)
			}
			if !strings.Contains(e.Msg, "72 bytes") {
				t.Fatalf("message %q does not say the 72-byte limit", e.Msg)
			}
		})
	}
}
