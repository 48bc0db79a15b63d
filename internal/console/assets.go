package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
)

// files are the console's assets, embedded: nothing is fetched from
// anywhere else.
//
//go:embed assets
var files embed.FS

// Files are the embedded assets (for tests).
func Files() fs.FS { sub, _ := fs.Sub(files, "assets"); return sub }

// assets are the embedded files under hashed names, and the shell page with
// those names written in.
type assets struct {
	byName map[string][]byte // hashed name → content
	hashed map[string]string // plain name → hashed name
	shell  []byte
}

var assetRef = regexp.MustCompile(`\{\{asset "([^"]+)"\}\}`)

// loadAssets hashes every asset (the hash of its content after its own
// references to other assets are rewritten, so a change anywhere changes
// the names that lead to it). Modules import each other by hashed names.
func loadAssets() *assets {
	a := &assets{byName: map[string][]byte{}, hashed: map[string]string{}}
	sub := Files()
	raw := map[string][]byte{}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		raw[p] = b
		return nil
	})
	var resolve func(name string, depth int) string
	resolve = func(name string, depth int) string {
		if h, ok := a.hashed[name]; ok {
			return h
		}
		b, ok := raw[name]
		if !ok || depth > 16 {
			panic("console: no asset " + name)
		}
		b = assetRef.ReplaceAllFunc(b, func(m []byte) []byte {
			return []byte("/console/assets/" + resolve(string(assetRef.FindSubmatch(m)[1]), depth+1))
		})
		sum := sha256.Sum256(b)
		ext := path.Ext(name)
		h := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:16] + ext
		a.byName[h] = b
		a.hashed[name] = h
		return h
	}
	for name := range raw {
		if name != "index.html" {
			resolve(name, 0)
		}
	}
	a.shell = assetRef.ReplaceAllFunc(raw["index.html"], func(m []byte) []byte {
		return []byte("/console/assets/" + resolve(string(assetRef.FindSubmatch(m)[1]), 0))
	})
	return a
}

// Hashed is an asset's served name (for tests).
func (cs *Console) Hashed(name string) string { return cs.assets.hashed[name] }

func (cs *Console) asset(w http.ResponseWriter, r *http.Request) {
	b, ok := cs.assets.byName[r.PathValue("file")]
	if !ok {
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	}
	ct := mime.TypeByExtension(path.Ext(r.PathValue("file")))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(b))
}
