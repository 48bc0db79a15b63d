// Package ldaptest runs a real OpenLDAP slapd on a loopback port for tests, seeded through go-ldap.
package ldaptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Server is a running slapd with one mdb database.
type Server struct {
	// URL is ldap://127.0.0.1:<port>.
	URL  string
	Host string
	Port int
	// BaseDN is the database suffix; users live under ou=people.
	BaseDN string
	// BindDN and BindPassword are the database's root credentials.
	BindDN       string
	BindPassword string
}

// slapdPath finds slapd on PATH or in /usr/sbin, where Debian installs it.
func slapdPath() (string, bool) {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, true
	}
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd", true
	}
	return "", false
}

// Start runs slapd for the test and stops it at cleanup. Without slapd it
// skips the test, unless the CI environment variable is set, then it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, ok := slapdPath()
	if !ok {
		const msg = "ldaptest: slapd not installed (apt-get install -y slapd ldap-utils)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &Server{BaseDN: "dc=example,dc=org", BindDN: "cn=admin,dc=example,dc=org", BindPassword: "root-secret"}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatalf("ldaptest: %v", err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(s.config(dir)), 0o600); err != nil {
		t.Fatalf("ldaptest: write config: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("ldaptest: %v", err)
		}
		s.Host, s.Port = "127.0.0.1", port
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
		var out bytes.Buffer
		cmd := exec.Command(bin, "-f", conf, "-h", s.URL+"/", "-d", "0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("ldaptest: start slapd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitReady(s.URL, exited); lastErr == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			s.seed(t)
			return s
		}
		_ = cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%w; output: %s", lastErr, out.String())
	}
	t.Fatalf("ldaptest: slapd did not start: %v", lastErr)
	return nil
}

func (s *Server) config(dir string) string {
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
database mdb
maxsize 10485760
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
`, dir, s.BaseDN, s.BindDN, s.BindPassword)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady dials until slapd answers, it exits, or 15 seconds pass.
func waitReady(url string, exited <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := ldap.DialURL(url)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready: %w", err)
		}
		select {
		case e := <-exited:
			return fmt.Errorf("slapd exited: %v", e)
		case <-tick.C:
		}
	}
}

// Conn returns a connection bound as the root DN, closed at cleanup.
func (s *Server) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("ldaptest: dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Bind(s.BindDN, s.BindPassword); err != nil {
		t.Fatalf("ldaptest: root bind: %v", err)
	}
	return conn
}

func (s *Server) seed(t testing.TB) {
	t.Helper()
	conn := s.Conn(t)
	base := ldap.NewAddRequest(s.BaseDN, nil)
	base.Attribute("objectClass", []string{"dcObject", "organization"})
	base.Attribute("dc", []string{"example"})
	base.Attribute("o", []string{"Example"})
	people := ldap.NewAddRequest("ou=people,"+s.BaseDN, nil)
	people.Attribute("objectClass", []string{"organizationalUnit"})
	people.Attribute("ou", []string{"people"})
	for _, r := range []*ldap.AddRequest{base, people} {
		if err := conn.Add(r); err != nil {
			t.Fatalf("ldaptest: add %s: %v", r.DN, err)
		}
	}
}

// AddUser adds a posixAccount uid=<uid>,ou=people,<BaseDN> with the given
// password and returns its DN.
func (s *Server) AddUser(t testing.TB, uid, password string) string {
	t.Helper()
	dn := "uid=" + ldap.EscapeDN(uid) + ",ou=people," + s.BaseDN
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"inetOrgPerson", "posixAccount"})
	r.Attribute("uid", []string{uid})
	r.Attribute("cn", []string{uid})
	r.Attribute("sn", []string{uid})
	r.Attribute("uidNumber", []string{"10000"})
	r.Attribute("gidNumber", []string{"10000"})
	r.Attribute("homeDirectory", []string{"/home/" + uid})
	r.Attribute("userPassword", []string{password})
	if err := s.Conn(t).Add(r); err != nil {
		t.Fatalf("ldaptest: add user %s: %v", uid, err)
	}
	return dn
}
