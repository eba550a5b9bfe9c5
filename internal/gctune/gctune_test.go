package gctune

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	gc0, lim0 := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(gc0); debug.SetMemoryLimit(lim0) })
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gib := file("gib", "1073741824\n")
	for _, tc := range []struct {
		name      string
		env       map[string]string
		s         Settings
		cgroup    string
		gc        int
		gcFrom    string
		limit     int64
		limitFrom string
	}{
		{name: "defaults outside a container", gc: 400, gcFrom: "default", limitFrom: "none"},
		{name: "config", s: Settings{GCPercent: 250, MemoryLimit: 64 << 20}, cgroup: gib,
			gc: 250, gcFrom: "config", limit: 64 << 20, limitFrom: "config"},
		{name: "container limit", cgroup: gib, gc: 400, gcFrom: "default", limit: 966367641, limitFrom: "cgroup"},
		{name: "container without a limit", cgroup: file("max", "max\n"), gc: 400, gcFrom: "default", limitFrom: "none"},
		{name: "unreadable limit", cgroup: file("junk", "lots\n"), gc: 400, gcFrom: "default", limitFrom: "none"},
		{name: "no cgroup file", cgroup: filepath.Join(dir, "absent"), gc: 400, gcFrom: "default", limitFrom: "none"},
		// The runtime read GOGC and GOMEMLIMIT at start; Apply leaves what it found (here the
		// values the test set before the call) whatever the config says.
		{name: "environment wins", env: map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"},
			s: Settings{GCPercent: 250, MemoryLimit: 64 << 20}, cgroup: gib,
			gc: 150, gcFrom: "GOGC", limit: 1 << 30, limitFrom: "GOMEMLIMIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(150)
			debug.SetMemoryLimit(1 << 30)
			if tc.env["GOMEMLIMIT"] == "" {
				debug.SetMemoryLimit(math.MaxInt64)
			}
			got := Apply(func(k string) string { return tc.env[k] }, tc.s, tc.cgroup)
			want := Applied{GCPercent: tc.gc, GCPercentFrom: tc.gcFrom, MemoryLimit: tc.limit, MemoryLimitFrom: tc.limitFrom}
			if got != want {
				t.Fatalf("Apply = %+v, want %+v", got, want)
			}
			if gc := debug.SetGCPercent(-1); gc != tc.gc {
				t.Errorf("the runtime's GOGC is %d, want %d", gc, tc.gc)
			}
			lim := debug.SetMemoryLimit(-1)
			if tc.limit == 0 && lim != math.MaxInt64 || tc.limit != 0 && lim != tc.limit {
				t.Errorf("the runtime's memory limit is %d, want %d (0 = none)", lim, tc.limit)
			}
		})
	}
}
