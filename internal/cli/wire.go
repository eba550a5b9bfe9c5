package cli

import (
	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
)

// Channels builds the adapter of every channel paygw calls online, each by its kind's factory
// (channel.Register). Channels of an offline kind (statement) have no adapter: paygw only
// reconciles their bills from files.
func Channels(cfg *config.Config) (*channel.Registry, error) {
	var chs []channel.Channel
	for _, name := range cfg.ChannelNames() {
		ch, err := channel.Build(cfg.Channels[name].Section())
		if err != nil {
			return nil, err
		}
		if ch != nil {
			chs = append(chs, ch)
		}
	}
	return channel.NewRegistry(chs...)
}
