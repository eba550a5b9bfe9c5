package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/channel/alipay/alipaysim"
	"github.com/paygw/paygw/internal/sandbox"
)

// The demo's Alipay leg: `paygw sandbox --protocol alipay` beside the sandbox, a channel of
// kind alipay for web_page (desktop redirect, which no other demo channel offers), a few payments
// paid in the simulator's cashier (auto-pay, once the payer's browser opened the signed URL), a
// partial refund, the bill downloaded through the adapter and reconciled with one injected
// phantom row.

// AlipayPayments is how many payments the Alipay leg takes.
const AlipayPayments = 6

// alipayPhantom is the amount (fen) of the injected bill row no payment of ours matches.
const alipayPhantom = 888

// AlipayRun is what the Alipay leg did.
type AlipayRun struct {
	URL       string
	Payments  map[string]int // by final status
	Methods   map[string]int
	Refunded  int64
	Reconcile cliout.Reconcile
}

type alipayDemo struct {
	url, keys string
	proc      *proc
}

// alipaySetup writes the simulator's key set and returns the alipay channel section (under
// channels:). It offers web_page only, the one redirect method no other demo channel has, so
// that the default routing sends it there.
func (d *run) alipaySetup(dir string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	d.ali = &alipayDemo{url: "http://127.0.0.1:" + strconv.Itoa(port), keys: filepath.Join(dir, "keys", "alipay")}
	ks, err := alipaysim.Keygen(d.ali.keys, sandbox.KeygenInput{Channel: "alipay", SimulatorURL: d.ali.url})
	if err != nil {
		return "", fmt.Errorf("demo alipay keys: %w", err)
	}
	section := ""
	for _, line := range strings.SplitAfter(strings.TrimRight(ks.GatewayConfig, "\n")+"\n", "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "  pay_methods:") {
			line = "  pay_methods: [web_page]\n"
		}
		section += "  " + line
	}
	return section + "    timeout: " + channelTimeout.String() + "\n", nil
}

// startAlipay starts the Alipay simulator (auto-pay; Alipay's retry schedule compressed 500×).
func (d *run) startAlipay(ctx context.Context) error {
	var err error
	d.ali.proc, err = d.r.start("sandbox-alipay", nil, "sandbox", "--protocol", "alipay", "--keys", d.ali.keys,
		"--addr", strings.TrimPrefix(d.ali.url, "http://"), "--auto-pay", "300ms", "--callback-scale", "0.002",
		"--seed", strconv.FormatUint(d.o.Seed, 10))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, d.ali.proc, d.ali.url+"/healthz", 15*time.Second); err != nil {
		return err
	}
	d.step("alipay simulator on %s (RSA2 keys in %s)", d.ali.url, d.ali.keys)
	return nil
}

// alipayTraffic takes web_page payments through the alipay channel, plays the
// payer's browser on each signed URL, waits for the notifications and refunds one in part.
func (d *run) alipayTraffic(ctx context.Context) error {
	s := d.shops[0]
	ar := &AlipayRun{URL: d.ali.url, Payments: map[string]int{}, Methods: map[string]int{}}
	d.sum.Alipay = ar
	var ids []string
	for i := range AlipayPayments {
		m := "web_page"
		p, _, err := s.Client.CreatePayment(ctx, map[string]any{"out_trade_no": fmt.Sprintf("ALI-%03d", i+1),
			"amount": 1500 + 100*i, "currency": "CNY", "pay_method": m, "subject": "Demo Alipay order",
			"return_url": "https://merchant.example/back", "client_ip": "198.51.100.7"})
		if err != nil {
			return fmt.Errorf("alipay payment: %w", err)
		}
		if p.NextAction == nil || p.NextAction.Type != "redirect" {
			return fmt.Errorf("alipay payment %s: next_action %+v, want a redirect", p.ID, p.NextAction)
		}
		resp, err := http.Get(p.NextAction.URL) // the payer's browser opens the signed URL
		if err != nil {
			return fmt.Errorf("open alipay page: %w", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("alipay page of %s answered %d", p.ID, resp.StatusCode)
		}
		ids = append(ids, p.ID)
		ar.Methods[m]++
	}
	deadline := time.Now().Add(awaitPaymentsIn)
	var final []api.Payment
	for {
		final = final[:0]
		for _, id := range ids {
			p, err := s.Client.GetPayment(ctx, id)
			if err != nil {
				return err
			}
			if finalPayment(p.Status) {
				final = append(final, p)
			}
		}
		if len(final) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alipay payments not final after %s", awaitPaymentsIn)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if final[0].Status != "succeeded" {
		return fmt.Errorf("alipay payment %s is %s", final[0].ID, final[0].Status)
	}
	rf, _, err := s.Client.Refund(ctx, final[0].ID, "ALI-R1", 500)
	if err != nil || rf.Status != "succeeded" {
		return fmt.Errorf("alipay refund: %v (%+v)", err, rf)
	}
	ar.Refunded = rf.Amount
	// The orders join the day's: their notifications are awaited and they settle like the rest.
	for i, id := range ids {
		p, err := s.Client.GetPayment(ctx, id)
		if err != nil {
			return err
		}
		ar.Payments[p.Status]++
		o := &order{Shop: 0, OutNo: p.OutTradeNo, Method: p.PayMethod, Amount: p.Amount, Payment: p}
		if i == 0 {
			o.Refunds = []api.Refund{rf}
		}
		d.orders = append(d.orders, o)
	}
	d.step("alipay: %d payments through the simulator's cashier (%s): %s; refunded %s CNY synchronously",
		len(ids), counts(ar.Methods), counts(ar.Payments), fmtMoney(ar.Refunded))
	return nil
}

// alipayReconcile injects a phantom row into today's Alipay bill, then reconciles the channel
// with no --file: the adapter downloads the bill zip.
func (d *run) alipayReconcile(ctx context.Context) error {
	body := fmt.Sprintf(`{"kind":"extra","out_trade_no":"pay_alipay_phantom","date":%q,"amount":%d}`, d.date, alipayPhantom)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.ali.url+"/admin/inject", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("alipay inject: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("alipay inject answered %d", resp.StatusCode)
	}
	out, err := d.r.run(ctx, "reconcile-alipay", "reconcile", "--channel", "alipay", "--date", d.date, "--json")
	if err != nil {
		return err
	}
	rec := &d.sum.Alipay.Reconcile
	if err := json.Unmarshal(out, rec); err != nil {
		return fmt.Errorf("reconcile --json: %w (output %q)", err, out)
	}
	want := int64(d.sum.Alipay.Payments["succeeded"] + d.sum.Alipay.Payments["partially_refunded"] + d.sum.Alipay.Payments["refunded"] + 1)
	if rec.Counts["matched"] != want || rec.Counts["missing_internal"] != 1 || rec.Discrepancies != 1 {
		return fmt.Errorf("alipay reconciliation counts %v, want %d matched and the injected missing_internal", rec.Counts, want)
	}
	d.step("reconciled alipay %s from the downloaded bill zip: %d matched, 1 discrepancy (the injected phantom row)", d.date, rec.Counts["matched"])
	return nil
}
