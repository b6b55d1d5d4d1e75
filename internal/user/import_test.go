package user

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/usertype"
)

func schemaID(t *testing.T, f *fixture, name string) string {
	t.Helper()
	ut, err := usertype.ByName(ctx, f.DB(), inst, name)
	if err != nil {
		t.Fatal(err)
	}
	return ut.ID
}

func TestImport(t *testing.T) {
	f := setup(t)
	existing := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "taken"})
	f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "e9", Traits: json.RawMessage(`{"employee_id": "E0009"}`)})
	f.Given(t)

	adaHash, err := bcrypt.GenerateFromPassword([]byte("ada's old password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	tooCostly := strings.Replace(string(adaHash), "$04$", "$20$", 1)
	graceID := uuid.Must(uuid.NewV7()).String()
	employee := func(login, number string) New {
		return New{OrgID: "o1", Type: "employee", LoginName: login, Traits: json.RawMessage(`{"employee_id": "` + number + `"}`)}
	}
	rows := []ImportUser{
		{New: New{OrgID: "o1", Type: "human", LoginName: "ada", PasswordHash: string(adaHash), ChangeRequired: true}},                  // 0
		{New: New{OrgID: "o1", Type: "human", LoginName: "grace", Email: "grace@example.com", Password: "correct horse"}, ID: graceID}, // 1
		{New: New{OrgID: "o1", Type: "robot", LoginName: "r2d2"}},                                                                      // 2
		{New: New{OrgID: "o1", Type: "human", LoginName: "TAKEN"}},                                                                     // 3
		{New: New{OrgID: "o2", Type: "human", LoginName: "Ada"}},                                                                       // 4
		{New: New{OrgID: "o1", Type: "human", LoginName: "costly", PasswordHash: tooCostly}},                                           // 5
		{New: New{OrgID: "o1", Type: "human", LoginName: "bob", Email: "bob@"}},                                                        // 6
		{New: employee("e1", "E0001"), ID: "legacy-42"},                                                                                // 7
		{New: employee("e2", "E0001")},                                                                                                 // 8
		{New: employee("e3", "E0009")},                                                                                                 // 9
		{New: New{OrgID: "o1", Type: "human", LoginName: "both", Password: "correct horse", PasswordHash: string(adaHash)}},            // 10
		{New: New{OrgID: "o1", Type: "human", LoginName: "twin"}, ID: existing},                                                        // 11
		{New: New{OrgID: "o1", Type: "human", LoginName: "linus"}},
		{New: New{OrgID: "o1", Type: "human", LoginName: "x", Traits: json.RawMessage(`{"profile": {"gender": "x"}}`)}}, // 12
	}
	var progress [][2]int
	res, err := f.users.Import(ctx, admin, inst, rows, ImportOptions{BatchSize: 4, Progress: func(done, total int) {
		progress = append(progress, [2]int{done, total})
	}})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		index int
		kind  failure.Kind
		field string
	}{
		{"fail/unknown type", 2, failure.KindInvalidArgument, "type"},
		{"fail/login name of a stored user in another case", 3, failure.KindAlreadyExists, "loginName"},
		{"fail/login name earlier in the file", 4, failure.KindAlreadyExists, "loginName"},
		{"fail/hash above the cost bound", 5, failure.KindInvalidArgument, "passwordHash"},
		{"fail/bad email", 6, failure.KindInvalidArgument, "email"},
		{"fail/unique trait earlier in the file", 8, failure.KindAlreadyExists, "traits/employee_id"},
		{"fail/unique trait of a stored user", 9, failure.KindAlreadyExists, "traits/employee_id"},
		{"fail/password and hash", 10, failure.KindInvalidArgument, "password"},
		{"fail/id of a stored user", 11, failure.KindAlreadyExists, "id"},
		{"fail/trait outside the schema", 13, failure.KindInvalidArgument, "/profile/gender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := slices.IndexFunc(res.Failed, func(fl ImportFailure) bool { return fl.Index == tc.index })
			if i < 0 {
				t.Fatalf("user %d (%s) did not fail", tc.index, rows[tc.index].LoginName)
			}
			fl := res.Failed[i]
			fe := wantKind(t, fl.Err, tc.kind)
			if fe.Field != tc.field || fl.LoginName != rows[tc.index].LoginName {
				t.Fatalf("failure names %q of %q, want %q of %q: %v", fe.Field, fl.LoginName, tc.field, rows[tc.index].LoginName, fl.Err)
			}
			if res.IDs[tc.index] != "" {
				t.Fatalf("failed user has id %q", res.IDs[tc.index])
			}
		})
	}
	if res.Imported != 4 || len(res.Failed) != 10 {
		t.Fatalf("imported %d, failed %d (%v); want 4 and 10", res.Imported, len(res.Failed), res.Failed)
	}
	if res.IDs[1] != graceID {
		t.Fatalf("grace has id %q, want the source id %q", res.IDs[1], graceID)
	}
	if id := res.IDs[7]; id == "legacy-42" || !validID(id) {
		t.Fatalf("a source id that is no UUID was kept or replaced by %q", id)
	}
	if !slices.Equal(progress, [][2]int{{4, 14}, {8, 14}, {12, 14}, {14, 14}}) {
		t.Fatalf("progress %v", progress)
	}

	// The imported bcrypt hash is stored as it was and verifies; sign-in
	// will replace it. Grace's password was hashed with argon2id.
	hasher := password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1)
	stored := passwordHash(t, f.DB(), res.IDs[0])
	if stored != string(adaHash) {
		t.Fatalf("stored hash %q, want the imported %q", stored, adaHash)
	}
	if ok, upgrade, err := hasher.VerifyAny(ctx, "ada's old password", stored); !ok || !upgrade || err != nil {
		t.Fatalf("VerifyAny(imported bcrypt) = %v, %v, %v", ok, upgrade, err)
	}
	if ok, _, _ := hasher.VerifyAny(ctx, "ada's new password", stored); ok {
		t.Fatal("a wrong password matched the imported hash")
	}
	graceHash := passwordHash(t, f.DB(), graceID)
	if ok, upgrade, err := hasher.VerifyAny(ctx, "correct horse", graceHash); !ok || upgrade || err != nil {
		t.Fatalf("VerifyAny(hashed on import) = %v, %v, %v", ok, upgrade, err)
	}

	human, emp := schemaID(t, f, "human"), schemaID(t, f, "employee")
	f.Then(t,
		&Added{SchemaID: human, SchemaType: "human", SchemaRevision: 1, LoginName: "ada", Traits: json.RawMessage(`{}`)},
		&credential.PasswordSet{Hash: string(adaHash), ChangeRequired: true},
		&Added{SchemaID: human, SchemaType: "human", SchemaRevision: 1, LoginName: "grace", Email: "grace@example.com", Traits: json.RawMessage(`{}`)},
		&credential.PasswordSet{Hash: graceHash},
		&Added{SchemaID: emp, SchemaType: "employee", SchemaRevision: 1, LoginName: "e1", Traits: json.RawMessage(`{"employee_id":"E0001"}`)},
		&Added{SchemaID: human, SchemaType: "human", SchemaRevision: 1, LoginName: "linus", Traits: json.RawMessage(`{}`), Initial: true},
	)
}

func TestImportStopsWithTheContext(t *testing.T) {
	f := setup(t)
	f.Given(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	res, err := f.users.Import(cancelled, admin, inst, []ImportUser{{New: New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse"}}}, ImportOptions{})
	if err == nil || res.Imported != 0 {
		t.Fatalf("Import with a cancelled context = %+v, %v", res, err)
	}
	f.Then(t)
	if _, err := f.users.Import(ctx, admin, inst, nil, ImportOptions{Progress: func(int, int) { t.Fatal("progress without users") }}); err != nil {
		t.Fatal(err)
	}
}

// A hash whose parameters would make every sign-in allocate gigabytes or
// compute for seconds is refused at import, naming the parameter; nothing
// of such a user is imported.
func TestImportRefusesCostlyHashes(t *testing.T) {
	f := setup(t)
	f.Given(t)
	const salt, key = "MDEyMzQ1Njc4OWFiY2RlZg", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	for _, tc := range []struct{ name, hash, says string }{
		{"fail/argon2id of 4 GiB and 64 iterations", "$argon2id$v=19$m=4194304,t=64,p=1$" + salt + "$" + key, "iterations t=64"},
		{"fail/argon2id of 4 GiB", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, "memory m=4194304 KiB"},
		{"fail/argon2i of 255 lanes", "$argon2i$v=19$m=65536,t=1,p=255$" + salt + "$" + key, "parallelism p=255"},
		{"fail/scrypt of 1 GiB", "$scrypt$ln=20,r=8,p=1$" + salt + "$" + key, "memory of 1024 MiB"},
		{"fail/bcrypt cost 16", "$2b$16$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "cost 16"},
		{"fail/pbkdf2 of 10M iterations", "$pbkdf2-sha256$10000000$" + salt + "$" + key, "iterations 10000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.users.Import(ctx, admin, inst, []ImportUser{{New: New{OrgID: "o1", Type: "human", LoginName: "costly", PasswordHash: tc.hash}}}, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Imported != 0 || len(res.Failed) != 1 {
				t.Fatalf("imported %d, failed %v; want the user refused", res.Imported, res.Failed)
			}
			fe := wantKind(t, res.Failed[0].Err, failure.KindInvalidArgument)
			if fe.Field != "passwordHash" || !strings.Contains(fe.Message, tc.says) {
				t.Fatalf("failure %q names %q; want passwordHash and %q", fe.Message, fe.Field, tc.says)
			}
		})
	}
	f.Then(t)
}
