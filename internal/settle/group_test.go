package settle

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestCommitGroupRollsBackOnlyTheRacedMerchant computes three merchants, lets "another run"
// settle the middle one, then commits the three as one group: the middle one's savepoint is
// rolled back (its batch is the other run's, its items settled once) and the others commit.
func TestCommitGroupRollsBackOnlyTheRacedMerchant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const day = "2026-11-22"
		var ms []store.SettleMerchant
		var seed []store.SeedPayment
		for m := range 3 {
			id := fmt.Sprintf("mch_%d", m)
			if err := s.CreateMerchant(ctx, paygw.Merchant{ID: id, Name: "Shop " + id, FeePlan: paygw.FeePlan{RateBps: 50},
				CreatedAt: t0}, "sk_"+id); err != nil {
				t.Fatal(err)
			}
			ms = append(ms, store.SettleMerchant{ID: id, Name: "Shop " + id, FeeRateBps: 50})
			for p := range 4 {
				seed = append(seed, store.SeedPayment{ID: fmt.Sprintf("pay_%d_%d", m, p), MerchantID: id, OutTradeNo: fmt.Sprintf("o%d%d", m, p),
					Currency: "CNY", Channel: "sandbox", PayMethod: "wallet_qr", Amount: int64(1000 * (p + 1)),
					PaidAt: t0.Add(time.Duration(p) * time.Minute), BusinessDate: day, Reconciled: true})
			}
		}
		if err := s.SeedSucceeded(ctx, seed); err != nil {
			t.Fatal(err)
		}
		opts := Options{Date: day, RequireReconciled: true, Log: zerolog.Nop(), Now: func() time.Time { return t0.Add(24 * time.Hour) }}
		plans := make([]plan, len(ms))
		for i, m := range ms {
			p, err := prepare(ctx, s, m, opts)
			if err != nil || len(p.writes) != 1 || p.items != 4 {
				t.Fatalf("prepare %s: %+v %v", m.ID, p, err)
			}
			plans[i] = p
		}
		other, err := settleMerchant(ctx, s, ms[1], opts)
		if err != nil || len(other.views) != 1 {
			t.Fatalf("the other run: %+v %v", other, err)
		}
		raced, err := commitGroup(ctx, s, plans)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(raced, []bool{false, true, false}) {
			t.Fatalf("raced %v", raced)
		}
		bs, err := s.SettleBatchesOn(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{plans[0].writes[0].b.ID, other.views[0].ID, plans[2].writes[0].b.ID}
		var got []string
		for _, b := range bs {
			got = append(got, b.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("batches %v, want %v", got, want)
		}
		n := 0
		if err := s.EachSettleItem(ctx, got, func(store.SettleItemRow) error { n++; return nil }); err != nil || n != 12 {
			t.Fatalf("%d items (%v), want 12", n, err)
		}
		// A grouped run now finds everything settled and reports the same batches.
		out, err := Run(ctx, s, Options{Date: day, RequireReconciled: true, Log: zerolog.Nop(), Group: 10})
		if err != nil || out.Created != 0 || len(out.Batches) != 3 {
			t.Fatalf("re-run: %+v %v", out, err)
		}
	})
}
