package userapi

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/user"
)

// maxImport bounds one ImportUsers request; larger imports are several
// requests (the CLI sends batches).
const maxImport = 1000

// ImportUsers creates users in bulk; the caller needs user.write on every
// organization the users join.
func (s *Service) ImportUsers(ctx context.Context, req *connect.Request[userv1.ImportUsersRequest]) (*connect.Response[userv1.ImportUsersResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	in := req.Msg.GetUsers()
	if len(in) == 0 || len(in) > maxImport {
		return nil, failure.InvalidArgument("users", "import 1 to %d users per request", maxImport)
	}
	checked := map[string]bool{}
	users := make([]user.ImportUser, len(in))
	for i, u := range in {
		if org := u.GetOrganizationId(); !checked[org] {
			if org == "" {
				return nil, failure.InvalidArgument("users", "user %d has no organizationId", i)
			}
			if err := caller.Require(authz.UserWrite, authz.Org(org)); err != nil {
				return nil, err
			}
			checked[org] = true
		}
		traits, err := traitsJSON("traits", u.GetTraits())
		if err != nil {
			return nil, err
		}
		users[i] = user.ImportUser{ID: u.GetUserId(), New: user.New{
			OrgID: u.GetOrganizationId(), Type: u.GetType(), LoginName: u.GetLoginName(), Traits: traits,
			Email: u.GetEmail(), EmailVerified: u.GetEmailVerified(), Phone: u.GetPhone(), PhoneVerified: u.GetPhoneVerified(),
			Password: u.GetPassword(), PasswordHash: u.GetPasswordHash(), ChangeRequired: u.GetPasswordChangeRequired(),
		}}
	}
	res, err := s.users.Import(ctx, caller.Editor(), caller.InstanceID, users, user.ImportOptions{})
	if err != nil {
		return nil, err
	}
	resp := &userv1.ImportUsersResponse{Imported: int32(res.Imported), UserIds: res.IDs}
	for _, f := range res.Failed {
		pf := &userv1.ImportFailure{Index: int32(f.Index), LoginName: f.LoginName, Message: f.Err.Error()}
		var fe *failure.Error
		if errors.As(f.Err, &fe) {
			pf.Field, pf.Message = fe.Field, fe.Message
		}
		resp.Failures = append(resp.Failures, pf)
	}
	return connect.NewResponse(resp), nil
}
