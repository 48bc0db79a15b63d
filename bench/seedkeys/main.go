// Command seedkeys fills a keyward data folder with API keys for the scale
// benchmark: it creates one host and n keys for it, each with its audit
// record, through the same store methods the server uses.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/server"
)

func main() {
	data := flag.String("data", "", "initialised data folder")
	account := flag.String("account", "bench", "account")
	n := flag.Int("n", 1000, "keys to add")
	flag.Parse()
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.Config{DataDir: *data})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	mk, err := os.ReadFile(filepath.Join(*data, server.MasterKeyFile))
	if err != nil {
		log.Fatal(err)
	}
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now().UTC()
	p := model.Principal{ID: crypto.NewID(), Account: *account, Login: "seed-" + crypto.NewID(), Kind: model.KindHost,
		Status: model.StatusActive, Source: "bench", CreatedAt: now, UpdatedAt: now}
	ev := audit.Event{Time: now, Account: *account, Event: "user.create", Outcome: audit.Success,
		Actor: *account + ":user:admin", Subject: p.RoleID(), RequestID: "seedkeys"}
	if err := st.CreatePrincipal(ctx, p, nil, ev); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < *n; i++ {
		id := crypto.NewKeyID()
		_, secret := crypto.NewAPIKey(id)
		k := model.APIKey{ID: id, Account: *account, PrincipalID: p.ID, Description: "seed",
			Hash: sealer.KeyHash(secret), CreatedAt: time.Now().UTC()}
		kev := ev
		kev.Time, kev.Event, kev.KeyID = k.CreatedAt, "apikey.create", id
		if err := st.CreateAPIKey(ctx, k, kev); err != nil {
			log.Fatal(err)
		}
	}
	d := time.Since(start)
	fmt.Printf("seeded %d keys in %v (%.0f keys/s)\n", *n, d.Round(time.Millisecond), float64(*n)/d.Seconds())
}
