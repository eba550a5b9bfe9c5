package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestAgreementSeenThroughWhenMerchantDisconnects: the merchant's connection goes away while the
// channel is signing. The agreement is recorded, so the gateway sees the channel call through
// and the agreement ends active (the channel bound the account) without any sweep (before: it
// stayed pending or ended terminated while the channel had it active).
func TestAgreementSeenThroughWhenMerchantDisconnects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var arrived <-chan struct{}
		var release func()
		e := gwtest.Start(t, s, gwtest.Options{ChannelURL: func(_, u string) string {
			var p string
			p, arrived, release = holdingProxy(t, u, sandbox.PathSignAgreement)
			return p
		}})
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := e.Client.SignAgreement(cctx, "AG-DISC", "withhold", "Zhang San", "6222021234560123", "13800000000")
			done <- err
		}()
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the sign request never reached the channel")
		}
		cancel() // the merchant disconnects
		if err := <-done; err == nil {
			t.Fatal("the cancelled request succeeded")
		}
		time.Sleep(100 * time.Millisecond) // the server notices the closed connection
		release()
		gwtest.Eventually(t, 5*time.Second, "the agreement to become active", func() bool {
			a, err := s.GetAgreementByOutNo(ctx, e.Merchant.ID, "AG-DISC")
			return err == nil && a.Status == paygw.AgreementActive && a.ChannelNo != ""
		})
		a, _ := s.GetAgreementByOutNo(ctx, e.Merchant.ID, "AG-DISC")
		if a.NextQueryAt != nil {
			t.Errorf("active agreement still scheduled for a query at %v", a.NextQueryAt)
		}
		if p, _, err := e.Client.CreatePayment(ctx, withholdReq("PDISC", 100, a.ID)); err != nil || p.Status != "succeeded" {
			t.Fatalf("withhold after the disconnect: %v %+v", err, p)
		}
	})
}

// TestSweeperResolvesPendingAgreements: pending agreements whose sign answer was lost are
// resolved by query: one the channel holds active becomes active, one the channel terminated
// becomes terminated, one the channel never saw becomes terminated once old enough for no sign
// request to be in flight, and a fresh unknown one stays pending with its next query scheduled.
func TestSweeperResolvesPendingAgreements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{})
		ch, err := sandbox.NewChannel("sandbox", e.SandboxTS["sandbox"].URL, gwtest.Secret)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		pending := func(id string, created time.Time) paygw.Agreement {
			due := now.Add(-time.Second)
			a := paygw.Agreement{ID: id, MerchantID: e.Merchant.ID, OutAgreementNo: "OUT-" + id, PayMethod: paygw.PayMethodWithhold,
				Status: paygw.AgreementPending, Channel: "sandbox", PayerName: "Zhang", AccountMasked: "6222********0123",
				AccountToken: "tok-" + id, CreatedAt: created, UpdatedAt: created, NextQueryAt: &due}
			if err := s.InsertAgreement(ctx, a); err != nil {
				t.Fatal(err)
			}
			return a
		}
		pending("agr_active", now)
		pending("agr_stopped", now)
		pending("agr_lost", now.Add(-time.Hour))
		pending("agr_fresh", now)
		for _, id := range []string{"agr_active", "agr_stopped"} {
			if _, err := ch.Sign(ctx, channelSign(id)); err != nil {
				t.Fatal(err)
			}
		}
		stopped, _ := ch.QueryAgreement(ctx, "agr_stopped")
		if err := ch.TerminateAgreement(ctx, stopped.AgreementNo); err != nil {
			t.Fatal(err)
		}
		if n, err := e.Gateway.Sweep(ctx); err != nil || n < 4 {
			t.Fatalf("sweep looked at %d (%v), want the 4 agreements", n, err)
		}
		want := map[string]paygw.AgreementStatus{"agr_active": paygw.AgreementActive, "agr_stopped": paygw.AgreementTerminated,
			"agr_lost": paygw.AgreementTerminated, "agr_fresh": paygw.AgreementPending}
		for id, st := range want {
			a, err := s.GetMerchantAgreement(ctx, e.Merchant.ID, id)
			if err != nil || a.Status != st {
				t.Errorf("%s: %s (%v), want %s", id, a.Status, err, st)
			}
			if st == paygw.AgreementPending && (a.NextQueryAt == nil || !a.NextQueryAt.After(now) || a.QueryCount != 1) {
				t.Errorf("%s: next query %v, count %d; want rescheduled", id, a.NextQueryAt, a.QueryCount)
			}
			if st != paygw.AgreementPending && a.NextQueryAt != nil {
				t.Errorf("%s: %s but still scheduled at %v", id, st, a.NextQueryAt)
			}
		}
		if a, _ := s.GetMerchantAgreement(ctx, e.Merchant.ID, "agr_active"); a.ChannelNo == "" {
			t.Error("active agreement without the channel's number")
		}
	})
}

func channelSign(id string) channel.SignRequest {
	return channel.SignRequest{AgreementID: id, PayMethod: "withhold", PayerName: "Zhang", AccountNo: "6222021234560123"}
}

// TestTerminatedElsewhereRefusesAtOnce: a gateway keeps the active agreements its payments named
// in memory, but an agreement terminated by another replica (here straight in the store) refuses
// the very next withhold with invalid_state, on the create's own statement and on the
// transaction the daily cap uses; a wallet payment's request is unaffected and the agreement's
// other payments keep their state.
func TestTerminatedElsewhereRefusesAtOnce(t *testing.T) {
	for _, v := range []struct{ name, extra string }{
		{"one statement", ""}, {"daily cap transaction", "risk:\n  merchant_daily_cap: 100000\n"},
	} {
		t.Run(v.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				e := gwtest.Start(t, s, gwtest.Options{ExtraYAML: v.extra})
				agr := sign(t, e.Client, "AG-ELSE", "6222021234560777")
				for _, out := range []string{"W-ELSE-1", "W-ELSE-2"} { // the second is served from memory
					if p, _, err := e.Client.CreatePayment(ctx, withholdReq(out, 100, agr)); err != nil || p.Status != "succeeded" {
						t.Fatalf("withhold %s on an active agreement: %+v %v", out, p, err)
					}
				}
				if ok, err := s.UpdateAgreementStatus(ctx, agr, paygw.AgreementActive, paygw.AgreementTerminated, "", time.Now()); err != nil || !ok {
					t.Fatal(ok, err)
				}
				_, _, err := e.Client.CreatePayment(ctx, withholdReq("W-ELSE-3", 100, agr))
				if got := apiCode(err); got != "409 invalid_state" {
					t.Fatalf("withhold after a termination elsewhere: %s, want 409 invalid_state", got)
				}
				if _, err := s.GetPaymentByOutTradeNo(ctx, e.Merchant.ID, "W-ELSE-3"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("the refused withhold was recorded: %v", err)
				}
				// Forgotten, not only refused: the next attempt reads it and refuses before the insert.
				_, _, err = e.Client.CreatePayment(ctx, withholdReq("W-ELSE-4", 100, agr))
				if got := apiCode(err); got != "409 invalid_state" {
					t.Errorf("withhold again: %s, want 409 invalid_state", got)
				}
				if p, _, err := e.Client.CreatePayment(ctx, qr("Q-ELSE", 100)); err != nil || p.ID == "" {
					t.Errorf("wallet payment beside it: %+v %v", p, err)
				}
				if p, err := s.GetPaymentByOutTradeNo(ctx, e.Merchant.ID, "W-ELSE-1"); err != nil || p.Status != paygw.PaymentSucceeded {
					t.Errorf("an earlier payment on the agreement: %+v %v", p, err)
				}
			})
		})
	}
}
