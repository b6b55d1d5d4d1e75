package user

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
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
	o1, err := org.Creation(inst, "o1", "Org o1")
	if err != nil {
		t.Fatal(err)
	}
	s.Given(t, append(defaults, o1)...)
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
	// So does a read of the one aggregate, as a command loads it (its own
	// statement, in the aggregate's order).
	one, err := s.Query(ctx, eventstore.Filter{InstanceID: inst, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != len(events) || one[0].Payload.(*Added).Email != "ada@example.com" {
		t.Fatalf("the aggregate's read: %d events, want %d, first %+v", len(one), len(events), one[0].Payload)
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

// Erasure leaves nothing readable in the database files: not the user's
// personal data from the read model, nor the destroyed key that opens it
// in the event log. On SQLite the files themselves are searched, while the
// database is open and after it is closed. On PostgreSQL the relation
// files cannot be read as the test's database user, and VACUUM does not
// overwrite dead rows anyway (docs/architecture.md): the test checks that
// every erased table was vacuumed after the erasure.
func TestErasureLeavesNothingReadableInTheDatabaseFiles(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		key, _ := keyring.GenerateKey()
		ring, _ := keyring.New(key)
		db := src.Open(t, slices.Concat(eventstore.Migrations, usertype.Migrations, org.Migrations, Migrations, pii.Migrations))
		r := eventstore.NewRegistry()
		RegisterEvents(r)
		usertype.RegisterEvents(r)
		org.RegisterEvents(r)
		store, err := eventstore.New(db, r, []eventstore.Projection{usertype.Projection{}, org.Projection{}, Projection{}}, eventstore.Options{Sealer: pii.New(ring)})
		if err != nil {
			t.Fatal(err)
		}
		given, _ := usertype.DefaultCreations(inst)
		o, err := org.Creation(inst, "o1", "Acme")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Push(ctx, eventstore.SystemEditor, append(given, o)...); err != nil {
			t.Fatal(err)
		}
		users := NewCommands(store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1))
		canaries := []string{"canary-login-5e1f", "canary-mail-5e1f@example.com", "Canary-Family-5e1f", "canary-note-5e1f"}
		id, err := users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "human", LoginName: canaries[0], Email: canaries[1],
			Traits: json.RawMessage(`{"profile": {"family_name": "` + canaries[2] + `"}}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := users.SetMetadata(ctx, admin, inst, id, "note", []byte(canaries[3])); err != nil {
			t.Fatal(err)
		}
		var wrapped []byte
		if err := db.Reader().QueryRow(`SELECT wrapped FROM pii_keys WHERE subject_id = $1`, id).Scan(&wrapped); err != nil {
			t.Fatal(err)
		}
		secrets := append([][]byte{wrapped}, func() (b [][]byte) {
			for _, c := range canaries {
				b = append(b, []byte(c))
			}
			return b
		}()...)

		path, onSQLite := strings.CutPrefix(src.URL(), "sqlite:")
		find := func() string {
			t.Helper()
			var files []byte
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				b, err := os.ReadFile(p)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				files = append(files, b...)
			}
			for i, s := range secrets {
				if bytes.Contains(files, s) {
					if i == 0 {
						return "the destroyed key"
					}
					return string(s)
				}
			}
			return ""
		}
		vacuums := func() map[string]int64 {
			t.Helper()
			n := map[string]int64{}
			rows, err := db.Reader().Query(`SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE schemaname = current_schema()`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var table string
				var count int64
				if err := rows.Scan(&table, &count); err != nil {
					t.Fatal(err)
				}
				n[table] = count
			}
			return n
		}
		var before map[string]int64
		if onSQLite {
			if find() == "" {
				t.Fatal("the files hold no personal data before the erasure: the test proves nothing")
			}
		} else {
			before = vacuums()
		}

		if err := users.Delete(ctx, admin, inst, id); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`SELECT count(*) FROM pii_keys WHERE subject_id = $1`, `SELECT count(*) FROM users WHERE id = $1`,
			`SELECT count(*) FROM user_traits WHERE user_id = $1`, `SELECT count(*) FROM user_metadata WHERE user_id = $1`} {
			var n int
			if err := db.Reader().QueryRow(q, id).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s: %d, %v", q, n, err)
			}
		}
		if !onSQLite {
			after := vacuums()
			for _, table := range erasedTables {
				if after[table] <= before[table] {
					t.Errorf("%s was not vacuumed after the erasure (%d, then %d)", table, before[table], after[table])
				}
			}
			return
		}
		if found := find(); found != "" {
			t.Fatalf("%s is readable in the files of the open database after the erasure", found)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if found := find(); found != "" {
			t.Fatalf("%s is readable in the database files after the erasure", found)
		}
	})
}
