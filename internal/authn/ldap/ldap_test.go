package ldap_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/ldap"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
)

func newAuth(t *testing.T, values map[string]string) authn.Authenticator {
	t.Helper()
	a, err := ldap.New(authn.Config{Account: "acme", Type: ldap.Type, ServiceID: "corp", Values: values})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestVerifyAgainstSlapd(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob*", "bob-pw")
	srv.AddUser(t, "admin", "admin-pw")

	hostPort := map[string]string{
		"host": srv.Host, "port": strconv.Itoa(srv.Port), "connect_type": "plain",
		"base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword,
	}
	viaURI := map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword}
	custom := map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword,
		"filter_template": "(&(objectClass=inetOrgPerson)(cn=%s))"}
	anonymousSearch := map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN}

	cases := []struct {
		name     string
		values   map[string]string
		login    string
		password string
		want     authn.Outcome
	}{
		{"host+port good", hostPort, "alice", "alice-pw", authn.OK},
		{"uri good", viaURI, "alice", "alice-pw", authn.OK},
		{"custom filter", custom, "alice", "alice-pw", authn.OK},
		{"anonymous search", anonymousSearch, "alice", "alice-pw", authn.OK},
		{"wrong password", viaURI, "alice", "nope", authn.Bad},
		{"empty password", viaURI, "alice", "", authn.Bad},
		{"unknown user", viaURI, "carol", "x", authn.Bad},
		{"admin refused", viaURI, "admin", "admin-pw", authn.Bad},
		{"filter injection escaped", viaURI, "*", "alice-pw", authn.Bad},
		{"literal star login", viaURI, "bob*", "bob-pw", authn.OK},
		{"no login", viaURI, "", "x", authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t, tc.values)
			id, o, err := a.Verify(context.Background(), authn.Request{Login: tc.login, Credential: tc.password})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if o != tc.want {
				t.Fatalf("outcome = %v (%s), want %v", o, id.Reason, tc.want)
			}
			if o == authn.OK && id.Login != tc.login {
				t.Fatalf("login = %q, want %q", id.Login, tc.login)
			}
		})
	}
}

// The directory matches logins case-insensitively, so the identity is the
// entry the search and bind proved, named by its own login attribute as
// stored, never the typed login: "Dave" with dave's password is "dave".
// A stored value keyward would read as a prefixed login, or as the
// built-in admin, is refused.
func TestIdentityIsTheEntrysOwnLogin(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "dave", "dave-pw")
	srv.AddUser(t, "Erin.Smith", "erin-pw")
	srv.AddUser(t, "admin", "admin-pw")
	srv.AddUser(t, "host/deploybot", "bot-pw")
	srv.AddUser(t, "user/admin", "ua-pw")
	base := map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return m
	}
	byCN := with("filter_template", "(&(objectClass=inetOrgPerson)(cn=%s))")
	upperAttr := with("filter_template", "(&(objectClass=posixAccount)(UID=%s))")
	prefix := with("filter_template", "(&(objectClass=posixAccount)(uid=%s*))")
	cases := []struct {
		name     string
		values   map[string]string
		login    string
		password string
		want     authn.Outcome
		identity string
	}{
		{"typed in another case", base, "Dave", "dave-pw", authn.OK, "dave"},
		{"typed all capitals", base, "DAVE", "dave-pw", authn.OK, "dave"},
		{"stored mixed case", base, "erin.smith", "erin-pw", authn.OK, "Erin.Smith"},
		{"other attribute", byCN, "DAVE", "dave-pw", authn.OK, "dave"},
		{"attribute named in capitals", upperAttr, "Dave", "dave-pw", authn.OK, "dave"},
		{"substring filter", prefix, "da", "dave-pw", authn.OK, "dave"},
		{"wrong password, other case", base, "Dave", "nope", authn.Bad, ""},
		{"admin in another case", base, "ADMIN", "admin-pw", authn.Bad, ""},
		{"stored host/ prefix", base, "host/deploybot", "bot-pw", authn.Bad, ""},
		{"stored user/ prefix", base, "user/admin", "ua-pw", authn.Bad, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := newAuth(t, tc.values).Verify(context.Background(), authn.Request{Login: tc.login, Credential: tc.password})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if o != tc.want || id.Login != tc.identity {
				t.Fatalf("got %v %q (%s), want %v %q", o, id.Login, id.Reason, tc.want, tc.identity)
			}
		})
	}
}

// An entry with several login values is named by the one the typed login
// matched, as stored; when none matches exactly but for case, it is refused.
func TestIdentityOfMultiValuedLogin(t *testing.T) {
	srv := ldaptest.Start(t)
	dn := srv.AddUser(t, "multi", "multi-pw")
	mod := goldap.NewModifyRequest(dn, nil)
	mod.Add("uid", []string{"Multi.Alias"})
	if err := srv.Conn(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword}
	prefix := map[string]string{"filter_template": "(&(objectClass=posixAccount)(uid=%s*))"}
	for k, v := range base {
		prefix[k] = v
	}
	for _, tc := range []struct {
		values   map[string]string
		login    string
		want     authn.Outcome
		identity string
	}{
		{base, "MULTI", authn.OK, "multi"},
		{base, "multi.alias", authn.OK, "Multi.Alias"},
		{prefix, "mul", authn.Bad, ""},
	} {
		id, o, err := newAuth(t, tc.values).Verify(context.Background(), authn.Request{Login: tc.login, Credential: "multi-pw"})
		if err != nil || o != tc.want || id.Login != tc.identity {
			t.Errorf("%q: got %v %q %v (%s), want %v %q", tc.login, o, id.Login, err, id.Reason, tc.want, tc.identity)
		}
	}
}

func TestMoreThanOneEntryRefused(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "alice2", "pw")
	a := newAuth(t, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword,
		"filter_template": "(&(objectClass=posixAccount)(uid=%s*))"})
	if id, o, err := a.Verify(context.Background(), authn.Request{Login: "alice", Credential: "pw"}); err != nil || o != authn.Bad {
		t.Fatalf("two entries: %v %v (%s), want Bad", o, err, id.Reason)
	}
}

func TestBadServiceBindIsError(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "pw")
	a := newAuth(t, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": "wrong"})
	if _, _, err := a.Verify(context.Background(), authn.Request{Login: "alice", Credential: "pw"}); err == nil {
		t.Fatal("wrong bind-password: want error (no decision)")
	}
}

func TestUnreachableIsError(t *testing.T) {
	a := newAuth(t, map[string]string{"host": "127.0.0.1", "port": "1", "base_dn": "dc=example,dc=org"})
	_, _, err := a.Verify(context.Background(), authn.Request{Login: "alice", Credential: "pw"})
	if err == nil {
		t.Fatal("want error when LDAP unreachable")
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]string
		keys   []string
	}{
		{"empty", map[string]string{}, []string{"base_dn", "host"}},
		{"unknown key", map[string]string{"host": "h", "base_dn": "dc=x", "colour": "red"}, []string{"colour"}},
		{"bad port", map[string]string{"host": "h", "base_dn": "dc=x", "port": "70000"}, []string{"port"}},
		{"port not a number", map[string]string{"host": "h", "base_dn": "dc=x", "port": "ldap"}, []string{"port"}},
		{"bad connect_type", map[string]string{"host": "h", "base_dn": "dc=x", "connect_type": "ssh"}, []string{"connect_type"}},
		{"bad uri scheme", map[string]string{"uri": "http://h", "base_dn": "dc=x"}, []string{"uri"}},
		{"malformed uri", map[string]string{"uri": "ldap://[::1", "base_dn": "dc=x"}, []string{"uri"}},
		{"uri port out of range", map[string]string{"uri": "ldap://h:99999", "base_dn": "dc=x"}, []string{"uri"}},
		{"bad base_dn", map[string]string{"host": "h", "base_dn": "not a dn"}, []string{"base_dn"}},
		{"bind_dn without password", map[string]string{"host": "h", "base_dn": "dc=x", "bind_dn": "cn=a,dc=x"}, []string{"bind-password"}},
		{"filter without %s", map[string]string{"host": "h", "base_dn": "dc=x", "filter_template": "(uid=alice)"}, []string{"filter_template"}},
		{"filter malformed", map[string]string{"host": "h", "base_dn": "dc=x", "filter_template": "(uid=%s"}, []string{"filter_template"}},
		{"bad ca", map[string]string{"host": "h", "base_dn": "dc=x", "tls-ca-cert": "nope"}, []string{"tls-ca-cert"}},
		{"several", map[string]string{"port": "0", "connect_type": "x"}, []string{"base_dn", "connect_type", "host", "port"}},
		{"filter names no attribute", map[string]string{"host": "h", "base_dn": "dc=x", "filter_template": "(:dn:2.5.13.5:=%s)"}, []string{"filter_template"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ldap.New(authn.Config{Values: tc.values})
			var ce authn.ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want ConfigErrors", err)
			}
			var got []string
			for _, e := range ce {
				got = append(got, e.Key)
			}
			if strings.Join(got, ",") != strings.Join(tc.keys, ",") {
				t.Fatalf("keys = %v, want %v (%v)", got, tc.keys, err)
			}
		})
	}
	for _, ok := range []map[string]string{
		{"uri": "ldaps://ldap.example.org", "base_dn": "dc=x"},
		{"host": "h", "base_dn": "dc=x", "connect_type": "tls"},
		{"host": "h", "base_dn": "dc=x", "connect_type": "starttls", "port": "389"},
		{"host": "h", "base_dn": "dc=x", "connect_type": "ssl"},
	} {
		if _, err := ldap.New(authn.Config{Values: ok}); err != nil {
			t.Errorf("New(%v): %v", ok, err)
		}
	}
}
