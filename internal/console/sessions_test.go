package console

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/core"
)

// TestSessionLifetimes: idle timeout 30 minutes (reset by use), absolute
// 12 hours, the code step 5 minutes; a pending cookie is no session and a
// session no pending cookie; values are random and distinct.
func TestSessionLifetimes(t *testing.T) {
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	ss := newSessions(func() time.Time { return now })
	v := ss.start(core.Session{Login: "ops"}, "stamp")
	if len(v) < 43 || ss.start(core.Session{}, "stamp") == v {
		t.Fatalf("cookie value %q", v)
	}
	if ss.getPending(v) != nil {
		t.Fatal("a session answered as a code step")
	}
	// Used every 29 minutes, it lives until the absolute limit.
	for i := 0; i < 24; i++ {
		now = now.Add(29 * time.Minute)
		if ss.get(v) == nil {
			t.Fatalf("session ended after %d uses", i)
		}
	}
	now = now.Add(29 * time.Minute) // 12h05 after the start
	if ss.get(v) != nil {
		t.Fatal("session outlived the absolute timeout")
	}
	w := ss.start(core.Session{Login: "ops"}, "stamp")
	now = now.Add(IdleTimeout)
	if ss.get(w) != nil {
		t.Fatal("session outlived the idle timeout")
	}
	p := ss.pending("ops", "pw")
	if ss.get(p) != nil || ss.getPending(p) == nil {
		t.Fatal("code step cookie")
	}
	now = now.Add(pendingTimeout)
	if ss.getPending(p) != nil {
		t.Fatal("code step outlived its 5 minutes")
	}
	x := ss.start(core.Session{}, "stamp")
	ss.end(x)
	if ss.get(x) != nil {
		t.Fatal("ended session still answers")
	}
}

func TestPagePermissions(t *testing.T) {
	for p, want := range map[string]string{"/console/": "", "/console/users": core.PermUsersView, "/console/audit": core.PermAuditView,
		"/console/configuration/general/api-registrations/x": core.PermAPIRegistrationsManage, "/console/my-account": ""} {
		got, ok := pagePermission(p)
		if !ok || got != want {
			t.Errorf("%s: %q %v, want %q", p, got, ok, want)
		}
	}
	if _, ok := pagePermission("/console/usersx"); ok {
		t.Error("/console/usersx is a page")
	}
}
