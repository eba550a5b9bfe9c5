package report

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paygw/paygw/internal/money"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var (
	shanghai = time.FixedZone("CST", 8*3600)
	day      = time.Date(2024, 5, 1, 0, 0, 0, 0, shanghai)
	started  = time.Date(2024, 5, 2, 1, 30, 15, 0, time.UTC)
)

// checkGolden compares the dump of the workbook at path with testdata/name.golden.
func checkGolden(t *testing.T, path, name string) {
	t.Helper()
	got, err := Dump(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", path, golden, diff)
	}
}

func reconItems() []ReconItem {
	return []ReconItem{
		{Class: ClassMatched, ChannelTradeNo: "4200001", PaymentID: "pay_01", MerchantID: "m_alpha", Kind: KindPayment, Currency: "CNY",
			InternalAmount: 123456, ChannelAmount: 123456, InternalFee: 741, ChannelFee: 741, InternalStatus: "succeeded", ChannelStatus: "SUCCESS"},
		{Class: ClassMatched, ChannelTradeNo: "4200002", ChannelRefundNo: "5000001", PaymentID: "pay_02", RefundID: "ref_01", MerchantID: "m_beta", Kind: KindRefund, Currency: "CNY",
			InternalAmount: 500, ChannelAmount: 500, InternalFee: 3, ChannelFee: 3, InternalStatus: "succeeded", ChannelStatus: "REFUND"},
		{Class: ClassMissingInternal, ChannelTradeNo: "4200003", MerchantID: "m_alpha", Kind: KindPayment, Currency: "CNY",
			ChannelAmount: 9900, ChannelFee: 59, ChannelStatus: "SUCCESS", Note: "no payment with this trade number"},
		{Class: ClassMissingChannel, PaymentID: "pay_04", MerchantID: "m_beta", Kind: KindPayment, Currency: "CNY",
			InternalAmount: 1, InternalFee: 0, InternalStatus: "succeeded"},
		{Class: ClassAmountMismatch, ChannelTradeNo: "4200005", PaymentID: "pay_05", MerchantID: "m_alpha", Kind: KindPayment, Currency: "CNY",
			InternalAmount: 10000, ChannelAmount: 9999, InternalFee: 60, ChannelFee: 60, InternalStatus: "succeeded", ChannelStatus: "SUCCESS"},
		{Class: ClassPending, ChannelTradeNo: "4200006", PaymentID: "pay_06", MerchantID: "m_alpha", Kind: KindPayment, Currency: "JPY",
			InternalAmount: 1500, InternalFee: 9, InternalStatus: "succeeded", Note: "succeeded 23:59:58, expected on the next statement"},
	}
}

func reconRun() ReconRun {
	return ReconRun{RunID: "rcn_01HY", Channel: "sandbox", Date: day, FileName: "sandbox_20240501.csv",
		FileSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", StartedAt: started}
}

func TestWriteReconciliationGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recon.xlsx")
	if err := WriteReconciliation(path, reconRun(), SliceSource(reconItems())); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, path, "reconciliation")
}

func TestWriteReconciliationTotals(t *testing.T) {
	good := []ReconTotal{
		{Class: ClassMatched, Currency: "CNY", Count: 2, InternalAmount: 123956, ChannelAmount: 123956},
		{Class: ClassMissingInternal, Currency: "CNY", Count: 1, ChannelAmount: 9900},
		{Class: ClassMissingChannel, Currency: "CNY", Count: 1, InternalAmount: 1},
		{Class: ClassAmountMismatch, Currency: "CNY", Count: 1, InternalAmount: 10000, ChannelAmount: 9999},
		{Class: ClassPending, Currency: "JPY", Count: 1, InternalAmount: 1500},
		{Class: ClassDuplicate, Currency: "CNY"}, // zero rows are ignored
	}
	tests := []struct {
		name   string
		totals []ReconTotal
		ok     bool
	}{
		{"agree", good, true},
		{"count off", append(good[:1:1], ReconTotal{Class: ClassMissingInternal, Currency: "CNY", Count: 2, ChannelAmount: 9900}), false},
		{"amount off by a cent", append([]ReconTotal{{Class: ClassMatched, Currency: "CNY", Count: 2, InternalAmount: 123955, ChannelAmount: 123956}}, good[1:]...), false},
		{"class missing from run", good[:4], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := reconRun()
			run.Totals = tt.totals
			path := filepath.Join(t.TempDir(), "recon.xlsx")
			err := WriteReconciliation(path, run, SliceSource(reconItems()))
			if tt.ok && err != nil {
				t.Fatal(err)
			}
			if !tt.ok {
				if !errors.Is(err, ErrTotalsMismatch) {
					t.Fatalf("err = %v, want ErrTotalsMismatch", err)
				}
				if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
					t.Errorf("a workbook was left at %s after the error", path)
				}
			}
		})
	}
}

func TestWriteReconciliationBadItem(t *testing.T) {
	for name, it := range map[string]ReconItem{
		"unknown class":    {Class: "weird", Kind: KindPayment, Currency: "CNY"},
		"unknown kind":     {Class: ClassMatched, Kind: "chargeback", Currency: "CNY"},
		"unknown currency": {Class: ClassMatched, Kind: KindPayment, Currency: "XXX"},
		"too large":        {Class: ClassMatched, Kind: KindPayment, Currency: "CNY", InternalAmount: 1_000_000_000_000_000},
	} {
		t.Run(name, func(t *testing.T) {
			items := append(reconItems(), it)
			err := WriteReconciliation(filepath.Join(t.TempDir(), "r.xlsx"), reconRun(), SliceSource(items))
			if err == nil || !strings.Contains(err.Error(), "item 7") {
				t.Fatalf("err = %v, want an error naming item 7", err)
			}
		})
	}
}

func TestSourceErrorStopsReport(t *testing.T) {
	boom := errors.New("scan failed")
	path := filepath.Join(t.TempDir(), "r.xlsx")
	err := WriteReconciliation(path, reconRun(), func(yield func(ReconItem) error) error {
		if err := yield(reconItems()[0]); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Errorf("a workbook was left at %s after the error", path)
	}
}

func settlement() (Settlement, []SettlementItem) {
	s := Settlement{Date: day, GeneratedAt: started, Batches: []SettlementBatch{
		{MerchantID: "m_beta", MerchantName: "Beta Coffee", Currency: "CNY", BatchID: "stl_m_beta_CNY_20240501",
			Payments: 1, Refunds: 1, Gross: 10000, Refunded: 12000, Fee: -12, CarriedIn: -500, Net: -2488, Status: "carried"},
		{MerchantID: "m_alpha", MerchantName: "Alpha Books", Currency: "CNY", BatchID: "stl_m_alpha_CNY_20240501",
			Payments: 2, Refunds: 1, Gross: 133456, Refunded: 2500, Fee: 786, Net: 130170, Status: "pending"},
		{MerchantID: "m_alpha", MerchantName: "Alpha Books", Currency: "JPY", BatchID: "stl_m_alpha_JPY_20240501",
			Payments: 1, Gross: 1500, Fee: 9, Net: 1491, Status: "pending"},
	}}
	items := []SettlementItem{
		{BatchID: "stl_m_alpha_CNY_20240501", MerchantID: "m_alpha", Kind: KindPayment, ID: "pay_01", OutNo: "A-1001", BusinessDate: day, Amount: 123456, Fee: 741, Currency: "CNY"},
		{BatchID: "stl_m_alpha_CNY_20240501", MerchantID: "m_alpha", Kind: KindPayment, ID: "pay_05", OutNo: "A-1005", BusinessDate: day.AddDate(0, 0, -1), Amount: 10000, Fee: 60, Currency: "CNY"},
		{BatchID: "stl_m_alpha_CNY_20240501", MerchantID: "m_alpha", Kind: KindRefund, ID: "ref_07", OutNo: "A-R-7", BusinessDate: day, Amount: 2500, Fee: 15, Currency: "CNY"},
		{BatchID: "stl_m_beta_CNY_20240501", MerchantID: "m_beta", Kind: KindPayment, ID: "pay_09", OutNo: "B-9", BusinessDate: day, Amount: 10000, Fee: 60, Currency: "CNY"},
		{BatchID: "stl_m_beta_CNY_20240501", MerchantID: "m_beta", Kind: KindRefund, ID: "ref_08", OutNo: "B-R-8", BusinessDate: day, Amount: 12000, Fee: 72, Currency: "CNY"},
		{BatchID: "stl_m_alpha_JPY_20240501", MerchantID: "m_alpha", Kind: KindPayment, ID: "pay_06", OutNo: "A-1006", BusinessDate: day, Amount: 1500, Fee: 9, Currency: "JPY"},
	}
	return s, items
}

func TestWriteSettlementGolden(t *testing.T) {
	s, items := settlement()
	path := filepath.Join(t.TempDir(), "settlement.xlsx")
	if err := WriteSettlement(path, s, SliceSource(items)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, path, "settlement")
}

func TestWriteSettlementMismatch(t *testing.T) {
	tests := map[string]func(*Settlement, []SettlementItem) []SettlementItem{
		"net does not follow": func(s *Settlement, it []SettlementItem) []SettlementItem { s.Batches[0].Net++; return it },
		"item fee off":        func(s *Settlement, it []SettlementItem) []SettlementItem { it[0].Fee++; return it },
		"item missing":        func(s *Settlement, it []SettlementItem) []SettlementItem { return it[1:] },
		"refund as payment":   func(s *Settlement, it []SettlementItem) []SettlementItem { it[2].Kind = KindPayment; return it },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s, items := settlement()
			items = mutate(&s, items)
			err := WriteSettlement(filepath.Join(t.TempDir(), "s.xlsx"), s, SliceSource(items))
			if !errors.Is(err, ErrTotalsMismatch) {
				t.Fatalf("err = %v, want ErrTotalsMismatch", err)
			}
		})
	}
	t.Run("unknown batch", func(t *testing.T) {
		s, items := settlement()
		items[3].BatchID = "stl_nope"
		err := WriteSettlement(filepath.Join(t.TempDir(), "s.xlsx"), s, SliceSource(items))
		if err == nil || !strings.Contains(err.Error(), "item 4") {
			t.Fatalf("err = %v, want an error naming item 4", err)
		}
	})
}

func TestWriteSettlementWithoutDetail(t *testing.T) {
	s, _ := settlement()
	path := filepath.Join(t.TempDir(), "s.xlsx")
	if err := WriteSettlement(path, s, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSheet(path, "Detail"); err == nil {
		t.Error("Detail sheet written for a nil Source")
	}
}

func daily() Daily {
	return Daily{Date: day, GeneratedAt: started, Rows: []DailyRow{
		{MerchantID: "m_alpha", MerchantName: "Alpha Books", Channel: "sandbox", PayMethod: "wallet_qr", Currency: "CNY",
			Created: 3, Succeeded: 2, SucceededAmount: 133456, Refunds: 1, RefundedAmount: 2500},
		{MerchantID: "m_alpha", MerchantName: "Alpha Books", Channel: "sandbox", PayMethod: "withhold", Currency: "CNY",
			Created: 0, Succeeded: 0, Refunds: 1, RefundedAmount: 100},
		{MerchantID: "m_beta", MerchantName: "Beta Coffee", Channel: "wechat", PayMethod: "wallet_qr", Currency: "CNY",
			Created: 7, Succeeded: 3, SucceededAmount: 1001, Refunds: 0},
		{MerchantID: "m_alpha", MerchantName: "Alpha Books", Channel: "sandbox", PayMethod: "wallet_qr", Currency: "JPY",
			Created: 1, Succeeded: 1, SucceededAmount: 1500},
	}}
}

func TestWriteDailyGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daily.xlsx")
	if err := WriteDaily(path, daily()); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, path, "daily")
}

func TestWriteDailyBadRow(t *testing.T) {
	d := daily()
	d.Rows[1].Refunds = -1
	if err := WriteDaily(filepath.Join(t.TempDir(), "d.xlsx"), d); err == nil {
		t.Fatal("negative count accepted")
	}
}

// TestRollOver lowers the sheet row limit so a small detail spills onto further sheets, and
// checks that every item is written exactly once, in order, under a header on every sheet.
func TestRollOver(t *testing.T) {
	defer func(n int) { rowLimit = n }(rowLimit)
	rowLimit = 4 // header + 3 data rows per sheet

	var items []ReconItem
	for i := range 10 {
		items = append(items, ReconItem{Class: ClassMatched, ChannelTradeNo: "T" + strconv.Itoa(i), PaymentID: "pay_" + strconv.Itoa(i),
			Kind: KindPayment, Currency: "CNY", InternalAmount: int64(i), ChannelAmount: int64(i)})
	}
	items = append(items, ReconItem{Class: ClassDuplicate, ChannelTradeNo: "T0", Kind: KindPayment, Currency: "CNY"})
	path := filepath.Join(t.TempDir(), "recon.xlsx")
	if err := WriteReconciliation(path, reconRun(), SliceSource(items)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sheet := range []string{"Matched", "Matched (2)", "Matched (3)", "Matched (4)"} {
		rows, err := ReadSheet(path, sheet)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > rowLimit {
			t.Errorf("%s has %d rows, limit %d", sheet, len(rows), rowLimit)
		}
		if rows[0][0] != "Class" {
			t.Errorf("%s row 1 = %v, want the header", sheet, rows[0])
		}
		for _, r := range rows[1:] {
			got = append(got, r[5])
		}
	}
	want := []string{"T0", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matched trade numbers across sheets (-want +got):\n%s", diff)
	}
	if _, err := ReadSheet(path, "Matched (5)"); err == nil {
		t.Error("an empty fifth Matched sheet was written")
	}
	checkGolden(t, path, "rollover")
}

// TestMoneyValueExact checks that the number excelize writes for an amount is exactly the
// decimal money.Format prints, at the edges of the exact range and for every exponent.
func TestMoneyValueExact(t *testing.T) {
	amounts := []int64{0, 1, -1, 5, 10, 99, 101, 123456, -123456, 1<<31 + 7, 100000000000001,
		maxExactMinor, -maxExactMinor, maxExactMinor - 1, 999999999999990, 3333333333333}
	for _, cur := range []money.Currency{"CNY", "JPY", "KWD"} {
		for _, minor := range amounts {
			v, err := moneyValue(minor, cur)
			if err != nil {
				t.Fatalf("%d %s: %v", minor, cur, err)
			}
			if got, want := strconv.FormatFloat(v, 'f', -1, 64), trimDecimal(money.Format(minor, cur)); got != want {
				t.Errorf("%d %s: cell number %s, want %s", minor, cur, got, want)
			}
		}
	}
	if _, err := moneyValue(maxExactMinor+1, "CNY"); !errors.Is(err, ErrAmountTooLarge) {
		t.Errorf("err = %v, want ErrAmountTooLarge", err)
	}
}

// trimDecimal drops trailing fraction zeros the way shortest float formatting does.
func trimDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

func FuzzMoneyValueExact(f *testing.F) {
	for _, seed := range []int64{0, 1, -1, 123456, maxExactMinor, -maxExactMinor} {
		f.Add(seed, uint8(2))
	}
	f.Fuzz(func(t *testing.T, minor int64, expSel uint8) {
		cur := []money.Currency{"JPY", "CNY", "KWD"}[expSel%3]
		v, err := moneyValue(minor, cur)
		if minor > maxExactMinor || minor < -maxExactMinor {
			if !errors.Is(err, ErrAmountTooLarge) {
				t.Fatalf("%d: err = %v, want ErrAmountTooLarge", minor, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strconv.FormatFloat(v, 'f', -1, 64), trimDecimal(money.Format(minor, cur)); got != want {
			t.Fatalf("%d %s: cell number %s, want %s", minor, cur, got, want)
		}
	})
}
