package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlite"
)

// Audit maintenance: pruning, by `keyward audit prune` and by
// --audit-retention.
//
// An SQLite data folder belongs to one process: the one whose audit journal
// appends to the chain. `keyward audit prune --data DIR` prunes the folder
// itself when no keyward holds it; when one does, it leaves a request in the
// folder (PruneRequestFile) that the running keyward answers within a second
// or so, pruning in its own process and writing the outcome beside it
// (pruneResultFile). Whoever can write the data folder can do far more than
// prune, so the folder's permissions are the authorization, as for every
// --data command.

// PruneRequestFile is the request a `keyward audit prune` leaves in a data
// folder a running keyward holds.
const PruneRequestFile = "audit-prune.request"

// PruneRequest is the request file's content.
type PruneRequest struct {
	ID     string    `json:"id"`
	Before time.Time `json:"before"`
}

// PruneResult is the outcome of a request, written to pruneResultFile(id).
type PruneResult struct {
	store.AuditPrune
	Error string `json:"error,omitempty"`
}

func pruneResultFile(id string) string { return "audit-prune." + id + ".result" }

// pruneEvent is the audit record of a prune by actor.
func pruneEvent(account, actor, requestID string) audit.Event {
	return audit.Event{Time: time.Now(), Account: account, Event: "audit.prune", Outcome: audit.Success, Actor: actor, RequestID: requestID}
}

// PruneAudit prunes the audit records before before in the configured store
// (server stopped, or PostgreSQL), recorded as audit.prune by the operator.
// With an SQLite folder a running keyward holds, it returns ErrInUse.
func PruneAudit(ctx context.Context, cfg Config, before time.Time) (store.AuditPrune, error) {
	if err := CheckPruneBefore(before, time.Now()); err != nil {
		return store.AuditPrune{}, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return store.AuditPrune{}, err
	}
	defer st.Close()
	return st.PruneAudit(ctx, before, pruneEvent(accountOr(cfg.Account), "operator", "prune"))
}

// CheckPruneBefore refuses a prune TIME after now: it would remove every
// record, those written a moment ago included.
func CheckPruneBefore(before, now time.Time) error {
	if before.IsZero() || before.After(now) {
		return fmt.Errorf("prune before %s: that is in the future (it would remove every record, those written a moment ago included)",
			before.UTC().Format(time.RFC3339))
	}
	return nil
}

// RequestPrune asks the keyward that holds the data folder to prune, and
// waits for its answer until ctx ends.
func RequestPrune(ctx context.Context, dataDir string, before time.Time) (store.AuditPrune, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	req := PruneRequest{ID: hex.EncodeToString(b), Before: before.UTC()}
	body, err := json.Marshal(req)
	if err != nil {
		return store.AuditPrune{}, err
	}
	path := filepath.Join(dataDir, PruneRequestFile)
	if _, err := os.Stat(path); err == nil {
		return store.AuditPrune{}, fmt.Errorf("another prune request is waiting in %s", path)
	}
	tmp := path + "." + req.ID + ".tmp"
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		return store.AuditPrune{}, fmt.Errorf("leave a prune request: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return store.AuditPrune{}, fmt.Errorf("leave a prune request: %w", err)
	}
	result := filepath.Join(dataDir, pruneResultFile(req.ID))
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Take the request back if it was not picked up yet.
			if os.Remove(path) == nil {
				return store.AuditPrune{}, errors.New("the running keyward did not take the prune request (it was withdrawn): is it a keyward that answers them?")
			}
			return store.AuditPrune{}, errors.New("the running keyward took the prune request but has not answered yet: see its audit (event audit.prune)")
		case <-t.C:
		}
		b, err := os.ReadFile(result)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return store.AuditPrune{}, fmt.Errorf("read the prune result: %w", err)
		}
		os.Remove(result)
		var res PruneResult
		if err := json.Unmarshal(b, &res); err != nil {
			return store.AuditPrune{}, fmt.Errorf("read the prune result: %w", err)
		}
		if res.Error != "" {
			return res.AuditPrune, errors.New(res.Error)
		}
		return res.AuditPrune, nil
	}
}

// maintenanceEvery is how often a running keyward looks for a prune
// request; retention prunes at most every retentionEvery.
var (
	maintenanceEvery = time.Second
	retentionEvery   = time.Hour
)

// maintainAudit runs until ctx ends: it answers prune requests left in an
// SQLite data folder and, with AuditRetention, prunes the records older than
// it (at start and then hourly).
func (s *Server) maintainAudit(ctx context.Context) {
	t := time.NewTicker(maintenanceEvery)
	defer t.Stop()
	var lastRetention time.Time
	for {
		if s.cfg.AuditRetention > 0 && time.Since(lastRetention) >= retentionEvery {
			lastRetention = time.Now()
			s.retain(ctx)
		}
		if s.cfg.StoreURL == "" {
			s.answerPruneRequest(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retain prunes the records older than the retention.
func (s *Server) retain(ctx context.Context) {
	before := time.Now().Add(-s.cfg.AuditRetention)
	p, err := s.st.PruneAudit(ctx, before, pruneEvent(s.cfg.Account, "keyward", "retention"))
	switch {
	case err != nil:
		s.log.Error("audit retention: prune failed", "before", before.UTC().Format(time.RFC3339), "err", err)
	case p.To != 0:
		s.log.Info("audit retention: pruned", "from", p.From, "to", p.To, "before", before.UTC().Format(time.RFC3339))
	}
}

// pruneRequestMax bounds the request file (a request is about 80 bytes).
const pruneRequestMax = 4 << 10

// readPruneRequest reads and parses the request file at path, if there is
// one, and removes it. Only a regular file, owned by this process's user and
// not larger than pruneRequestMax, is read, without following a symlink
// and without blocking (a FIFO in its place is removed unread); its id must
// be the CLI's (16 hex digits), its TIME not in the future. ok is false
// when there is nothing to answer.
func readPruneRequest(path string, now time.Time) (req PruneRequest, ok bool, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return req, false, nil
	}
	if !fi.Mode().IsRegular() {
		os.Remove(path)
		return req, false, fmt.Errorf("%s is not a regular file (%s): removed unread", path, fi.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow|nonBlock, 0)
	if err != nil {
		return req, false, nil // gone or replaced meanwhile: looked at again next time
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > pruneRequestMax || !ownedByUs(fi) {
		os.Remove(path)
		return req, false, fmt.Errorf("%s is not a small regular file of keyward's user: removed unread", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, pruneRequestMax+1))
	if os.Remove(path) != nil {
		return req, false, nil // not ours to take
	}
	if err != nil || len(b) > pruneRequestMax {
		return req, false, fmt.Errorf("read %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, false, fmt.Errorf("%s: %w", path, err)
	}
	if !pruneIDRe.MatchString(req.ID) {
		return req, false, fmt.Errorf("%s: the id is not 16 hex digits", path)
	}
	if err := CheckPruneBefore(req.Before, now); err != nil {
		return req, true, err
	}
	return req, true, nil
}

// pruneIDRe is the form of the ids RequestPrune makes.
var pruneIDRe = regexp.MustCompile(`^[0-9a-f]{16}$`)

// answerPruneRequest carries out a prune request left in the data folder,
// if there is one.
func (s *Server) answerPruneRequest(ctx context.Context) {
	path := filepath.Join(s.cfg.DataDir, PruneRequestFile)
	req, ok, err := readPruneRequest(path, time.Now())
	if !ok {
		if err != nil {
			s.log.Warn("audit prune: ignored a malformed request", "err", err)
		}
		return
	}
	var p store.AuditPrune
	if err == nil {
		p, err = s.st.PruneAudit(ctx, req.Before, pruneEvent(s.cfg.Account, "operator", "prune-"+req.ID))
	}
	res := PruneResult{AuditPrune: p}
	if err != nil {
		res.Error = err.Error()
		s.log.Error("audit prune: failed", "err", err)
	} else if p.To != 0 {
		s.log.Info("audit prune: pruned on request", "from", p.From, "to", p.To)
	}
	out, _ := json.Marshal(res)
	// A new file only: never through a symlink or over a file planted
	// under the result's name.
	f, err := os.OpenFile(filepath.Join(s.cfg.DataDir, pruneResultFile(req.ID)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err == nil {
		_, err = f.Write(out)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		s.log.Error("audit prune: could not write the result", "err", err)
	}
}

func accountOr(a string) string {
	if a == "" {
		return "default"
	}
	return a
}

// Backup copies the SQLite database of the data folder to the new file to,
// online (a keyward may be serving from the folder). The master key is not
// in the copy: keep it apart (it never changes).
func Backup(ctx context.Context, dataDir, to string) (int, error) {
	return sqlite.Backup(ctx, filepath.Join(dataDir, DBFile), to)
}
