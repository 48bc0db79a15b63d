package ldap_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

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
