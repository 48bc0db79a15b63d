package main

// environmentOnly are the environment variables keyward reads that are not
// rows of settingsTable: docs/operations.md lists both, and a test checks
// that every KEYWARD_/CONJUR_ variable the code reads is in one of them.
var environmentOnly = []struct {
	Name, Commands, Help string
}{
	{"KEYWARD_CONFIG", "store commands", "JSON config file, as --config"},
	{"KEYWARD_MASTER_KEY", "store commands", "the 32-byte master key in hex or base64, instead of DATA/master.key (instances sharing a PostgreSQL store)"},
	{"KEYWARD_AUTHENTICATORS", "serve", "comma-separated authenticators to enable (authn, authn-jwt/ci…), overriding what the store says; as Conjur's"},
	{"CONJUR_AUTHENTICATORS", "serve", "the same, under Conjur's name (KEYWARD_AUTHENTICATORS wins)"},
	{"KEYWARD_ADDR", "admin commands", "the server's URL (default http://127.0.0.1:8080; https:// for TLS)"},
	{"KEYWARD_TOKEN", "admin commands", "an access token or API key (default: the token `keyward login` stored)"},
	{"KEYWARD_CACERT", "admin commands", "PEM file of the CA that signed the server's TLS certificate"},
	{"GOGC", "serve", "Go's GC target; when unset keyward tunes it to the heap (server.TuneGC)"},
}
