// Command seedaudit appends audit records to a keyward data folder for the
// start-up benchmark: n records shaped like the ones POST
// /api/v1/api-keys/verify writes, through the store's own AppendAudit.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/server"
)

func main() {
	data := flag.String("data", "", "initialised data folder")
	account := flag.String("account", "bench", "account")
	n := flag.Int("n", 1000000, "records to append")
	batch := flag.Int("batch", 500, "records per append")
	flag.Parse()
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.Config{DataDir: *data})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	evs := make([]audit.Event, 0, *batch)
	for i := 0; i < *n; i += len(evs) {
		evs = evs[:0]
		for j := 0; j < *batch && i+j < *n; j++ {
			evs = append(evs, audit.Event{Time: time.Now(), Account: *account, Event: "apikey.verify", Outcome: audit.Success,
				Actor: *account + ":host:app", Subject: *account + ":host:app", KeyID: "vfjva23slugmfr3m", ClientIP: "127.0.0.1",
				PeerIP: "127.0.0.1", RequestID: "c4b545fbb1437015-" + strconv.FormatInt(int64(i+j), 36), Authenticator: "authn"})
		}
		for {
			err := st.AppendAudit(ctx, evs...)
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // the journal is full: let the table catch up
		}
	}
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}
	d := time.Since(start)
	fmt.Printf("appended %d records in %v (%.0f/s)\n", *n, d.Round(time.Millisecond), float64(*n)/d.Seconds())
}
