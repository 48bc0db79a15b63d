package main

// The admin subcommands (user, apikey, role, audit list, authenticator) are
// thin clients of the native HTTP API under /api/v1. This file holds what
// they share: dispatch, flag handling, the HTTP client and output helpers.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/internal/api/native"
)

// Exit codes of the admin commands.
const (
	exitOK    = 0 // success
	exitFail  = 1 // the server refused, or could not be reached
	exitUsage = 2 // the command line is wrong
)

// defaultAddr is where the admin commands look for the server when neither
// --addr nor KEYWARD_ADDR says otherwise.
const defaultAddr = "http://127.0.0.1:8080"

// stdin is where --password-stdin and --config-stdin read from; tests swap it.
var stdin io.Reader = os.Stdin

// adminGroups maps each admin command group to its subcommands.
var adminGroups = map[string]map[string]func(*adminCmd) int{
	"user": {
		"create": userCreate, "list": userList, "show": userShow, "update": userUpdate, "delete": userDelete,
		"mfa": userMFA,
	},
	"apikey": {
		"create": keyCreate, "list": keyList, "revoke": keyRevoke, "rotate": keyRotate,
	},
	"role": {
		"create": roleCreate, "list": roleList, "show": roleShow, "delete": roleDelete, "grant": roleGrant,
	},
	"audit": {
		"list": auditList,
	},
	"signing-key": {
		"rotate": signingKeyRotate,
	},
	"authenticator": {
		"list": authnList, "show": authnShow, "set": authnSet, "enable": authnEnable, "disable": authnDisable, "delete": authnDelete,
	},
}

// adminUsage is each group's usage text.
var adminUsage = map[string]string{
	"user": `Usage:
  keyward user create --login LOGIN [--kind user|host] [--password-stdin] [--restricted-to CIDR,…]
                      [--email E] [--display-name N] [--annotation k=v]…
  keyward user list [--search TEXT] [--limit N] [--offset N]
  keyward user show USER
  keyward user update USER [--password-stdin] [--status active|disabled] [--restricted-to CIDR,…]
                      [--email E] [--display-name N] [--full-name N] [--annotation k=v]… [--remove-annotation k]…
  keyward user delete USER
  keyward user mfa enable USER           start (or reset) TOTP enrolment: prints the QR code, the otpauth URL and the seed
  keyward user mfa verify USER CODE      enable MFA with a code from the app: prints the recovery codes, shown once
  keyward user mfa disable USER          turn MFA off and destroy the seed
  keyward user mfa recovery-codes USER   replace the recovery codes with a new set
USER is a user's id or login. Your own MFA needs a password session (a token from
POST /api/v1/token with login and password); an administrator with users-manage may
manage another user's with any credential.`,
	"apikey": `Usage:
  keyward apikey create --user USER [--description D] [--valid-sources CIDR,…] [--expires-in-days N] [--role ROLE_ID]…
  keyward apikey list --user USER
  keyward apikey revoke KEY_ID
  keyward apikey rotate KEY_ID [--grace SECONDS]
The secret of a key is printed only by create and rotate.`,
	"role": `Usage:
  keyward role create --name NAME [--permission P]… [--description D]
  keyward role list [--search TEXT] [--limit N] [--offset N]
  keyward role show ROLE
  keyward role delete ROLE
  keyward role grant --user USER [--replace] [--role ROLE[:TYPE]]… [ROLE[:TYPE]…]
ROLE is a role's id or name; TYPE is PERMANENT (the default), TIME_RESTRICTED or FLOATING.
grant adds to the user's explicit grants; with --replace they become exactly the ones given.`,
	"audit": `Usage:
  keyward audit list [--limit N] [--offset N]   (newest first)
  keyward audit verify --data DIR               (offline: checks the keyed hash chain; honours KEYWARD_MASTER_KEY)
  keyward audit rekey --data DIR                (offline, once: keys records written before the chain was keyed)`,
	"signing-key": `Usage:
  keyward signing-key rotate   a new token signing key for your account (needs signing-keys-manage);
                               tokens signed with the old one keep verifying until they expire`,
	"authenticator": `Usage:
  keyward authenticator list
  keyward authenticator show TYPE[/SERVICE_ID]
  keyward authenticator set TYPE[/SERVICE_ID] [--config key=value]… [--config-stdin key] [--allow ENTRY[,ENTRY]]…
                            [--enabled=true|false] [--merge]
  keyward authenticator enable|disable|delete TYPE[/SERVICE_ID]
ENTRY is user:LOGIN, host:LOGIN or role:NAME. set replaces the service's config and allow list
unless --merge is given; without --enabled it keeps the current state (a new service is enabled).`,
}

const adminCommonUsage = `
Every command takes --addr URL (default $KEYWARD_ADDR, else ` + defaultAddr + `),
--token TOKEN (an access token; default $KEYWARD_TOKEN, an access token or a kw_ API key:
API keys are never taken in argv, where every local user can read them) and --json.`

// cmdAdmin runs the admin subcommands over the native API. args starts with
// the group name (user, apikey, role, audit, authenticator).
func cmdAdmin(args []string, stdout, stderr io.Writer) int {
	group := args[0]
	subs, ok := adminGroups[group]
	if !ok {
		fmt.Fprintf(stderr, "keyward: unknown command %q\n", group)
		return exitUsage
	}
	if len(args) < 2 {
		fmt.Fprintf(stderr, "keyward %s: a subcommand is required\n%s\n%s\n", group, adminUsage[group], adminCommonUsage)
		return exitUsage
	}
	switch args[1] {
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, "%s\n%s\n", adminUsage[group], adminCommonUsage)
		return exitOK
	}
	fn, ok := subs[args[1]]
	if !ok {
		fmt.Fprintf(stderr, "keyward %s: unknown subcommand %q\n%s\n", group, args[1], adminUsage[group])
		return exitUsage
	}
	name := "keyward " + group + " " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &adminCmd{name: name, fs: fs, args: args[2:], stdout: stdout, stderr: stderr, ctx: context.Background(), in: bufio.NewReader(stdin)}
	c.clientFlags()
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nFlags of %s:\n", subUsage(group, args[1]), name)
		fs.PrintDefaults()
	}
	return fn(c)
}

// adminCmd is one admin command being run: its flags, positional arguments,
// output streams and, once parsed, the client settings.
type adminCmd struct {
	name           string
	fs             *flag.FlagSet
	args           []string
	pos            []string // positional arguments, after parse
	stdout, stderr io.Writer
	ctx            context.Context

	addr, token string
	json        bool
	output      string        // table or json
	help        bool          // --help was asked for
	in          *bufio.Reader // standard input, shared by every secret read
}

// bad is the exit code after parse returned false: 0 for --help, else a usage error.
func (c *adminCmd) bad() int {
	if c.help {
		return exitOK
	}
	return exitUsage
}

// parse parses flags that may come before, between or after positional
// arguments, and checks the number of positional arguments is within
// [min, max] (max < 0: no limit). It returns false after reporting a usage
// error; the caller then exits with exitUsage.
func (c *adminCmd) parse(minPos, maxPos int) bool {
	if wantsHelp(c.args) {
		c.help = true
		c.fs.SetOutput(c.stdout)
		c.fs.Usage()
		return false
	}
	rest := c.args
	for {
		if err := c.fs.Parse(rest); err != nil {
			c.help = errors.Is(err, flag.ErrHelp)
			return false
		}
		rest = c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			c.pos = append(c.pos, rest[1:]...)
			break
		}
		c.pos = append(c.pos, rest[0])
		rest = rest[1:]
	}
	switch {
	case len(c.pos) < minPos:
		return c.usagef("missing argument")
	case maxPos >= 0 && len(c.pos) > maxPos:
		return c.usagef("unexpected argument %q", c.pos[maxPos])
	}
	if c.addr == "" {
		c.addr = os.Getenv("KEYWARD_ADDR")
	}
	if c.addr == "" {
		c.addr = defaultAddr
	}
	c.addr = strings.TrimRight(c.addr, "/")
	if !strings.HasPrefix(c.addr, "http://") && !strings.HasPrefix(c.addr, "https://") {
		return c.usagef("--addr/KEYWARD_ADDR must be an http:// or https:// URL, not %q", c.addr)
	}
	if strings.HasPrefix(c.addr, "http://") && !loopbackURL(c.addr) {
		return c.usagef("--addr/KEYWARD_ADDR %q is plain http:// to another machine: passwords, keys and tokens would cross the network in clear text; use https://", c.addr)
	}
	switch c.output {
	case "":
		c.output = "json"
		if isTerminal(c.stdout) {
			c.output = "table"
		}
	case "table", "json":
	default:
		return c.usagef("--output must be table or json, not %q", c.output)
	}
	if c.json {
		c.output = "json"
	}
	c.json = c.output == "json"
	// A kw_ API key is long-lived: in argv, every local user reads it
	// (ps, /proc/PID/cmdline). Refused before anything is sent.
	if strings.HasPrefix(c.token, "kw_") {
		return c.usagef("--token: an API key is not taken on the command line, where every local user can read it " +
			"(ps); set KEYWARD_TOKEN, or run keyward login --api-key-stdin, or pass --token an access token (keyward token)")
	}
	if c.token == "" {
		c.token = os.Getenv("KEYWARD_TOKEN")
	}
	if c.token == "" {
		if s, ok := storedSession(c.addr); ok {
			c.token = s.Token
		}
	}
	if c.token == "" {
		return c.usagef("no credentials: run keyward login (--api-key-stdin for an API key), or set KEYWARD_TOKEN to an access token or an API key")
	}
	return true
}

// clientFlags defines the flags every client command takes.
func (c *adminCmd) clientFlags() {
	c.fs.StringVar(&c.addr, "addr", "", "server URL (default $KEYWARD_ADDR, else "+defaultAddr+")")
	c.fs.StringVar(&c.token, "token", "", "access token, not an API key (default $KEYWARD_TOKEN, token or API key, else the token of keyward login)")
	c.fs.StringVar(&c.output, "output", "", "table or json (default: table on a terminal, else json)")
	c.fs.BoolVar(&c.json, "json", false, "same as --output json")
}

// subUsage is the usage lines of one subcommand of a group.
func subUsage(group, sub string) string {
	var out []string
	in := false
	for _, line := range strings.Split(adminUsage[group], "\n") {
		switch {
		case strings.HasPrefix(line, "  keyward "+group+" "):
			f := strings.Fields(line)
			in = len(f) > 2 && (f[2] == sub || strings.Contains(f[2], "|") && strings.Contains("|"+f[2]+"|", "|"+sub+"|"))
		case strings.HasPrefix(line, "    "):
		default:
			in = false
		}
		if in {
			out = append(out, line)
		}
	}
	return "Usage:\n" + strings.Join(out, "\n")
}

// usagef reports a usage error and returns false.
func (c *adminCmd) usagef(format string, a ...any) bool {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, fmt.Sprintf(format, a...))
	fmt.Fprintf(c.stderr, "Run '%s --help' for usage.\n", c.name)
	return false
}

// set reports whether the flag called name was given.
func (c *adminCmd) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// fail reports err and returns exitFail.
func (c *adminCmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
	return exitFail
}

// apiError is an error answer of the native API: {"error":{"code","message","field"}}.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string {
	msg := e.Message
	if e.Field != "" && !strings.Contains(msg, strings.TrimPrefix(e.Field, "config.")) {
		msg += " (" + e.Field + ")"
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += ": the server did not accept the token; check KEYWARD_TOKEN or --token"
	case http.StatusForbidden:
		if e.Code == "insufficient_level" {
			msg += " (use a token from a password login: POST /api/v1/token with login and password)"
			break
		}
		if msg == "" || msg == http.StatusText(http.StatusForbidden) {
			msg = "permission denied"
		}
		msg += " (the token's principal lacks the permission this needs)"
	}
	return msg
}

// call sends one request to the native API. in, when not nil, is sent as
// JSON; the answer's body is returned for any 2xx status, and an *apiError
// (or a transport error) otherwise.
func (c *adminCmd) call(method, path string, in any) ([]byte, error) {
	var body io.Reader
	if _, form := in.(formBody); in != nil && !form {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version())
	if f, ok := in.(formBody); ok {
		req.Body = io.NopCloser(strings.NewReader(url.Values(f).Encode()))
		req.ContentLength = int64(len(url.Values(f).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc, err := httpClient()
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach keyward at %s: %w", c.addr, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer from %s: %w", c.addr, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	var eb native.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
		return nil, &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
	}
	return nil, &apiError{Status: resp.StatusCode, Message: fmt.Sprintf("the server answered %s", resp.Status)}
}

// httpClient is the client the CLI talks to keyward with: the system's
// roots, or only the CA certificates in KEYWARD_CACERT when it is set.
func httpClient() (*http.Client, error) {
	// A redirect would resend a password or key to wherever it points:
	// never follow one.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	file := os.Getenv("KEYWARD_CACERT")
	if file == "" {
		return &http.Client{CheckRedirect: noRedirect}, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("KEYWARD_CACERT: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("KEYWARD_CACERT: no PEM certificate in %s", file)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, CheckRedirect: noRedirect}, nil
}

// loopbackURL reports whether an http:// URL names this machine
// (localhost, 127.0.0.0/8 or ::1), where clear text never crosses a network.
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// formBody is a request body sent form-encoded rather than as JSON.
type formBody url.Values

// fetchForm posts a form and decodes a 2xx answer into out.
func (c *adminCmd) fetchForm(path string, form url.Values, out any) ([]byte, error) {
	return c.fetch("POST", path, formBody(form), out)
}

// newFlagSet is a command's flag set, reporting errors on stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func bgCtx() context.Context { return context.Background() }

// unwrapURLError drops the *url.Error wrapping, which repeats the URL.
func unwrapURLError(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// fetch calls the API and decodes a 2xx answer into out, returning the raw body too.
func (c *adminCmd) fetch(method, path string, in, out any) ([]byte, error) {
	b, err := c.call(method, path, in)
	if err != nil {
		return nil, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("the server's answer is not what this CLI expects: %w", err)
		}
	}
	return b, nil
}

// answer calls the API, decodes a 2xx answer into out and prints it: the
// server's JSON with --json, else whatever show prints of out.
func (c *adminCmd) answer(method, path string, in, out any, show func()) int {
	b, err := c.fetch(method, path, in, out)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(b)
		return exitOK
	}
	show()
	return exitOK
}

// printGET prints the server's JSON answer to GET path (for --json where the
// table form needs no fetch of its own).
func (c *adminCmd) printGET(path string) int {
	b, err := c.call("GET", path, nil)
	if err != nil {
		return c.fail(err)
	}
	c.printJSON(b)
	return exitOK
}

// remove sends DELETE path and, without --json, prints done.
func (c *adminCmd) remove(path, done string) int {
	if _, err := c.call("DELETE", path, nil); err != nil {
		return c.fail(err)
	}
	if !c.json {
		fmt.Fprintln(c.stdout, done)
	}
	return exitOK
}

// pageFlags are a paged list command's --limit, --offset and, when it can
// search, --search.
type pageFlags struct {
	search        *string // nil: the list has no --search
	limit, offset *int
	what          string // what "showing N of M" counts, with its leading space, or ""
}

// paging defines the paging flags with these help texts; an empty
// searchHelp defines no --search.
func (c *adminCmd) paging(searchHelp, limitHelp, offsetHelp string) pageFlags {
	var p pageFlags
	if searchHelp != "" {
		p.search = c.fs.String("search", "", searchHelp)
	}
	p.limit = c.fs.Int("limit", 0, limitHelp)
	p.offset = c.fs.Int("offset", 0, offsetHelp)
	return p
}

// pagedList runs a list command without positional arguments: GET base with
// the paging query, printed as the server's JSON (--json) or as a table of
// head and cols of each item, with a note on stderr when there are more.
func pagedList[T any](c *adminCmd, p pageFlags, base string, head []string, cols func(T) []string) int {
	if !c.parse(0, 0) {
		return c.bad()
	}
	if *p.limit < 0 || *p.offset < 0 {
		c.usagef("--limit and --offset must not be negative")
		return exitUsage
	}
	q := url.Values{}
	if p.search != nil && *p.search != "" {
		q.Set("search", *p.search)
	}
	if *p.limit > 0 {
		q.Set("limit", strconv.Itoa(*p.limit))
	}
	if *p.offset > 0 {
		q.Set("offset", strconv.Itoa(*p.offset))
	}
	path := base
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list native.List[T]
	return c.answer("GET", path, nil, &list, func() {
		printTable(c, head, list.Items, cols)
		if len(list.Items) < list.Total {
			fmt.Fprintf(c.stderr, "keyward: showing %d of %d%s; use --limit/--offset for more\n", len(list.Items), list.Total, p.what)
		}
	})
}

// searchExact pages through GET base?search=name for the first item that
// match accepts; found is false when the search ends without one.
func searchExact[T any](c *adminCmd, base, name string, match func(T) bool) (item T, found bool, err error) {
	const pageSize = 100
	for offset := 0; ; offset += pageSize {
		var page native.List[T]
		q := url.Values{"search": {name}, "limit": {strconv.Itoa(pageSize)}, "offset": {strconv.Itoa(offset)}}
		if _, err := c.fetch("GET", base+"?"+q.Encode(), nil, &page); err != nil {
			return item, false, err
		}
		for _, it := range page.Items {
			if match(it) {
				return it, true, nil
			}
		}
		if len(page.Items) < pageSize || offset+len(page.Items) >= page.Total {
			return item, false, nil
		}
	}
}

// printTable prints head and then cols of each item as aligned columns.
func printTable[T any](c *adminCmd, head []string, items []T, cols func(T) []string) {
	w := c.table()
	row(w, head...)
	for _, it := range items {
		row(w, cols(it)...)
	}
	w.Flush()
}

// printJSON writes the server's JSON answer, indented.
func (c *adminCmd) printJSON(b []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		c.stdout.Write(b)
		return
	}
	buf.WriteByte('\n')
	c.stdout.Write(buf.Bytes())
}

// table returns a tabwriter for aligned columns on stdout; flush it when done.
func (c *adminCmd) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
}

// row writes one tab-separated row.
func row(w io.Writer, cols ...string) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

// fields prints "name:"/value pairs as two aligned columns, skipping empty values.
func (c *adminCmd) fields(pairs ...string) {
	w := c.table()
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			row(w, pairs[i], pairs[i+1])
		}
	}
	w.Flush()
}

// orDash is s, or "-" when s is empty (so table columns stay aligned).
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// join joins a list with commas, or "-" for an empty one.
func join(list []string) string { return orDash(strings.Join(list, ",")) }

// stamp formats a time for tables (UTC, seconds), or "-" for none.
func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// pairs formats a map as sorted k=v entries joined with commas, or "".
func pairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}

// listFlag is a repeatable flag; with split, each value may also hold a
// comma-separated list.
type listFlag struct {
	vals  []string
	split bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

// Set adds a value (or, with split, each comma-separated item).
func (l *listFlag) Set(v string) error {
	if !l.split {
		l.vals = append(l.vals, v)
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.vals = append(l.vals, s)
		}
	}
	return nil
}

// kvFlag is a repeatable key=value flag.
type kvFlag struct {
	m     map[string]string
	order []string
}

func (f *kvFlag) String() string { return pairs(f.m) }

// Set adds one key=value pair; the key must not be empty.
func (f *kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	if _, dup := f.m[k]; !dup {
		f.order = append(f.order, k)
	}
	f.m[k] = val
	return nil
}

// readSecret reads one line (without its line ending) from standard input,
// for secrets that must not be flag values.
func (c *adminCmd) readSecret(what string) (string, error) {
	line, err := c.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s: nothing on standard input", what)
		}
		return "", fmt.Errorf("%s: reading standard input: %w", what, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%s: the line on standard input is empty", what)
	}
	return line, nil
}
