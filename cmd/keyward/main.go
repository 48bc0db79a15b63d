// Command keyward runs the keyward authentication service and administers it.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `keyward: self-hosted authentication and API-credential service

Usage:
  keyward serve [--data DIR] [--listen ADDR] [--store postgres://…] [--trusted-proxies CIDR,…]
  keyward init --data DIR [--account NAME]
  keyward account add --data DIR --account NAME   (server stopped)
  keyward admin recover --data DIR [--account NAME]   (server stopped: a new admin API key for a lost one)
  keyward audit verify --data DIR
  keyward audit rekey --data DIR     (once, server stopped: keys records from before keyed chaining)
  keyward audit prune --data DIR|--store URL --before TIME
  keyward audit export --data DIR|--store URL [--since SEQ] [--format jsonl|rfc5424] [--follow]
  keyward backup --data DIR --to FILE
  keyward user create|list|show|update|delete …
  keyward user mfa enable|verify|disable|recovery-codes USER
  keyward apikey create|list|revoke|rotate …
  keyward role create|list|show|delete|grant …
  keyward audit list
  keyward authenticator list|show|set|enable|disable|delete …
  keyward api-registration list|show|create|update|delete|show-key|rotate|rotate-psrun-secret …
  keyward signing-key rotate

  keyward login --login NAME [--account A] [--totp CODE] | --api-key-stdin
  keyward logout | whoami | token
  keyward help TOPIC                 (e.g. keyward help serve, keyward help user create)

Client commands talk to a running server: KEYWARD_ADDR (default http://127.0.0.1:8080;
for https://, KEYWARD_CACERT names the CA file to trust) and KEYWARD_TOKEN (an access
token or an API key), else the token keyward login stored. --output table|json
(table on a terminal, else json). Exit codes: 0 done, 1 refused or failed, 2 usage.
Every serve flag can also be set as KEYWARD_<FLAG> (e.g. KEYWARD_LISTEN) or in a
JSON config file given with --config or KEYWARD_CONFIG.
`

// helpTopic is keyward help TOPIC [SUB]: the topic's own --help.
func helpTopic(topic []string, stdout, stderr io.Writer) int {
	_, group := adminGroups[topic[0]]
	switch topic[0] {
	case "serve", "init", "account", "audit", "admin", "login", "logout", "whoami", "token":
	default:
		if !group {
			fmt.Fprintf(stderr, "keyward help: no topic %q\n\n%s", topic[0], usage)
			return exitUsage
		}
	}
	if len(topic) == 1 && (group || topic[0] == "account" || topic[0] == "admin") {
		return run([]string{topic[0], "help"}, stdout, stderr)
	}
	return run(append(append([]string{}, topic...), "--help"), stdout, stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "account":
		return cmdAccount(args[1:], stdout, stderr)
	case "backup":
		return cmdBackup(args[1:], stdout, stderr)
	case "admin":
		return cmdAdminGroup(args[1:], stdout, stderr)
	case "login":
		return cmdLogin(args[1:], stdout, stderr)
	case "logout":
		return cmdLogout(args[1:], stdout, stderr)
	case "whoami":
		return cmdWhoami(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "audit":
		if len(args) > 1 && args[1] == "verify" {
			return cmdAuditVerify(args[2:], stdout, stderr)
		}
		if len(args) > 1 && args[1] == "rekey" {
			return cmdAuditRekey(args[2:], stdout, stderr)
		}
		if len(args) > 1 && args[1] == "prune" {
			return cmdAuditPrune(args[2:], stdout, stderr)
		}
		if len(args) > 1 && args[1] == "export" {
			return cmdAuditExport(args[2:], stdout, stderr)
		}
		return cmdAdmin(args, stdout, stderr)
	case "user", "apikey", "role", "authenticator", "api-registration", "signing-key":
		return cmdAdmin(args, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version())
		return 0
	case "help":
		if len(args) > 1 {
			return helpTopic(args[1:], stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "keyward: unknown command %q\n\n%s", args[0], usage)
	return 2
}
