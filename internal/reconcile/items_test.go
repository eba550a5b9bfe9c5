package reconcile_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestRunNoItemsStreamsTheDiscrepancies (issue 10): an all-discrepancy statement of 600k rows
// peaked at 735 MB because the run loaded every stored item back into memory. With NoItems the
// run keeps none; the open count comes from the store and the items stream a page at a time.
func TestRunNoItemsStreamsTheDiscrepancies(t *testing.T) {
	const n = 5003 // more than one page of store.EachReconItem
	rows := make([]statement.Row, n)
	for i := range rows {
		rows[i] = statement.Row{Line: i + 2, Kind: statement.KindPayment, TradeTime: at(10, 0).Add(time.Duration(i) * time.Second),
			ChannelTradeNo: fmt.Sprintf("GHOST%06d", i), OutTradeNo: fmt.Sprintf("pay_ghost%06d", i), Amount: 100, Fee: 0, Currency: "CNY", Status: statement.StatusSucceeded}
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		file := writeFile(t, "ghosts.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		o := opts(file, statement.FormatSandbox, "")
		o.NoItems = true
		res, err := reconcile.Run(ctx, s, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 0 || res.Open != n || res.Counts[reconcile.MissingInternal] != n {
			t.Fatalf("items %d, open %d, counts %v", len(res.Items), res.Open, res.Counts)
		}
		var got int
		var last int64
		err = s.EachReconItem(ctx, store.ReconItemFilter{RunID: res.Run.ID}, func(it paygw.ReconItem) error {
			if it.ID <= last {
				return fmt.Errorf("item %d after %d", it.ID, last)
			}
			last = it.ID
			got++
			return nil
		})
		if err != nil || got != n {
			t.Fatalf("EachReconItem: %d items, err %v; want %d", got, err, n)
		}
	})
}
