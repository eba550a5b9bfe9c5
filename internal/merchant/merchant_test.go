package merchant_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/merchant"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func ptr[T any](v T) *T { return &v }

// noStore is an opener that fails the test: refused input must not open a database.
func noStore(t *testing.T) func(context.Context) (*store.Store, error) {
	return func(context.Context) (*store.Store, error) {
		t.Error("the store was opened for input that is refused")
		return nil, errors.New("no store")
	}
}

func TestRefusedInputOpensNothing(t *testing.T) {
	svc := merchant.New(noStore(t), nil, zerolog.Nop())
	ctx := context.Background()
	min, max := int64(9), int64(1)
	for _, tt := range []struct {
		name  string
		do    func() error
		field string
		msg   string
	}{
		{"create without name", func() error { _, err := svc.Create(ctx, merchant.Create{}); return err }, "name", "is required"},
		{"fee min above max", func() error {
			_, err := svc.Create(ctx, merchant.Create{Name: "x", FeePlan: paygw.FeePlan{Min: &min, Max: &max}})
			return err
		}, "", "fee plan"},
		{"negative rate", func() error {
			_, err := svc.Create(ctx, merchant.Create{Name: "x", FeePlan: paygw.FeePlan{RateBps: -1}})
			return err
		}, "", "fee plan"},
		{"ftp notify url", func() error {
			_, err := svc.Create(ctx, merchant.Create{Name: "x", NotifyURL: "ftp://127.0.0.1/n"})
			return err
		}, "notify_url", "not an http(s) URL"},
		{"notify url without host", func() error { _, err := svc.Create(ctx, merchant.Create{Name: "x", NotifyURL: "http://"}); return err }, "notify_url", "not an http(s) URL"},
		{"account with letters", func() error {
			_, err := svc.Create(ctx, merchant.Create{Name: "x", BankAccount: paygw.BankAccount{AccountNo: "6222x"}})
			return err
		}, "bank_account", "digits only"},
		{"update to empty name", func() error { _, err := svc.Update(ctx, "mch_x", merchant.Update{Name: ptr("")}); return err }, "name", "must not be empty"},
		{"update account with spaces", func() error {
			_, err := svc.Update(ctx, "mch_x", merchant.Update{BankAccount: ptr("6222 0000")})
			return err
		}, "bank_account", "digits only"},
		{"suspend without reason", func() error { _, err := svc.Suspend(ctx, "mch_x", "carol", ""); return err }, "reason", "is required"},
		{"negative grace", func() error { _, err := svc.RotateSecret(ctx, "mch_x", -time.Second, "carol"); return err }, "grace", "must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ie *merchant.InputError
			err := tt.do()
			if !errors.As(err, &ie) || ie.Field != tt.field || !strings.Contains(ie.Msg, tt.msg) {
				t.Errorf("got %v, want an InputError on %q saying %q", err, tt.field, tt.msg)
			}
		})
	}
}

// TestOnboardAndChange drives the use case on both databases: the secret is sealed and opens,
// names stay unique (the refused change writes nothing), every change is audited, a merchant
// without a bank account is created with a warning, and suspend/resume round-trip.
func TestOnboardAndChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
		var logs bytes.Buffer
		svc := merchant.New(func(context.Context) (*store.Store, error) { return s, nil }, func() time.Time { return t0 }, zerolog.New(&logs))

		acme, err := svc.Create(ctx, merchant.Create{Name: "Acme", FeePlan: paygw.FeePlan{RateBps: 60}, By: "carol",
			BankAccount: paygw.BankAccount{Bank: "Test Bank", AccountNo: "6222021234567890123"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets, err := s.MerchantSecrets(ctx, acme.Merchant.ID, t0)
		if err != nil || len(secrets) != 1 || secrets[0] != acme.Secret || !strings.HasPrefix(acme.Secret, "sk_") {
			t.Fatalf("stored secrets %v %v, want the one returned", secrets, err)
		}
		if strings.Contains(logs.String(), "no bank account") || strings.Contains(logs.String(), acme.Secret) || strings.Contains(logs.String(), "6222021234567890123") {
			t.Errorf("logs: %s", logs.String())
		}
		noacct, err := svc.Create(ctx, merchant.Create{Name: "Noacct", By: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "no bank account") {
			t.Errorf("no warning for a merchant without a bank account:\n%s", logs.String())
		}

		// Duplicate names are refused, on create and on rename, naming who has the name.
		if _, err := svc.Create(ctx, merchant.Create{Name: "Acme"}); !errors.Is(err, merchant.ErrDuplicateName) || !strings.Contains(err.Error(), acme.Merchant.ID) {
			t.Errorf("duplicate create: %v", err)
		}
		if _, err := svc.Update(ctx, noacct.Merchant.ID, merchant.Update{Name: ptr("Acme"), RateBps: ptr(int64(10))}); !errors.Is(err, merchant.ErrDuplicateName) {
			t.Errorf("duplicate rename: %v", err)
		}
		if m, _ := s.GetMerchant(ctx, noacct.Merchant.ID); m.Name != "Noacct" || m.FeePlan.RateBps != 0 {
			t.Errorf("a refused rename changed the merchant: %+v", m)
		}
		if ms, _ := s.ListMerchants(ctx); len(ms) != 2 {
			t.Errorf("%d merchants after a refused create, want 2", len(ms))
		}

		res, err := svc.Update(ctx, noacct.Merchant.ID, merchant.Update{Name: ptr("Has Account"), BankAccount: ptr("6228480012345678901"), By: "dave"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 2 || res.Changes[0].Field != "name" || res.Changes[1].New != "6228***********8901" || res.Changes[1].Actor != "dave" {
			t.Errorf("changes %+v", res.Changes)
		}
		if _, err := svc.Resume(ctx, acme.Merchant.ID, "carol"); err == nil || !strings.Contains(err.Error(), "already active") {
			t.Errorf("resume of an active merchant: %v", err)
		}
		if res, err := svc.Suspend(ctx, acme.Merchant.ID, "carol", "chargebacks"); err != nil || res.Merchant.Status != "suspended" {
			t.Fatalf("suspend: %+v %v", res, err)
		}
		if res, err := svc.Resume(ctx, acme.Merchant.ID, "carol"); err != nil || res.Merchant.Status != "active" {
			t.Fatalf("resume: %+v %v", res, err)
		}
		if _, err := svc.Suspend(ctx, "mch_nobody", "carol", "x"); err == nil || !strings.Contains(err.Error(), `merchant "mch_nobody" not found`) {
			t.Errorf("suspend unknown: %v", err)
		}
		rot, err := svc.RotateSecret(ctx, acme.Merchant.ID, time.Hour, "carol")
		if err != nil || rot.Secret == acme.Secret || !rot.PreviousValidUntil.Equal(t0.Add(time.Hour)) {
			t.Fatalf("rotate: %+v %v", rot, err)
		}
		if secrets, _ := s.MerchantSecrets(ctx, acme.Merchant.ID, t0); len(secrets) != 2 {
			t.Errorf("during the grace both secrets are valid, got %d", len(secrets))
		}
		audit, err := s.MerchantAuditOf(ctx, acme.Merchant.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range audit {
			actions = append(actions, a.Action)
		}
		if got := strings.Join(actions, ","); got != "create,suspend,resume,rotate_secret" {
			t.Errorf("audit actions %s", got)
		}
	})
}

func TestDiff(t *testing.T) {
	one := int64(1)
	base := paygw.Merchant{Name: "A", Status: "active", FeePlan: paygw.FeePlan{RateBps: 60}}
	for _, tt := range []struct {
		name   string
		change func(m *paygw.Merchant)
		want   string
	}{
		{"nothing", func(m *paygw.Merchant) {}, ""},
		{"name", func(m *paygw.Merchant) { m.Name = "B" }, "name:A>B"},
		{"min added", func(m *paygw.Merchant) { m.FeePlan.Min = &one }, "fee_plan.min:>1"},
		{"account masked", func(m *paygw.Merchant) { m.BankAccount.AccountNo = "6222021234567890123" }, "bank_account.account_no:>6222***********0123"},
		{"status and url", func(m *paygw.Merchant) { m.Status = "suspended"; m.NotifyURL = "http://127.0.0.1/n" },
			"status:active>suspended notify_url:>http://127.0.0.1/n"},
	} {
		after := base
		tt.change(&after)
		var got []string
		for _, c := range merchant.Diff(base, after) {
			got = append(got, c.Field+":"+c.Old+">"+c.New)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, strings.Join(got, " "), tt.want)
		}
	}
}
