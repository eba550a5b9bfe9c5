package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// The SQLite database and its -wal and -shm files hold sealed secrets and every payment: only
// the owner may read them, whatever the process's umask.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paygw.db")
	s := storetest.OpenDSN(t, "sqlite:"+path) // creates the file and migrates it
	storetest.Merchant(t, s, "m", 0)          // a write: the -wal and -shm files exist now
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".migrate-lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// Open with MustExist never creates a SQLite file: a mistyped --db is named, not created.
func TestOpenMustExistCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	_, err := store.Open(context.Background(), "sqlite:"+path, store.Options{Keys: storetest.TestKeys(), MustExist: true})
	var nm *store.NotMigratedError
	if !errors.As(err, &nm) || !strings.Contains(err.Error(), "sqlite:"+path) || !strings.Contains(err.Error(), "paygw migrate up") {
		t.Fatalf("open of a missing file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the missing file was created: %v", err)
	}
}

// PendingMigrations reads the schema's state without writing: on an empty database it creates
// no version table, so a check never changes what it checks.
func TestPendingMigrationsReadsOnly(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, storetest.DSN(t, d), store.Options{Keys: storetest.TestKeys()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			all, err := s.PendingMigrations(ctx)
			if err != nil || len(all) == 0 {
				t.Fatalf("empty database: pending %v, %v", all, err)
			}
			again, err := s.PendingMigrations(ctx)
			if err != nil || len(again) != len(all) {
				t.Fatalf("second check: %v %v", again, err)
			}
			var n int
			q := `SELECT COUNT(*) FROM sqlite_master WHERE name = 'goose_db_version'`
			if d == store.Postgres {
				q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'goose_db_version'`
			}
			if err := s.DB().GetContext(ctx, &n, q); err != nil || n != 0 {
				t.Fatalf("the check created the version table (%d, %v)", n, err)
			}
			if ok, err := s.SchemaCurrent(ctx); ok || err != nil {
				t.Fatalf("SchemaCurrent on an empty database: %v %v", ok, err)
			}
			if _, err := s.MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}
			if p, err := s.PendingMigrations(ctx); err != nil || len(p) != 0 {
				t.Fatalf("after up: %v %v", p, err)
			}
			if _, err := s.MigrateDown(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if p, err := s.PendingMigrations(ctx); err != nil || len(p) != 1 || p[0] != all[len(all)-1] {
				t.Fatalf("after down 1: %v %v, want [%d]", p, err, all[len(all)-1])
			}
		})
	}
}

// A database created readable by others (by an older paygw) is made owner-only by PrivateFiles,
// which `paygw migrate up` runs.
func TestPrivateFilesTightensOldDatabases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	for _, p := range []string{path, path + "-wal"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	changed, err := store.PrivateFiles("sqlite:" + path)
	if err != nil || len(changed) != 2 {
		t.Fatalf("PrivateFiles: %v %v", changed, err)
	}
	for _, p := range []string{path, path + "-wal"} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %o", p, fi.Mode().Perm())
		}
	}
	if changed, err := store.PrivateFiles("sqlite:" + path); err != nil || len(changed) != 0 {
		t.Errorf("second run changed %v %v", changed, err)
	}
	if changed, err := store.PrivateFiles("postgres://u@127.0.0.1/x"); err != nil || changed != nil {
		t.Errorf("postgres: %v %v", changed, err)
	}
}
