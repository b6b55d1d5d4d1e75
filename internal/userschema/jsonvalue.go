package userschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// decodeJSON decodes exactly one JSON value, keeping numbers as json.Number
// so that no precision is lost between reading and writing traits.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// nestingExceeds reports whether the JSON text data nests objects and
// arrays more than limit levels deep. It reads the bytes once, without
// decoding, and assumes nothing about their validity.
func nestingExceeds(data []byte, limit int) bool {
	depth, inString, escaped := 0, false, false
	for _, b := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			if depth++; depth > limit {
				return true
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return false
}

// valueStats describes a decoded JSON value.
type valueStats struct {
	values          uint64 // the value itself and everything it holds
	depth           int    // how deeply it nests objects and arrays; 0 for a scalar
	numbersInBounds bool   // whether every number is within the bounds on numbers
}

// scanValues describes v in one walk.
func scanValues(v any) valueStats {
	st := valueStats{values: 1, numbersInBounds: true}
	switch v := v.(type) {
	case json.Number:
		st.numbersInBounds = numberInBounds(v)
	case map[string]any:
		for _, e := range v {
			st.add(scanValues(e))
		}
		st.depth++
	case []any:
		for _, e := range v {
			st.add(scanValues(e))
		}
		st.depth++
	}
	return st
}

func (st *valueStats) add(child valueStats) {
	st.values += child.values
	st.depth = max(st.depth, child.depth)
	st.numbersInBounds = st.numbersInBounds && child.numbersInBounds
}

// Bounds on the numbers of traits and of new schema documents. The
// validator turns a number it compares into an exact fraction (math/big),
// whose cost grows with the number's digits and exponent (a 100,000-digit
// number takes 0.2 s, 1e999999 0.06 s) and which it cannot build at all for
// an exponent beyond ±10^7 (it then dereferences nil). Clients read traits
// as protobuf doubles, finite below about 1.8e308.
const (
	maxNumberDigits = 100  // significant digits
	maxNumberExp    = 308  // a number is below 1e308 in absolute value
	minNumberExp    = -399 // and, unless 0, at least 1e-400
)

// numberMessage describes the bounds on numbers.
var numberMessage = fmt.Sprintf("a number has at most %d significant digits and lies between 1e%d and 1e%d in absolute value, or is 0", maxNumberDigits, minNumberExp-1, maxNumberExp)

// numberInBounds reports whether n is within the bounds on numbers.
func numberInBounds(n json.Number) bool {
	if len(n) <= 16 && !strings.ContainsAny(string(n), "eE") {
		return true // at most 16 digits and no exponent: below 1e16
	}
	d, ok := parseDecimal(string(n))
	if !ok {
		return false
	}
	return d.digits == "" || len(d.digits) <= maxNumberDigits && minNumberExp <= d.exp && d.exp <= maxNumberExp
}

// numbersOutOfBounds appends to out the JSON pointers of the numbers in v
// that are outside the bounds on numbers, in document order of sorted keys.
func numbersOutOfBounds(v any, pointer string, out []string) []string {
	switch v := v.(type) {
	case json.Number:
		if !numberInBounds(v) {
			out = append(out, pointer)
		}
	case map[string]any:
		for _, k := range sortedKeys(v) {
			out = numbersOutOfBounds(v[k], pointer+"/"+escapeToken(k), out)
		}
	case []any:
		for i, e := range v {
			out = numbersOutOfBounds(e, pointer+"/"+strconv.Itoa(i), out)
		}
	}
	return out
}

// encodeJSON writes v compactly, with sorted keys and without HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// escapeToken escapes one JSON pointer reference token (RFC 6901 section 3).
func escapeToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func pointerOf(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escapeToken(t))
	}
	return sb.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonEqual reports whether two decoded JSON values are equal, comparing
// numbers by value (1, 1.0 and 10e-1 are equal).
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && numbersEqual(a, bn)
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], ba[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

// decimal is a JSON number as sign, significant digits and exponent:
// value = ±0.digits × 10^exp with no leading or trailing zero digit.
type decimal struct {
	negative bool
	digits   string
	exp      int
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	da, okA := parseDecimal(string(a))
	db, okB := parseDecimal(string(b))
	// A number too extreme to normalize is compared by its text: unequal
	// numbers then never compare equal, which is the safe direction.
	return okA && okB && da == db
}

// parseDecimal normalizes a JSON number exactly, without floating point.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	s, d.negative = strings.CutPrefix(s, "-")
	mantissa, exponent, hasExp := strings.Cut(strings.ToLower(s), "e")
	if hasExp {
		e, err := strconv.Atoi(exponent)
		if err != nil || e > 1<<30 || e < -(1<<30) {
			return decimal{}, false
		}
		d.exp = e
	}
	intPart, frac, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	d.exp += len(intPart) - (len(intPart) + len(frac) - len(digits))
	trimmed := strings.TrimRight(digits, "0")
	d.digits = trimmed
	if trimmed == "" {
		return decimal{}, true // every zero is equal, -0 included
	}
	return d, true
}
