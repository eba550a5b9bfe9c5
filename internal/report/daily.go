package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// Daily is the input of the daily transaction report: one row per merchant, channel, pay
// method and currency for one business date.
type Daily struct {
	Date        time.Time // the business date; only the calendar date is used
	GeneratedAt time.Time // printed in UTC; zero leaves it out
	Rows        []DailyRow
}

// DailyRow holds exact counts and minor-unit amounts; the report derives every rate from them.
type DailyRow struct {
	MerchantID      string
	MerchantName    string
	Channel         string
	PayMethod       string
	Currency        money.Currency
	Created         int64 // payments created on the date
	Succeeded       int64 // payments that succeeded on the date
	SucceededAmount int64 // sum of the succeeded payments
	Refunds         int64 // refunds that succeeded on the date
	RefundedAmount  int64 // sum of those refunds
}

// dailyMetrics are the derived figures of a row or a total.
type dailyMetrics struct {
	successRate, refundRate any   // fraction or nil (empty cell) when undefined
	avgTicket               int64 // half-up to the minor unit
	hasAvg                  bool
}

func metrics(r *DailyRow) (dailyMetrics, error) {
	m := dailyMetrics{
		successRate: ratio(r.Succeeded, r.Created),
		refundRate:  ratio(r.RefundedAmount, r.SucceededAmount),
	}
	if r.Succeeded > 0 {
		avg, err := money.MulDivHalfUp(r.SucceededAmount, 1, r.Succeeded)
		if err != nil {
			return m, err
		}
		m.avgTicket, m.hasAvg = avg, true
	}
	return m, nil
}

var dailyColumns = []column{
	{"Merchant ID", 14}, {"Merchant", 28}, {"Channel", 14}, {"Pay method", 14}, {"Currency", 9},
	{"Payments created", 12}, {"Succeeded", 12}, {"Success rate", 10}, {"Succeeded amount", 18},
	{"Refunds", 10}, {"Refunded amount", 16}, {"Refund rate", 10}, {"Average ticket", 14},
}

// WriteDaily writes the daily transaction report of d to path: a Summary sheet (totals per
// currency, succeeded amount by merchant with a column chart per currency) and a Transactions
// sheet with one row per merchant, channel, pay method and currency and per-currency totals
// below it. Success rate is succeeded ÷ created, refund rate is refunded amount ÷ succeeded
// amount (refunds of earlier payments can push it past 100%), average ticket is succeeded
// amount ÷ succeeded, rounded half up to the minor unit; a rate with a zero denominator is
// left empty. Totals are summed from the exact counts and amounts, and their rates are
// computed from those sums, never averaged.
func WriteDaily(path string, d Daily) error {
	if err := writeDaily(path, d); err != nil {
		return fmt.Errorf("daily report %s: %w", path, err)
	}
	return nil
}

func writeDaily(path string, d Daily) error {
	rows := slices.Clone(d.Rows)
	slices.SortStableFunc(rows, func(a, b DailyRow) int {
		return cmp.Or(cmp.Compare(a.Currency, b.Currency), cmp.Compare(a.MerchantID, b.MerchantID),
			cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.PayMethod, b.PayMethod))
	})
	var totals []DailyRow
	for i, r := range rows {
		if !r.Currency.Valid() {
			return fmt.Errorf("row %d (merchant %s): unknown currency %q", i+1, r.MerchantID, r.Currency)
		}
		if r.Created < 0 || r.Succeeded < 0 || r.Refunds < 0 || r.SucceededAmount < 0 || r.RefundedAmount < 0 {
			return fmt.Errorf("row %d (merchant %s %s %s %s): negative count or amount", i+1, r.MerchantID, r.Channel, r.PayMethod, r.Currency)
		}
		if len(totals) == 0 || totals[len(totals)-1].Currency != r.Currency {
			totals = append(totals, DailyRow{Currency: r.Currency})
		}
		t := &totals[len(totals)-1]
		for _, p := range []struct {
			sum *int64
			v   int64
		}{
			{&t.Created, r.Created}, {&t.Succeeded, r.Succeeded}, {&t.SucceededAmount, r.SucceededAmount},
			{&t.Refunds, r.Refunds}, {&t.RefundedAmount, r.RefundedAmount},
		} {
			if err := sum64(p.sum, p.v); err != nil {
				return fmt.Errorf("%s totals: %w", r.Currency, err)
			}
		}
	}
	if len(rows)+2+len(totals) > rowLimit {
		return fmt.Errorf("%d rows do not fit on one sheet", len(rows))
	}

	f, st, err := newWorkbook("Summary", "Daily transaction report "+d.Date.Format(time.DateOnly))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
		}
	}()
	t, err := newTable(f, st, "Transactions", dailyColumns)
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		cells, err := dailyCells(st, r, false, 0)
		if err != nil {
			return fmt.Errorf("row %d (merchant %s): %w", i+1, r.MerchantID, err)
		}
		if err := t.add(blankEmpty(append([]any{r.MerchantID, r.MerchantName, r.Channel, r.PayMethod, string(r.Currency)}, cells...))); err != nil {
			return err
		}
	}
	last := t.data
	for i := range totals {
		tot := &totals[i]
		cells, err := dailyCells(st, tot, true, last)
		if err != nil {
			return fmt.Errorf("%s totals: %w", tot.Currency, err)
		}
		label := excelize.Cell{StyleID: st.textBold, Value: "Total " + string(tot.Currency)}
		cur := excelize.Cell{StyleID: st.textBold, Value: string(tot.Currency)}
		if err := t.addFooter(append([]any{label, nil, nil, nil, cur}, cells...)); err != nil {
			return err
		}
	}
	if err := t.close(); err != nil {
		return err
	}
	if err := dailySummary(f, st, d, rows, totals); err != nil {
		return err
	}
	ok = true
	return save(f, path)
}

// dailyCells are the cells from "Payments created" to "Average ticket". For a totals row
// (total true) the count and amount cells also carry a SUMIFS formula over data rows 2..last
// of the same currency, with the exactly computed value cached, so the sheet reads right
// without recalculation and stays live if someone edits it. Rates and the average ticket of a
// total are computed from the summed counts and amounts and written as values.
func dailyCells(st *styles, r *DailyRow, total bool, last int) ([]any, error) {
	m, err := metrics(r)
	if err != nil {
		return nil, err
	}
	count, pct := st.count, st.percent
	if total {
		count, pct = st.countBold, st.percentBold
	}
	succAmt, err := st.moneyCell(r.SucceededAmount, r.Currency, total)
	if err != nil {
		return nil, err
	}
	refAmt, err := st.moneyCell(r.RefundedAmount, r.Currency, total)
	if err != nil {
		return nil, err
	}
	var avg any
	if m.hasAvg {
		c, err := st.moneyCell(m.avgTicket, r.Currency, total)
		if err != nil {
			return nil, err
		}
		avg = c
	}
	cells := []any{
		excelize.Cell{StyleID: count, Value: r.Created},
		excelize.Cell{StyleID: count, Value: r.Succeeded},
		excelize.Cell{StyleID: pct, Value: m.successRate},
		succAmt,
		excelize.Cell{StyleID: count, Value: r.Refunds},
		refAmt,
		excelize.Cell{StyleID: pct, Value: m.refundRate},
		avg,
	}
	if total {
		// Sums are SUMIFS over the currency column (E); columns F G I J K.
		for i, col := range map[int]int{0: 6, 1: 7, 3: 9, 4: 10, 5: 11} {
			c := cells[i].(excelize.Cell)
			c.Formula = sumIfs(col, 5, last, r.Currency)
			cells[i] = c
		}
	}
	return cells, nil
}

func dailySummary(f *excelize.File, st *styles, d Daily, rows, totals []DailyRow) error {
	g := &grid{f: f, sheet: "Summary"}
	g.widths(28, 18, 12, 12, 18, 10, 16, 12, 14)
	g.set(1, 1, excelize.Cell{StyleID: st.title, Value: "Daily transaction report"})
	merchants := map[string]bool{}
	for _, r := range rows {
		merchants[r.MerchantID] = true
	}
	g.row(3, excelize.Cell{StyleID: st.label, Value: "Business date"}, st.dateCell(d.Date))
	g.row(4, excelize.Cell{StyleID: st.label, Value: "Generated (UTC)"}, st.dateTimeCell(d.GeneratedAt))
	g.row(5, excelize.Cell{StyleID: st.label, Value: "Merchants"}, excelize.Cell{StyleID: st.count, Value: len(merchants)})
	r := 8
	g.set(1, r-1, excelize.Cell{StyleID: st.label, Value: "Totals by currency"})
	g.row(r, hdr(st, "Currency", "Payments created", "Succeeded", "Success rate", "Succeeded amount",
		"Refunds", "Refunded amount", "Refund rate", "Average ticket")...)
	for i := range totals {
		r++
		cells, err := dailyCells(st, &totals[i], false, 0)
		if err != nil {
			return fmt.Errorf("summary %s: %w", totals[i].Currency, err)
		}
		g.row(r, append([]any{excelize.Cell{StyleID: st.textBold, Value: string(totals[i].Currency)}}, cells...)...)
	}
	if g.err != nil {
		return g.err
	}
	amounts := byMerchant{}
	for _, row := range rows {
		if err := amounts.add(row.Currency, row.MerchantID, row.MerchantName, row.SucceededAmount); err != nil {
			return fmt.Errorf("amount by merchant: %w", err)
		}
	}
	_, err := merchantCharts(f, st, g, r+3, "Succeeded amount by merchant", "Succeeded amount", amounts)
	return err
}
