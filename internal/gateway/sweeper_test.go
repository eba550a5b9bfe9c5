package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// retentionGateway is a gateway over s with extra config YAML, its clock at now and its logs in
// log; its channel is never called (the sweeper's own sweep runs once an hour).
func retentionGateway(t *testing.T, s *store.Store, extra string, now time.Time, log *bytes.Buffer) *gateway.Service {
	t.Helper()
	const url = "http://127.0.0.1:1"
	cfg, err := config.Parse([]byte("timezone: Asia/Shanghai\npublic_url: " + url + "\nsweeper:\n  interval: 1h\n" +
		"channels:\n  sandbox:\n    kind: sandbox\n    url: " + url + "\n    secret: " + gwtest.Secret + "\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sandbox.NewChannel("sandbox", url, gwtest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := channel.NewRegistry(ch)
	logger := zerolog.Nop()
	if log != nil {
		logger = zerolog.New(log)
	}
	g, err := gateway.New(s, cfg, reg, gateway.Options{Log: logger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// deliveredAt queues a notification for merchantID and records its delivery at at, as the
// delivery worker does (claim, then one attempt); it returns the notification's id.
func deliveredAt(t *testing.T, s *store.Store, merchantID string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	n := paygw.Notification{ID: paygw.NewID("evt"), MerchantID: merchantID, PaymentID: paygw.NewID("pay"),
		Type: paygw.EventPaymentSucceeded, URL: "http://127.0.0.1:1/hook", Body: []byte("{}"), CreatedAt: at}
	if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertNotification(ctx, n) }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ClaimNotification(ctx, n.ID, "w1", time.Minute, at); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	_, err := s.RecordAttempts(ctx, []store.AttemptResult{{NotificationID: n.ID, Holder: "w1", Attempt: 1, StartedAt: at,
		StatusCode: 200, Delivered: true}}, at)
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func exists(t *testing.T, s *store.Store, id string) bool {
	t.Helper()
	_, err := s.GetNotification(context.Background(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// A retention pass deletes at most batches × batch delivered notifications older than
// notify.retention (default 30 days), says when it stopped at that bound, and the next passes
// finish the rest; recent ones stay. notify.retention: 0 purges nothing.
func TestPurgeNotifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		var old []string
		for i := range 8 {
			old = append(old, deliveredAt(t, s, m.ID, now.Add(-31*24*time.Hour-time.Duration(i)*time.Minute)))
		}
		recent := deliveredAt(t, s, m.ID, now.Add(-29*24*time.Hour))

		forever := retentionGateway(t, s, "notify:\n  retention: 0s\n", now, nil)
		if n, more, err := forever.PurgeNotifications(ctx); err != nil || n != 0 || more {
			t.Fatalf("retention 0: purged %d (more %v), %v; want nothing", n, more, err)
		}

		g := retentionGateway(t, s, "", now, nil)
		gateway.SetPurgeBounds(g, 3, 2, time.Hour, time.Hour)
		type pass struct {
			n    int
			more bool
		}
		var got []pass
		for range 3 {
			n, more, err := g.PurgeNotifications(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, pass{n, more})
		}
		if want := []pass{{6, true}, {2, false}, {0, false}}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("passes %v, want %v", got, want)
		}
		for _, id := range old {
			if exists(t, s, id) {
				t.Errorf("old delivered %s kept", id)
			}
		}
		if !exists(t, s, recent) {
			t.Error("recent delivered purged")
		}
	})
}

// The sweeper of `serve` runs the retention purge: a pass at start, then, while passes stop at
// their bound, the next ones soon after, until the backlog is gone; each logs how many it purged.
func TestSweeperPurgesDeliveredNotifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, _ := storetest.Merchant(t, s, "m", 60)
		now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		var old []string
		for i := range 5 {
			old = append(old, deliveredAt(t, s, m.ID, now.Add(-40*24*time.Hour+time.Duration(i)*time.Minute)))
		}
		recent := deliveredAt(t, s, m.ID, now.Add(-time.Hour))
		var log bytes.Buffer
		g := retentionGateway(t, s, "notify:\n  retention: 720h\n", now, &log)
		gateway.SetPurgeBounds(g, 2, 1, time.Hour, 10*time.Millisecond)

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); g.RunSweeper(ctx) }()
		gwtest.Eventually(t, 10*time.Second, "old delivered notifications purged", func() bool {
			n, err := s.CountNotifications(context.Background(), store.NotificationFilter{})
			return err == nil && n == 1
		})
		cancel()
		<-done
		if !exists(t, s, recent) {
			t.Error("recent delivered purged")
		}
		total := 0
		for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
			var e struct {
				Level, Component, Message string
				Purged                    int
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if e.Message == "delivered notifications purged" {
				if e.Level != "info" || e.Component != "gateway" || e.Purged < 1 || e.Purged > 2 {
					t.Errorf("log line %s", line)
				}
				total += e.Purged
			}
		}
		if total != len(old) {
			t.Errorf("logs count %d purged, want %d:\n%s", total, len(old), log.String())
		}
	})
}

// The nonce purge shares the retention purge's loop: batches of its size, at most its number of
// batches per pass, reporting whether it stopped at the bound; live nonces stay.
func TestPurgeNoncesStopsAtBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		for i := range 10 {
			if ok, err := s.UseNonce(ctx, "mch_1", fmt.Sprintf("expired-%02d", i), now.Add(-5*time.Minute), now.Add(-10*time.Minute)); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		if ok, err := s.UseNonce(ctx, "mch_1", "live-nonce", now.Add(5*time.Minute), now); err != nil || !ok {
			t.Fatal(ok, err)
		}
		g := retentionGateway(t, s, "", now, &bytes.Buffer{})
		gateway.SetNoncePurgeBounds(g, 3, 2)
		var got []string
		for range 3 {
			n, more, err := g.PurgeNonces(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d/%v", n, more))
		}
		want := "[6/true 4/false 0/false]" // batches of 3, two a pass
		if fmt.Sprint(got) != want {
			t.Errorf("passes purged %v; want %s", got, want)
		}
		if ok, err := s.UseNonce(ctx, "mch_1", "live-nonce", now.Add(5*time.Minute), now); err != nil || ok {
			t.Errorf("the live nonce was purged: %v %v", ok, err)
		}
	})
}
