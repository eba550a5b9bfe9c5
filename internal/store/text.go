package store

import (
	"fmt"
	"unicode/utf8"
)

// Caps of the free texts the store keeps: a run's summary and error, an item's note. They come
// from errors that may quote outside input (a statement's cells, a zip's entry names); the whole
// of such a text is in the log line that reported it, the database keeps a bounded prefix.
const (
	MaxJobText  = 4 << 10
	MaxNoteText = 1 << 10
)

// capText returns s cut to at most n bytes at a rune boundary, saying how long it was.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
