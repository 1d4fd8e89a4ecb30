// Package jsonstr quotes strings as encoding/json does, without its
// allocation for the plain strings that ids and field names nearly always
// are. It is the one place essync asks "does JSON escape anything in this
// string?": the nearest_neighbors.json writer (ids), the document encoder
// (field names) and the snapshot's canonical-value test (string values).
package jsonstr

import "encoding/json"

// Plain reports whether encoding/json writes s between quotes exactly as it
// is: every byte printable ASCII (0x20–0x7e) and none of the bytes it
// escapes, '"' and '\\', nor, since json.Marshal escapes HTML and essync
// writes what it writes, '<', '>' and '&'. DEL (0x7f), which encoding/json
// does not escape, is not counted plain: the callers' tests never did.
func Plain[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Append appends s as a JSON string, byte for byte as json.Marshal(s)
// writes it (HTML characters escaped, invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped). A plain s is copied between quotes; anything else goes
// through encoding/json itself. Go's own quoting (strconv.Quote) is not
// JSON: it writes escapes such as \x01.
func Append(dst []byte, s string) []byte {
	if !Plain(s) {
		q, _ := json.Marshal(s) // a string always encodes
		return append(dst, q...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
