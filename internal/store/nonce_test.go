package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestPurgeNoncesInBatches: expired nonces go in bounded statements, a call stops at its bound,
// and unexpired nonces (still guarding against replays) stay.
func TestPurgeNoncesInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		defer store.SetNonceBatches(7, 3)()
		ctx := context.Background()
		now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		for i := 0; i < 30; i++ {
			if ok, err := s.UseNonce(ctx, "mch_1", fmt.Sprintf("old%d", i), now.Add(-time.Minute), now.Add(-6*time.Minute)); err != nil || !ok {
				t.Fatalf("use nonce: %v %v", ok, err)
			}
		}
		for i := 0; i < 5; i++ {
			if ok, err := s.UseNonce(ctx, "mch_1", fmt.Sprintf("live%d", i), now.Add(time.Minute), now); err != nil || !ok {
				t.Fatalf("use nonce: %v %v", ok, err)
			}
		}
		var got []int64
		for {
			n, err := s.PurgeNonces(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if n == 0 {
				break
			}
		}
		if fmt.Sprint(got) != "[21 9 0]" {
			t.Fatalf("purged per call %v; want [21 9 0] (3 batches of 7 per call)", got)
		}
		for i := 0; i < 5; i++ { // still guarding: a replay of a live nonce is refused
			if ok, err := s.UseNonce(ctx, "mch_1", fmt.Sprintf("live%d", i), now.Add(time.Minute), now); err != nil || ok {
				t.Fatalf("live nonce %d reused after the purge: %v %v", i, ok, err)
			}
		}
	})
}
