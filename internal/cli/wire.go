package cli

import (
	"fmt"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/sandbox"
)

// Channels builds the adapters of every channel paygw calls online (kind sandbox). Channels of
// kind statement have no adapter: paygw only reconciles their bills from files.
func Channels(cfg *config.Config) (*channel.Registry, error) {
	var chs []channel.Channel
	for _, name := range cfg.ChannelNames() {
		c := cfg.Channels[name]
		if c.Kind != "sandbox" {
			continue
		}
		ch, err := sandbox.NewChannel(name, c.URL, c.Secret, sandbox.WithTimeout(c.Timeout.D()))
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		chs = append(chs, ch)
	}
	return channel.NewRegistry(chs...)
}
