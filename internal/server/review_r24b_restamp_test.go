package server_test

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/console"
)

// TestReviewR24bRestampAbsorbsAdminPasswordReset (r24b, medium): whoever
// holds a console session (a stolen cookie) keeps POSTing its own
// /console/api/v1/users/{own}/mfa back to back. Each 201 re-stamps the
// session with the stamp read AFTER the enrolment, so an administrator's
// password reset (the remedy for a stolen session) that lands while one of
// those requests is in flight is absorbed: the session goes on under the
// new password's stamp. The window is not "one instant": the holder keeps a
// request in flight nearly all the time. The test repeats the race a few
// times and fails when any session survives the reset.
func TestReviewR24bRestampAbsorbsAdminPasswordReset(t *testing.T) {
	e := newConsoleEnv(t, false)
	id := e.user("bob", false)
	pw := consolePassword
	client := e.srv.Client()
	for trial := 0; trial < 20; trial++ {
		e.admin("DELETE", "/api/v1/users/"+id+"/mfa", nil, 204)
		c, a := e.signIn("bob", pw)
		if c == nil || a.status != 200 {
			t.Fatalf("trial %d: sign-in: %d %s", trial, a.status, a.body)
		}
		cookie := c.Value
		csrf := e.do("GET", "/console/api/session", cookie, nil).json(t)["csrf_token"].(string)
		var stop atomic.Bool
		var wg sync.WaitGroup
		var created atomic.Int64
		var ended atomic.Bool
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ended.Store(true)
			for !stop.Load() {
				req, _ := http.NewRequest("POST", e.srv.URL+"/console/api/v1/users/"+id+"/mfa", bytes.NewReader(nil))
				req.AddCookie(&http.Cookie{Name: console.CookieName, Value: cookie})
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				req.Header.Set("X-CSRF-Token", csrf)
				res, err := client.Do(req)
				if err != nil {
					return
				}
				res.Body.Close()
				if res.StatusCode == 201 {
					created.Add(1)
				} else {
					return // the session ended
				}
			}
		}()
		// Setup changed after the R24b-2 fix: only a FIRST enrolment (MFA
		// state none) re-stamps, so the holder's loop now ends by itself at
		// its third request (the second re-enrols from "enrolling", which
		// ends the session). Each trial therefore starts from MFA none (the
		// administrator disables it before the sign-in, below) and the
		// reset races the loop's first requests instead of its 4th+.
		for created.Load() < 1 && !ended.Load() { // the holder's loop is running
			time.Sleep(50 * time.Microsecond)
		}
		if trial%2 == 0 {
			pw = "ADmin-reset-passw0rd!"
		} else {
			pw = consolePassword
		}
		// The administrator resets bob's password to end the stolen session.
		e.admin("PUT", "/api/v1/users/"+id+"/password", map[string]string{"password": pw}, 204)
		stop.Store(true)
		wg.Wait()
		if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status == 200 {
			t.Fatalf("trial %d: the console session survived an administrator's password reset (re-stamped by its own enrolment): %d %s",
				trial, a.status, a.body)
		}
		if s := e.do("GET", "/console/api/session", cookie, nil).json(t); s["signed_in"] != false {
			t.Fatalf("trial %d: session still signed in after the reset: %v", trial, s)
		}
	}
}
