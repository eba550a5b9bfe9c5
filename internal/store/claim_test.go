package store_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// Issue 12: the claim walked the due queue in global order and stepped over every due row of a
// merchant at its cap, so its cost grew with that merchant's backlog (and a small merchant behind
// the backlog waited for the whole walk). With 20,000 due notifications of a merchant at its cap,
// the claim must still find the other merchant's one, and read a bounded number of rows: on
// PostgreSQL counted by EXPLAIN ANALYZE for both of its statements, on SQLite no read of
// notifications but bounded ones (statistics present: the planner's worst case).
func TestClaimCostIndependentOfBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		big, _ := storetest.Merchant(t, s, "big", 60)
		small, _ := storetest.Merchant(t, s, "small", 60)
		const backlog = 20000
		insertNotes(t, s, big.ID, backlog, t0)
		late := insertNote(t, s, small.ID, "pay_small", paygw.EventPaymentSucceeded, t0.Add(time.Hour))
		if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(2 * time.Hour)
		o := store.ClaimOptions{Holder: "w1", Limit: 8, PerMerchant: 8, Lease: time.Hour}
		if ds, err := s.ClaimNotifications(ctx, o, now); err != nil || len(ds) != 8 || ds[0].MerchantID != big.ID {
			t.Fatalf("first claim: %d %v", len(ds), err)
		}
		o.Limit = 16
		front, heads, err := s.ExplainClaim(ctx, o, now)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() == store.Postgres {
			for name, plan := range map[string]string{"front": front[0], "heads": heads[0]} {
				if read := rowsRead(t, plan); read > 1000 {
					t.Errorf("the claim's %s statement read %d rows with a merchant at its cap over a backlog of %d:\n%s", name, read, backlog, plan)
				}
			}
		} else {
			checkSQLitePlan(t, "front", front)
			checkSQLitePlan(t, "heads", heads)
		}
		ds, err := s.ClaimNotifications(ctx, o, now)
		if err != nil || len(ds) != 1 || ds[0].ID != late.ID {
			t.Fatalf("claim with the big merchant at its cap: %d %v, want the small merchant's notification", len(ds), err)
		}
	})
}

// checkSQLitePlan fails unless every access to notifications in an EXPLAIN QUERY PLAN ("id
// parent detail" rows) is a bounded probe — a merchant's head, the next merchant with waiting
// notifications, the leases, a primary-key lookup — or the due-order scan inside the front
// window, whose LIMIT bounds it.
func checkSQLitePlan(t *testing.T, name string, plan []string) {
	t.Helper()
	allowed := regexp.MustCompile(`USING (COVERING )?INDEX (notifications_due_merchant( \((merchant_id=\? AND next_attempt_at<\?|merchant_id>\?)\))?|notifications_leased|sqlite_autoindex_notifications_1 \(id=\?\))$`)
	table := regexp.MustCompile(`^(SCAN|SEARCH) (notifications|n)\b`)
	detail, parent := map[string]string{}, map[string]string{}
	for _, row := range plan {
		f := strings.SplitN(row, " ", 3)
		detail[f[0]], parent[f[0]] = f[2], f[1]
	}
	inFront := func(id string) bool {
		for ; id != "0" && id != ""; id = parent[id] {
			if strings.HasSuffix(detail[id], " front") {
				return true
			}
		}
		return false
	}
	reads := 0
	for _, row := range plan {
		f := strings.SplitN(row, " ", 3)
		if table.MatchString(f[2]) {
			reads++
		}
		if table.MatchString(f[2]) && !allowed.MatchString(f[2]) && !inFront(f[0]) {
			t.Errorf("the claim's %s statement reads the outbox beyond bounded probes: %q\n%s", name, f[2], strings.Join(plan, "\n"))
		}
		// The window is the oldest due rows whoever they belong to: a cap filter inside it
		// would make its LIMIT step over every row of a merchant at its cap.
		if inFront(f[0]) && strings.Contains(f[2], "SUBQUERY") {
			t.Errorf("the claim's %s statement filters inside the front window: %q\n%s", name, f[2], strings.Join(plan, "\n"))
		}
	}
	if reads == 0 { // the checks above would pass on a plan they cannot read
		t.Errorf("no access to notifications in the claim's %s plan:\n%s", name, strings.Join(plan, "\n"))
	}
}

// rowsRead sums, over a PostgreSQL JSON plan, the rows each node produced and the rows its
// filters removed, times its loops.
func rowsRead(t *testing.T, js string) int {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	num := func(m map[string]any, k string) int { v, _ := m[k].(float64); return int(v) }
	var walk func(p map[string]any) int
	walk = func(p map[string]any) int {
		loops := num(p, "Actual Loops")
		n := (num(p, "Actual Rows") + num(p, "Rows Removed by Filter") + num(p, "Rows Removed by Index Recheck")) * loops
		if subs, ok := p["Plans"].([]any); ok {
			for _, sp := range subs {
				n += walk(sp.(map[string]any))
			}
		}
		return n
	}
	return walk(doc[0].Plan)
}
