package esindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
)

// TestBrokenBody: only a connection that went away mid-answer makes Scan ask
// for a page again; an answer that is there but unreadable does not.
func TestBrokenBody(t *testing.T) {
	var syntax *json.SyntaxError
	badJSON := json.NewDecoder(strings.NewReader(`{"hits":}`)).Decode(&struct{}{})
	if !errors.As(badJSON, &syntax) {
		t.Fatalf("setup: %v is not a syntax error", badJSON)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), true},
		{syscall.ECONNRESET, true},
		{badJSON, false},
		{errors.New("elasticsearch refused"), false},
	} {
		if got := brokenBody(tc.err); got != tc.want {
			t.Errorf("brokenBody(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
