package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// nonceNow is a time whose 120 s nonce slot began a minute before.
var nonceNow = time.Date(2026, 12, 5, 12, 1, 0, 0, time.UTC)

// The replay rules hold through both ways a nonce is recorded (alone, and with a payment — one
// statement on PostgreSQL) however nonces fall into slots: a nonce live in any slot is refused,
// one that has expired (purged or not) may be used again.
func TestNonceReplayRules(t *testing.T) {
	now := nonceNow
	type use struct {
		merchant, nonce string
		expires, at     time.Time
		fresh           bool
	}
	cases := []struct {
		name string
		uses []use
	}{
		{"a replay: the same request again", []use{
			{"m1", "nonce-a", now.Add(301 * time.Second), now, true},
			{"m1", "nonce-a", now.Add(301 * time.Second), now.Add(time.Second), false}}},
		{"the same nonce under another timestamp, in another slot", []use{
			{"m1", "nonce-a", now.Add(301 * time.Second), now, true},
			{"m1", "nonce-a", now.Add(601 * time.Second), now, false},
			{"m1", "nonce-a", now.Add(1 * time.Second), now, false}}},
		{"another merchant's nonce", []use{
			{"m1", "nonce-a", now.Add(301 * time.Second), now, true},
			{"m2", "nonce-a", now.Add(301 * time.Second), now, true}}},
		{"expired in the same slot, not purged: usable", []use{
			{"m1", "nonce-a", now.Add(10 * time.Second), now, true},
			{"m1", "nonce-a", now.Add(20 * time.Second), now.Add(15 * time.Second), true},
			{"m1", "nonce-a", now.Add(20 * time.Second), now.Add(16 * time.Second), false}}},
		{"expired in an older slot, not purged: usable", []use{
			{"m1", "nonce-a", now.Add(-200 * time.Second), now.Add(-300 * time.Second), true},
			{"m1", "nonce-a", now.Add(301 * time.Second), now, true},
			{"m1", "nonce-a", now.Add(301 * time.Second), now, false}}},
		{"at the horizon: expiring 11 minutes ahead is seen from every later moment", []use{
			{"m1", "nonce-a", now.Add(store.MaxNonceLife), now, true},
			{"m1", "nonce-a", now.Add(store.MaxNonceLife + time.Minute), now.Add(store.MaxNonceLife - time.Second), false}}},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m1, _ := storetest.Merchant(t, s, "Shop 1", 60)
		m2, _ := storetest.Merchant(t, s, "Shop 2", 60)
		merchant := map[string]string{"m1": m1.ID, "m2": m2.ID}
		for i, c := range cases {
			for _, via := range []string{"UseNonce", "InsertPaymentWithNonce"} {
				t.Run(fmt.Sprintf("%s/%s", c.name, via), func(t *testing.T) {
					prefix := fmt.Sprintf("c%d-%s-", i, via[:3])
					for j, u := range c.uses {
						var fresh bool
						var err error
						m := merchant[u.merchant]
						if via == "UseNonce" {
							fresh, err = s.UseNonce(ctx, m, prefix+u.nonce, u.expires, u.at)
						} else {
							fresh, err = s.InsertPaymentWithNonce(ctx, paygw.Payment{ID: paygw.NewID("pay"), MerchantID: m,
								OutTradeNo: fmt.Sprintf("%s%d", prefix, j), Amount: 100, Currency: "CNY", PayMethod: paygw.PayMethodWalletQR,
								RequestHash: "h", Status: paygw.PaymentCreated, Channel: "sandbox", Metadata: []byte(`{}`),
								CreatedAt: u.at, UpdatedAt: u.at}, &store.NonceUse{MerchantID: m, Nonce: prefix + u.nonce, Expires: u.expires}, u.at)
						}
						if err != nil || fresh != u.fresh {
							t.Fatalf("use %d (%+v): fresh=%v, %v; want fresh=%v", j, u, fresh, err, u.fresh)
						}
					}
				})
			}
		}
		// Beyond the horizon the slots searched later could miss it: refused with an error.
		if _, err := s.UseNonce(ctx, "m1", "nonce-far", now.Add(store.MaxNonceLife+time.Second), now); err == nil {
			t.Fatal("a nonce expiring beyond MaxNonceLife was accepted")
		}
	})
}

// TestPurgeNoncesBySlot: one call deletes at most its limit, in key order, oldest slot first;
// nonces of the current slot (expired or not) and of later slots stay, and live ones still
// refuse replays.
func TestPurgeNoncesBySlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := nonceNow
		use := func(nonce string, expires, at time.Time) {
			t.Helper()
			if ok, err := s.UseNonce(ctx, "mch_1", nonce, expires, at); err != nil || !ok {
				t.Fatalf("use nonce %s: %v %v", nonce, ok, err)
			}
		}
		for i := range 10 { // the oldest slot: expired 6 minutes ago
			use(fmt.Sprintf("z-old%02d", i), now.Add(-6*time.Minute), now.Add(-10*time.Minute))
		}
		for i := range 20 { // the slot before the current one
			use(fmt.Sprintf("a-prev%02d", i), now.Add(-90*time.Second), now.Add(-5*time.Minute))
		}
		for i := range 3 { // the current slot, expired: kept until the slot passes
			use(fmt.Sprintf("cur%d", i), now.Add(-30*time.Second), now.Add(-5*time.Minute))
		}
		for i := range 5 {
			use(fmt.Sprintf("live%d", i), now.Add(time.Minute), now)
		}
		count := func(where string) int {
			t.Helper()
			var n int
			if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM auth_nonces WHERE `+where); err != nil {
				t.Fatal(err)
			}
			return n
		}
		n, err := s.PurgeNonces(ctx, now, 10)
		if err != nil || n != 10 {
			t.Fatalf("first batch: %d, %v; want 10", n, err)
		}
		if left := count(`nonce LIKE 'z-old%'`); left != 0 {
			t.Fatalf("the first batch left %d of the oldest slot (keys sort 'a-prev' first within a slot, so it went by slot)", left)
		}
		var got []int
		for {
			n, err := s.PurgeNonces(ctx, now, 7)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if n < 7 {
				break
			}
		}
		if fmt.Sprint(got) != "[7 7 6]" {
			t.Fatalf("purged per batch %v; want [7 7 6]", got)
		}
		if c, l := count(`nonce LIKE 'cur%'`), count(`nonce LIKE 'live%'`); c != 3 || l != 5 {
			t.Fatalf("kept %d of the current slot's 3 and %d of 5 live", c, l)
		}
		for i := range 5 {
			if ok, err := s.UseNonce(ctx, "mch_1", fmt.Sprintf("live%d", i), now.Add(time.Minute), now); err != nil || ok {
				t.Fatalf("live nonce %d reused after the purge: %v %v", i, ok, err)
			}
		}
		if _, err := s.PurgeNonces(ctx, now, 0); err == nil {
			t.Fatal("a purge without a limit was accepted")
		}
	})
}

// TestNonceSlotMigrationKeepsLiveNonces: migration 0020 carries the nonces of the old table over
// (a request signed just before an upgrade stays unreplayable), and its Down keeps them too.
func TestNonceSlotMigrationKeepsLiveNonces(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			s := storetest.OpenAt(t, d, 19)
			now := nonceNow
			if _, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO auth_nonces (merchant_id, nonce, expires_at) VALUES (?, ?, ?), (?, ?, ?)`),
				"m1", "live-nonce", store.Now(now.Add(4*time.Minute+123456*time.Microsecond)), "m1", "old-nonce", store.Now(now.Add(-time.Hour))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.UseNonce(ctx, "m1", "live-nonce", now.Add(301*time.Second), now); err != nil || ok {
				t.Fatalf("a live nonce was replayable after 0020: %v %v", ok, err)
			}
			if ok, err := s.UseNonce(ctx, "m1", "old-nonce", now.Add(301*time.Second), now); err != nil || !ok {
				t.Fatalf("an expired nonce was refused after 0020: %v %v", ok, err)
			}
			if n, err := s.PurgeNonces(ctx, now, 100); err != nil || n != 1 {
				t.Fatalf("purge right after 0020: %d, %v; want 1 (the hour-old nonce, in its wholly expired slot)", n, err)
			}
			if _, err := s.MigrateDownTo(ctx, 19); err != nil {
				t.Fatalf("0020 down: %v", err)
			}
			var n int
			if err := s.DB().GetContext(ctx, &n, s.Rebind(`SELECT COUNT(*) FROM auth_nonces WHERE merchant_id = ? AND expires_at > ?`),
				"m1", store.Now(now)); err != nil || n != 2 {
				t.Fatalf("live nonces after 0020 down: %d, %v; want 2", n, err)
			}
		})
	}
}

// The nonce statements read what they need, not the table: among 5,000 live nonces of 50
// merchants (statistics present), recording a nonce probes the primary key once per live slot,
// and a purge of 10 expired nonces reads its slot range only.
func TestNonceStatementsUseTheKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := nonceNow
		err := s.Transact(ctx, func(tx *store.Tx) error {
			for i := range 5000 {
				at := now.Add(-time.Duration(i%300) * time.Second)
				if _, err := tx.UseNonce(ctx, fmt.Sprintf("mch_%02d", i%50), fmt.Sprintf("nonce-%05d", i), at.Add(301*time.Second), at); err != nil {
					return err
				}
			}
			for i := range 10 {
				if _, err := tx.UseNonce(ctx, "mch_00", fmt.Sprintf("expired-%02d", i), now.Add(-5*time.Minute), now.Add(-10*time.Minute)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		use, purge, err := s.ExplainNonce(ctx, "mch_07", "nonce-new", now.Add(301*time.Second), now, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() == store.Postgres {
			if read := rowsRead(t, use[0]); read > 10 {
				t.Errorf("recording a nonce read %d rows:\n%s", read, use[0])
			}
			// rowsRead counts each node's rows × loops: ~9 nodes over the 10 deleted rows.
			if read := rowsRead(t, purge[0]); read > 200 {
				t.Errorf("purging 10 nonces read %d rows:\n%s", read, purge[0])
			}
			return
		}
		check := func(name string, plan []string, allowed *regexp.Regexp) {
			t.Helper()
			seen := false
			for _, row := range plan {
				f := strings.SplitN(row, " ", 3)
				if strings.Contains(f[2], "auth_nonces") {
					seen = true
					if !allowed.MatchString(f[2]) {
						t.Errorf("%s reads auth_nonces beyond its key: %q\n%s", name, f[2], strings.Join(plan, "\n"))
					}
				}
			}
			if !seen {
				t.Errorf("%s's plan shows no access to auth_nonces:\n%s", name, strings.Join(plan, "\n"))
			}
		}
		check("recording a nonce", use, regexp.MustCompile(`^SEARCH auth_nonces USING PRIMARY KEY \(slot=\? AND merchant_id=\? AND nonce=\?\)$`))
		check("the purge", purge, regexp.MustCompile(`^SEARCH auth_nonces USING PRIMARY KEY \((slot<\?|slot=\? AND merchant_id=\? AND nonce=\?)\)$`))
	})
}

// TestPurgeNoncesCursor: on PostgreSQL a purge starts after the last key the Store deleted, so
// it never walks the index entries its earlier deletes left (until a vacuum); a nonce written
// behind the cursor (a replica whose clock is behind) is purged once the cursor starts over, at
// most one slot later.
func TestPurgeNoncesCursor(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	now := nonceNow
	for i := range 6 {
		if ok, err := s.UseNonce(ctx, "mch_1", fmt.Sprintf("n%d", i), now.Add(-6*time.Minute), now.Add(-10*time.Minute)); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	var got []int
	for range 4 {
		n, err := s.PurgeNonces(ctx, now, 4)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if fmt.Sprint(got) != "[4 2 0 0]" {
		t.Fatalf("purged per batch %v; want [4 2 0 0]", got)
	}
	// Behind the cursor: the key sorts before the last one deleted ("n5") in the same slot.
	if ok, err := s.UseNonce(ctx, "mch_1", "a-late", now.Add(-6*time.Minute), now.Add(-10*time.Minute)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if n, err := s.PurgeNonces(ctx, now.Add(time.Minute), 4); err != nil || n != 0 {
		t.Fatalf("a purge within the slot after catching up: %d, %v; want 0 (it starts after the cursor)", n, err)
	}
	if n, err := s.PurgeNonces(ctx, now.Add(2*time.Minute), 4); err != nil || n != 0 {
		t.Fatalf("the purge that starts over: %d, %v; want 0 (it found nothing after the cursor, then went back to the start)", n, err)
	}
	if n, err := s.PurgeNonces(ctx, now.Add(2*time.Minute+time.Second), 4); err != nil || n != 1 {
		t.Fatalf("the purge after starting over: %d, %v; want 1 (the nonce behind the old cursor)", n, err)
	}
}
