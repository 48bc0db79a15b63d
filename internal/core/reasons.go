package core

// Reason is the closed list of machine codes an *Error carries beside its
// Kind, and that audit records name as their failure reason. Each is said
// once here; each surface's error table decides what its clients see of it
// (most surfaces hide why an authentication failed), and a test walks every
// kind and reason through every surface's table.
type Reason string

// Reasons of refused authentications (Kind Unauthenticated unless said).
const (
	ReasonNone                 Reason = ""
	ReasonMissingCredentials   Reason = "missing_credentials"   // no credential where one is needed
	ReasonMalformedCredentials Reason = "malformed_credentials" // a credential header or body that cannot be parsed
	ReasonMalformedKey         Reason = "malformed"             // not an API key's format
	ReasonUnknownKey           Reason = "unknown_key"           // no key has that id
	ReasonBadSecret            Reason = "bad_secret"            // the key's secret does not match
	ReasonInvalidKey           Reason = "invalid"               // verify's one word for the three above: says nothing of ids
	ReasonRevoked              Reason = "revoked"               // the key (or the token's key) is revoked
	ReasonExpired              Reason = "expired"               // the key or token is past its expiry
	ReasonWrongAccount         Reason = "wrong_account"         // the credential belongs to another account than the route's
	ReasonPrincipalGone        Reason = "principal_gone"        // the credential's principal no longer exists
	ReasonLoginMismatch        Reason = "login_mismatch"        // the key belongs to another principal than the login named
	ReasonDisabled             Reason = "disabled"              // the principal is disabled
	ReasonSourceNotAllowed     Reason = "source_not_allowed"    // the client address is outside the key's sources or the principal's restriction
	ReasonUnknownLogin         Reason = "unknown_login"         // no principal has that login
	ReasonNoPassword           Reason = "no_password"           // the principal has no password
	ReasonBadPassword          Reason = "bad_password"          // the password does not match
	ReasonThrottled            Reason = "throttled"             // too many failures or a full bcrypt queue (Kind RateLimited)
	ReasonMalformedToken       Reason = "malformed_token"       // not a token keyward issued
	ReasonUnknownSigningKey    Reason = "unknown_signing_key"   // the token's signing key is unknown or expired
	ReasonBadSignature         Reason = "bad_signature"         // the token's signature does not verify
	ReasonUnknownAccount       Reason = "unknown_account"       // the route names an account that does not exist
	ReasonAuthnDisabled        Reason = "authenticator_disabled"
	ReasonUndefinedAuthn       Reason = "undefined_authenticator" // no such authenticator service in the account
	ReasonAuthnUnavailable     Reason = "authenticator_unavailable"
	ReasonAuthnMisconfigured   Reason = "configuration_error"
	ReasonBadCredential        Reason = "bad_credential"      // an outside authenticator refused the proof
	ReasonAnnotationMismatch   Reason = "annotation_mismatch" // the principal's annotations disagree with the proof
	ReasonBuiltinAdmin         Reason = "builtin_admin"       // the built-in admin may not log in through an outside authenticator
	ReasonNotAllowed           Reason = "not_allowed"         // the authenticator service does not admit the principal (Kind Forbidden)
	ReasonCredentialStrength   Reason = "credential_strength" // a token may not change its own credentials
	ReasonForeignRole          Reason = "foreign_role"        // a credential acting on another principal where only its own is allowed
	ReasonBasicNotAccepted     Reason = "basic_not_accepted"  // Basic credentials on a route that names no account
	ReasonInsufficientLevel    Reason = "insufficient_level"  // the session's security level is below the route's minimum
	ReasonMFARequired          Reason = "mfa_required"        // a correct password of a user whose MFA is enabled, without a code
	ReasonMFAInvalid           Reason = "mfa_invalid"         // a wrong, malformed or already used TOTP or recovery code
	ReasonMFALocked            Reason = "mfa_locked"          // too many wrong codes in a row: the user's code checks are locked (Kind RateLimited)
)

// Reasons of refused authorizations (Kind Forbidden, or NotFound where the
// refusal must not reveal that the object exists).
const (
	ReasonMissingPermission    Reason = "missing_permission"   // the session lacks the permission
	ReasonEscalation           Reason = "privilege_escalation" // the change would give someone more than the caller holds
	ReasonNarrowedCredential   Reason = "narrowed_credential"  // a key narrowed by roles or sources may not change credentials
	ReasonNotVisible           Reason = "not_visible"          // the object is refused exactly as one that does not exist
	ReasonHostPassword         Reason = "host_password"        // hosts have no password on this route
	ReasonOwnGrantExtension    Reason = "own_grant_extension"  // a principal may not lengthen or widen its own grants
	ReasonRoleNotFound         Reason = "role_not_found"       // Conjur's role parameter names no role, or one the caller may not see (Kind NotFound)
	ReasonNotApplicable        Reason = "not_applicable"       // the role has no credentials (Kind Invalid)
	ReasonWeakPassword         Reason = "weak_password"        // the password breaks the complexity rule (Kind Invalid)
	ReasonBadRequest           Reason = "bad_request"          // a missing or unparsable request parameter (Kind Invalid)
	ReasonTokenExpired         Reason = "jwt_expired"          // an outside JWT has expired (Kind Unauthenticated)
	ReasonNotImplemented       Reason = "not_implemented"      // keyward does not implement this (Kind NotImplemented)
	ReasonUnsupportedType      Reason = "unsupported_type"     // an authenticator type keyward does not know (Kind NotFound)
	ReasonStatusNotSupported   Reason = "status_not_supported" // the authenticator type has no status check (Kind NotImplemented)
	ReasonAccountNotDefined    Reason = "account_not_defined"  // the account does not exist (Kind NotFound)
	ReasonServiceNotFound      Reason = "service_not_found"    // the authenticator service does not exist (Kind NotFound)
	ReasonServiceMisconfigure  Reason = "invalid_configuration"
	ReasonMFAState             Reason = "mfa_state"               // the principal's MFA is not in the state the operation needs (Kind Conflict)
	ReasonAuthorNotOutranks    Reason = "author_not_outranks"     // whoever wrote the registration no longer outranks the principal it signs in as
	ReasonRegistrationChanged  Reason = "registration_changed"    // the API registration was rotated, changed or deleted while the sign-in or session used it
	ReasonKeyHolderNotOutranks Reason = "key_holder_not_outranks" // someone who has seen the registration's current key or secret is gone, disabled or no longer outranks the principal: an administrator must rotate it
	// A service's jwks-uri, or its provider-uri (discovery, then the keys it
	// names), could not be fetched or read (Kind Internal; Msg is the URI).
	ReasonJWKSFetchFailed  Reason = "jwks_fetch_failed"
	ReasonDiscoveryFailed  Reason = "provider_discovery_failed"
	ReasonServiceIDMissing Reason = "service_id_missing" // the authenticator type needs a service id and the request names none (Kind Invalid)
)

// Reasons of refused PS-Auth sign-ins and OAuth client credentials (API
// registrations; Kind Unauthenticated unless said).
const (
	ReasonBadKey            Reason = "bad_key"                // no key policy has that key, or no access policy that token
	ReasonXFFMissing        Reason = "xff_missing"            // the registration has xff rules and the request no X-Forwarded-For
	ReasonXFFNotAllowed     Reason = "xff_not_allowed"        // two X-Forwarded-For lines, a list, or an address no xff rule holds
	ReasonClientCertMissing Reason = "client_cert_missing"    // no certificate verified against --client-ca was presented
	ReasonSignatureStale    Reason = "signature_stale"        // the PSRUN timestamp is more than 300 s off
	ReasonSignatureReplayed Reason = "signature_replayed"     // the PSRUN signature was accepted once already
	ReasonUserNotAllowed    Reason = "user_not_allowed"       // runas is no principal the allowed list admits now
	ReasonBadChallenge      Reason = "bad_challenge"          // a wrong or already used MFA challenge code
	ReasonBadClient         Reason = "bad_client"             // an unknown OAuth client id or a wrong secret
	ReasonUnsupportedGrant  Reason = "unsupported_grant_type" // an OAuth grant other than client_credentials (Kind Invalid)
	ReasonSessionUnknown    Reason = "session_unknown"        // no signed-in session has that cookie
	ReasonSessionIdle       Reason = "session_idle"           // the session was unused for 20 minutes
)

// Reasons of the Argus surface's rules (issue 22).
const (
	ReasonMFANotEnabled       Reason = "mfa_not_enabled"      // a second-factor login of a user whose MFA is not enabled
	ReasonSecurityLevel       Reason = "security_level"       // the session's level is below a route's minimum where the product names it so (Kind Forbidden)
	ReasonCustomer            Reason = "customer_not_allowed" // a key constrained to customers acting on a principal of none of them (Kind Forbidden)
	ReasonSignatureInvalid    Reason = "signature_invalid"    // a signed request's header, key, algorithm or signature is wrong
	ReasonSignatureTimestamp  Reason = "signature_timestamp"  // a signed request's ts is outside the window around server time
	ReasonSignatureReplay     Reason = "signature_replay"     // a signed request's nonce was used before
	ReasonSignatureClockSkew  Reason = "signature_clock_skew" // a signed request's ts is too far below its key's session's highest
	ReasonReplayFull          Reason = "replay_cache_full"    // no room to record a nonce (Kind Unavailable)
	ReasonIdempotencyConflict Reason = "idempotency_conflict" // an Idempotency-Key reused with another body (Kind Conflict)
)

// Reasons lists every reason, for the surfaces' error-table tests.
func Reasons() []Reason {
	return []Reason{ReasonNone, ReasonMissingCredentials, ReasonMalformedCredentials, ReasonMalformedKey, ReasonUnknownKey,
		ReasonBadSecret, ReasonInvalidKey, ReasonRevoked, ReasonExpired, ReasonWrongAccount, ReasonPrincipalGone,
		ReasonLoginMismatch, ReasonDisabled, ReasonSourceNotAllowed, ReasonUnknownLogin, ReasonNoPassword, ReasonBadPassword,
		ReasonThrottled, ReasonMalformedToken, ReasonUnknownSigningKey, ReasonBadSignature, ReasonUnknownAccount,
		ReasonAuthnDisabled, ReasonUndefinedAuthn, ReasonAuthnUnavailable, ReasonAuthnMisconfigured, ReasonBadCredential,
		ReasonAnnotationMismatch, ReasonBuiltinAdmin, ReasonNotAllowed, ReasonCredentialStrength, ReasonForeignRole,
		ReasonBasicNotAccepted, ReasonInsufficientLevel, ReasonMFARequired, ReasonMFAInvalid, ReasonMFALocked, ReasonMissingPermission, ReasonEscalation, ReasonNarrowedCredential,
		ReasonNotVisible, ReasonHostPassword, ReasonOwnGrantExtension, ReasonRoleNotFound, ReasonNotApplicable,
		ReasonWeakPassword, ReasonBadRequest, ReasonTokenExpired, ReasonNotImplemented, ReasonUnsupportedType,
		ReasonStatusNotSupported, ReasonAccountNotDefined, ReasonServiceNotFound, ReasonServiceMisconfigure, ReasonMFAState,
		ReasonJWKSFetchFailed, ReasonDiscoveryFailed, ReasonServiceIDMissing,
		ReasonBadKey, ReasonXFFMissing, ReasonXFFNotAllowed, ReasonClientCertMissing, ReasonSignatureStale,
		ReasonSignatureReplayed, ReasonUserNotAllowed, ReasonBadChallenge, ReasonBadClient, ReasonUnsupportedGrant,
		ReasonSessionUnknown, ReasonSessionIdle,
		ReasonMFANotEnabled, ReasonSecurityLevel, ReasonCustomer, ReasonSignatureInvalid, ReasonSignatureTimestamp,
		ReasonSignatureReplay, ReasonSignatureClockSkew, ReasonReplayFull, ReasonIdempotencyConflict,
		ReasonAuthorNotOutranks, ReasonRegistrationChanged, ReasonKeyHolderNotOutranks}
}
