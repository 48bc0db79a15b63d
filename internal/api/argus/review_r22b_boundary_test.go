package argus_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// r22b F1: a nonce is kept until ts + 300 000 ms, and a request is still in
// the window when now - ts == 300 000 ms; the store frees a nonce whose
// expiry is <= now, so at exactly ts + 300 s the captured request is
// accepted a second time (a fresh API key for the replayer).
func TestR22bReplayAtWindowEdge(t *testing.T) { replayAtWindowEdge(t, server.Config{}) }

func TestR22bReplayAtWindowEdgePostgres(t *testing.T) { replayAtWindowEdge(t, postgresConfig(t)) }

func replayAtWindowEdge(t *testing.T, cfg server.Config) {
	e, u, sg, _ := signedEnv(t, cfg)
	path := "/authentication/v1/user/alice/apikey"
	body := `{"description":"captured"}`
	req := sg.request("POST", path, body)
	if err := sg.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	captured := req.Header.Get("Argus-Signature")
	e.send(req).want(200)
	replay := func() *resp {
		r := sg.request("POST", path, body)
		r.Header.Set("Argus-Signature", captured)
		return e.send(r)
	}
	replay().fails(401, "authentication.signature.replay")
	e.clock.Add(300*time.Second - time.Millisecond)
	replay().fails(401, "authentication.signature.replay")
	e.clock.Add(time.Millisecond) // now == ts + 300 000 ms: still inside the window
	r := replay()
	if r.status == 200 {
		var keys []keyObj
		e.call("GET", path, nil, bearer(e.session(u))).want(200).data(&keys)
		t.Fatalf("captured signed request replayed at ts+300000 ms: 200 %s (alice now has %d keys)", r.body, len(keys))
	}
}
