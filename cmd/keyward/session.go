package main

// keyward login|logout|whoami|token: a short-lived access token kept per
// server address in the user's config folder ($XDG_CONFIG_HOME/keyward, else
// ~/.config/keyward; folder 0700, file 0600). Only the token is kept, never
// a password or an API key: when it expires, log in again.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sessionFile is the file of stored sessions in the config folder.
const sessionFile = "sessions.json"

// savedSession is one stored login.
type savedSession struct {
	Account   string    `json:"account"`
	Login     string    `json:"login"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// configDir is keyward's folder in the user's config folder.
func configDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "keyward"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no config folder: set XDG_CONFIG_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".config", "keyward"), nil
}

func loadSessions() (map[string]savedSession, string, error) {
	dir, err := configDir()
	if err != nil {
		return nil, "", err
	}
	p := filepath.Join(dir, sessionFile)
	m := map[string]savedSession{}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return m, p, nil
	}
	if err != nil {
		return nil, p, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, p, fmt.Errorf("%s: %w", p, err)
	}
	return m, p, nil
}

func saveSessions(m map[string]savedSession, p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(p), ".sessions-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// storedSession is the unexpired session stored for addr, if any.
func storedSession(addr string) (savedSession, bool) {
	m, _, err := loadSessions()
	if err != nil {
		return savedSession{}, false
	}
	s, ok := m[addr]
	if !ok || time.Now().After(s.ExpiresAt) {
		return savedSession{}, false
	}
	return s, true
}

// clientCmd makes an adminCmd for a top-level client command.
func clientCmd(name string, args []string, stdout, stderr io.Writer) *adminCmd {
	name = "keyward " + name
	fs := newFlagSet(name, stderr)
	c := &adminCmd{name: name, fs: fs, args: args, stdout: stdout, stderr: stderr, ctx: bgCtx(), in: bufio.NewReader(stdin)}
	return c
}

const loginUsage = `Usage:
  keyward login --login NAME [--account A] [--totp CODE]   password from standard input, or a prompt on a terminal
  keyward login --api-key-stdin                            an API key from standard input
Exchanges the credential for a short-lived access token and keeps it (only
the token) for KEYWARD_ADDR in $XDG_CONFIG_HOME/keyward (else ~/.config/keyward),
mode 0600. Other commands use it when KEYWARD_TOKEN is unset.`

func cmdLogin(args []string, stdout, stderr io.Writer) int {
	c := clientCmd("login", args, stdout, stderr)
	login := c.fs.String("login", "", "login name (a user, or host/NAME)")
	account := c.fs.String("account", "", "account (default: the server's default account)")
	totp := c.fs.String("totp", "", "the current TOTP code, for a user whose MFA is enabled")
	keyStdin := c.fs.Bool("api-key-stdin", false, "read an API key from standard input instead of logging in with a password")
	c.fs.StringVar(&c.addr, "addr", "", "server URL (default $KEYWARD_ADDR, else "+defaultAddr+")")
	c.fs.Usage = func() { fmt.Fprintf(c.fs.Output(), "%s\nFlags of keyward login:\n", loginUsage); c.fs.PrintDefaults() }
	c.token = "-" // no credential needed to log in
	if !c.parse(0, 0) {
		return c.bad()
	}
	c.token = ""
	req := map[string]string{}
	who := savedSession{Account: *account, Login: *login}
	switch {
	case *keyStdin:
		if *login != "" || *totp != "" {
			c.usagef("--api-key-stdin takes no --login or --totp")
			return exitUsage
		}
		key, err := c.readSecret("API key")
		if err != nil {
			return c.fail(err)
		}
		req["api_key"] = key
		var v struct {
			Valid     bool   `json:"valid"`
			Account   string `json:"account"`
			Principal string `json:"principal"`
		}
		if _, err := c.fetch("POST", "/api/v1/api-keys/verify", map[string]string{"key": key}, &v); err != nil {
			return c.fail(err)
		}
		if !v.Valid {
			return c.fail(errors.New("the server did not accept the API key"))
		}
		who.Account, who.Login = v.Account, v.Principal
	case *login == "":
		c.usagef("--login NAME (or --api-key-stdin) is required")
		return exitUsage
	default:
		pw, err := c.readPassword()
		if err != nil {
			return c.fail(err)
		}
		req["login"], req["password"] = *login, pw
		if *account != "" {
			req["account"] = *account
		}
		if *totp != "" {
			req["totp"] = *totp
		}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if _, err := c.fetch("POST", "/api/v1/token", req, &tok); err != nil {
		return c.fail(err)
	}
	who.Token = tok.AccessToken
	who.ExpiresAt = time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	m, p, err := loadSessions()
	if err != nil {
		return c.fail(err)
	}
	m[c.addr] = who
	if err := saveSessions(m, p); err != nil {
		return c.fail(fmt.Errorf("store the session: %w", err))
	}
	fmt.Fprintf(stderr, "keyward: logged in to %s as %s until %s\n", c.addr, who.Login, who.ExpiresAt.Format(time.RFC3339))
	return exitOK
}

// readPassword reads a password: from standard input when it is not a
// terminal, else with a prompt and without echo.
func (c *adminCmd) readPassword() (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return c.readSecret("password")
	}
	fmt.Fprint(c.stderr, "Password: ")
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer func() {
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(c.stderr)
	}()
	return c.readSecret("password")
}

const logoutUsage = `Usage:
  keyward logout
Forgets the token keyward login stored for KEYWARD_ADDR.`

func cmdLogout(args []string, stdout, stderr io.Writer) int {
	c := clientCmd("logout", args, stdout, stderr)
	c.fs.StringVar(&c.addr, "addr", "", "server URL (default $KEYWARD_ADDR, else "+defaultAddr+")")
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "%s\nFlags of keyward logout:\n", logoutUsage)
		c.fs.PrintDefaults()
	}
	c.token = "-"
	if !c.parse(0, 0) {
		return c.bad()
	}
	m, p, err := loadSessions()
	if err != nil {
		return c.fail(err)
	}
	if _, ok := m[c.addr]; !ok {
		fmt.Fprintf(stderr, "keyward: not logged in to %s\n", c.addr)
		return exitOK
	}
	delete(m, c.addr)
	if err := saveSessions(m, p); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stderr, "keyward: logged out of %s\n", c.addr)
	return exitOK
}

const whoamiUsage = `Usage:
  keyward whoami
Prints the login the stored token (or KEYWARD_TOKEN) belongs to; exit 1 when
not logged in.`

func cmdWhoami(args []string, stdout, stderr io.Writer) int {
	c := clientCmd("whoami", args, stdout, stderr)
	c.fs.StringVar(&c.addr, "addr", "", "server URL (default $KEYWARD_ADDR, else "+defaultAddr+")")
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "%s\nFlags of keyward whoami:\n", whoamiUsage)
		c.fs.PrintDefaults()
	}
	c.token = "-"
	if !c.parse(0, 0) {
		return c.bad()
	}
	c.token = ""
	env := os.Getenv("KEYWARD_TOKEN")
	if env == "" {
		s, ok := storedSession(c.addr)
		if !ok {
			fmt.Fprintf(stderr, "keyward whoami: not logged in to %s (run keyward login)\n", c.addr)
			return exitFail
		}
		env = s.Token
	}
	if strings.HasPrefix(env, "kw_") {
		var v struct {
			Valid     bool   `json:"valid"`
			Principal string `json:"principal"`
		}
		if _, err := c.fetch("POST", "/api/v1/api-keys/verify", map[string]string{"key": env}, &v); err != nil {
			return c.fail(err)
		}
		if !v.Valid {
			fmt.Fprintln(stderr, "keyward whoami: KEYWARD_TOKEN is not a valid API key")
			return exitFail
		}
		fmt.Fprintln(stdout, v.Principal)
		return exitOK
	}
	var in struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
	}
	if _, err := c.fetchForm("/api/v1/token/introspect", url.Values{"token": {env}}, &in); err != nil {
		return c.fail(err)
	}
	if !in.Active {
		fmt.Fprintf(stderr, "keyward whoami: not logged in to %s (the token has expired or was revoked; run keyward login)\n", c.addr)
		return exitFail
	}
	login := in.Sub
	if s, ok := storedSession(c.addr); ok && s.Token == env && s.Login != "" {
		login = s.Login
	}
	fmt.Fprintln(stdout, login)
	return exitOK
}

const tokenUsage = `Usage:
  keyward token
Prints an access token for scripts: a new one for KEYWARD_TOKEN when it is an
API key, KEYWARD_TOKEN itself when it is a token, else the stored token of
keyward login while it lasts (exit 1 when there is none).`

func cmdToken(args []string, stdout, stderr io.Writer) int {
	c := clientCmd("token", args, stdout, stderr)
	c.fs.StringVar(&c.addr, "addr", "", "server URL (default $KEYWARD_ADDR, else "+defaultAddr+")")
	c.fs.Usage = func() { fmt.Fprintf(c.fs.Output(), "%s\nFlags of keyward token:\n", tokenUsage); c.fs.PrintDefaults() }
	c.token = "-"
	if !c.parse(0, 0) {
		return c.bad()
	}
	c.token = ""
	env := os.Getenv("KEYWARD_TOKEN")
	switch {
	case strings.HasPrefix(env, "kw_"):
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if _, err := c.fetch("POST", "/api/v1/token", map[string]string{"api_key": env}, &tok); err != nil {
			return c.fail(err)
		}
		fmt.Fprintln(stdout, tok.AccessToken)
	case env != "":
		fmt.Fprintln(stdout, env)
	default:
		s, ok := storedSession(c.addr)
		if !ok {
			fmt.Fprintf(stderr, "keyward token: not logged in to %s (run keyward login)\n", c.addr)
			return exitFail
		}
		fmt.Fprintln(stdout, s.Token)
	}
	return exitOK
}
