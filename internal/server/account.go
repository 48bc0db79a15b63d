package server

import (
	"errors"

	"github.com/keyward/keyward/internal/core"
)

// AccountRule is the rule account names follow, for error messages.
const AccountRule = "an account name is 1 to 64 characters: letters, digits and / @ . - _ (no spaces; not starting or ending with /, no //)"

// ValidateAccount checks an account name before anything is created for it.
func ValidateAccount(name string) error {
	if len(name) > 64 || core.ValidateLogin(name) != nil {
		return errors.New(AccountRule)
	}
	return nil
}
