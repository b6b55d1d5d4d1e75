// Package jsonstruct turns JSON objects into google.protobuf.Struct
// messages, or straight into their protobuf encoding (AppendWire,
// AppendField: for binary responses, which need no Struct at all), as the
// API returns users' traits.
//
// encoding/json and structpb need a map[string]any in between (every
// value boxed, every map built twice), and protojson's decoder is slower
// still; a page of 50 users spent about a fifth of its server time there.
// Object reads the JSON once and builds the Struct directly. It handles
// the JSON the project stores (written by encoding/json): anything else it
// is not sure of — an escape in a string, invalid UTF-8, nesting deeper
// than maxDepth, a number out of range, malformed JSON — it hands to
// encoding/json and structpb, so its answer is always theirs
// (FuzzObjectMatchesEncodingJSON checks that, for the encoding too: its
// bytes must decode to their Struct). The encoding is written by hand
// because the protobuf library encodes only messages it holds: the
// google.protobuf.Struct wire format (struct.proto: a map entry per
// member, a Value per value, a ListValue per array) is fixed, and
// protowire writes its tags, lengths and scalars. The two walks (object,
// list, value; wireObject, wireList, wireValue) stay apart: Object built
// from AppendWire's bytes by proto.Unmarshal took 4 times as long as
// building the Struct directly.
package jsonstruct

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
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
	s, ok := p.raw()
	return string(s), ok
}

// raw reads a string without escapes whose bytes are valid UTF-8, and
// returns its bytes (in the document).
func (p *parser) raw() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[start:j]
			if !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
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

// AppendWire appends to b the protobuf encoding of the Struct of a JSON
// object: the bytes proto.Marshal would give for Object(data), up to the
// order of the fields, so a binary response carries a user's traits
// without the Struct, its maps and its values being built and walked
// (about a third of what the server allocated for a page of 50 users).
// What the fast path is not sure of goes through encoding/json, structpb
// and proto.Marshal, as Object does.
func AppendWire(b, data []byte) ([]byte, error) {
	p := parser{b: data}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '{' {
		if out, ok := p.wireObject(b, 0); ok {
			if p.space(); p.i == len(p.b) {
				return out, nil
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{}.MarshalAppend(b, s)
}

// The field numbers of google.protobuf.Struct, its map entries, Value and
// ListValue (google/protobuf/struct.proto).
const (
	structFields protowire.Number = 1
	entryKey     protowire.Number = 1
	entryValue   protowire.Number = 2
	valueNull    protowire.Number = 1
	valueNumber  protowire.Number = 2
	valueString  protowire.Number = 3
	valueBool    protowire.Number = 4
	valueStruct  protowire.Number = 5
	valueList    protowire.Number = 6
	listValues   protowire.Number = 1
)

// openMessage appends the tag of a message field and a one-byte length to
// fill in by closeMessage, which most trait values fit.
func openMessage(b []byte, n protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return append(b, 0), len(b) + 1
}

// closeMessage sets the length of the message that starts at start, moving
// it when its length needs more than one byte. A byte is moved at most
// once per message it is nested in, so at most maxDepth times.
func closeMessage(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size-1)...)
	copy(b[start-1+size:], b[start:start+n])
	protowire.AppendVarint(b[start-1:start-1], uint64(n))
	return b
}

// wireObject appends the fields of the Struct of the object at p.i ('{').
func (p *parser) wireObject(b []byte, depth int) ([]byte, bool) {
	if depth > maxDepth {
		return b, false
	}
	p.i++ // {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return b, true
	}
	for {
		p.space()
		k, ok := p.raw()
		if !ok {
			return b, false
		}
		if p.space(); p.i >= len(p.b) || p.b[p.i] != ':' {
			return b, false
		}
		p.i++
		var entry, value int
		b, entry = openMessage(b, structFields)
		b = protowire.AppendTag(b, entryKey, protowire.BytesType)
		b = protowire.AppendBytes(b, k)
		b, value = openMessage(b, entryValue)
		if b, ok = p.wireValue(b, depth); !ok {
			return b, false
		}
		b = closeMessage(closeMessage(b, value), entry)
		if p.space(); p.i >= len(p.b) {
			return b, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return b, true
		default:
			return b, false
		}
	}
}

// wireList appends the values of the ListValue of the array at p.i ('[').
func (p *parser) wireList(b []byte, depth int) ([]byte, bool) {
	if depth > maxDepth {
		return b, false
	}
	p.i++ // [
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return b, true
	}
	for {
		var value int
		var ok bool
		b, value = openMessage(b, listValues)
		if b, ok = p.wireValue(b, depth); !ok {
			return b, false
		}
		b = closeMessage(b, value)
		if p.space(); p.i >= len(p.b) {
			return b, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return b, true
		default:
			return b, false
		}
	}
}

// wireValue appends the fields of the Value at p.i.
func (p *parser) wireValue(b []byte, depth int) ([]byte, bool) {
	if p.space(); p.i >= len(p.b) {
		return b, false
	}
	var ok bool
	switch c := p.b[p.i]; {
	case c == '{':
		b, start := openMessage(b, valueStruct)
		if b, ok = p.wireObject(b, depth+1); ok {
			b = closeMessage(b, start)
		}
		return b, ok
	case c == '[':
		b, start := openMessage(b, valueList)
		if b, ok = p.wireList(b, depth+1); ok {
			b = closeMessage(b, start)
		}
		return b, ok
	case c == '"':
		s, ok := p.raw()
		b = protowire.AppendTag(b, valueString, protowire.BytesType)
		return protowire.AppendBytes(b, s), ok
	case c == 't':
		b = protowire.AppendTag(b, valueBool, protowire.VarintType)
		return protowire.AppendVarint(b, 1), p.literal("true")
	case c == 'f':
		b = protowire.AppendTag(b, valueBool, protowire.VarintType)
		return protowire.AppendVarint(b, 0), p.literal("false")
	case c == 'n':
		b = protowire.AppendTag(b, valueNull, protowire.VarintType)
		return protowire.AppendVarint(b, 0), p.literal("null")
	default:
		f, ok := p.number()
		b = protowire.AppendTag(b, valueNumber, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(f)), ok
	}
}

// AppendField appends to b the Struct of a JSON object as message field n
// of its parent: its tag, its length and AppendWire's bytes.
func AppendField(b []byte, n protowire.Number, data []byte) ([]byte, error) {
	b, start := openMessage(b, n)
	b, err := AppendWire(b, data)
	if err != nil {
		return nil, err
	}
	return closeMessage(b, start), nil
}
