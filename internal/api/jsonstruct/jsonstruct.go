// Package jsonstruct turns JSON objects into google.protobuf.Struct
// messages, as the API returns users' traits.
//
// encoding/json and structpb need a map[string]any in between (every
// value boxed, every map built twice), and protojson's decoder is slower
// still; a page of 50 users spent about a fifth of its server time there.
// Object reads the JSON once and builds the Struct directly. It handles
// the JSON the project stores (written by encoding/json): anything else it
// is not sure of — an escape in a string, invalid UTF-8, nesting deeper
// than maxDepth, a number out of range, malformed JSON — it hands to
// encoding/json and structpb, so its answer is always theirs
// (FuzzObjectMatchesEncodingJSON checks that).
package jsonstruct

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// maxDepth is how deep the fast path nests; deeper documents go to
// encoding/json.
const maxDepth = 32

// Object returns the Struct of a JSON object (null gives an empty Struct,
// as encoding/json and structpb do).
func Object(data []byte) (*structpb.Struct, error) {
	p := parser{b: data}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '{' {
		if s, ok := p.object(0); ok {
			if p.space(); p.i == len(p.b) {
				return s, nil
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return structpb.NewStruct(m)
}

type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads an object starting at p.i ('{').
func (p *parser) object(depth int) (*structpb.Struct, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.i++ // {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return s, true
	}
	for {
		p.space()
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		if p.space(); p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		s.Fields[k] = v
		if p.space(); p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return s, true
		default:
			return nil, false
		}
	}
}

func (p *parser) list(depth int) (*structpb.ListValue, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.i++ // [
	l := &structpb.ListValue{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return l, true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		l.Values = append(l.Values, v)
		if p.space(); p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return l, true
		default:
			return nil, false
		}
	}
}

func (p *parser) value(depth int) (*structpb.Value, bool) {
	if p.space(); p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		s, ok := p.object(depth + 1)
		return structpb.NewStructValue(s), ok
	case c == '[':
		l, ok := p.list(depth + 1)
		return structpb.NewListValue(l), ok
	case c == '"':
		s, ok := p.string()
		return structpb.NewStringValue(s), ok
	case c == 't':
		return structpb.NewBoolValue(true), p.literal("true")
	case c == 'f':
		return structpb.NewBoolValue(false), p.literal("false")
	case c == 'n':
		return structpb.NewNullValue(), p.literal("null")
	default:
		f, ok := p.number()
		return structpb.NewNumberValue(f), ok
	}
}

func (p *parser) literal(word string) bool {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

// string reads a string without escapes whose bytes are valid UTF-8.
func (p *parser) string() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[start:j]
			if !utf8.Valid(s) {
				return "", false
			}
			p.i = j + 1
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() (float64, bool) {
	start, j := p.i, p.i
	digits := func() bool {
		k := j
		for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	switch {
	case j < len(p.b) && p.b[j] == '0':
		j++
	case !digits():
		return 0, false
	}
	if j < len(p.b) && p.b[j] == '.' {
		j++
		if !digits() {
			return 0, false
		}
	}
	if j < len(p.b) && (p.b[j] == 'e' || p.b[j] == 'E') {
		j++
		if j < len(p.b) && (p.b[j] == '+' || p.b[j] == '-') {
			j++
		}
		if !digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(p.b[start:j]), 64)
	if err != nil {
		return 0, false // out of range: encoding/json's error
	}
	p.i = j
	return f, true
}
