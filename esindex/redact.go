package esindex

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
)

// Redacted is what replaces a password, an API key or the password part of a
// URL's user info wherever essync shows a URL, an error or a report.
const Redacted = "xxxxx"

// RedactURL returns raw with the password of its user info replaced by
// Redacted, so https://elastic:s3cret@host:9200 becomes
// https://elastic:xxxxx@host:9200. It works on strings url.Parse refuses
// (a mistyped port, say) as well, because those end up in error messages too.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	// The authority ends at the first "/", "?" or "#"; user info is what comes
	// before its last "@" (a password may itself contain "@").
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return raw
	}
	return scheme + "://" + user + ":" + Redacted + rest[at:]
}

// secrets lists every credential in cfg in the forms it may take in an error
// message: as given, URL-escaped (url.URL.String) and base64-encoded (an
// Authorization header). Empty strings are left out.
func (c Config) secrets() []string {
	var raw []string
	if c.Password != "" {
		raw = append(raw, c.Password)
		if c.Username != "" {
			raw = append(raw, base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
		}
	}
	if c.APIKey != "" {
		raw = append(raw, c.APIKey)
		if decoded, err := base64.StdEncoding.DecodeString(c.APIKey); err == nil {
			if _, key, ok := strings.Cut(string(decoded), ":"); ok && key != "" {
				raw = append(raw, key)
			}
		}
	}
	for _, u := range c.URLs {
		if pw := urlPassword(u); pw != "" {
			raw = append(raw, pw)
			if dec, err := url.PathUnescape(pw); err == nil {
				raw = append(raw, dec)
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range raw {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("u", s).String()[2:]} {
			if form != "" && !seen[form] {
				seen[form] = true
				out = append(out, form)
			}
		}
	}
	return out
}

// urlPassword returns the password part of raw's user info, as written.
func urlPassword(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// scrubber removes credentials from text before it can reach a log, an error
// message or a report.
type scrubber struct{ secrets []string }

func newScrubber(cfg Config) scrubber { return scrubber{secrets: cfg.secrets()} }

// text replaces every URL's password and every known secret in s.
func (s scrubber) text(str string) string {
	for _, secret := range s.secrets {
		str = strings.ReplaceAll(str, secret, Redacted)
	}
	return str
}

// err returns err unchanged when its message carries no secret, and otherwise
// an error with the scrubbed message that still unwraps to err, so
// errors.Is(err, context.DeadlineExceeded) and the like keep working.
func (s scrubber) err(err error) error {
	if err == nil {
		return nil
	}
	var u *url.Error
	if errors.As(err, &u) {
		// net/http names the request URL, user info included.
		if clean := RedactURL(u.URL); clean != u.URL {
			return &redactedError{msg: s.text(strings.ReplaceAll(err.Error(), u.URL, clean)), err: err}
		}
	}
	msg := err.Error()
	if clean := s.text(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// redactedError is an error whose message had credentials removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
