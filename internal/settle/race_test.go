package settle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestLostRaceRereads computes a merchant's batch, lets "another run" settle the merchant
// first, then writes the computed batch: the unique keys refuse it (ErrBatchRace, nothing of
// it written), and settling again re-reads and reports the other run's batch, each item
// settled once.
func TestLostRaceRereads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const day = "2026-11-22"
		m := store.SettleMerchant{ID: "mch_1", Name: "Shop mch_1", FeePlan: paygw.FeePlan{RateBps: 50}}
		if err := s.CreateMerchant(ctx, paygw.Merchant{ID: m.ID, Name: m.Name, FeePlan: paygw.FeePlan{RateBps: 50}, CreatedAt: t0}, "sk"); err != nil {
			t.Fatal(err)
		}
		var seed []storetest.Payment
		for p := range 4 {
			seed = append(seed, storetest.Payment{ID: fmt.Sprintf("pay_%d", p), MerchantID: m.ID, OutTradeNo: fmt.Sprintf("o%d", p),
				Amount: int64(1000 * (p + 1)), PaidAt: t0.Add(time.Duration(p) * time.Minute), Reconciled: true})
		}
		// t0 is 10:00 on day in Asia/Shanghai, where the business dates are.
		storetest.NewFixture(t, s, time.FixedZone("Asia/Shanghai", 8*3600)).Payments(seed...)
		opts := Options{Date: day, RequireReconciled: true, Log: zerolog.Nop(), Now: func() time.Time { return t0.Add(24 * time.Hour) }}
		mine, err := prepare(ctx, s, m, opts)
		if err != nil || len(mine.writes) != 1 || len(mine.writes[0].items) != 4 {
			t.Fatalf("prepare: %+v %v", mine, err)
		}
		other, err := settleMerchant(ctx, s, m, opts)
		if err != nil || len(other.views) != 1 || !other.views[0].New {
			t.Fatalf("the other run: %+v %v", other, err)
		}
		err = s.Transact(ctx, func(tx *store.Tx) error { return mine.write(ctx, tx) })
		if !errors.Is(err, store.ErrBatchRace) {
			t.Fatalf("writing the lost race: %v, want ErrBatchRace", err)
		}
		again, err := settleWithRetry(ctx, s, m, opts)
		if err != nil || len(again.views) != 1 || again.views[0].ID != other.views[0].ID || again.views[0].New {
			t.Fatalf("re-read: %+v %v; want the other run's %s", again, err, other.views[0].ID)
		}
		bs, err := s.SettleBatchesOn(ctx, day)
		if err != nil || len(bs) != 1 {
			t.Fatalf("batches %+v %v", bs, err)
		}
		n := 0
		if err := s.EachSettleItem(ctx, []string{bs[0].ID}, func(store.SettleItemRow) error { n++; return nil }); err != nil || n != 4 {
			t.Fatalf("%d items (%v), want 4", n, err)
		}
	})
}
