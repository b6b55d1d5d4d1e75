package eventstore_test

import (
	"testing"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore/conformance"
)

func TestConformance(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) { conformance.Run(t, backend) })
	}
}
