package argus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/internal/server"
)

// postgresConfig is a server config on a fresh PostgreSQL schema (dropped
// at the end), skipping without KEYWARD_TEST_POSTGRES (failing in CI).
func postgresConfig(t *testing.T) server.Config {
	t.Helper()
	dsn := os.Getenv("KEYWARD_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KEYWARD_TEST_POSTGRES is not set, and CI is")
		}
		t.Skip("KEYWARD_TEST_POSTGRES is not set; skipping the Argus surface on PostgreSQL")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "kwargus_" + hex.EncodeToString(b)
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return server.Config{StoreURL: u.String()}
}

// TestSignedRequestsPostgres runs the signed-request refusals over the
// PostgreSQL store, whose replay state is tables shared by instances.
func TestSignedRequestsPostgres(t *testing.T) { signedRequests(t, postgresConfig(t)) }

// TestIdempotencyPostgres runs idempotent creation over PostgreSQL.
func TestIdempotencyPostgres(t *testing.T) { idempotency(t, postgresConfig(t)) }
