package channel

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Section is one channel's configuration as its kind sees it: the keys every kind shares, plus
// the kind's own keys (Keys) which only the kind interprets.
type Section struct {
	Name       string // the channel's name, as in payments and `reconcile --channel`
	Kind       string
	URL        string
	Secret     string
	PayMethods []string
	Timeout    time.Duration
	PublicURL  string         // paygw's own base URL (callbacks reach {PublicURL}/v1/channels/{Name}/notify)
	Keys       map[string]any // kind-specific keys, as decoded from YAML
}

// Key names a key of this section in error messages: channels.NAME.key.
func (s *Section) Key(key string) string { return "channels." + s.Name + "." + key }

// KeyError is a configuration error naming the key (channels.NAME.key) that is wrong.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// Errorf returns a KeyError naming key of this section (key may carry an index: "pay_methods[1]").
func (s *Section) Errorf(key, format string, args ...any) error {
	return &KeyError{Key: s.Key(key), Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes the kind-specific keys into v (a pointer to a struct with yaml tags); a key the
// struct does not have is refused with a KeyError naming it.
func (s *Section) Decode(v any) error {
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			known[name] = true
		}
	}
	names := make([]string, 0, len(s.Keys))
	for k := range s.Keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !known[k] {
			return s.Errorf(k, "not a key of channel kind %s", s.Kind)
		}
	}
	if len(s.Keys) == 0 {
		return nil
	}
	for _, k := range names {
		b, err := yaml.Marshal(map[string]any{k: s.Keys[k]})
		if err != nil {
			return s.Errorf(k, "%v", err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			return s.Errorf(k, "%v", err)
		}
	}
	return nil
}

// Factory is what a channel kind registers: how to check its config section and build its adapter.
type Factory struct {
	// Configure applies the kind's defaults to a section and validates it; errors name the key
	// (Section.Errorf). It runs at config load, for every command.
	Configure func(s *Section) error
	// New builds the adapter from a configured section. Nil for a kind paygw never calls online
	// (its bills are reconciled from files). Key files are read here: a missing key is refused
	// when the adapter is built, with an error naming the key.
	New func(s Section) (Channel, error)
	// Format is the kind's statement format for reconcile ("" = the channel's name).
	Format string
	// Default marks the kind used when a channel names no kind, and for the built-in default
	// configuration (one channel named after the kind).
	Default bool
}

// Online reports whether paygw calls channels of this kind (they take payments).
func (f Factory) Online() bool { return f.New != nil }

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Factory{}
)

// Register makes a channel kind available to the config. Kinds register from their package's
// init; registering a kind twice, or two default kinds, panics (a wiring bug).
func Register(kind string, f Factory) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic("channel: kind " + kind + " registered twice")
	}
	if f.Default {
		for k, o := range kinds {
			if o.Default {
				panic("channel: kinds " + k + " and " + kind + " both claim to be the default")
			}
		}
	}
	kinds[kind] = f
}

// Lookup returns the factory of a kind.
func Lookup(kind string) (Factory, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	f, ok := kinds[kind]
	return f, ok
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DefaultKind is the kind registered as the default ("" when none is).
func DefaultKind() string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	for k, f := range kinds {
		if f.Default {
			return k
		}
	}
	return ""
}

// Build builds the adapter of a configured section. It returns (nil, nil) for a kind paygw does
// not call online.
func Build(s Section) (Channel, error) {
	f, ok := Lookup(s.Kind)
	if !ok {
		return nil, fmt.Errorf("channel %s: unknown kind %q (have %v)", s.Name, s.Kind, Kinds())
	}
	if f.New == nil {
		return nil, nil
	}
	c, err := f.New(s)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", s.Name, err)
	}
	return c, nil
}
