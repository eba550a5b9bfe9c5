package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
)

// Front is a simulator of a real channel's wire protocol built on the sandbox core
// (`paygw sandbox --protocol NAME`).
type Front interface {
	Handler() http.Handler
	Run(ctx context.Context) error
}

// KeygenInput says how the simulator and the gateway will reach each other.
type KeygenInput struct {
	Channel      string // the gateway's name for the channel (config key under channels)
	SimulatorURL string // the simulator's base URL as the gateway dials it
}

// KeySet is what a protocol's key generator wrote: the gateway's config section and the
// simulator's command line, ready to paste.
type KeySet struct {
	Files          []string // paths written
	GatewayConfig  string   // YAML under `channels:`
	SimulatorFlags string   // flags for `paygw sandbox`
}

// Protocol is a channel wire protocol the sandbox can speak. Each real channel kind registers
// its simulator from its own package.
type Protocol struct {
	// New builds the simulator from a key directory (as Keygen writes it) and the core's options
	// (fault flags, state file, auto-pay, …). publicURL is the simulator's own base URL ("" =
	// from each request).
	New func(keyDir string, core Options, publicURL string) (Front, error)
	// Keygen writes a matching set of key files for both sides into dir.
	Keygen func(dir string, in KeygenInput) (KeySet, error)
}

var (
	protoMu   sync.RWMutex
	protocols = map[string]Protocol{}
)

// RegisterProtocol makes a protocol available to `paygw sandbox --protocol`. Registering a name
// twice panics.
func RegisterProtocol(name string, p Protocol) {
	protoMu.Lock()
	defer protoMu.Unlock()
	if _, dup := protocols[name]; dup {
		panic("sandbox: protocol " + name + " registered twice")
	}
	protocols[name] = p
}

// LookupProtocol returns a registered protocol.
func LookupProtocol(name string) (Protocol, error) {
	protoMu.RLock()
	defer protoMu.RUnlock()
	p, ok := protocols[name]
	if !ok {
		return Protocol{}, fmt.Errorf("unknown protocol %q (have %v)", name, protocolNames())
	}
	return p, nil
}

// Protocols lists the registered protocols.
func Protocols() []string {
	protoMu.RLock()
	defer protoMu.RUnlock()
	return protocolNames()
}

func protocolNames() []string {
	out := make([]string, 0, len(protocols))
	for n := range protocols {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
