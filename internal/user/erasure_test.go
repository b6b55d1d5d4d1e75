package user

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/pii"
	"github.com/castellan-iam/castellan/internal/usertype"
)

func TestDeleteErasesPersonalDataButKeepsTheAuditTrail(t *testing.T) {
	key, _ := keyring.GenerateKey()
	ring, _ := keyring.New(key)
	s := eventstoretest.NewWithOptions(t, inst, func(r *eventstore.Registry) {
		RegisterEvents(r)
		usertype.RegisterEvents(r)
		org.RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, Migrations, pii.Migrations), eventstore.Options{Sealer: pii.New(ring)},
		usertype.Projection{}, org.Projection{}, Projection{})
	defaults, _ := usertype.DefaultCreations(inst)
	s.Given(t, defaults...)
	users := NewCommands(s.Store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1))
	id, err := users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "human", LoginName: "ada.lovelace", Email: "ada@example.com",
		Traits: json.RawMessage(`{"profile": {"family_name": "Lovelace"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := users.SetMetadata(ctx, admin, inst, id, "note", []byte("Lovelace's secret")); err != nil {
		t.Fatal(err)
	}
	raw := func() string {
		rows, err := s.DB().Reader().Query(`SELECT payload FROM events WHERE aggregate_id = $1`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var all strings.Builder
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			all.WriteString(p)
		}
		return all.String()
	}
	if stored := raw(); strings.Contains(stored, "Lovelace") || strings.Contains(stored, "ada@example.com") || strings.Contains(stored, "ada.lovelace") {
		t.Fatalf("personal data stored in clear: %s", stored)
	}
	// Before erasure, the history reads back whole.
	events, err := s.Query(ctx, eventstoreFilter(id))
	if err != nil {
		t.Fatal(err)
	}
	if a := events[0].Payload.(*Added); a.LoginName != "ada.lovelace" || a.Email != "ada@example.com" || !strings.Contains(string(a.Traits), "Lovelace") {
		t.Fatalf("history before erasure: %+v", a)
	}

	if err := users.Delete(ctx, admin, inst, id); err != nil {
		t.Fatal(err)
	}
	events, err = s.Query(ctx, eventstoreFilter(id))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
		if e.Editor != admin {
			t.Fatalf("the editor of %s was lost", e.Type)
		}
	}
	if !slices.Equal(types, []string{"user.added", "user.metadata.set", "user.deleted"}) {
		t.Fatalf("audit trail: %v", types)
	}
	a := events[0].Payload.(*Added)
	if !events[0].PersonalErased || a.LoginName != "erased-"+id || a.Email != "" || string(a.Traits) != "{}" || a.SchemaType != "human" {
		t.Fatalf("erased user.added: %+v (erased=%v)", a, events[0].PersonalErased)
	}
	if m := events[1].Payload.(*MetadataSet); m.Key != "note" || len(m.Value) != 0 {
		t.Fatalf("erased metadata: %+v", m)
	}
	// Read models rebuilt from the erased history hold no personal data.
	if _, err := s.Rebuild(ctx, "users"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().Reader().QueryRow(`SELECT count(*) FROM users WHERE id = $1`, id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rebuilt users table holds the erased user: %d %v", n, err)
	}
	// The login name is free again.
	if _, err := users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "human", LoginName: "ada.lovelace"}); err != nil {
		t.Fatal(err)
	}
}
