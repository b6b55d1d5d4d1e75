package userschema

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestUniqueValues(t *testing.T) {
	s, err := compile("unique", 1, []byte(`{
		"permission": {"admin": "rw"},
		"properties": {
			"employee_id": {"type": "string", "unique": "org"},
			"badge": {"type": "integer", "unique": "instance"},
			"a/b": {"type": "object", "properties": {"score": {"type": "number", "unique": "org"}}}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		traits string
		want   []UniqueValue
	}{
		{name: "ok/no unique field set", traits: `{}`},
		{name: "ok/null is not a value", traits: `{"employee_id": null}`},
		{
			name:   "ok/strings as they are, numbers normalized exactly",
			traits: `{"employee_id": "E-1 ", "badge": 12345678901234567891, "a/b": {"score": 1.50}}`,
			want: []UniqueValue{
				{UniqueField{"/a~1b/score", UniqueOrg}, "1.5"},
				{UniqueField{"/badge", UniqueInstance}, "12345678901234567891"},
				{UniqueField{"/employee_id", UniqueOrg}, "E-1 "},
			},
		},
		{
			name:   "ok/equal numbers give equal values",
			traits: `{"badge": 1.0e2, "a/b": {"score": -0.0}}`,
			want: []UniqueValue{
				{UniqueField{"/a~1b/score", UniqueOrg}, "0"},
				{UniqueField{"/badge", UniqueInstance}, "100"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UniqueValues([]byte(tt.traits))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("UniqueValues = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("fail/a unique field holds an object", func(t *testing.T) {
		if _, err := s.UniqueValues([]byte(`{"badge": {}}`)); !failure.Is(err, failure.KindInvalidArgument) {
			t.Errorf("err = %v, want invalid argument", err)
		}
	})
}

func TestCanonicalNumber(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0.0": "0", "1": "1", "1.0": "1", "10e-1": "1", "100": "100", "1e2": "100",
		"1.5": "1.5", "-15e-1": "-1.5", "0.001": "0.001", "123.456": "123.456",
		"12345678901234567891": "12345678901234567891", "1e39": "1000000000000000000000000000000000000000",
		"1e40": "0.1e41", "1e-25": "0.1e-24",
	} {
		if got := canonicalNumber(json.Number(in)); got != want {
			t.Errorf("canonicalNumber(%s) = %s, want %s", in, got, want)
		}
	}
}
