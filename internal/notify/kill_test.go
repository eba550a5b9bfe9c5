package notify_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/notify"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

const childDSNEnv = "PAYGW_NOTIFY_TEST_CHILD_DSN"

// TestHelperWorkerProcess is the delivering process TestKilledWorkerProcess kills: it runs a
// worker on the DSN from the environment and is otherwise skipped.
func TestHelperWorkerProcess(t *testing.T) {
	dsn := os.Getenv(childDSNEnv)
	if dsn == "" {
		t.Skip("helper process for TestKilledWorkerProcess")
	}
	s, err := store.Open(context.Background(), dsn, store.Options{Keys: storetest.TestKeys()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Lease = config.Duration(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = notify.NewWorker(s, cfg, quietLog(), nil, notify.WithID("child")).Run(ctx)
}

// TestKilledWorkerProcess kills (SIGKILL) a process in the middle of a delivery and checks the
// notification is delivered by another worker once the dead one's lease has ended.
func TestKilledWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			m, secret := storetest.Merchant(t, s, "m", 60)
			arrived := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			rcv := newReceiver(t, func(n int) int {
				if n == 1 { // the child's request: hold it until the child is dead
					once.Do(func() { close(arrived) })
					<-release
				}
				return http.StatusOK
			})
			t.Cleanup(func() { close(release) })
			n := addNote(t, s, m.ID, rcv.URL, time.Now().UTC())

			child := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$")
			child.Env = append(os.Environ(), childDSNEnv+"="+dsn)
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-arrived:
			case <-time.After(30 * time.Second):
				child.Process.Kill()
				t.Fatal("the child never delivered")
			}
			if err := child.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
				t.Fatal(err)
			}
			_ = child.Wait()
			if got := mustGet(t, s, n.ID); got.Status != paygw.NotificationPending || got.Attempts != 0 {
				t.Fatalf("after the kill: %s with %d attempts, want pending with none", got.Status, got.Attempts)
			}
			// Another worker, its clock past the child's 3s lease, picks it up.
			w := notify.NewWorker(s, testConfig(), quietLog(), nil,
				notify.WithClock(func() time.Time { return time.Now().Add(4 * time.Second) }))
			if got := step(t, w); got != 1 {
				t.Fatalf("claimed %d after the lease, want 1", got)
			}
			reqs := rcv.requests()
			if len(reqs) != 2 || reqs[0].EventID != n.ID || reqs[1].EventID != n.ID {
				t.Fatalf("receiver got %d requests (%v), want the same event twice", len(reqs), reqs)
			}
			checkSigned(t, reqs, secret)
			if got := mustGet(t, s, n.ID); got.Status != paygw.NotificationDelivered || got.Attempts != 1 {
				t.Errorf("after the lease: %s with %d attempts, want delivered with 1", got.Status, got.Attempts)
			}
		})
	}
}
