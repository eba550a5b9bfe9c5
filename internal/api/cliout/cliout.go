// Package cliout holds the JSON objects paygw's commands print with --json (API.md: one object
// on stdout). The CLI fills them and the demo, which runs the CLI, reads them back with the
// same types, so a shape is declared once. Field order is output order: do not reorder, and
// add fields rather than rename (scripts parse these).
package cliout

import (
	"encoding/json"
	"io"
)

// Write prints v as one JSON line, HTML characters unescaped (URLs stay readable).
func Write(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
