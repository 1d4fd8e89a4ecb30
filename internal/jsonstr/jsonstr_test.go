package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

// cases are strings on both sides of every line Plain draws.
var cases = []struct {
	s     string
	plain bool
}{
	{"", true},
	{"p-000123", true},
	{"title", true},
	{" ~!#$%'()*+,-./:;=?@[]^_`{|}", true},
	{`a"b`, false},
	{`a\b`, false},
	{"a<b", false},
	{"a>b", false},
	{"a&b", false},
	{"tab\there", false},
	{"nl\n", false},
	{"\x00", false},
	{"\x01", false},
	{"\x1f", false},
	{"\x7f", false}, // encoding/json leaves DEL as it is, but Plain is the conservative side
	{"größe", false},
	{"\u2028", false},
	{"\u2029", false},
	{"\xff\xfe", false}, // invalid UTF-8
	{"a\xc3", false},    // a cut UTF-8 sequence
	{"日本", false},
}

func TestAppend(t *testing.T) {
	for _, c := range cases {
		want, _ := json.Marshal(c.s)
		if got := Append([]byte("x:"), c.s); string(got) != "x:"+string(want) {
			t.Errorf("Append(%q) = %s, want x:%s", c.s, got, want)
		}
		if got := Plain(c.s); got != c.plain {
			t.Errorf("Plain(%q) = %v, want %v", c.s, got, c.plain)
		}
		if got := Plain([]byte(c.s)); got != c.plain {
			t.Errorf("Plain([]byte(%q)) = %v, want %v", c.s, got, c.plain)
		}
	}
}

// Plain's promise over every byte: a plain one-byte string is written as it
// is; each byte it refuses is one encoding/json changes, but for DEL.
func TestPlainEveryByte(t *testing.T) {
	for b := range 256 {
		s := "a" + string([]byte{byte(b)}) + "z"
		q, _ := json.Marshal(s)
		asIs := string(q) == `"`+s+`"`
		if Plain(s) && !asIs {
			t.Errorf("byte %#x: Plain, but encoding/json writes %s", b, q)
		}
		if !Plain(s) && asIs && b != 0x7f {
			t.Errorf("byte %#x: encoding/json writes it as it is, Plain refuses it", b)
		}
	}
}

// FuzzAppend checks Append against json.Marshal on any string, and that a
// plain string round-trips between quotes.
func FuzzAppend(f *testing.F) {
	for _, c := range cases {
		f.Add(c.s)
	}
	f.Add(strings.Repeat("ab<", 40))
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := Append(nil, s); string(got) != string(want) {
			t.Errorf("Append(%q) = %s, json.Marshal %s", s, got, want)
		}
		if Plain(s) && string(want) != `"`+s+`"` {
			t.Errorf("Plain(%q), but json.Marshal writes %s", s, want)
		}
	})
}
