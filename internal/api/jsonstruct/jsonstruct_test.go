package jsonstruct

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// reference is what Object must answer: encoding/json, then structpb.
func reference(data []byte) (*structpb.Struct, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return structpb.NewStruct(m)
}

var documents = []string{
	`{}`,
	`null`,
	` { "profile" : { "given_name" : "Anna" , "family_name" : "Kalomann" } } `,
	`{"a": [1, -2.5, 3e2, -0, 0.125E-3, true, false, null, "x", [], {}], "b": {"c": {"d": [{"e": "f"}]}}}`,
	`{"esc": "line\nbreak \"quoted\" \u00e9 \ud83d\ude00", "tab\t": "k"}`,
	`{"dup": 1, "dup": 2}`,
	"{\"bad\": \"\xff\xfe\"}",
	`{"huge": 1e400}`,
	`{"deep": ` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`,
	`{"nested": ` + strings.Repeat(`{"k": [`, 30) + `1` + strings.Repeat(`]}`, 30) + `}`,
	`{"long": "` + strings.Repeat("x", 200) + `", "longer": ["` + strings.Repeat("y", 20000) + `", {"z": "` + strings.Repeat("w", 130) + `"}]}`,
	`{"n": [0, 1, 1.5, -1e-300, 1e300, 123456789012345678901234567890], "b": [true, false], "z": null, "e": "", "u": "é 😀"}`,
	`{"x": 01}`, `{"x": 1.}`, `{"x": .5}`, `{"x": tru}`, `{"x": 1} trailing`, `{"x" 1}`, `{"x": 1,}`, `[1]`, `"s"`, ``, `{`,
}

func check(t *testing.T, data []byte) {
	t.Helper()
	got, err := Object(data)
	want, wantErr := reference(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: err = %v, encoding/json's = %v", data, err, wantErr)
	}
	if err == nil && !proto.Equal(got, want) {
		t.Fatalf("%q: %v, encoding/json and structpb give %v", data, got, want)
	}
	prefix := []byte("kept")
	wire, err := AppendWire(prefix, data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: AppendWire's err = %v, encoding/json's = %v", data, err, wantErr)
	}
	if err != nil {
		return
	}
	if string(wire[:len(prefix)]) != string(prefix) {
		t.Fatalf("%q: AppendWire changed what it appends to: %q", data, wire[:len(prefix)])
	}
	decoded := &structpb.Struct{}
	if err := proto.Unmarshal(wire[len(prefix):], decoded); err != nil {
		t.Fatalf("%q: AppendWire's bytes do not decode: %v", data, err)
	}
	if !proto.Equal(decoded, want) {
		t.Fatalf("%q: AppendWire's bytes decode to %v, encoding/json and structpb give %v", data, decoded, want)
	}
}

func TestObjectMatchesEncodingJSON(t *testing.T) {
	for _, d := range documents {
		check(t, []byte(d))
	}
}

func FuzzObjectMatchesEncodingJSON(f *testing.F) {
	for _, d := range documents {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		check(t, data)
	})
}

// BenchmarkTraits converts a user's traits as the API does, alternating
// Object and its reference (encoding/json, then structpb) in one loop, and
// reports the time of each and their ratio.
func BenchmarkTraits(b *testing.B) {
	data := []byte(`{"profile":{"family_name":"Kalomann","given_name":"Anna"},"locale":"de-CH","tags":["staff","berlin"],"level":3}`)
	var object, ref time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Object(data); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := reference(data); err != nil {
			b.Fatal(err)
		}
		object, ref = object+mid.Sub(start), ref+time.Since(mid)
	}
	b.ReportMetric(float64(object.Nanoseconds())/float64(b.N), "object-ns")
	b.ReportMetric(float64(ref.Nanoseconds())/float64(b.N), "reference-ns")
	b.ReportMetric(float64(object)/float64(ref), "ratio")
}

// BenchmarkTraitsWire encodes a user's traits for a binary response,
// alternating AppendWire and what it replaces (Object, then proto.Marshal
// of the Struct) in one loop, and reports the time of each and their
// ratio.
func BenchmarkTraitsWire(b *testing.B) {
	data := []byte(`{"profile":{"family_name":"Kalomann","given_name":"Anna"},"locale":"de-CH","tags":["staff","berlin"],"level":3}`)
	var wire, ref time.Duration
	buf := make([]byte, 0, 256)
	for b.Loop() {
		start := time.Now()
		if _, err := AppendWire(buf[:0], data); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		s, err := Object(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(s); err != nil {
			b.Fatal(err)
		}
		wire, ref = wire+mid.Sub(start), ref+time.Since(mid)
	}
	b.ReportMetric(float64(wire.Nanoseconds())/float64(b.N), "wire-ns")
	b.ReportMetric(float64(ref.Nanoseconds())/float64(b.N), "object+marshal-ns")
	b.ReportMetric(float64(wire)/float64(ref), "ratio")
}
