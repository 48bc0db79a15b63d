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
	"regexp"
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
	loginAttr    string // the attribute filter's %s is matched against
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
	} else if a.loginAttr = loginAttribute(a.filter); a.loginAttr == "" {
		bad(KeyFilterTemplate, "%s must stand in an assertion on the login attribute, like (uid=%s)")
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

// attrDescRE is an LDAP attribute description: a name or OID, with options.
var attrDescRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*)(;[A-Za-z0-9-]+)*$`)

// loginAttribute names the attribute a compiled filter template matches the
// login against: the one in the innermost assertion holding %s, as in
// (uid=%s), (cn=%s*) or (uid:caseExactMatch:=%s); "" when there is none.
// An LDAP filter has no literal parentheses inside values (they are
// escaped as \28 and \29), so the assertion starts at the last "(" before %s.
func loginAttribute(filter string) string {
	left := filter[:strings.Index(filter, "%s")]
	item := left[strings.LastIndexByte(left, '(')+1:]
	if i := strings.IndexAny(item, "=~<>:"); i >= 0 {
		item = item[:i]
	}
	if !attrDescRE.MatchString(item) {
		return ""
	}
	return item
}

// Verify binds as req.Login with the password in req.Credential, Conjur's
// way: the service account (bind_dn) searches base_dn with filter_template
// for exactly one entry, then that entry's DN binds with the password.
// "admin" and empty passwords are refused without asking the directory.
//
// The identity is that entry, named by its own login attribute value as the
// directory stores it, never the typed login: directories match logins
// case-insensitively, so "Dave" with dave's password proves "dave". A value
// keyward would read as another kind of login (host/ or user/ prefix) or as
// the built-in admin is refused.
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
		2, int(timeout/time.Second), false, filter, []string{a.loginAttr}, nil))
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
	login, why := a.entryLogin(res.Entries[0], req.Login)
	if why != "" {
		id.Reason = why
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
	groups, err := a.groupsOf(conn, res.Entries[0].DN)
	if err != nil {
		return id, authn.Bad, err
	}
	id.Login, id.Groups = login, groups
	return id, authn.OK, nil
}

// SearchUsers lists the directory's users (the filter template with any
// login) in which every term occurs in uid, cn, givenName, sn or mail.
func (a *Authenticator) SearchUsers(ctx context.Context, terms []string, limit int) ([]authn.DirectoryEntry, error) {
	conn, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if a.bindDN != "" {
		if err := conn.Bind(a.bindDN, a.bindPassword); err != nil {
			return nil, fmt.Errorf("authn-ldap: bind as bind_dn: %w", err)
		}
	}
	filter := strings.Replace(a.filter, "%s", "*", 1)
	if len(terms) > 0 {
		var b strings.Builder
		b.WriteString("(&" + filter)
		for _, t := range terms {
			e := ldap.EscapeFilter(t)
			fmt.Fprintf(&b, "(|(%s=*%s*)(cn=*%s*)(givenName=*%s*)(sn=*%s*)(mail=*%s*))", a.loginAttr, e, e, e, e, e)
		}
		b.WriteString(")")
		filter = b.String()
	}
	res, err := conn.Search(ldap.NewSearchRequest(a.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		limit, int(timeout/time.Second), false, filter, []string{a.loginAttr, "cn", "givenName", "sn", "mail"}, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, fmt.Errorf("authn-ldap: search users: %w", err)
	}
	var out []authn.DirectoryEntry
	if res == nil {
		return out, nil
	}
	for _, e := range res.Entries {
		out = append(out, authn.DirectoryEntry{DN: e.DN, Login: e.GetAttributeValue(a.loginAttr), Email: e.GetAttributeValue("mail"),
			FullName: e.GetAttributeValue("cn"), FirstName: e.GetAttributeValue("givenName"), LastName: e.GetAttributeValue("sn")})
	}
	return out, nil
}

// groupsOf returns the DNs of the groupOfNames and groupOfUniqueNames
// entries under the base DN that list dn, searched as bind_dn when there
// is one (else as the user just bound).
func (a *Authenticator) groupsOf(conn *ldap.Conn, dn string) ([]string, error) {
	if a.bindDN != "" {
		if err := conn.Bind(a.bindDN, a.bindPassword); err != nil {
			return nil, fmt.Errorf("authn-ldap: bind as bind_dn for groups: %w", err)
		}
	}
	f := ldap.EscapeFilter(dn)
	filter := "(|(&(objectClass=groupOfNames)(member=" + f + "))(&(objectClass=groupOfUniqueNames)(uniqueMember=" + f + ")))"
	res, err := conn.Search(ldap.NewSearchRequest(a.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		1000, int(timeout/time.Second), false, filter, []string{"dn"}, nil))
	if err != nil {
		return nil, fmt.Errorf("authn-ldap: search groups of %s: %w", dn, err)
	}
	out := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		out = append(out, e.DN)
	}
	return out, nil
}

// entryLogin is the entry's login attribute value: its only one, else the
// one equal to the typed login but for case; why says what refused it.
func (a *Authenticator) entryLogin(e *ldap.Entry, typed string) (login, why string) {
	var values []string
	for _, at := range e.Attributes {
		if strings.EqualFold(at.Name, a.loginAttr) {
			values = append(values, at.Values...)
		}
	}
	if len(values) > 1 {
		var same []string
		for _, v := range values {
			if strings.EqualFold(v, typed) {
				same = append(same, v)
			}
		}
		values = same
	}
	switch {
	case len(values) != 1:
		return "", fmt.Sprintf("entry %s has no single %s value naming the login", e.DN, a.loginAttr)
	case values[0] == "":
		return "", fmt.Sprintf("entry %s has an empty %s", e.DN, a.loginAttr)
	case strings.HasPrefix(values[0], "host/") || strings.HasPrefix(values[0], "user/"):
		return "", fmt.Sprintf("entry %s: %s %q carries a host/ or user/ prefix", e.DN, a.loginAttr, values[0])
	case strings.EqualFold(values[0], "admin"):
		return "", "admin may not authenticate through LDAP"
	}
	return values[0], ""
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
