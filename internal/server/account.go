package server

import (
	"context"
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

// RecoverAdmin gives account's built-in admin a new API key (keyward admin
// recover, server stopped), audited as admin.recover by "operator".
func (s *Server) RecoverAdmin(ctx context.Context, account string) (string, error) {
	return s.Core.RecoverAdmin(ctx, core.Caller{RequestID: "admin-recover"}, account)
}
