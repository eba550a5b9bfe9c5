package demo

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/money"
)

func fmtMoney(minor int64) string { return money.Format(minor, "CNY") }

// rel shows a path relative to the working directory when it is below it.
func rel(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs("."); err == nil {
		if r, err := filepath.Rel(abs, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return p
}

// Print writes the human summary.
func (s *Summary) Print(w io.Writer) {
	total := 0
	for _, n := range s.Payments {
		total += n
	}
	fmt.Fprintf(w, "\npaygw demo: business date %s (Asia/Shanghai), %d payments, %.1fs (--seed %d repeats the mix)\n\n",
		s.Date, total, s.Elapsed.Seconds(), s.Seed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "payments\t%s\n", counts(s.Payments))
	fmt.Fprintf(tw, "\tby method: %s\n", counts(s.Methods))
	if len(s.Rejected) > 0 {
		fmt.Fprintf(tw, "\trejected by the API: %s\n", counts(s.Rejected))
	}
	fmt.Fprintf(tw, "channel timeouts\t%d unknown outcomes; %d payments resolved by the sweeper's query\n", s.Timeouts, s.SweptPaid)
	fmt.Fprintf(tw, "refunds\t%s, CNY %s refunded\n", counts(s.Refunds), fmtMoney(s.RefundTotal))
	unique := 0
	for _, n := range s.Notified {
		unique += n
	}
	fmt.Fprintf(tw, "notifications\t%d delivered and verified: %s\n", unique, counts(s.Notified))
	fmt.Fprintf(tw, "\t%d attempts, %d retried after the receiver refused the first, %d duplicates, %d bad signatures\n",
		s.NotifyTries, s.NotifyRetry, s.NotifyDups, s.NotifyBadSig)
	classes := map[string]int{}
	for k, v := range s.Reconcile.Counts {
		if v > 0 {
			classes[k] = int(v)
		}
	}
	fmt.Fprintf(tw, "reconciliation\t%s (run %s)\n", counts(classes), s.Reconcile.RunID)
	for _, it := range s.Reconcile.Items {
		id := it.PaymentID
		if it.RefundID != "" {
			id = it.RefundID
		}
		mark := ""
		if id == s.Injected.OutTradeNo && it.Class == "amount_mismatch" {
			mark = "  <- the injected discrepancy"
		}
		fmt.Fprintf(tw, "\t%s %s: paygw %s, channel %s%s\n", it.Class, id, fmtMoney(it.InternalAmount), fmtMoney(it.ChannelAmount), mark)
	}
	if a := s.Alipay; a != nil {
		fmt.Fprintf(tw, "alipay simulator\t%s: %s; refunded CNY %s\n", counts(a.Methods), counts(a.Payments), fmtMoney(a.Refunded))
		fmt.Fprintf(tw, "\tbill zip reconciled: %s (run %s)\n", counts(nonZero(a.Reconcile.Counts)), a.Reconcile.RunID)
	}
	tw.Flush()

	names := map[string]string{}
	for _, m := range s.Merchants {
		names[m.ID] = m.Name
	}
	fmt.Fprintln(w, "\nsettlement batches (only reconciled transactions settle):")
	bw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(bw, "merchant\tcurrency\tpayments\trefunds\tgross\trefunded\tfee\tnet\tstatus\t")
	batches := append([]cliout.SettleBatch(nil), s.Batches...)
	sort.Slice(batches, func(i, j int) bool { return names[batches[i].MerchantID] < names[batches[j].MerchantID] })
	for _, b := range batches {
		c := money.Currency(b.Currency)
		fmt.Fprintf(bw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", names[b.MerchantID], b.Currency, b.Payments, b.Refunds,
			money.Format(b.Gross, c), money.Format(b.Refunded, c), money.Format(b.Fee, c), money.Format(b.Net, c), b.Status)
	}
	bw.Flush()
	if s.Held > 0 {
		fmt.Fprintf(w, "held back: %d succeeded payment(s) not reconciled as matched; they settle once resolved (paygw reconcile resolve)\n", s.Held)
	}
	ledger := "consistent"
	if !s.LedgerOK {
		ledger = "PROBLEMS (paygw verify)"
	}
	fmt.Fprintf(w, "\nledger: %s (%d checks)\n\nfiles:\n", ledger, len(s.LedgerCheck))
	fw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range [][2]string{
		{"reconciliation report", s.ReconReport}, {"settlement report", s.SettleReport},
		{"daily report", s.DailyReport}, {"payout file", s.PayoutFile},
		{"database", strings.TrimPrefix(s.DB, "sqlite:")}, {"config", s.Config},
		{"secret key", s.KeyFile}, {"logs", s.Logs},
	} {
		p := rel(f[1])
		if f[0] == "logs" {
			p += string(filepath.Separator)
		}
		fmt.Fprintf(fw, "  %s\t%s\n", f[0], p)
	}
	fw.Flush()
}

// nonZero keeps the classes that occurred.
func nonZero(m map[string]int64) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v > 0 {
			out[k] = int(v)
		}
	}
	return out
}
