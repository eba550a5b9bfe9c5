package report

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkWriteSettlement1M writes a settlement report with 1,000,000 detail rows (one
// sheet; the roll-over is exercised by TestRollOver). Run it with
//
//	go test ./internal/report -run '^$' -bench WriteSettlement1M -benchtime 1x -benchmem
//
// Memory stays flat in the row count: excelize's stream writer spills each sheet to a
// temporary file beyond 16 MB, and the items come from a Source, never a slice.
func BenchmarkWriteSettlement1M(b *testing.B) {
	const n = 1_000_000
	const perMerchant = n / 100
	var s Settlement
	for m := range 100 {
		id := "m_" + strconv.Itoa(m)
		s.Batches = append(s.Batches, SettlementBatch{MerchantID: id, MerchantName: "Merchant " + strconv.Itoa(m),
			Currency: "CNY", BatchID: "stl_" + id, Payments: perMerchant, Gross: perMerchant * 12345,
			Fee: perMerchant * 74, Net: perMerchant * (12345 - 74), Status: "pending"})
	}
	items := func(yield func(SettlementItem) error) error {
		for i := range n {
			m := i / perMerchant
			id := "m_" + strconv.Itoa(m)
			it := SettlementItem{BatchID: "stl_" + id, MerchantID: id, Kind: KindPayment,
				ID: "pay_" + strconv.Itoa(i), OutNo: "ORD-" + strconv.Itoa(i), BusinessDate: day,
				Amount: 12345, Fee: 74, Currency: "CNY"}
			if err := yield(it); err != nil {
				return err
			}
		}
		return nil
	}
	path := filepath.Join(b.TempDir(), "settlement.xlsx")
	b.ResetTimer()
	for range b.N {
		if err := WriteSettlement(path, s, items); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "MB/file")
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
