package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// Settlement is what a settlement run closed: one batch per merchant and currency.
type Settlement struct {
	Date        time.Time // the business date closed; only the calendar date is used
	GeneratedAt time.Time // printed in UTC; zero leaves it out
	Batches     []SettlementBatch
	// OnHold are batches (of any date) kept out of payout files because their merchant cannot
	// be paid; HeldBack is what settlement left out and why. Either non-empty adds a "Held
	// back" sheet and its counts to the Summary.
	OnHold   []SettlementHold
	HeldBack []SettlementHeldBack
}

// SettlementHold is a settled batch on hold: Net is what waits to be paid out.
type SettlementHold struct {
	MerchantID   string
	MerchantName string
	Currency     money.Currency
	BatchID      string
	Date         time.Time // the batch's business date
	Net          int64
	Reason       string // for people: "no bank account"
}

// SettlementHeldBack is what settlement left out for one merchant, currency, kind and reason.
type SettlementHeldBack struct {
	MerchantID   string
	MerchantName string
	Currency     money.Currency
	Kind         Kind
	Reason       string // for people: "not reconciled"
	Count        int64
	Amount       int64
}

// SettlementBatch is one merchant's batch in one currency. Amounts are minor units of
// Currency and must satisfy Net = Gross - Refunded - Fee + CarriedIn.
type SettlementBatch struct {
	MerchantID   string
	MerchantName string
	Currency     money.Currency
	BatchID      string
	Payments     int64 // number of payments settled
	Refunds      int64 // number of refunds settled
	Gross        int64 // sum of payments
	Refunded     int64 // sum of refunds
	Fee          int64 // fees on the payments minus fees returned by the refunds
	CarriedIn    int64 // negative net carried from the merchant's previous batch (<= 0)
	Net          int64
	Status       string
}

// KindAdjustment is an accepted reconciliation difference paid in a batch: its Amount is signed
// (positive when the merchant is owed more) and it carries no fee.
const KindAdjustment Kind = "adjustment"

// SettlementItem is one payment or refund settled in a batch. Amount and Fee are positive
// minor units of Currency; a refund's Fee is the fee it returns to the merchant.
type SettlementItem struct {
	BatchID      string
	MerchantID   string
	Kind         Kind
	ID           string // paygw payment or refund id
	OutNo        string // the merchant's order or refund number
	BusinessDate time.Time
	Amount       int64
	Fee          int64
	Currency     money.Currency
}

var batchColumns = []column{
	{"Merchant ID", 14}, {"Merchant", 28}, {"Currency", 9}, {"Batch", 28},
	{"Payments", 11}, {"Refunds", 11}, {"Gross", 16}, {"Refunded", 16}, {"Fee", 14},
	{"Carried in", 14}, {"Net", 16}, {"Status", 12},
}

var heldColumns = []column{
	{"What", 12}, {"Merchant ID", 14}, {"Merchant", 28}, {"Currency", 9}, {"Batch", 28}, {"Batch date", 13},
	{"Type", 9}, {"Reason", 30}, {"Count", 11}, {"Amount", 16},
}

var detailColumns = []column{
	{"Batch", 28}, {"Merchant ID", 14}, {"Merchant", 28}, {"Type", 9}, {"Transaction ID", 28},
	{"Merchant order no.", 28}, {"Business date", 13}, {"Currency", 9}, {"Amount", 16}, {"Fee", 12},
}

// batchSum accumulates the detail items of one batch for the cross-check against the batch.
type batchSum struct {
	payments, refunds, gross, refunded, fee int64
}

// WriteSettlement writes the settlement report of s to path: a Summary sheet (totals per
// currency, net by merchant with a column chart per currency), a Batches sheet (one row per
// batch, with per-currency totals below), and a Detail sheet of every settled item from items,
// continuing on further sheets beyond the row limit.
//
// The report refuses to write (ErrTotalsMismatch) when a batch's net does not follow from its
// other amounts, or when the items of a batch do not add up to its counts, gross, refunded and
// fee. A nil items writes no Detail sheet and skips the item cross-check.
func WriteSettlement(path string, s Settlement, items Source[SettlementItem]) error {
	if err := writeSettlement(path, s, items); err != nil {
		return fmt.Errorf("settlement report %s: %w", path, err)
	}
	return nil
}

func writeSettlement(path string, s Settlement, items Source[SettlementItem]) error {
	batches := slices.Clone(s.Batches)
	slices.SortFunc(batches, func(a, b SettlementBatch) int {
		return cmp.Or(cmp.Compare(a.Currency, b.Currency), cmp.Compare(a.MerchantID, b.MerchantID), cmp.Compare(a.BatchID, b.BatchID))
	})
	index := make(map[string]int, len(batches))
	for i, b := range batches {
		if _, ok := index[b.BatchID]; ok {
			return fmt.Errorf("batch %q listed twice", b.BatchID)
		}
		index[b.BatchID] = i
		if !b.Currency.Valid() {
			return fmt.Errorf("batch %q: unknown currency %q", b.BatchID, b.Currency)
		}
		want := b.Gross - b.Refunded - b.Fee + b.CarriedIn
		if want != b.Net {
			return fmt.Errorf("%w: batch %q: net %s, but gross - refunded - fee + carried in = %s",
				ErrTotalsMismatch, b.BatchID, money.Format(b.Net, b.Currency), money.Format(want, b.Currency))
		}
	}

	f, st, err := newWorkbook("Summary", "Settlement report "+s.Date.Format(time.DateOnly))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
		}
	}()
	totals, err := writeBatches(f, st, batches)
	if err != nil {
		return err
	}
	var detailRows int64
	if items != nil {
		sums := make([]batchSum, len(batches))
		detailRows, err = writeDetail(f, st, items, batches, index, sums)
		if err != nil {
			return err
		}
		if err := checkBatchSums(batches, sums); err != nil {
			return err
		}
	}
	if len(s.OnHold)+len(s.HeldBack) > 0 {
		if err := writeHeld(f, st, s); err != nil {
			return err
		}
	}
	if err := settlementSummary(f, st, s, batches, totals, detailRows, items != nil); err != nil {
		return err
	}
	ok = true
	return save(f, path)
}

// writeBatches writes the Batches sheet and returns the per-currency totals, sorted by
// currency, each as a batch whose Payments..Net are sums and whose BatchID counts batches.
func writeBatches(f *excelize.File, st *styles, batches []SettlementBatch) ([]currencyTotal, error) {
	var totals []currencyTotal
	for _, b := range batches {
		if len(totals) == 0 || totals[len(totals)-1].Currency != b.Currency {
			totals = append(totals, currencyTotal{SettlementBatch: SettlementBatch{Currency: b.Currency}})
		}
		t := &totals[len(totals)-1]
		t.batches++
		for _, p := range []struct {
			sum *int64
			v   int64
		}{
			{&t.Payments, b.Payments}, {&t.Refunds, b.Refunds}, {&t.Gross, b.Gross}, {&t.Refunded, b.Refunded},
			{&t.Fee, b.Fee}, {&t.CarriedIn, b.CarriedIn}, {&t.Net, b.Net},
		} {
			if err := sum64(p.sum, p.v); err != nil {
				return nil, fmt.Errorf("%s totals: %w", b.Currency, err)
			}
		}
	}
	if len(batches)+2+len(totals) > rowLimit {
		return nil, fmt.Errorf("%d batches do not fit on one sheet", len(batches))
	}
	t, err := newTable(f, st, "Batches", batchColumns)
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		row := []any{b.MerchantID, b.MerchantName, string(b.Currency), b.BatchID,
			excelize.Cell{StyleID: st.count, Value: b.Payments}, excelize.Cell{StyleID: st.count, Value: b.Refunds}}
		for _, v := range []int64{b.Gross, b.Refunded, b.Fee, b.CarriedIn, b.Net} {
			c, err := st.moneyCell(v, b.Currency, false)
			if err != nil {
				return nil, fmt.Errorf("batch %q: %w", b.BatchID, err)
			}
			row = append(row, c)
		}
		row = append(row, b.Status)
		if err := t.add(blankEmpty(row)); err != nil {
			return nil, err
		}
	}
	last := t.data
	for _, tot := range totals {
		cur := tot.Currency
		row := []any{excelize.Cell{StyleID: st.textBold, Value: "Total " + string(cur)}, nil,
			excelize.Cell{StyleID: st.textBold, Value: string(cur)}, nil}
		for i, v := range []int64{tot.Payments, tot.Refunds} {
			row = append(row, excelize.Cell{StyleID: st.countBold, Value: v, Formula: sumIfs(5+i, 3, last, cur)})
		}
		for i, v := range []int64{tot.Gross, tot.Refunded, tot.Fee, tot.CarriedIn, tot.Net} {
			c, err := st.moneyCell(v, cur, true)
			if err != nil {
				return nil, fmt.Errorf("%s totals: %w", cur, err)
			}
			c.Formula = sumIfs(7+i, 3, last, cur)
			row = append(row, c)
		}
		if err := t.addFooter(row); err != nil {
			return nil, err
		}
	}
	if err := t.close(); err != nil {
		return nil, err
	}
	return totals, nil
}

// currencyTotal is the sum of the batches in one currency.
type currencyTotal struct {
	SettlementBatch
	batches int64
}

func writeDetail(f *excelize.File, st *styles, items Source[SettlementItem], batches []SettlementBatch, index map[string]int, sums []batchSum) (int64, error) {
	t, err := newTable(f, st, "Detail", detailColumns)
	if err != nil {
		return 0, err
	}
	row := make([]any, len(detailColumns))
	var n int64
	err = items(func(it SettlementItem) error {
		n++
		if err := detailRow(st, &it, row, batches, index, sums); err != nil {
			return fmt.Errorf("item %d (%s %q): %w", n, it.Kind, it.ID, err)
		}
		return t.add(row)
	})
	if err != nil {
		return 0, err
	}
	return n, t.close()
}

func detailRow(st *styles, it *SettlementItem, row []any, batches []SettlementBatch, index map[string]int, sums []batchSum) error {
	i, ok := index[it.BatchID]
	if !ok {
		return fmt.Errorf("batch %q is not in the settlement", it.BatchID)
	}
	b := &batches[i]
	if it.Currency != b.Currency || it.MerchantID != b.MerchantID {
		return fmt.Errorf("merchant %s %s does not match batch %q (merchant %s %s)", it.MerchantID, it.Currency, b.BatchID, b.MerchantID, b.Currency)
	}
	kind := "Adjustment"
	var err error
	if it.Kind != KindAdjustment {
		if kind, err = it.Kind.label(); err != nil {
			return err
		}
	}
	s := &sums[i]
	switch it.Kind {
	case KindAdjustment: // signed; no fee: money in counts in gross, money out in refunded
		if it.Amount >= 0 {
			err = sum64(&s.gross, it.Amount)
		} else {
			err = sum64(&s.refunded, -it.Amount)
		}
	case KindPayment:
		s.payments++
		err = cmp.Or(sum64(&s.gross, it.Amount), sum64(&s.fee, it.Fee))
	case KindRefund:
		s.refunds++
		err = cmp.Or(sum64(&s.refunded, it.Amount), sum64(&s.fee, -it.Fee))
	}
	if err != nil {
		return err
	}
	amount, err := st.moneyCell(it.Amount, it.Currency, false)
	if err != nil {
		return err
	}
	fee, err := st.moneyCell(it.Fee, it.Currency, false)
	if err != nil {
		return err
	}
	row[0], row[1], row[2], row[3], row[4], row[5] = it.BatchID, it.MerchantID, b.MerchantName, kind, it.ID, it.OutNo
	row[6], row[7], row[8], row[9] = st.dateCell(it.BusinessDate), string(it.Currency), amount, fee
	blankEmpty(row)
	return nil
}

func checkBatchSums(batches []SettlementBatch, sums []batchSum) error {
	var diffs []string
	for i, b := range batches {
		got := sums[i]
		want := batchSum{b.Payments, b.Refunds, b.Gross, b.Refunded, b.Fee}
		if got != want {
			f := func(v int64) string { return money.Format(v, b.Currency) }
			diffs = append(diffs, fmt.Sprintf("batch %q: batch has %d payments %s, %d refunds %s, fee %s; items have %d payments %s, %d refunds %s, fee %s",
				b.BatchID, want.payments, f(want.gross), want.refunds, f(want.refunded), f(want.fee),
				got.payments, f(got.gross), got.refunds, f(got.refunded), f(got.fee)))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrTotalsMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

func settlementSummary(f *excelize.File, st *styles, s Settlement, batches []SettlementBatch, totals []currencyTotal, detailRows int64, detail bool) error {
	g := &grid{f: f, sheet: "Summary"}
	g.widths(28, 18, 11, 11, 16, 16, 14, 14, 16)
	g.set(1, 1, excelize.Cell{StyleID: st.title, Value: "Settlement report"})
	merchants := map[string]bool{}
	for _, b := range batches {
		merchants[b.MerchantID] = true
	}
	facts := []struct {
		label string
		value any
	}{
		{"Business date", st.dateCell(s.Date)},
		{"Generated (UTC)", st.dateTimeCell(s.GeneratedAt)},
		{"Merchants", excelize.Cell{StyleID: st.count, Value: len(merchants)}},
		{"Batches", excelize.Cell{StyleID: st.count, Value: len(batches)}},
	}
	if detail {
		facts = append(facts, struct {
			label string
			value any
		}{"Settled items", excelize.Cell{StyleID: st.count, Value: detailRows}})
	}
	if len(s.OnHold)+len(s.HeldBack) > 0 {
		var held int64
		for _, h := range s.HeldBack {
			held += h.Count
		}
		facts = append(facts, struct {
			label string
			value any
		}{"Batches on hold", excelize.Cell{StyleID: st.count, Value: len(s.OnHold)}}, struct {
			label string
			value any
		}{"Items held back", excelize.Cell{StyleID: st.count, Value: held}})
	}
	for i, fa := range facts {
		g.row(3+i, excelize.Cell{StyleID: st.label, Value: fa.label}, fa.value)
	}
	r := 3 + len(facts) + 2
	g.set(1, r-1, excelize.Cell{StyleID: st.label, Value: "Totals by currency"})
	g.row(r, hdr(st, "Currency", "Batches", "Payments", "Refunds", "Gross", "Refunded", "Fee", "Carried in", "Net")...)
	for _, t := range totals {
		r++
		cells := []any{excelize.Cell{StyleID: st.textBold, Value: string(t.Currency)}, excelize.Cell{StyleID: st.count, Value: t.batches},
			excelize.Cell{StyleID: st.count, Value: t.Payments}, excelize.Cell{StyleID: st.count, Value: t.Refunds}}
		for _, v := range []int64{t.Gross, t.Refunded, t.Fee, t.CarriedIn, t.Net} {
			c, err := st.moneyCell(v, t.Currency, false)
			if err != nil {
				return fmt.Errorf("summary %s: %w", t.Currency, err)
			}
			cells = append(cells, c)
		}
		g.row(r, cells...)
	}
	if g.err != nil {
		return g.err
	}
	nets := byMerchant{}
	for _, b := range batches {
		if err := nets.add(b.Currency, b.MerchantID, b.MerchantName, b.Net); err != nil {
			return fmt.Errorf("net by merchant: %w", err)
		}
	}
	_, err := merchantCharts(f, st, g, r+3, "Net by merchant", "Net", nets)
	return err
}

// writeHeld writes the "Held back" sheet: the batches on hold, then what settlement left out,
// each with its reason, count and amount.
func writeHeld(f *excelize.File, st *styles, s Settlement) error {
	t, err := newTable(f, st, "Held back", heldColumns)
	if err != nil {
		return err
	}
	for _, h := range s.OnHold {
		amount, err := st.moneyCell(h.Net, h.Currency, false)
		if err != nil {
			return fmt.Errorf("batch %q on hold: %w", h.BatchID, err)
		}
		if err := t.add(blankEmpty([]any{"On hold", h.MerchantID, h.MerchantName, string(h.Currency), h.BatchID, st.dateCell(h.Date),
			"Batch", h.Reason, excelize.Cell{StyleID: st.count, Value: 1}, amount})); err != nil {
			return err
		}
	}
	for _, h := range s.HeldBack {
		kind, err := h.Kind.label()
		if err != nil {
			return err
		}
		amount, err := st.moneyCell(h.Amount, h.Currency, false)
		if err != nil {
			return fmt.Errorf("held back %s %s: %w", h.MerchantID, h.Currency, err)
		}
		if err := t.add(blankEmpty([]any{"Held back", h.MerchantID, h.MerchantName, string(h.Currency), "", nil,
			kind, h.Reason, excelize.Cell{StyleID: st.count, Value: h.Count}, amount})); err != nil {
			return err
		}
	}
	return t.close()
}

// blankEmpty turns empty strings into nil so they leave cells empty; it returns row.
func blankEmpty(row []any) []any {
	for i, v := range row {
		if s, ok := v.(string); ok && s == "" {
			row[i] = nil
		}
	}
	return row
}
