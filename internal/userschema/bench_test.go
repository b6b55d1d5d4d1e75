package userschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// humanTraits is a complete human profile.
var humanTraits = []byte(`{"profile": {"given_name": "Ada", "family_name": "Lovelace", "nick_name": "ada", "display_name": "Ada Lovelace", "preferred_language": "en-GB", "gender": "female", "avatar_url": "https://example.com/avatars/ada.png"}}`)

// fiftyFields returns a schema of 50 fields of mixed types, formats and
// patterns, and a user that satisfies it.
func fiftyFields() (schema, traits []byte) {
	kinds := []struct{ schema, value string }{
		{`{"type": "string", "minLength": 1, "maxLength": 100}`, `"Ada Lovelace"`},
		{`{"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}$"}`, `"UK-1815"`},
		{`{"type": "string", "format": "email", "maxLength": 254}`, `"ada@example.com"`},
		{`{"type": "string", "format": "uri"}`, `"https://example.com/ada"`},
		{`{"type": "string", "format": "date"}`, `"1815-12-10"`},
		{`{"type": "string", "format": "uuid"}`, `"0190c6f2-7a7e-7c3b-9a55-5d1f2c3b4a5e"`},
		{`{"type": "integer", "minimum": 0, "maximum": 100000}`, `1815`},
		{`{"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.25}`, `36.75`},
		{`{"type": "boolean"}`, `true`},
		{`{"enum": ["red", "green", "blue", "black"]}`, `"black"`},
		{`{"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 5, "uniqueItems": true}`, `["math", "poetry", "engines"]`},
		{`{"type": "string", "format": "date-time"}`, `"1843-07-01T12:00:00Z"`},
	}
	var props, values, required []string
	for i := range 50 {
		k := kinds[i%len(kinds)]
		name := fmt.Sprintf("field_%02d", i)
		props = append(props, fmt.Sprintf("%q: %s", name, k.schema))
		values = append(values, fmt.Sprintf("%q: %s", name, k.value))
		required = append(required, fmt.Sprintf("%q", name))
	}
	schema = []byte(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
		"permission": {"self": "r", "admin": "rw"}, "additionalProperties": false,
		"required": [` + strings.Join(required, ", ") + `],
		"properties": {` + strings.Join(props, ", ") + `}}`)
	return schema, []byte(`{` + strings.Join(values, ", ") + `}`)
}

func BenchmarkValidateHuman(b *testing.B) {
	s, err := Compile(HumanID, 1, Human)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkValidate(b, s, humanTraits)
}

func BenchmarkValidate50Fields(b *testing.B) {
	schema, traits := fiftyFields()
	s, err := Compile("fifty", 1, schema)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkValidate(b, s, traits)
}

func benchmarkValidate(b *testing.B, s *Schema, traits []byte) {
	if err := s.Validate(traits); err != nil {
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		err := s.Validate(traits)
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

// BenchmarkBudgetWorstCase validates traits that use up MaxValidationCost
// with schemas whose branches all fail: an array of strings against a
// chain of n links of two references each, ending in a failing minLength.
// It is the longest a single validation may take.
func BenchmarkBudgetWorstCase(b *testing.B) {
	for _, n := range []int{1, 7} {
		for _, applicator := range []string{"anyOf", "allOf"} {
			b.Run(fmt.Sprintf("%s-%d-links", applicator, n), func(b *testing.B) {
				defs := make([]string, 0, n+1)
				for i := range n {
					defs = append(defs, fmt.Sprintf(`"d%d": {%q: [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}`, i, applicator, i+1, i+1))
				}
				defs = append(defs, fmt.Sprintf(`"d%d": {"type": "string", "minLength": 3}`, n))
				s, err := Compile(fmt.Sprintf("worst-%s-%d", applicator, n), 1, []byte(`{"permission": {"admin": "rw"},
					"$defs": {`+strings.Join(defs, ", ")+`}, "properties": {"l": {"items": {"$ref": "#/$defs/d0"}}}}`))
				if err != nil {
					b.Fatal(err)
				}
				items := int(MaxValidationCost/s.cost) - 4 // the object, the array, rounding
				traits := []byte(`{"l": [` + strings.TrimSuffix(strings.Repeat(`"x",`, items), ",") + `]}`)
				var verr *ValidationError
				if err := s.Validate(traits); !errors.As(err, &verr) {
					b.Fatalf("err = %v, want violations", err)
				}
				b.ResetTimer()
				for range b.N {
					_ = s.Validate(traits)
				}
				b.ReportMetric(float64(s.cost), "cost")
				b.ReportMetric(float64(items), "items")
			})
		}
	}
}

// BenchmarkReferenceJSONUnmarshal only decodes the same traits into
// map[string]any: the floor any validation pays, for ratios in the docs.
func BenchmarkReferenceJSONUnmarshal(b *testing.B) {
	_, fifty := fiftyFields()
	for _, bc := range []struct {
		name   string
		traits []byte
	}{{"human", humanTraits}, {"50fields", fifty}} {
		b.Run(bc.name, func(b *testing.B) {
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				var v map[string]any
				err := json.Unmarshal(bc.traits, &v)
				durations = append(durations, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportPercentiles(b, durations)
		})
	}
}

// reportPercentiles reports the median and 99th percentile of durations in
// microseconds (nearest-rank method).
func reportPercentiles(b *testing.B, durations []time.Duration) {
	slices.Sort(durations)
	for _, p := range []struct {
		q    float64
		unit string
	}{{0.50, "p50-µs"}, {0.99, "p99-µs"}} {
		rank := int(math.Ceil(p.q * float64(len(durations))))
		i := min(len(durations), max(1, rank)) - 1
		b.ReportMetric(float64(durations[i])/float64(time.Microsecond), p.unit)
	}
}
