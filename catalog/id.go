package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// maxIDExponent bounds the exponent of a numeric id, so "1e999999" is a skip
// with a reason instead of a megabyte of zeros.
const maxIDExponent = 64

// maxIDBytes is Elasticsearch's limit on a document _id; a longer id would
// be rejected at load time, so it is reported here with the row.
const maxIDBytes = 512

// readID returns the product id as text, or the skip kind and reason.
// Strings are taken as written; numbers become their exact decimal text
// (12345678901234567890 stays exact, 1.50 becomes "1.5", 1e3 becomes "1000"),
// because float64 would silently merge large ids.
func readID(fields map[string]json.RawMessage, field string) (string, SkipKind, string) {
	raw, ok := fields[field]
	if !ok || isNull(raw) {
		return "", SkipMissingID, fmt.Sprintf("no %q field: add a product id", field)
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", SkipBadID, fmt.Sprintf("%q is not a valid JSON string: %v", field, err)
		}
		if strings.TrimSpace(s) == "" {
			return "", SkipMissingID, fmt.Sprintf("%q is empty: add a product id", field)
		}
		if len(s) > maxIDBytes {
			return "", SkipBadID, fmt.Sprintf("%q is %d bytes long, more than the %d bytes Elasticsearch allows in a document id: shorten it",
				field, len(s), maxIDBytes)
		}
		return s, "", ""
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		s, err := decimalText(string(raw))
		if err != nil {
			return "", SkipBadID, fmt.Sprintf("%q number %s cannot be used as an id (%v): write the id as a string", field, raw, err)
		}
		return s, "", ""
	default:
		return "", SkipBadID, fmt.Sprintf("%q must be a string or a number, got %s: fix the id", field, jsonKind(raw))
	}
}

// decimalText rewrites a JSON number literal as plain decimal text without
// exponent, leading zeros or trailing fractional zeros, exactly.
func decimalText(lit string) (string, error) {
	neg := strings.HasPrefix(lit, "-")
	s := strings.TrimPrefix(lit, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > maxIDExponent || e < -maxIDExponent {
			return "", fmt.Errorf("exponent out of range")
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", fmt.Errorf("not a JSON number")
	}
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point within digits
	for point > len(digits) {
		digits += "0"
	}
	for point < 0 {
		digits = "0" + digits
		point++
	}
	whole := strings.TrimLeft(digits[:point], "0")
	if whole == "" {
		whole = "0"
	}
	fraction := strings.TrimRight(digits[point:], "0")
	out := whole
	if fraction != "" {
		out += "." + fraction
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// jsonKind names the JSON type of raw for messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
