package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
)

// Succeeded is a succeeded payment for Volume.
type Succeeded struct {
	ID, MerchantID, OutTradeNo, Currency, Channel, PayMethod string
	Amount                                                   int64
	PaidAt                                                   time.Time
	BusinessDate                                             string
	Reconciled                                               bool
}

// Volume inserts succeeded payments as settlement finds them — the payment, its pending
// settlement row and, when Reconciled, its reconciled mark — in multi-row statements, 10,000
// per transaction. It writes no journals and no notifications: it is for benchmarks that need a
// million payments, not for the ledger invariants (use Fixture, the online entry points, for
// those). It lives here, not in store, because production never writes a payment this way.
func Volume(tb testing.TB, s *store.Store, ps []Succeeded) {
	tb.Helper()
	const perStmt, perTx = 400, 10000
	ctx := context.Background()
	for start := 0; start < len(ps); start += perTx {
		part := ps[start:min(start+perTx, len(ps))]
		err := s.Transact(ctx, func(tx *store.Tx) error {
			for i := 0; i < len(part); i += perStmt {
				stmt := part[i:min(i+perStmt, len(part))]
				var pay, pend, rec []any
				for _, p := range stmt {
					at := store.Now(p.PaidAt)
					pay = append(pay, p.ID, p.MerchantID, p.OutTradeNo, p.Amount, p.Currency, p.PayMethod, "seed", "succeeded",
						p.Channel, "ct_"+p.ID, at, at, at, p.BusinessDate)
					pend = append(pend, p.MerchantID, "payment", p.BusinessDate, p.ID, p.OutTradeNo, p.Currency, p.Amount, at)
					if p.Reconciled {
						rec = append(rec, p.ID, "", at)
					}
				}
				if err := insertRows(ctx, tx, "payments", []string{"id", "merchant_id", "out_trade_no", "amount", "currency",
					"pay_method", "request_hash", "status", "channel", "channel_trade_no", "created_at", "updated_at", "paid_at",
					"business_date"}, pay); err != nil {
					return err
				}
				if err := insertRows(ctx, tx, "settle_pending", []string{"merchant_id", "kind", "business_date", "object_id",
					"out_no", "currency", "amount", "done_at"}, pend); err != nil {
					return err
				}
				if err := insertRows(ctx, tx, "recon_matches", []string{"object_id", "run_id", "reconciled_at"}, rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("seed %d payments: %v", len(part), err)
		}
	}
}

// insertRows inserts len(args)/len(cols) rows into table in one statement.
func insertRows(ctx context.Context, tx *store.Tx, table string, cols []string, args []any) error {
	n := len(args) / len(cols)
	if n == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	_, err := tx.SQL().ExecContext(ctx, tx.Rebind(q), args...)
	return err
}
