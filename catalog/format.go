package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// utf8BOM is skipped at the start of a catalog: some Windows tools write it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// firstLineLimit is how much of the first line is looked at to choose the
// format. A first line longer than this that opens an array is a JSON array
// written on one line (json.dump without indent): it is streamed, never held
// in memory whole.
const firstLineLimit = 1 << 20

// decode reads every record of the catalog and hands it to emit in file
// order. The format is detected from the first non-blank line:
//
//   - a line that starts with '[' and is not complete JSON by itself, or is
//     longer than firstLineLimit, opens a JSON array: it (and any arrays
//     after it) is streamed element by element, and a syntax error in it is
//     fatal (the rest cannot be found reliably);
//   - anything else is read line by line (NDJSON): each line is an object or
//     an array of objects (Scrapy's shape), a short one-line JSON array
//     included, and a line that is not valid JSON becomes a skipped record.
//
// A file where no line at all is valid JSON is not a catalog: fatal.
func decode(r io.Reader, name string, emit func(record)) error {
	br := bufio.NewReaderSize(r, firstLineLimit)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	lineNo := 0
	for {
		chunk, err := br.ReadSlice('\n')
		line := bytes.Clone(chunk) // chunk is only valid until the next read
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return nil // empty file: the caller reports it
			}
			return fmt.Errorf("catalog %s: read error at line %d: %w", name, lineNo+1, err)
		}
		lineNo++
		trimmed := bytes.TrimSpace(line)
		if err == bufio.ErrBufferFull && len(trimmed) > 0 && trimmed[0] == '[' {
			return decodeArray(io.MultiReader(bytes.NewReader(line), br), name, lineNo, emit)
		}
		if err == bufio.ErrBufferFull { // a very long first line that is not an array
			rest, rerr := br.ReadBytes('\n')
			line, err = append(line, rest...), rerr
			trimmed = bytes.TrimSpace(line)
		}
		if len(trimmed) == 0 {
			continue
		}
		if trimmed[0] == '[' && !json.Valid(trimmed) {
			return decodeArray(io.MultiReader(bytes.NewReader(line), br), name, lineNo, emit)
		}
		return decodeLines(br, name, lineNo, bytes.TrimSuffix(line, []byte("\n")), err, emit)
	}
}

// readLine returns the next line without its newline; err is io.EOF after
// the last line (the line itself may then be non-empty).
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadBytes('\n')
	return bytes.TrimSuffix(line, []byte("\n")), err
}

// decodeLines reads NDJSON starting with the already read first line.
func decodeLines(br *bufio.Reader, name string, lineNo int, line []byte, err error, emit func(record)) error {
	valid, invalid, firstBad := 0, 0, 0
	for {
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if decodeLine(trimmed, lineNo, emit) {
				valid++
			} else {
				invalid++
				if firstBad == 0 {
					firstBad = lineNo
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				return fmt.Errorf("catalog %s: read error at line %d: %w", name, lineNo+1, err)
			}
			break
		}
		line, err = readLine(br)
		if len(line) == 0 && err == io.EOF {
			break
		}
		lineNo++
	}
	if valid == 0 && invalid > 0 {
		return fmt.Errorf("catalog %s: not a JSON catalog: none of its %d lines is valid JSON (first at line %d); "+
			"expected a JSON array of objects, NDJSON of objects, or NDJSON of arrays of objects", name, invalid, firstBad)
	}
	return nil
}

// decodeLine emits the records of one NDJSON line and reports whether the
// line was valid JSON.
func decodeLine(line []byte, lineNo int, emit func(record)) bool {
	if line[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(line, &elems); err != nil {
			emit(badLine(lineNo, err))
			return false
		}
		for _, e := range elems {
			emit(objectRecord(e, lineNo))
		}
		return true
	}
	if line[0] == '{' {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			emit(badLine(lineNo, err))
			return false
		}
		emit(record{line: lineNo, fields: fields, raw: line})
		return true
	}
	var v any
	if err := json.Unmarshal(line, &v); err != nil {
		emit(badLine(lineNo, err))
		return false
	}
	emit(objectRecord(line, lineNo)) // valid JSON, but not an object
	return true
}

// badLine is the record for a line that is not valid JSON.
func badLine(lineNo int, err error) record {
	return record{line: lineNo, bad: SkipInvalidJSON, reason: fmt.Sprintf(
		"line %d is not valid JSON (%v): fix or remove the line; its products were not read", lineNo, err)}
}

// objectRecord parses one catalog record; anything but an object is a skip.
func objectRecord(raw []byte, lineNo int) record {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return record{line: lineNo, bad: SkipNotObject, reason: fmt.Sprintf(
			"record is %s, not a JSON object: each product must be an object with its fields", jsonKind(raw))}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return record{line: lineNo, bad: SkipInvalidJSON, reason: fmt.Sprintf(
			"record is not valid JSON (%v): fix the record", err)}
	}
	return record{line: lineNo, fields: fields, raw: raw}
}

// decodeArray streams a JSON array spread over many lines (and any further
// top-level arrays after it), one element in memory at a time. firstLine is
// the line number the stream starts at.
func decodeArray(r io.Reader, name string, firstLine int, emit func(record)) error {
	lc := &lineCounter{r: r, line: firstLine}
	dec := json.NewDecoder(lc)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return arrayError(name, lc, dec, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("catalog %s: line %d: expected '[' to start a JSON array, found %v; "+
				"a catalog is a JSON array of objects, NDJSON of objects, or NDJSON of arrays", name, lc.lineAt(dec.InputOffset()), tok)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return arrayError(name, lc, dec, err)
			}
			start := dec.InputOffset() - int64(len(raw))
			emit(objectRecord(raw, lc.lineAt(start)))
		}
		if _, err := dec.Token(); err != nil { // the closing ']'
			return arrayError(name, lc, dec, err)
		}
	}
}

// arrayError makes a fatal error for broken JSON inside a multi-line array.
func arrayError(name string, lc *lineCounter, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("catalog %s: the JSON array ends early (at line %d, the end of the file): the file is truncated; re-run the scrape or close the array",
			name, lc.lineAt(max(lc.read-1, 0)))
	}
	return fmt.Errorf("catalog %s: invalid JSON at line %d: %w; fix it, or write one product per line (NDJSON) so bad lines are skipped instead",
		name, lc.lineAt(off), err)
}

// lineCounter maps byte offsets of the stream it reads to line numbers. It
// remembers only the newlines the decoder has read but not yet passed, so it
// needs no more memory than the decoder's buffer.
type lineCounter struct {
	r        io.Reader
	read     int64   // bytes read so far
	newlines []int64 // offsets of newlines at or after the last lookup
	line     int     // line number of the last lookup
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			c.newlines = append(c.newlines, c.read+int64(i))
		}
	}
	c.read += int64(n)
	return n, err
}

// lineAt returns the line of offset off; offsets must not decrease.
func (c *lineCounter) lineAt(off int64) int {
	i := 0
	for i < len(c.newlines) && c.newlines[i] < off {
		i++
	}
	c.line += i
	c.newlines = c.newlines[i:]
	if len(c.newlines) == 0 {
		c.newlines = nil // let the backing array go
	}
	return c.line
}
