package cli

import "testing"

func TestCheckPprofAddr(t *testing.T) {
	tests := []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:6060", false, true},
		{"127.5.0.1:6060", false, true},
		{"[::1]:6060", false, true},
		{"localhost:6060", false, true},
		{":16060", false, false}, // every interface
		{"0.0.0.0:6060", false, false},
		{"[::]:6060", false, false},
		{"192.0.2.1:6060", false, false},
		{"pprof.example:6060", false, false}, // never resolved
		{"127.0.0.1", false, false},          // no port
		{":16060", true, true},
		{"0.0.0.0:6060", true, true},
	}
	for _, tt := range tests {
		err := checkPprofAddr(tt.addr, tt.remote)
		if (err == nil) != tt.ok {
			t.Errorf("checkPprofAddr(%q, remote=%v) = %v, want ok=%v", tt.addr, tt.remote, err, tt.ok)
		}
	}
}
