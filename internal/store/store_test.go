package store_test

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
	"github.com/paygw/paygw/schema"
)

func TestSchemaVersionsMatch(t *testing.T) {
	versions := func(dir string) []string {
		ents, err := fs.ReadDir(schema.FS, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
		}
		sort.Strings(out)
		return out
	}
	pg, lite := versions("postgres"), versions("sqlite")
	if strings.Join(pg, ",") != strings.Join(lite, ",") {
		t.Fatalf("migrations differ:\npostgres %v\nsqlite   %v", pg, lite)
	}
	if len(pg) == 0 {
		t.Fatal("no migrations")
	}
}

func TestParseDSN(t *testing.T) {
	good := []string{"sqlite:paygw.db", "sqlite:/tmp/x.db?synchronous=normal", "postgres://u@h/db", "postgresql://h/db?sslmode=disable"}
	for _, s := range good {
		if _, err := store.ParseDSN(s); err != nil {
			t.Errorf("ParseDSN(%q): %v", s, err)
		}
	}
	bad := []string{"", "mysql://x", "sqlite:", "sqlite:x.db?synchronous=maybe", "sqlite:x.db?cache=shared", "paygw.db"}
	for _, s := range bad {
		var de *store.DSNError
		if _, err := store.ParseDSN(s); !errors.As(err, &de) {
			t.Errorf("ParseDSN(%q) = %v, want DSNError", s, err)
		}
	}
}

func TestMigrateUpTwiceDownAndStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		applied, err := s.MigrateUp(ctx)
		if err != nil || len(applied) != 0 {
			t.Fatalf("second up: %v %v", applied, err)
		}
		ok, err := s.SchemaCurrent(ctx)
		if err != nil || !ok {
			t.Fatalf("SchemaCurrent = %v %v", ok, err)
		}
		st, err := s.MigrationStatus(ctx)
		if err != nil || len(st) == 0 || !st[0].Applied {
			t.Fatalf("status %v %v", st, err)
		}
		n := len(st)
		down, err := s.MigrateDown(ctx, n)
		if err != nil || len(down) != n {
			t.Fatalf("down %d: %v %v", n, down, err)
		}
		if ok, _ := s.SchemaCurrent(ctx); ok {
			t.Fatal("schema current after down")
		}
		if _, err := s.MigrateUp(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConcurrentMigrateUp(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := store.Open(ctx, dsn, store.Options{Keys: storetest.TestKeys()})
					if err != nil {
						errs[i] = err
						return
					}
					defer s.Close()
					_, errs[i] = s.MigrateUp(ctx)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("pod %d: %v", i, err)
				}
			}
		})
	}
}

func TestMerchantSecretsAndRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, secret := storetest.Merchant(t, s, "Acme", 60)
		got, err := s.GetMerchant(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Acme" || got.FeePlan.RateBps != 60 || got.BankAccount.AccountNo != m.BankAccount.AccountNo {
			t.Fatalf("got %+v", got)
		}
		var raw string
		if err := s.DB().GetContext(ctx, &raw, s.Rebind(`SELECT secret_enc FROM merchants WHERE id = ?`), m.ID); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, secret) || !strings.HasPrefix(raw, "v1:") {
			t.Fatalf("secret stored in clear: %q", raw)
		}
		now := time.Now()
		if err := s.RotateSecret(ctx, m.ID, "sk_new", 24*time.Hour, now); err != nil {
			t.Fatal(err)
		}
		secs, err := s.MerchantSecrets(ctx, m.ID, now.Add(time.Hour))
		if err != nil || len(secs) != 2 || secs[0] != "sk_new" || secs[1] != secret {
			t.Fatalf("during grace: %v %v", secs, err)
		}
		secs, _ = s.MerchantSecrets(ctx, m.ID, now.Add(25*time.Hour))
		if len(secs) != 1 || secs[0] != "sk_new" {
			t.Fatalf("after grace: %v", secs)
		}
		if _, err := s.GetMerchant(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing merchant: %v", err)
		}
		dup := paygw.Merchant{ID: m.ID, Name: "x", CreatedAt: now}
		if err := s.CreateMerchant(ctx, dup, "s"); !store.IsUnique(err) {
			t.Fatalf("duplicate merchant id: %v", err)
		}
		list, err := s.ListMerchants(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}
