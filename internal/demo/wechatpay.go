package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/channel/wechatpay"
	"github.com/paygw/paygw/internal/sandbox"
)

// The WeChat Pay part of the demo: a `paygw sandbox --protocol wechatpay` simulator (its key
// set written like `paygw sandbox keygen` does), a wxpay channel of kind wechatpay in the
// gateway's config offering wallet_jsapi and wallet_h5, payments through it paid by the
// simulator's auto-pay and called back signed and encrypted, partial refunds, one injected
// discrepancy, and `paygw reconcile --channel wxpay` on the bill the adapter downloads.

const (
	wxChannel  = "wxpay"
	wxPayments = 12
	wxInjected = 7 // minor units added to one bill row
)

// WeChatPay is what the demo's WeChat Pay part did.
type WeChatPay struct {
	URL       string
	Payments  map[string]int // by final status
	Refunds   int
	Reconcile cliout.Reconcile
}

// wechat is the run's WeChat Pay state.
type wechat struct {
	keys, url string
	sim       *proc
	injected  string
	paid      int // payments that succeeded through wxpay (settlement counts them)
}

// wechatPaid is how many payments the WeChat Pay part took.
func (d *run) wechatPaid() int {
	if d.wx == nil {
		return 0
	}
	return d.wx.paid
}

// wechatSetup picks the simulator's port and writes its key set.
func (d *run) wechatSetup(dir string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	d.wx = &wechat{keys: filepath.Join(dir, "keys", "wechatpay"), url: "http://127.0.0.1:" + strconv.Itoa(port)}
	if _, err := wechatpay.Keygen(d.wx.keys, sandbox.KeygenInput{Channel: wxChannel, SimulatorURL: d.wx.url}); err != nil {
		return fmt.Errorf("demo wechatpay keys: %w", err)
	}
	return nil
}

// wechatConfig is the wxpay channel section (under channels:).
func (d *run) wechatConfig() string {
	var o wechatpay.SimOptions
	if err := wechatpay.LoadSimulatorKeys(d.wx.keys, &o); err != nil {
		return "" // setup wrote the keys; config.Parse reports the missing channel keys
	}
	return fmt.Sprintf(`  %s:
    kind: wechatpay
    url: %s
    mchid: "%s"
    appid: "%s"
    merchant_serial_no: "%s"
    merchant_private_key_file: %s
    wechatpay_public_key_id: %s
    wechatpay_public_key_file: %s
    apiv3_key_file: %s
    pay_methods: [wallet_jsapi, wallet_h5]
    fee_rate_bps: 60
    timeout: %s
`, wxChannel, d.wx.url, o.MchID, o.AppID, o.MerchantSerialNo, filepath.Join(d.wx.keys, wechatpay.FileMerchantKey),
		o.PublicKeyID, filepath.Join(d.wx.keys, wechatpay.FilePublicKey), filepath.Join(d.wx.keys, wechatpay.FileAPIv3Key), channelTimeout)
}

// startWeChat starts the simulator with auto-pay and a callback schedule 1000 times faster.
func (d *run) startWeChat(ctx context.Context) error {
	var err error
	d.wx.sim, err = d.r.start("wechatpay-simulator", nil, "sandbox", "--protocol", "wechatpay", "--keys", d.wx.keys,
		"--addr", strings.TrimPrefix(d.wx.url, "http://"), "--channel-name", wxChannel, "--auto-pay", autoPay.String(),
		"--refund-delay", "300ms", "--callback-scale", "0.001", "--seed", strconv.FormatUint(d.o.Seed, 10),
		"--state-file", filepath.Join(filepath.Dir(d.r.cfg), "wechatpay-state.jsonl"))
	if err != nil {
		return err
	}
	return waitHTTP(ctx, d.wx.sim, d.wx.url+"/healthz", 15*time.Second)
}

// wechatpay takes payments through the simulator, refunds two, injects a discrepancy and
// reconciles the downloaded bill.
func (d *run) wechatpay(ctx context.Context) error {
	sum := &WeChatPay{URL: d.wx.url, Payments: map[string]int{}}
	d.sum.WeChatPay = sum
	c := d.shops[0].Client
	var mine []api.Payment
	for i := range wxPayments {
		body := map[string]any{"out_trade_no": fmt.Sprintf("WX-%s-%02d", strconv.FormatUint(d.o.Seed%1000000, 36), i),
			"amount": 100 + int64(i)*137, "currency": "CNY", "subject": "WeChat demo " + strconv.Itoa(i)}
		if i%2 == 0 {
			body["pay_method"], body["payer"] = "wallet_jsapi", map[string]any{"openid": "oDemo_" + strconv.Itoa(i)}
		} else {
			body["pay_method"], body["client_ip"] = "wallet_h5", "203.0.113."+strconv.Itoa(10+i)
		}
		p, _, err := c.CreatePayment(ctx, body)
		if err != nil {
			return fmt.Errorf("create %v: %w", body["out_trade_no"], err)
		}
		if p.Channel != wxChannel {
			continue // another channel offers wallet_h5 too: routing chose it
		}
		if p.NextAction == nil || (p.NextAction.Type != "jsapi" && p.NextAction.Type != "redirect") {
			return fmt.Errorf("payment %s has next_action %+v", p.ID, p.NextAction)
		}
		mine = append(mine, p)
	}
	if len(mine) < wxPayments/2 {
		return fmt.Errorf("only %d of %d payments went to %s", len(mine), wxPayments, wxChannel)
	}
	deadline := time.Now().Add(awaitPaymentsIn)
	for i := range mine {
		for mine[i].Status == "processing" || mine[i].Status == "created" {
			if time.Now().After(deadline) {
				return fmt.Errorf("payment %s still %s", mine[i].ID, mine[i].Status)
			}
			time.Sleep(200 * time.Millisecond)
			p, err := c.GetPayment(ctx, mine[i].ID)
			if err != nil {
				return err
			}
			mine[i] = p
		}
		sum.Payments[mine[i].Status]++
	}
	if sum.Payments["succeeded"] != len(mine) {
		return fmt.Errorf("wechatpay payments: %v", sum.Payments)
	}
	d.wx.paid = len(mine)
	d.step("%d payments through the WeChat Pay simulator on %s (JSAPI and H5, signed, answers verified, callbacks decrypted): %s",
		len(mine), d.wx.url, counts(sum.Payments))

	// Partial refunds of the first two, completed by their (encrypted) callbacks.
	var refunds []string
	for i, p := range mine[:2] {
		r, _, err := c.Refund(ctx, p.ID, fmt.Sprintf("WXR-%s-%d", p.OutTradeNo, i), p.Amount/2)
		if err != nil {
			return fmt.Errorf("refund %s: %w", p.ID, err)
		}
		refunds = append(refunds, r.ID)
	}
	for _, id := range refunds {
		for {
			var r api.Refund
			if _, err := c.Do(ctx, "GET", "/v1/refunds/"+id, nil, &r); err != nil {
				return err
			}
			if r.Status == "succeeded" {
				break
			}
			if r.Status == "failed" || time.Now().After(deadline) {
				return fmt.Errorf("refund %s is %s", id, r.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	sum.Refunds = len(refunds)

	// One discrepancy on the bill, then reconcile from the bill the adapter downloads.
	d.wx.injected = mine[len(mine)-1].ID
	if err := wechatpay.InjectAt(ctx, d.wx.url, d.wx.keys, sandbox.Injection{Kind: sandbox.InjectAmount, OutTradeNo: d.wx.injected, Delta: wxInjected}); err != nil {
		return err
	}
	out, err := d.r.run(ctx, "reconcile-wxpay", "reconcile", "--channel", wxChannel, "--date", d.date, "--json")
	if err != nil {
		return err
	}
	rec := &sum.Reconcile
	if err := json.Unmarshal(out, rec); err != nil {
		return fmt.Errorf("reconcile --json: %w (output %q)", err, out)
	}
	want := int64(len(mine) - 1 + len(refunds))
	if rec.Counts["matched"] != want || rec.Counts["amount_mismatch"] != 1 || rec.Discrepancies != 1 {
		return fmt.Errorf("wxpay reconciliation: counts %v, want %d matched and the injected amount_mismatch", rec.Counts, want)
	}
	for _, it := range rec.Items {
		if it.Class == "amount_mismatch" && (it.PaymentID != d.wx.injected || it.ChannelAmount-it.InternalAmount != wxInjected) {
			return errors.New("wxpay reconciliation found an amount_mismatch that was not injected")
		}
	}
	d.step("reconciled %s's downloaded bill (tradebill -> download -> gzip -> SHA1 -> reader): %d matched, the injected amount_mismatch found",
		wxChannel, rec.Counts["matched"])
	return nil
}
