package metadata_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/metadata"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

const inst = "inst-1"

var (
	ctx    = context.Background()
	editor = eventstore.Editor{UserID: "admin-1"}
)

// setMetadata is the SetMetadata command of an organization or a user.
type setMetadata func(key string, value []byte) error

// The limits hold for an object as a whole, through the commands that
// change metadata: an organization or a user takes at most MaxKeys keys and
// MaxTotal bytes, however the requests are split.
func TestCommandsKeepTheLimits(t *testing.T) {
	s := eventstoretest.New(t, inst, func(r *eventstore.Registry) {
		org.RegisterEvents(r)
		usertype.RegisterEvents(r)
		user.RegisterEvents(r)
	}, slices.Concat(org.Migrations, usertype.Migrations, user.Migrations), org.Projection{}, usertype.Projection{}, user.Projection{})
	defaults, err := usertype.DefaultCreations(inst)
	if err != nil {
		t.Fatal(err)
	}
	a, err := org.Creation(inst, "o1", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	s.Given(t, append(defaults, a)...)
	orgs := org.NewCommands(s.Store, org.NewVerifier())
	users := user.NewCommands(s.Store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1))

	for _, tc := range []struct {
		name string
		new  func(t *testing.T) setMetadata
	}{
		{"organization", func(t *testing.T) setMetadata {
			id, err := orgs.Create(ctx, editor, inst, "Org "+t.Name())
			if err != nil {
				t.Fatal(err)
			}
			return func(key string, value []byte) error { return orgs.SetMetadata(ctx, editor, inst, id, key, value) }
		}},
		{"user", func(t *testing.T) setMetadata {
			id, err := users.Create(ctx, editor, inst, user.New{OrgID: "o1", Type: "human", LoginName: "user-" + t.Name()})
			if err != nil {
				t.Fatal(err)
			}
			return func(key string, value []byte) error { return users.SetMetadata(ctx, editor, inst, id, key, value) }
		}},
	} {
		t.Run(tc.name+"/keys", func(t *testing.T) {
			set := tc.new(t)
			for i := range metadata.MaxKeys {
				if err := set(fmt.Sprintf("key-%03d", i), []byte("v")); err != nil {
					t.Fatalf("key %d: %v", i, err)
				}
			}
			if err := set("one-too-many", []byte("v")); !failure.Is(err, failure.KindFailedPrecondition) {
				t.Fatalf("key %d: %v, want failed precondition", metadata.MaxKeys+1, err)
			}
			if err := set("key-007", []byte("replaced")); err != nil {
				t.Fatalf("replacing a key of a full object: %v", err)
			}
		})
		t.Run(tc.name+"/total size", func(t *testing.T) {
			set := tc.new(t)
			value := make([]byte, metadata.MaxValue)
			n := 0
			for ; (n+1)*(5+metadata.MaxValue) <= metadata.MaxTotal; n++ {
				if err := set(fmt.Sprintf("big-%d", n), value); err != nil {
					t.Fatalf("value %d: %v", n, err)
				}
			}
			if err := set(fmt.Sprintf("big-%d", n), value); !failure.Is(err, failure.KindFailedPrecondition) {
				t.Fatalf("value %d of %d bytes: %v, want failed precondition", n, metadata.MaxValue, err)
			}
			if err := set("big-0", []byte("small")); err != nil {
				t.Fatalf("shrinking a value: %v", err)
			}
			if err := set(fmt.Sprintf("big-%d", n), value); err != nil {
				t.Fatalf("a value that fits after another shrank: %v", err)
			}
		})
	}
}
