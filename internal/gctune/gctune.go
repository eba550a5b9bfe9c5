// Package gctune sets the Go garbage collector of a long-running paygw process (serve): how much
// garbage may pile up between collections (GOGC) and the soft memory limit the collector keeps
// the heap under (GOMEMLIMIT). The environment variables, when set, win over both.
//
// Why: serve's live heap is small (tens of MiB) and it allocates per request, so at the Go
// default of GOGC=100 it collects several times a second; the collector's background marking took
// 11 % of its CPU at 2,500 payments/s, 3 % at GOGC=400 (BENCHMARKS.md, issue 12, eighth round).
// A higher GOGC trades memory for CPU; the memory limit, from the config or the container's
// cgroup limit, makes the collector work harder as the heap nears it instead of letting the
// process be killed.
package gctune

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is serve's GOGC unless the config or the environment sets another.
const DefaultGCPercent = 400

// CgroupShare is the part of the container's memory limit (cgroup v2 memory.max) that becomes
// the soft Go memory limit when neither the config nor GOMEMLIMIT sets one: the rest is for
// what the Go runtime's limit does not count (the binary's text, kernel buffers of sockets).
const CgroupShare = 0.9

// CgroupMemoryMax is where cgroup v2 exposes the container's memory limit.
const CgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// Settings is what to apply: GCPercent 0 means DefaultGCPercent; MemoryLimit 0 means "from the
// container's cgroup limit, if it has one".
type Settings struct {
	GCPercent   int
	MemoryLimit int64 // bytes
}

// Applied is what the process runs with and where each value came from ("GOGC", "config",
// "default", "GOMEMLIMIT", "cgroup", "none"), for the start-up log line.
type Applied struct {
	GCPercent       int
	GCPercentFrom   string
	MemoryLimit     int64 // bytes; 0 = none
	MemoryLimitFrom string
}

// Apply sets the collector from s unless the environment (getenv) already did. cgroupFile is
// read for the container's memory limit (CgroupMemoryMax; "" skips it).
func Apply(getenv func(string) string, s Settings, cgroupFile string) Applied {
	var a Applied
	if getenv("GOGC") != "" {
		a.GCPercent, a.GCPercentFrom = debug.SetGCPercent(-1), "GOGC"
		debug.SetGCPercent(a.GCPercent) // read it back: the runtime parsed the variable at start
	} else {
		a.GCPercent, a.GCPercentFrom = s.GCPercent, "config"
		if s.GCPercent == 0 {
			a.GCPercent, a.GCPercentFrom = DefaultGCPercent, "default"
		}
		debug.SetGCPercent(a.GCPercent)
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		a.MemoryLimit, a.MemoryLimitFrom = debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	case s.MemoryLimit > 0:
		a.MemoryLimit, a.MemoryLimitFrom = s.MemoryLimit, "config"
		debug.SetMemoryLimit(s.MemoryLimit)
	default:
		a.MemoryLimitFrom = "none"
		if lim := cgroupLimit(cgroupFile); lim > 0 {
			a.MemoryLimit, a.MemoryLimitFrom = int64(float64(lim)*CgroupShare), "cgroup"
			debug.SetMemoryLimit(a.MemoryLimit)
		}
	}
	if a.MemoryLimitFrom == "GOMEMLIMIT" && a.MemoryLimit == int64(^uint64(0)>>1) {
		a.MemoryLimit = 0 // GOMEMLIMIT=off
	}
	return a
}

// cgroupLimit is the byte limit in a cgroup v2 memory.max file: 0 when the file is absent,
// unreadable, "max" (no limit) or not a number.
func cgroupLimit(path string) int64 {
	if path == "" {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
