package store

import (
	"fmt"
	"net/url"
	"strings"
)

// DSN is a parsed --db value.
type DSN struct {
	Dialect Dialect
	Path    string     // SQLite file
	Options url.Values // SQLite: synchronous=full|normal|off, busy_timeout=ms
	URL     string     // PostgreSQL connection URL
}

// DSNError is a --db value paygw cannot use; the CLI turns it into exit code 2.
type DSNError struct{ Msg string }

func (e *DSNError) Error() string { return "invalid --db: " + e.Msg }

// ParseDSN routes a DSN by scheme: sqlite:PATH[?synchronous=normal] or postgres://….
func ParseDSN(s string) (DSN, error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		rest := strings.TrimPrefix(s, "sqlite:")
		rest = strings.TrimPrefix(rest, "//")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return DSN{}, &DSNError{Msg: fmt.Sprintf("%q: sqlite needs a file path (sqlite:paygw.db)", s)}
		}
		opts, err := url.ParseQuery(query)
		if err != nil {
			return DSN{}, &DSNError{Msg: fmt.Sprintf("%q: %v", s, err)}
		}
		for k, v := range opts {
			switch k {
			case "synchronous":
				switch strings.ToLower(v[0]) {
				case "full", "normal", "off", "extra":
				default:
					return DSN{}, &DSNError{Msg: fmt.Sprintf("%q: synchronous=%s (want full, normal, extra or off)", s, v[0])}
				}
			case "busy_timeout":
			default:
				return DSN{}, &DSNError{Msg: fmt.Sprintf("%q: unknown sqlite option %q (synchronous, busy_timeout)", s, k)}
			}
		}
		return DSN{Dialect: SQLite, Path: path, Options: opts}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return DSN{}, &DSNError{Msg: "postgres URL does not parse"}
		}
		return DSN{Dialect: Postgres, URL: s}, nil
	case s == "":
		return DSN{}, &DSNError{Msg: "empty (want sqlite:PATH or postgres://…)"}
	default:
		scheme, _, _ := strings.Cut(s, ":")
		return DSN{}, &DSNError{Msg: fmt.Sprintf("unsupported scheme %q (want sqlite:PATH or postgres://…)", scheme)}
	}
}

// String renders the DSN without a password.
func (d DSN) String() string {
	return d.Dialect.redact(d)
}
