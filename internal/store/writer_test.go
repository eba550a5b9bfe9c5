package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// Concurrent transactions share group commits on SQLite: each must still be atomic and isolated
// from the others' failures (its own SAVEPOINT), on both databases.
func TestConcurrentTransactionsAreIsolated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		errBoom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, 200)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if p := recover(); p != nil {
						errs[i] = fmt.Errorf("panic: %v", p)
					}
				}()
				errs[i] = s.Transact(ctx, func(tx *store.Tx) error {
					for k := 0; k < 2; k++ {
						if _, err := tx.SQL().ExecContext(ctx, tx.Rebind(`INSERT INTO auth_nonces (slot, merchant_id, nonce, expires_at) VALUES (0, ?, ?, ?)`),
							"m", fmt.Sprintf("n-%d-%d", i, k), store.Now(timeNow())); err != nil {
							return err
						}
					}
					switch i % 4 {
					case 1:
						return errBoom // rolled back: neither row stays
					case 2:
						// A constraint error inside the transaction: the duplicate insert fails, the
						// transaction returns it and nothing of it stays.
						_, err := tx.SQL().ExecContext(ctx, tx.Rebind(`INSERT INTO auth_nonces (slot, merchant_id, nonce, expires_at) VALUES (0, ?, ?, ?)`),
							"m", fmt.Sprintf("n-%d-0", i), store.Now(timeNow()))
						return err
					case 3:
						panic("fn panicked")
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			switch i % 4 {
			case 0:
				if err != nil {
					t.Fatalf("tx %d: %v", i, err)
				}
			case 3:
				if err == nil || err.Error() != "panic: fn panicked" {
					t.Fatalf("tx %d: the panic was not re-raised in the caller: %v", i, err)
				}
			case 1:
				if !errors.Is(err, errBoom) {
					t.Fatalf("tx %d: %v", i, err)
				}
			case 2:
				if err == nil {
					t.Fatalf("tx %d: want a unique violation, got %v", i, err)
				}
			}
		}
		var n int
		if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM auth_nonces`); err != nil {
			t.Fatal(err)
		}
		if n != 100 { // 50 successful transactions × 2 rows
			t.Fatalf("%d rows, want 200", n)
		}
		// A statement's rows stay valid while the same statement runs again on the connection
		// (the prepared-statement cache must not hand out a busy statement).
		rows, err := s.DB().QueryxContext(ctx, `SELECT nonce FROM auth_nonces ORDER BY nonce LIMIT 3`)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for rows.Next() {
			var a string
			_ = rows.Scan(&a)
			var again []string
			if err := s.DB().SelectContext(ctx, &again, `SELECT nonce FROM auth_nonces ORDER BY nonce LIMIT 3`); err != nil || len(again) != 3 {
				t.Fatalf("nested query: %v %v", again, err)
			}
			seen++
		}
		rows.Close()
		if seen != 3 {
			t.Fatalf("outer rows: %d", seen)
		}
	})
}

func timeNow() time.Time { return time.Now().Add(time.Hour) }
