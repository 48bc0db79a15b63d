// Package ldap verifies passwords against an LDAP directory for Conjur's authn-ldap authenticator.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/keyward/keyward/internal/authn"
)

// Type is the authenticator type this package implements.
const Type = "authn-ldap"

// Configuration keys, named as Conjur's authn-ldap annotations and variables.
const (
	KeyHost           = "host"
	KeyPort           = "port"
	KeyConnectType    = "connect_type"
	KeyBaseDN         = "base_dn"
	KeyBindDN         = "bind_dn"
	KeyBindPassword   = "bind-password"
	KeyFilterTemplate = "filter_template"
	KeyTLSCACert      = "tls-ca-cert"
	KeyURI            = "uri"
)

// DefaultFilterTemplate is Conjur's default search filter.
const DefaultFilterTemplate = "(&(objectClass=posixAccount)(uid=%s))"

const timeout = 10 * time.Second

// connect types. Conjur's "tls" means StartTLS and "ssl" LDAPS
// (net-ldap's :start_tls and :simple_tls); "starttls" is accepted as a
// clearer name for StartTLS.
const (
	connPlain    = "plain"
	connStartTLS = "tls"
	connLDAPS    = "ssl"
)

// Authenticator binds users against one directory.
type Authenticator struct {
	url          string // ldap:// or ldaps://host:port
	startTLS     bool
	tlsConfig    *tls.Config
	baseDN       string
	bindDN       string
	bindPassword string
	filter       string
}

var _ authn.Authenticator = (*Authenticator)(nil)

// New builds an authn-ldap authenticator, reporting every bad value at once.
func New(cfg authn.Config) (authn.Authenticator, error) {
	v := cfg.Values
	errs := authn.UnknownKeys(v, KeyHost, KeyPort, KeyConnectType, KeyBaseDN, KeyBindDN, KeyBindPassword, KeyFilterTemplate, KeyTLSCACert, KeyURI)
	bad := func(key, msg string) { errs = append(errs, authn.ConfigError{Key: key, Msg: msg}) }
	a := &Authenticator{baseDN: v[KeyBaseDN], bindDN: v[KeyBindDN], bindPassword: v[KeyBindPassword], filter: v[KeyFilterTemplate]}

	host, port, connect := "", 0, connPlain
	if s := v[KeyURI]; s != "" {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			bad(KeyURI, "malformed URL: "+err.Error())
		case (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "":
			bad(KeyURI, fmt.Sprintf("must be ldap://host[:port] or ldaps://host[:port], got %q", s))
		default:
			host = u.Hostname()
			if u.Scheme == "ldaps" {
				connect = connLDAPS
			}
			if p := u.Port(); p != "" {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					bad(KeyURI, fmt.Sprintf("port %q is not 1 to 65535", p))
				} else {
					port = n
				}
			}
		}
	}
	if h := v[KeyHost]; h != "" {
		host = h
	}
	if host == "" && v[KeyURI] == "" {
		bad(KeyHost, "required unless uri is set")
	}
	if ct := v[KeyConnectType]; ct != "" {
		switch ct {
		case connPlain, connStartTLS, connLDAPS:
			connect = ct
		case "starttls":
			connect = connStartTLS
		default:
			bad(KeyConnectType, fmt.Sprintf("must be plain, tls (StartTLS), starttls or ssl (LDAPS), got %q", ct))
		}
	}
	if p := v[KeyPort]; p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			bad(KeyPort, fmt.Sprintf("must be a port number 1-65535, got %q", p))
		}
		port = n
	}
	if port == 0 {
		port = 389
		if connect == connLDAPS {
			port = 636
		}
	}
	if a.baseDN == "" {
		bad(KeyBaseDN, "required")
	} else if _, err := ldap.ParseDN(a.baseDN); err != nil {
		bad(KeyBaseDN, "malformed DN: "+err.Error())
	}
	if a.bindDN != "" {
		if _, err := ldap.ParseDN(a.bindDN); err != nil {
			bad(KeyBindDN, "malformed DN: "+err.Error())
		}
		if a.bindPassword == "" {
			bad(KeyBindPassword, "required when bind_dn is set")
		}
	}
	if a.filter == "" {
		a.filter = DefaultFilterTemplate
	}
	if strings.Count(a.filter, "%s") != 1 || strings.Count(a.filter, "%") != 1 {
		bad(KeyFilterTemplate, "must contain %s exactly once and no other %")
	} else if _, err := ldap.CompileFilter(fmt.Sprintf(a.filter, "probe")); err != nil {
		bad(KeyFilterTemplate, "not an LDAP filter: "+err.Error())
	}
	a.tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if pemCA := v[KeyTLSCACert]; pemCA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pemCA)) {
			bad(KeyTLSCACert, "no PEM certificate found")
		}
		a.tlsConfig.RootCAs = pool
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	scheme := "ldap"
	if connect == connLDAPS {
		scheme = "ldaps"
	}
	a.url = scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
	a.startTLS = connect == connStartTLS
	return a, nil
}

// Verify binds as req.Login with the password in req.Credential, Conjur's
// way: the service account (bind_dn) searches base_dn with filter_template
// for exactly one entry, then that entry's DN binds with the password.
// "admin" and empty passwords are refused without asking the directory.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request) (authn.Identity, authn.Outcome, error) {
	id := authn.Identity{}
	switch {
	case req.Login == "":
		id.Reason = "no login"
		return id, authn.Bad, nil
	case req.Login == "admin":
		id.Reason = "admin may not authenticate through LDAP"
		return id, authn.Bad, nil
	case req.Credential == "":
		id.Reason = "empty password (unauthenticated bind refused)"
		return id, authn.Bad, nil
	}
	conn, err := a.dial(ctx)
	if err != nil {
		return id, authn.Bad, err
	}
	defer conn.Close()
	if a.bindDN != "" {
		if err := conn.Bind(a.bindDN, a.bindPassword); err != nil {
			return id, authn.Bad, fmt.Errorf("authn-ldap: bind as bind_dn: %w", err)
		}
	}
	filter := fmt.Sprintf(a.filter, ldap.EscapeFilter(req.Login))
	res, err := conn.Search(ldap.NewSearchRequest(a.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(timeout/time.Second), false, filter, []string{"1.1"}, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return id, authn.Bad, fmt.Errorf("authn-ldap: search %s: %w", a.baseDN, err)
	}
	if res == nil || len(res.Entries) != 1 || ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		n := 0
		if res != nil {
			n = len(res.Entries)
		}
		id.Reason = fmt.Sprintf("search found %d entries, want exactly one", n)
		return id, authn.Bad, nil
	}
	if err := conn.Bind(res.Entries[0].DN, req.Credential); err != nil {
		var le *ldap.Error
		if errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork && le.ResultCode < ldap.LDAPResultOther {
			id.Reason = "bind refused: " + ldap.LDAPResultCodeMap[le.ResultCode]
			return id, authn.Bad, nil
		}
		return id, authn.Bad, fmt.Errorf("authn-ldap: bind as user: %w", err)
	}
	id.Login = req.Login
	return id, authn.OK, nil
}

func (a *Authenticator) dial(ctx context.Context) (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: timeout}
	if d, ok := ctx.Deadline(); ok {
		dialer.Deadline = d
	}
	conn, err := ldap.DialURL(a.url, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(a.tlsConfig))
	if err != nil {
		return nil, fmt.Errorf("authn-ldap: connect %s: %w", a.url, err)
	}
	conn.SetTimeout(timeout)
	if a.startTLS {
		if err := conn.StartTLS(a.tlsConfig); err != nil {
			conn.Close()
			return nil, fmt.Errorf("authn-ldap: starttls %s: %w", a.url, err)
		}
	}
	return conn, nil
}
