package userapi_test

import (
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// startWithOrgs runs the user and organization services.
func startWithOrgs(t *testing.T) (*apitest.Env, orgv1connect.OrganizationServiceClient) {
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{
			userapi.NewService(a.Store, user.NewCommands(a.Store, a.Hasher), auth, a.Keys, sent.send),
			orgapi.NewService(a.Store, org.NewVerifier(), auth),
		}
	})
	return env, orgv1connect.NewOrganizationServiceClient(env.Client, env.URL)
}

func createUser(t testing.TB, env *apitest.Env, orgID, typ, login string) string {
	t.Helper()
	n := user.New{OrgID: orgID, Type: typ, LoginName: login}
	if typ == "machine" {
		n.Traits = []byte(`{"name":"` + login + `"}`)
	} else {
		n.Password, n.Email = "a good password 1", login+"@example.com"
	}
	id, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(ctx, eventstore.SystemEditor, env.InstanceID, n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestNoEscalationThroughAnotherAccount calls, as an organization's user
// manager, every RPC that changes another account's credentials,
// identifiers, contact data or state — on the instance owner, on an
// administrator of another organization, and on ordinary users of its own
// organization: refused, refused, allowed.
func TestNoEscalationThroughAnotherAccount(t *testing.T) {
	env, _ := startWithOrgs(t)
	c := client(env)
	orgB, err := org.NewCommands(env.App.Store, org.NewVerifier()).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Globex")
	if err != nil {
		t.Fatal(err)
	}
	mgr := createUser(t, env, env.OrgID, "human", "mgr")
	env.GrantOrg(t, env.OrgID, mgr, "org.user_manager")
	cross := createUser(t, env, env.OrgID, "human", "cross")
	env.GrantOrg(t, orgB, cross, "org.viewer")
	plain := createUser(t, env, env.OrgID, "human", "plain")
	bot := createUser(t, env, env.OrgID, "machine", "bot")
	mgrToken := env.Token(t, mgr, env.OrgID)

	hour := timestamppb.New(time.Now().Add(time.Hour))
	var tokenID, keyID, certID string
	machineCert := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "bot"}}).PEM()
	login, email, phone := "renamed", "renamed@example.com", "+41791234567"
	calls := []struct {
		name    string
		machine bool // act on the machine (credentials a person creates itself)
		call    func(userID string) error
	}{
		{"set password", false, func(id string) error {
			_, err := c.SetPassword(ctx, as(mgrToken, &userv1.SetPasswordRequest{UserId: id, Password: "taken over 12345"}))
			return err
		}},
		{"add personal access token", true, func(id string) error {
			r, err := c.AddPersonalAccessToken(ctx, as(mgrToken, &userv1.AddPersonalAccessTokenRequest{UserId: id, ExpireTime: hour}))
			if err == nil {
				tokenID = r.Msg.GetTokenId()
			}
			return err
		}},
		{"remove personal access token", true, func(id string) error {
			_, err := c.RemovePersonalAccessToken(ctx, as(mgrToken, &userv1.RemovePersonalAccessTokenRequest{UserId: id, TokenId: tokenID}))
			return err
		}},
		{"add machine key", true, func(id string) error {
			r, err := c.AddMachineKey(ctx, as(mgrToken, &userv1.AddMachineKeyRequest{UserId: id, Algorithm: "ES256", ExpireTime: hour}))
			if err == nil {
				keyID = r.Msg.GetKey().GetId()
			}
			return err
		}},
		{"remove machine key", true, func(id string) error {
			_, err := c.RemoveMachineKey(ctx, as(mgrToken, &userv1.RemoveMachineKeyRequest{UserId: id, KeyId: keyID}))
			return err
		}},
		{"add machine certificate", true, func(id string) error {
			r, err := c.AddMachineCertificate(ctx, as(mgrToken, &userv1.AddMachineCertificateRequest{UserId: id, Certificate: machineCert}))
			if err == nil {
				certID = r.Msg.GetCertificate().GetId()
			}
			return err
		}},
		{"remove machine certificate", true, func(id string) error {
			_, err := c.RemoveMachineCertificate(ctx, as(mgrToken, &userv1.RemoveMachineCertificateRequest{UserId: id, CertificateId: certID}))
			return err
		}},
		{"change login name", false, func(id string) error {
			_, err := c.UpdateUser(ctx, as(mgrToken, &userv1.UpdateUserRequest{UserId: id, LoginName: &login}))
			return err
		}},
		{"change email", false, func(id string) error {
			_, err := c.UpdateUser(ctx, as(mgrToken, &userv1.UpdateUserRequest{UserId: id, Email: &email}))
			return err
		}},
		{"change phone", false, func(id string) error {
			_, err := c.UpdateUser(ctx, as(mgrToken, &userv1.UpdateUserRequest{UserId: id, Phone: &phone}))
			return err
		}},
		{"send verification code", false, func(id string) error {
			_, err := c.SendVerificationCode(ctx, as(mgrToken, &userv1.SendVerificationCodeRequest{UserId: id, Channel: "email"}))
			return err
		}},
		{"lock", false, func(id string) error {
			_, err := c.LockUser(ctx, as(mgrToken, &userv1.LockUserRequest{UserId: id}))
			return err
		}},
		{"unlock", false, func(id string) error {
			_, err := c.UnlockUser(ctx, as(mgrToken, &userv1.UnlockUserRequest{UserId: id}))
			return err
		}},
		{"deactivate", false, func(id string) error {
			_, err := c.DeactivateUser(ctx, as(mgrToken, &userv1.DeactivateUserRequest{UserId: id}))
			return err
		}},
		{"reactivate", false, func(id string) error {
			_, err := c.ReactivateUser(ctx, as(mgrToken, &userv1.ReactivateUserRequest{UserId: id}))
			return err
		}},
		{"delete", false, func(id string) error {
			_, err := c.DeleteUser(ctx, as(mgrToken, &userv1.DeleteUserRequest{UserId: id}))
			return err
		}},
	}
	for _, tc := range calls {
		t.Run("fail/"+tc.name+" of the instance owner", func(t *testing.T) {
			wantCode(t, tc.call(env.AdminID), connect.CodePermissionDenied)
		})
		t.Run("fail/"+tc.name+" of another organization's administrator", func(t *testing.T) {
			wantCode(t, tc.call(cross), connect.CodePermissionDenied)
		})
	}
	for _, tc := range calls {
		t.Run("ok/"+tc.name+" of an ordinary user", func(t *testing.T) {
			target := plain
			if tc.machine {
				target = bot
			}
			if err := tc.call(target); err != nil {
				t.Fatal(err)
			}
		})
	}

	// The owner's account is untouched: its token still works, as the
	// owner it was.
	me, err := c.GetMyUser(ctx, as(env.AdminToken, &userv1.GetMyUserRequest{}))
	if err != nil || me.Msg.GetUser().GetLoginName() != "admin" || me.Msg.GetUser().GetState() != userv1.UserState_USER_STATE_ACTIVE {
		t.Fatalf("instance owner after the attempts: %v %v", me, err)
	}

	// A person's token is created by the person, even by an instance owner.
	_, err = c.AddPersonalAccessToken(ctx, as(env.AdminToken, &userv1.AddPersonalAccessTokenRequest{UserId: cross, ExpireTime: hour}))
	wantCode(t, err, connect.CodePermissionDenied)
	// An instance owner covers everyone, and manages the other organization's administrator.
	if _, err := c.LockUser(ctx, as(env.AdminToken, &userv1.LockUserRequest{UserId: cross})); err != nil {
		t.Fatal(err)
	}
}

// TestOwnersCannotBeLockedOut refuses every change that would leave the
// instance without an active owner.
func TestOwnersCannotBeLockedOut(t *testing.T) {
	env, orgs := startWithOrgs(t)
	c := client(env)
	owner := env.AdminToken
	_, err := c.LockUser(ctx, as(owner, &userv1.LockUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = c.DeactivateUser(ctx, as(owner, &userv1.DeactivateUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = c.DeleteUser(ctx, as(owner, &userv1.DeleteUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = orgs.DeactivateOrganization(ctx, as(owner, &orgv1.DeactivateOrganizationRequest{OrganizationId: env.OrgID}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	// An organization with users cannot be deleted: no orphaned users keep
	// their login names.
	created, err := orgs.CreateOrganization(ctx, as(owner, &orgv1.CreateOrganizationRequest{Name: "Initech"}))
	if err != nil {
		t.Fatal(err)
	}
	orgB := created.Msg.GetOrganizationId()
	second := createUser(t, env, orgB, "human", "second-owner")
	_, err = orgs.DeleteOrganization(ctx, as(owner, &orgv1.DeleteOrganizationRequest{OrganizationId: orgB}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	// A second owner that is locked does not count.
	if err := member.NewCommands(env.App.Store).SetInstanceMember(ctx, eventstore.SystemEditor, env.InstanceID, second, []string{authz.InstanceOwner}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LockUser(ctx, as(owner, &userv1.LockUserRequest{UserId: second})); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeactivateUser(ctx, as(owner, &userv1.DeactivateUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := c.UnlockUser(ctx, as(owner, &userv1.UnlockUserRequest{UserId: second})); err != nil {
		t.Fatal(err)
	}
	// With another active owner, in another organization, it is allowed;
	// deactivating that organization is not any more.
	_, err = orgs.DeactivateOrganization(ctx, as(owner, &orgv1.DeactivateOrganizationRequest{OrganizationId: env.OrgID}))
	if err != nil {
		t.Fatal(err)
	}
	secondToken := env.Token(t, second, orgB)
	_, err = orgs.DeactivateOrganization(ctx, as(secondToken, &orgv1.DeactivateOrganizationRequest{OrganizationId: orgB}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := orgs.ReactivateOrganization(ctx, as(secondToken, &orgv1.ReactivateOrganizationRequest{OrganizationId: env.OrgID})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LockUser(ctx, as(secondToken, &userv1.LockUserRequest{UserId: env.AdminID})); err != nil {
		t.Fatal(err)
	}
}

// TestOrgAdministratorCannotSuspendItsBetters: deactivating an
// organization suspends its users, so an organization owner may not do it
// while the organization holds an administrator with more permissions.
func TestOrgAdministratorCannotSuspendItsBetters(t *testing.T) {
	env, orgs := startWithOrgs(t)
	orgOwner := createUser(t, env, env.OrgID, "human", "org-owner")
	env.GrantOrg(t, env.OrgID, orgOwner, "org.owner")
	tok := env.Token(t, orgOwner, env.OrgID)
	_, err := orgs.DeactivateOrganization(ctx, as(tok, &orgv1.DeactivateOrganizationRequest{OrganizationId: env.OrgID}))
	wantCode(t, err, connect.CodePermissionDenied)
	// Its own organization without such users is its to suspend.
	orgB, err := org.NewCommands(env.App.Store, org.NewVerifier()).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Globex")
	if err != nil {
		t.Fatal(err)
	}
	env.GrantOrg(t, orgB, orgOwner, "org.owner")
	createUser(t, env, orgB, "human", "worker")
	if _, err := orgs.DeactivateOrganization(ctx, as(tok, &orgv1.DeactivateOrganizationRequest{OrganizationId: orgB})); err != nil {
		t.Fatal(err)
	}
}

// TestImportSaysNoMoreThanCreate: a value unique across the instance and
// taken in an organization the caller cannot read answers the same through
// import as through create — the field and the value given, nothing of who
// holds it.
func TestImportSaysNoMoreThanCreate(t *testing.T) {
	env, _ := startWithOrgs(t)
	c := client(env)
	orgB, err := org.NewCommands(env.App.Store, org.NewVerifier()).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Globex")
	if err != nil {
		t.Fatal(err)
	}
	createUser(t, env, env.OrgID, "human", "hidden-name")
	mgr := createUser(t, env, orgB, "human", "globex-mgr")
	env.GrantOrg(t, orgB, mgr, "org.user_manager")
	tok := env.Token(t, mgr, orgB)

	_, err = c.CreateUser(ctx, as(tok, &userv1.CreateUserRequest{OrganizationId: orgB, Type: "human", LoginName: "Hidden-Name"}))
	created := wantCode(t, err, connect.CodeAlreadyExists)
	resp, err := c.ImportUsers(ctx, as(tok, &userv1.ImportUsersRequest{Users: []*userv1.ImportedUser{
		{OrganizationId: orgB, Type: "human", LoginName: "Hidden-Name"},
	}}))
	if err != nil || len(resp.Msg.GetFailures()) != 1 {
		t.Fatalf("import: %v %v", resp, err)
	}
	f := resp.Msg.GetFailures()[0]
	if got := f.GetField() + ": " + f.GetMessage(); got != created.Message() {
		t.Fatalf("import answers %q, create %q", got, created.Message())
	}
	for _, leak := range []string{env.OrgID, env.AdminID, "First"} {
		if strings.Contains(created.Message(), leak) {
			t.Fatalf("the answer names %q: %s", leak, created.Message())
		}
	}
}

// TestAPersonManagesItsOwnTokens: nobody else may create a person's token,
// so the person does, through /v1/me/tokens — when its type uses tokens.
func TestAPersonManagesItsOwnTokens(t *testing.T) {
	env, _ := startWithOrgs(t)
	c := client(env)
	ada := createUser(t, env, env.OrgID, "human", "ada")
	session := env.Token(t, ada, env.OrgID) // stands for the person's sign-in
	hour := timestamppb.New(time.Now().Add(time.Hour))

	made, err := c.AddMyPersonalAccessToken(ctx, as(session, &userv1.AddMyPersonalAccessTokenRequest{ExpireTime: hour}))
	if err != nil {
		t.Fatal(err)
	}
	me, err := c.GetMyUser(ctx, as(made.Msg.GetToken(), &userv1.GetMyUserRequest{}))
	if err != nil || me.Msg.GetUser().GetId() != ada {
		t.Fatalf("the new token acts for %v: %v", me, err)
	}
	_, err = c.AddMyPersonalAccessToken(ctx, as(session, &userv1.AddMyPersonalAccessTokenRequest{}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if _, err := c.RemoveMyPersonalAccessToken(ctx, as(session, &userv1.RemoveMyPersonalAccessTokenRequest{TokenId: made.Msg.GetTokenId()})); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMyUser(ctx, as(made.Msg.GetToken(), &userv1.GetMyUserRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// Another user's token id is unknown to the caller.
	adminTok, err := c.AddMyPersonalAccessToken(ctx, as(env.AdminToken, &userv1.AddMyPersonalAccessTokenRequest{ExpireTime: hour}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RemoveMyPersonalAccessToken(ctx, as(session, &userv1.RemoveMyPersonalAccessTokenRequest{TokenId: adminTok.Msg.GetTokenId()}))
	wantCode(t, err, connect.CodeNotFound)

	// A type that does not list "pat" gets none.
	noTokens := `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "authenticators": ["password"],
  "permission": {"self": "r", "admin": "rw"}, "properties": {"name": {"type": "string"}}}`
	if _, err := usertype.NewCommands(env.App.Store).Create(ctx, eventstore.SystemEditor, env.InstanceID, "kiosk", []byte(noTokens)); err != nil {
		t.Fatal(err)
	}
	kiosk, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(ctx, eventstore.SystemEditor, env.InstanceID,
		user.New{OrgID: env.OrgID, Type: "kiosk", LoginName: "kiosk-1", Password: "a good password 1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AddMyPersonalAccessToken(ctx, as(env.Token(t, kiosk, env.OrgID), &userv1.AddMyPersonalAccessTokenRequest{ExpireTime: hour}))
	wantCode(t, err, connect.CodeFailedPrecondition)
}
