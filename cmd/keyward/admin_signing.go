package main

// keyward signing-key rotate: the token signing key of the caller's account.

import "fmt"

// signingKeyRotate is keyward signing-key rotate: POST
// /api/v1/signing-keys/rotate. Tokens signed with the old key keep
// verifying for one token lifetime.
func signingKeyRotate(c *adminCmd) int {
	if !c.parse(0, 0) {
		return c.bad()
	}
	if _, err := c.call("POST", "/api/v1/signing-keys/rotate", nil); err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON([]byte(`{"rotated":true}`))
		return exitOK
	}
	fmt.Fprintln(c.stdout, "rotated the token signing key of your account; tokens signed with the old key keep verifying until they expire")
	return exitOK
}
