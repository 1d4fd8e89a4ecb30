package pipeline

import (
	"encoding/json"
	"testing"
)

func TestSameDocument(t *testing.T) {
	doc := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", `{"a":1,"image_vector":[0.5,0.25]}`, `{"a":1,"image_vector":[0.5,0.25]}`, true},
		{"white space", `{"a": {"x": [1, 2]}}`, `{"a":{"x":[1,2]}}`, true},
		{"java number rendering", `{"p":0.0005054619}`, `{"p":5.054619E-4}`, true},
		{"vector as float32", `{"image_vector":[0.0046417065]}`, `{"image_vector":[0.0046417066]}`, true},
		{"vector differs", `{"image_vector":[0.004641706]}`, `{"image_vector":[0.0046418]}`, false},
		{"value differs", `{"title":"a"}`, `{"title":"b"}`, false},
		{"field missing", `{"a":1,"b":2}`, `{"a":1,"c":2}`, false},
		{"extra field", `{"a":1}`, `{"a":1,"b":2}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameDocument(doc(tt.a), doc(tt.b)); got != tt.want {
				t.Errorf("sameDocument(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestEncodeVectorRoundTripsFloat32(t *testing.T) {
	in := []float32{0, 1, -1, 0.1, 1e-7, 0.0005054619, 0.3333333, 3.4028235e38}
	var out []float32
	if err := json.Unmarshal(encodeVector(in), &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("value %d: wrote %v, read back %v", i, in[i], out[i])
		}
	}
}
