package userapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

// outbox records the verification codes the service sends.
type outbox struct {
	mu   sync.Mutex
	sent map[string]string
}

func (o *outbox) send(_ context.Context, c credential.OutgoingCode) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[c.Channel+":"+c.To] = c.Code
	return nil
}

func (o *outbox) code(key string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent[key]
}

var sent = &outbox{sent: map[string]string{}}

func start(t *testing.T) *apitest.Env {
	return apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{userapi.NewService(a.Store, user.NewCommands(a.Store, a.Hasher), auth, a.Keys, sent.send)}
	})
}

func client(env *apitest.Env, opts ...connect.ClientOption) userv1connect.UserServiceClient {
	return userv1connect.NewUserServiceClient(env.Client, env.URL, opts...)
}

func as[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", apitest.Bearer(token))
	}
	return req
}

func wantCode(t *testing.T, err error, code connect.Code) *connect.Error {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	return ce
}

func traits(t *testing.T, v map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAdministratorManagesAUser(t *testing.T) {
	env := start(t)
	c := client(env)
	created, err := c.CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{
		OrganizationId: env.OrgID, Type: "human", LoginName: "ada", Email: "ada@example.com", Password: "correct horse battery",
		Traits: traits(t, map[string]any{"profile": map[string]any{"given_name": "Ada", "family_name": "Lovelace"}}),
	}))
	if err != nil {
		t.Fatal(err)
	}
	id := created.Msg.GetUserId()
	got, err := c.GetUser(ctx, as(env.AdminToken, &userv1.GetUserRequest{UserId: id}))
	if err != nil {
		t.Fatal(err)
	}
	u := got.Msg.GetUser()
	if u.GetLoginName() != "ada" || u.GetType() != "human" || !u.GetHasPassword() || u.GetState() != userv1.UserState_USER_STATE_ACTIVE ||
		u.GetTraits().GetFields()["profile"].GetStructValue().GetFields()["family_name"].GetStringValue() != "Lovelace" {
		t.Fatalf("read back %v", u)
	}

	newName := "ada.lovelace"
	if _, err := c.UpdateUser(ctx, as(env.AdminToken, &userv1.UpdateUserRequest{UserId: id, LoginName: &newName,
		Traits: traits(t, map[string]any{"profile": map[string]any{"nick_name": "Countess"}})})); err != nil {
		t.Fatal(err)
	}
	found, err := c.SearchUsers(ctx, as(env.AdminToken, &userv1.SearchUsersRequest{
		Traits: []*userv1.TraitFilter{{Pointer: "/profile/nick_name", Value: "Count", Prefix: true}}}))
	if err != nil {
		t.Fatal(err)
	}
	if found.Msg.GetTotalSize() != 1 || found.Msg.GetTotalSizeIsLowerBound() || found.Msg.GetUsers()[0].GetLoginName() != newName {
		t.Fatalf("search: %v", found.Msg)
	}
	// A field the schema does not mark "search" is refused, naming the
	// filter: finding it would read every user.
	_, err = c.SearchUsers(ctx, as(env.AdminToken, &userv1.SearchUsersRequest{
		Traits: []*userv1.TraitFilter{{Pointer: "/profile/gender", Value: "female"}}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "traits[0].pointer") || !strings.Contains(err.Error(), "search") {
		t.Fatalf("search by an unmarked field: %v", err)
	}
	for _, step := range []func() error{
		func() error {
			_, err := c.LockUser(ctx, as(env.AdminToken, &userv1.LockUserRequest{UserId: id}))
			return err
		},
		func() error {
			_, err := c.UnlockUser(ctx, as(env.AdminToken, &userv1.UnlockUserRequest{UserId: id}))
			return err
		},
		func() error {
			_, err := c.DeactivateUser(ctx, as(env.AdminToken, &userv1.DeactivateUserRequest{UserId: id}))
			return err
		},
		func() error {
			_, err := c.ReactivateUser(ctx, as(env.AdminToken, &userv1.ReactivateUserRequest{UserId: id}))
			return err
		},
		func() error {
			_, err := c.SetUserMetadata(ctx, as(env.AdminToken, &userv1.SetUserMetadataRequest{UserId: id, Key: "tier", Value: []byte("gold")}))
			return err
		},
		func() error {
			_, err := c.SetPassword(ctx, as(env.AdminToken, &userv1.SetPasswordRequest{UserId: id, Password: "another good one", ChangeRequired: true}))
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.LockUser(ctx, as(env.AdminToken, &userv1.LockUserRequest{UserId: id}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.LockUser(ctx, as(env.AdminToken, &userv1.LockUserRequest{UserId: id}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := c.DeleteUser(ctx, as(env.AdminToken, &userv1.DeleteUserRequest{UserId: id})); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetUser(ctx, as(env.AdminToken, &userv1.GetUserRequest{UserId: id}))
	wantCode(t, err, connect.CodeNotFound)
}

func TestBadInputNamesTheField(t *testing.T) {
	env := start(t)
	c := client(env, connect.WithGRPC())
	_, err := c.CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{OrganizationId: env.OrgID, Type: "human", LoginName: "admin"}))
	wantCode(t, err, connect.CodeAlreadyExists)
	_, err = c.CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{OrganizationId: "nope", Type: "human", LoginName: "x"}))
	if ce := wantCode(t, err, connect.CodeInvalidArgument); !strings.Contains(ce.Message(), "organizationId") {
		t.Fatalf("message %q does not name the field", ce.Message())
	}

	// Every violation of the schema is named, each by its JSON pointer.
	_, err = c.CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{OrganizationId: env.OrgID, Type: "human", LoginName: "x",
		Traits: traits(t, map[string]any{"profile": map[string]any{"gender": "robot", "avatar_url": "ftp://x"}})}))
	ce := wantCode(t, err, connect.CodeInvalidArgument)
	var fields []string
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if br, ok := v.(*errdetails.BadRequest); ok && derr == nil {
			for _, fv := range br.GetFieldViolations() {
				fields = append(fields, fv.GetField())
			}
		}
	}
	if !slices.Contains(fields, "/profile/gender") || !slices.Contains(fields, "/profile/avatar_url") {
		t.Fatalf("field violations %v, want both pointers", fields)
	}

	// Over plain REST, an invalid trait names its JSON pointer.
	body, _ := json.Marshal(map[string]any{"organizationId": env.OrgID, "type": "human", "loginName": "bob",
		"traits": map[string]any{"profile": map[string]any{"gender": "robot"}}})
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/v1/users", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", apitest.Bearer(env.AdminToken))
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "/profile/gender") {
		t.Fatalf("%s %s", resp.Status, b)
	}
}

func TestPermissions(t *testing.T) {
	env := start(t)
	c := client(env)
	_, err := c.SearchUsers(ctx, as("", &userv1.SearchUsersRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = c.SearchUsers(ctx, as("cst_"+strings.Repeat("A", 43), &userv1.SearchUsersRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// A second organization with a user manager of its own.
	orgB, err := org.NewCommands(env.App.Store, org.NewVerifier()).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Globex")
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := c.CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{OrganizationId: orgB, Type: "machine", LoginName: "globex-bot",
		Traits: traits(t, map[string]any{"name": "Globex provisioning"})}))
	if err != nil {
		t.Fatal(err)
	}
	env.GrantOrg(t, orgB, mgr.Msg.GetUserId(), "org.user_manager")
	// The administrator issues the machine a token through the API.
	tok, err := c.AddPersonalAccessToken(ctx, as(env.AdminToken, &userv1.AddPersonalAccessTokenRequest{UserId: mgr.Msg.GetUserId(),
		ExpireTime: timestamppb.New(time.Now().Add(time.Hour))}))
	if err != nil {
		t.Fatal(err)
	}
	bot := tok.Msg.GetToken()

	me, err := c.GetMyUser(ctx, as(bot, &userv1.GetMyUserRequest{}))
	if err != nil || me.Msg.GetUser().GetLoginName() != "globex-bot" {
		t.Fatalf("machine reads itself: %v %v", me, err)
	}
	if _, err := c.CreateUser(ctx, as(bot, &userv1.CreateUserRequest{OrganizationId: orgB, Type: "human", LoginName: "globex-alice"})); err != nil {
		t.Fatalf("user manager creating in its own organization: %v", err)
	}
	_, err = c.CreateUser(ctx, as(bot, &userv1.CreateUserRequest{OrganizationId: env.OrgID, Type: "human", LoginName: "intruder"}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = c.GetUser(ctx, as(bot, &userv1.GetUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.SearchUsers(ctx, as(bot, &userv1.SearchUsersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	own, err := c.SearchUsers(ctx, as(bot, &userv1.SearchUsersRequest{OrganizationId: orgB}))
	if err != nil || own.Msg.GetTotalSize() != 2 {
		t.Fatalf("search in own organization: %v %v", own, err)
	}
	_, err = c.DeleteUser(ctx, as(bot, &userv1.DeleteUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeNotFound)

	// A machine cannot rename itself through the self-service RPC: its
	// type lets "self" only read.
	_, err = c.UpdateMyUser(ctx, as(bot, &userv1.UpdateMyUserRequest{Traits: traits(t, map[string]any{"name": "Root"})}))
	wantCode(t, err, connect.CodePermissionDenied)

	// Deactivating its organization suspends the machine.
	orgs := org.NewCommands(env.App.Store, org.NewVerifier())
	if err := orgs.Deactivate(ctx, eventstore.SystemEditor, env.InstanceID, orgB); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMyUser(ctx, as(bot, &userv1.GetMyUserRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	if err := orgs.Reactivate(ctx, eventstore.SystemEditor, env.InstanceID, orgB); err != nil {
		t.Fatal(err)
	}

	// Revoking the token ends its use; locking the user too.
	if _, err := c.RemovePersonalAccessToken(ctx, as(env.AdminToken, &userv1.RemovePersonalAccessTokenRequest{UserId: mgr.Msg.GetUserId(), TokenId: tok.Msg.GetTokenId()})); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMyUser(ctx, as(bot, &userv1.GetMyUserRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	bot2 := env.Token(t, mgr.Msg.GetUserId(), orgB)
	if _, err := c.LockUser(ctx, as(env.AdminToken, &userv1.LockUserRequest{UserId: mgr.Msg.GetUserId()})); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMyUser(ctx, as(bot2, &userv1.GetMyUserRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

func TestSelfService(t *testing.T) {
	env := start(t)
	c := client(env, connect.WithGRPCWeb())
	if _, err := c.UpdateMyUser(ctx, as(env.AdminToken, &userv1.UpdateMyUserRequest{Traits: traits(t, map[string]any{"profile": map[string]any{"display_name": "The Admin"}})})); err != nil {
		t.Fatal(err)
	}
	me, err := c.GetMyUser(ctx, as(env.AdminToken, &userv1.GetMyUserRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if me.Msg.GetUser().GetTraits().GetFields()["profile"].GetStructValue().GetFields()["display_name"].GetStringValue() != "The Admin" {
		t.Fatalf("me: %v", me.Msg.GetUser())
	}
}

func TestMachineKeys(t *testing.T) {
	env := start(t)
	c := client(env)
	bot, err := c.CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{OrganizationId: env.OrgID, Type: "machine", LoginName: "ci",
		Traits: traits(t, map[string]any{"name": "CI"})}))
	if err != nil {
		t.Fatal(err)
	}
	id := bot.Msg.GetUserId()
	expire := timestamppb.New(time.Now().Add(24 * time.Hour))
	gen, err := c.AddMachineKey(ctx, as(env.AdminToken, &userv1.AddMachineKeyRequest{UserId: id, Algorithm: "ES256", ExpireTime: expire}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gen.Msg.GetPrivateKey(), "PRIVATE KEY") || !strings.Contains(gen.Msg.GetKeyFile(), gen.Msg.GetKey().GetId()) {
		t.Fatalf("generated key: %v", gen.Msg)
	}
	// Registering the same public key again is refused.
	_, err = c.AddMachineKey(ctx, as(env.AdminToken, &userv1.AddMachineKeyRequest{UserId: id, PublicKey: gen.Msg.GetKey().GetPublicKey(), ExpireTime: expire}))
	wantCode(t, err, connect.CodeAlreadyExists)
	_, err = c.AddMachineKey(ctx, as(env.AdminToken, &userv1.AddMachineKeyRequest{UserId: id, PublicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", ExpireTime: expire}))
	if ce := wantCode(t, err, connect.CodeInvalidArgument); !strings.Contains(ce.Message(), "publicKey") {
		t.Fatalf("message %q", ce.Message())
	}
	list, err := c.ListMachineKeys(ctx, as(env.AdminToken, &userv1.ListMachineKeysRequest{UserId: id}))
	if err != nil || len(list.Msg.GetKeys()) != 1 || list.Msg.GetKeys()[0].GetAlgorithm() != "ES256" || strings.Contains(list.Msg.GetKeys()[0].GetPublicKey(), `"d"`) {
		t.Fatalf("list: %v %v", list, err)
	}
	_, err = c.RemoveMachineKey(ctx, as(env.AdminToken, &userv1.RemoveMachineKeyRequest{UserId: env.AdminID, KeyId: gen.Msg.GetKey().GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	if _, err := c.RemoveMachineKey(ctx, as(env.AdminToken, &userv1.RemoveMachineKeyRequest{UserId: id, KeyId: gen.Msg.GetKey().GetId()})); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.ListMachineKeys(ctx, as(env.AdminToken, &userv1.ListMachineKeysRequest{UserId: id})); len(list.Msg.GetKeys()) != 0 {
		t.Fatalf("removed key still listed: %v", list.Msg)
	}
}

func TestContactVerificationAndPasswordChange(t *testing.T) {
	env := start(t)
	c := client(env)
	email := "admin@acme.example"
	if _, err := c.UpdateUser(ctx, as(env.AdminToken, &userv1.UpdateUserRequest{UserId: env.AdminID, Email: &email})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMyVerificationCode(ctx, as(env.AdminToken, &userv1.SendMyVerificationCodeRequest{Channel: "email"})); err != nil {
		t.Fatal(err)
	}
	code := sent.code("email:" + email)
	if len(code) != 6 {
		t.Fatalf("no code was sent: %q", code)
	}
	_, err := c.VerifyMyContact(ctx, as(env.AdminToken, &userv1.VerifyMyContactRequest{Channel: "email", Code: "not-it"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if _, err := c.VerifyMyContact(ctx, as(env.AdminToken, &userv1.VerifyMyContactRequest{Channel: "email", Code: code})); err != nil {
		t.Fatal(err)
	}
	me, err := c.GetMyUser(ctx, as(env.AdminToken, &userv1.GetMyUserRequest{}))
	if err != nil || !me.Msg.GetUser().GetEmailVerified() {
		t.Fatalf("email not verified: %v %v", me, err)
	}
	_, err = c.SendMyVerificationCode(ctx, as(env.AdminToken, &userv1.SendMyVerificationCodeRequest{Channel: "phone"}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	_, err = c.ChangeMyPassword(ctx, as(env.AdminToken, &userv1.ChangeMyPasswordRequest{CurrentPassword: "wrong", NewPassword: "a new passphrase"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if _, err := c.ChangeMyPassword(ctx, as(env.AdminToken, &userv1.ChangeMyPasswordRequest{CurrentPassword: "admin-password-1", NewPassword: "a new passphrase"})); err != nil {
		t.Fatal(err)
	}
	if _, err := user.NewCommands(env.App.Store, env.App.Hasher).CheckPassword(ctx, env.InstanceID, "admin", "a new passphrase"); err != nil {
		t.Fatalf("the new password does not sign in: %v", err)
	}
}

func TestImport(t *testing.T) {
	env := start(t)
	c := client(env)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), 10)
	if err != nil {
		t.Fatal(err)
	}
	bcryptHash := string(hash)
	resp, err := c.ImportUsers(ctx, as(env.AdminToken, &userv1.ImportUsersRequest{Users: []*userv1.ImportedUser{
		{OrganizationId: env.OrgID, Type: "human", LoginName: "imported-1", PasswordHash: bcryptHash, Email: "one@example.com", EmailVerified: true},
		{OrganizationId: env.OrgID, Type: "human", LoginName: "admin"},
		{OrganizationId: env.OrgID, Type: "human", LoginName: "imported-2", PasswordHash: "md5:abcdef"},
		{OrganizationId: env.OrgID, Type: "human", LoginName: "imported-3", Traits: traits(t, map[string]any{"profile": map[string]any{"gender": "x"}})},
		{OrganizationId: env.OrgID, Type: "human", LoginName: "imported-4", Password: "plain but long enough"},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Msg
	if m.GetImported() != 2 || len(m.GetFailures()) != 3 || m.GetUserIds()[0] == "" || m.GetUserIds()[1] != "" || m.GetUserIds()[4] == "" {
		t.Fatalf("import: %v", m)
	}
	fields := map[int32]string{}
	for _, f := range m.GetFailures() {
		fields[f.GetIndex()] = f.GetField()
	}
	if fields[1] != "loginName" || fields[2] != "passwordHash" || !strings.HasPrefix(fields[3], "/profile/gender") && !strings.HasPrefix(fields[3], "traits") {
		t.Fatalf("failures name %v", fields)
	}
	// The imported bcrypt hash signs in.
	if _, err := user.NewCommands(env.App.Store, env.App.Hasher).CheckPassword(ctx, env.InstanceID, "imported-1", "correct horse"); err != nil {
		t.Fatalf("sign-in with an imported bcrypt hash: %v", err)
	}
	var stored string
	if err := env.App.DB.Reader().QueryRow(`SELECT password_hash FROM users WHERE login_name = 'imported-1'`).Scan(&stored); err != nil || !strings.HasPrefix(stored, "$argon2id$") {
		t.Fatalf("the bcrypt hash was not upgraded at sign-in: %q %v", stored, err)
	}
	_, err = c.ImportUsers(ctx, as(env.AdminToken, &userv1.ImportUsersRequest{}))
	wantCode(t, err, connect.CodeInvalidArgument)
}
