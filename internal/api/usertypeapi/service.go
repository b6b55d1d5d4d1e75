package usertypeapi

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
	"github.com/castellan-iam/castellan/gen/castellan/usertype/v1/usertypev1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Service implements usertypev1connect.UserTypeServiceHandler.
type Service struct {
	store *eventstore.Store
	types *usertype.Commands
	auth  *authn.Authenticator
}

var _ usertypev1connect.UserTypeServiceHandler = (*Service)(nil)

// NewService returns the user type service, changing types in store and
// authenticating callers with auth.
func NewService(store *eventstore.Store, auth *authn.Authenticator) *Service {
	return &Service{store: store, types: usertype.NewCommands(store), auth: auth}
}

// Handler returns the service's Connect handler and the path it serves, for
// api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return usertypev1connect.NewUserTypeServiceHandler(s, opts...)
}

func (s *Service) db() *database.DB { return s.store.DB() }

// authorize authenticates the request and requires p on the instance.
// User types belong to the instance, but organization administrators need
// to read them to create users: schema.read on any organization suffices.
func (s *Service) authorize(ctx context.Context, h http.Header, p authz.Permission) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	if p == authz.SchemaRead && caller.CanAnywhere(p) {
		return caller, nil
	}
	if err := caller.Require(p, authz.Instance()); err != nil {
		return authz.Caller{}, err
	}
	return caller, nil
}

// resolve reads the type that idOrName names: by id, else by name.
func (s *Service) resolve(ctx context.Context, instanceID, idOrName string) (usertype.Type, error) {
	if idOrName == "" {
		return usertype.Type{}, failure.InvalidArgument("userTypeId", "must be set")
	}
	t, err := usertype.Get(ctx, s.db(), instanceID, idOrName)
	if failure.Is(err, failure.KindNotFound) {
		t, err = usertype.ByName(ctx, s.db(), instanceID, idOrName)
	}
	return t, err
}

// CreateUserType adds a user type.
func (s *Service) CreateUserType(ctx context.Context, req *connect.Request[usertypev1.CreateUserTypeRequest]) (*connect.Response[usertypev1.CreateUserTypeResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaWrite)
	if err != nil {
		return nil, err
	}
	doc, err := schemaJSON(req.Msg.GetSchema())
	if err != nil {
		return nil, err
	}
	id, err := s.types.Create(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetName(), doc)
	if err != nil {
		return nil, renameField(err, "type", "name")
	}
	return connect.NewResponse(&usertypev1.CreateUserTypeResponse{UserTypeId: id, Revision: 1}), nil
}

// GetUserType returns a user type with its latest revision.
func (s *Service) GetUserType(ctx context.Context, req *connect.Request[usertypev1.GetUserTypeRequest]) (*connect.Response[usertypev1.GetUserTypeResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaRead)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(ctx, caller.InstanceID, req.Msg.GetUserTypeId())
	if err != nil {
		return nil, err
	}
	out, err := userTypeMessage(t)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&usertypev1.GetUserTypeResponse{UserType: out}), nil
}

// ListUserTypes returns every user type of the instance with its latest
// revision. usertype.List has no documents, so each type is read once more;
// an instance has a handful of types. A type deleted in between is left out.
func (s *Service) ListUserTypes(ctx context.Context, req *connect.Request[usertypev1.ListUserTypesRequest]) (*connect.Response[usertypev1.ListUserTypesResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaRead)
	if err != nil {
		return nil, err
	}
	listed, err := usertype.List(ctx, s.db(), caller.InstanceID)
	if err != nil {
		return nil, err
	}
	resp := &usertypev1.ListUserTypesResponse{UserTypes: make([]*usertypev1.UserType, 0, len(listed))}
	for _, l := range listed {
		t, err := usertype.Get(ctx, s.db(), caller.InstanceID, l.ID)
		if failure.Is(err, failure.KindNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out, err := userTypeMessage(t)
		if err != nil {
			return nil, err
		}
		resp.UserTypes = append(resp.UserTypes, out)
	}
	return connect.NewResponse(resp), nil
}

// UpdateUserType adds a revision with a new schema.
func (s *Service) UpdateUserType(ctx context.Context, req *connect.Request[usertypev1.UpdateUserTypeRequest]) (*connect.Response[usertypev1.UpdateUserTypeResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaWrite)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(ctx, caller.InstanceID, req.Msg.GetUserTypeId())
	if err != nil {
		return nil, err
	}
	doc, err := schemaJSON(req.Msg.GetSchema())
	if err != nil {
		return nil, err
	}
	revision, err := s.types.Update(ctx, caller.Editor(), caller.InstanceID, t.ID, doc)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&usertypev1.UpdateUserTypeResponse{Revision: int32(revision)}), nil
}

// DeactivateUserType stops new users of a type.
func (s *Service) DeactivateUserType(ctx context.Context, req *connect.Request[usertypev1.DeactivateUserTypeRequest]) (*connect.Response[usertypev1.DeactivateUserTypeResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaWrite)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(ctx, caller.InstanceID, req.Msg.GetUserTypeId())
	if err != nil {
		return nil, err
	}
	if err := s.types.Deactivate(ctx, caller.Editor(), caller.InstanceID, t.ID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&usertypev1.DeactivateUserTypeResponse{}), nil
}

// ReactivateUserType ends a deactivation.
func (s *Service) ReactivateUserType(ctx context.Context, req *connect.Request[usertypev1.ReactivateUserTypeRequest]) (*connect.Response[usertypev1.ReactivateUserTypeResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaWrite)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(ctx, caller.InstanceID, req.Msg.GetUserTypeId())
	if err != nil {
		return nil, err
	}
	if err := s.types.Reactivate(ctx, caller.Editor(), caller.InstanceID, t.ID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&usertypev1.ReactivateUserTypeResponse{}), nil
}

// DeleteUserType removes a type no user has.
func (s *Service) DeleteUserType(ctx context.Context, req *connect.Request[usertypev1.DeleteUserTypeRequest]) (*connect.Response[usertypev1.DeleteUserTypeResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaWrite)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(ctx, caller.InstanceID, req.Msg.GetUserTypeId())
	if err != nil {
		return nil, err
	}
	if err := s.types.Delete(ctx, caller.Editor(), caller.InstanceID, t.ID, user.CountByType(s.db())); err != nil {
		return nil, err
	}
	return connect.NewResponse(&usertypev1.DeleteUserTypeResponse{}), nil
}

// ValidateTraits checks traits against a type's latest revision. Broken
// traits are the answer (valid false with the violations), not an error.
func (s *Service) ValidateTraits(ctx context.Context, req *connect.Request[usertypev1.ValidateTraitsRequest]) (*connect.Response[usertypev1.ValidateTraitsResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.SchemaRead)
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(ctx, caller.InstanceID, req.Msg.GetUserTypeId())
	if err != nil {
		return nil, err
	}
	schema, err := t.Schema()
	if err != nil {
		return nil, err
	}
	traits, err := traitsJSON(req.Msg.GetTraits())
	if err != nil {
		return nil, err
	}
	resp := &usertypev1.ValidateTraitsResponse{Valid: proto.Bool(true), Revision: int32(t.Revision)}
	err = schema.Validate(traits)
	var invalid *userschema.ValidationError
	switch {
	case errors.As(err, &invalid):
		resp.Valid = proto.Bool(false)
		for _, v := range invalid.Violations {
			resp.Violations = append(resp.Violations, &usertypev1.TraitViolation{Pointer: v.Pointer, Message: v.Message})
		}
	case err != nil:
		return nil, err
	}
	return connect.NewResponse(resp), nil
}
