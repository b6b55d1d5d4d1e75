package userapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// pictureClaim is the OIDC claim whose field holds a user's avatar.
const pictureClaim = "picture"

// WithAssets lets the service keep users' avatars in store; their URLs are
// built on each instance's issuer under externalURL (instance.Issuer).
func (s *Service) WithAssets(store asset.Store, externalURL string) *Service {
	cp := *s
	cp.assets = store
	cp.externalURL = externalURL
	return &cp
}

// SetUserAvatar uploads a user's picture as an administrator.
func (s *Service) SetUserAvatar(ctx context.Context, req *connect.Request[userv1.SetUserAvatarRequest]) (*connect.Response[userv1.SetUserAvatarResponse], error) {
	caller, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite)
	if err != nil {
		return nil, err
	}
	id, ct, url, err := s.setAvatar(ctx, caller, u.ID, userschema.Admin, req.Msg.GetData())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.SetUserAvatarResponse{AssetId: id, ContentType: ct, Url: url}), nil
}

// RemoveUserAvatar clears a user's picture as an administrator.
func (s *Service) RemoveUserAvatar(ctx context.Context, req *connect.Request[userv1.RemoveUserAvatarRequest]) (*connect.Response[userv1.RemoveUserAvatarResponse], error) {
	caller, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite)
	if err != nil {
		return nil, err
	}
	if err := s.removeAvatar(ctx, caller, u.ID, userschema.Admin); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveUserAvatarResponse{}), nil
}

// SetMyAvatar uploads the caller's own picture.
func (s *Service) SetMyAvatar(ctx context.Context, req *connect.Request[userv1.SetMyAvatarRequest]) (*connect.Response[userv1.SetMyAvatarResponse], error) {
	caller, err := s.self(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	id, ct, url, err := s.setAvatar(ctx, caller, caller.UserID, userschema.Self, req.Msg.GetData())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.SetMyAvatarResponse{AssetId: id, ContentType: ct, Url: url}), nil
}

// RemoveMyAvatar clears the caller's own picture.
func (s *Service) RemoveMyAvatar(ctx context.Context, req *connect.Request[userv1.RemoveMyAvatarRequest]) (*connect.Response[userv1.RemoveMyAvatarResponse], error) {
	caller, err := s.self(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.removeAvatar(ctx, caller, caller.UserID, userschema.Self); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyAvatarResponse{}), nil
}

// self authenticates a caller that is a user (not, say, a client).
func (s *Service) self(ctx context.Context, h http.Header) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	if caller.UserID == "" {
		return authz.Caller{}, failure.PermissionDenied("only a user has an avatar")
	}
	return caller, nil
}

// setAvatar admits data as an image, stores it and sets the user's picture
// field to its URL through user.Commands.Update, which validates the
// traits against the schema and records the change as an event. Whether
// role may write the field is checked before anything is stored.
func (s *Service) setAvatar(ctx context.Context, caller authz.Caller, userID string, role userschema.Role, data []byte) (id, contentType, url string, err error) {
	if s.assets == nil {
		return "", "", "", failure.FailedPrecondition("this server keeps no assets")
	}
	schema, pointer, err := s.pictureField(ctx, caller.InstanceID, userID)
	if err != nil {
		return "", "", "", err
	}
	contentType, err = asset.Admit(asset.KindImage, data)
	if err != nil {
		return "", "", "", err
	}
	inst, err := instance.ByID(ctx, s.db(), caller.InstanceID)
	if err != nil {
		return "", "", "", err
	}
	url = inst.Issuer(s.externalURL) + asset.PathPrefix + asset.IDOf(data)
	patch, err := pointerPatch(pointer, url)
	if err != nil {
		return "", "", "", err
	}
	if err := schema.CheckWritable(nil, patch, role); err != nil {
		return "", "", "", err
	}
	if id, err = s.assets.Put(ctx, caller.InstanceID, contentType, data); err != nil {
		return "", "", "", err
	}
	if err := s.users.Update(ctx, caller.Editor(), caller.InstanceID, userID, role, user.Patch{Traits: patch}); err != nil {
		return "", "", "", err
	}
	return id, contentType, url, nil
}

// removeAvatar clears the user's picture field.
func (s *Service) removeAvatar(ctx context.Context, caller authz.Caller, userID string, role userschema.Role) error {
	_, pointer, err := s.pictureField(ctx, caller.InstanceID, userID)
	if err != nil {
		return err
	}
	patch, err := pointerPatch(pointer, nil)
	if err != nil {
		return err
	}
	return s.users.Update(ctx, caller.Editor(), caller.InstanceID, userID, role, user.Patch{Traits: patch})
}

// pictureField finds the field of the user's type (its latest revision,
// which Update validates against) that feeds the "picture" claim.
func (s *Service) pictureField(ctx context.Context, instanceID, userID string) (*userschema.Schema, string, error) {
	u, err := user.Get(ctx, s.db(), instanceID, userID, userschema.Admin)
	if err != nil {
		return nil, "", err
	}
	t, err := usertype.Get(ctx, s.db(), instanceID, u.SchemaID)
	if err != nil {
		return nil, "", err
	}
	schema, err := t.Schema()
	if err != nil {
		return nil, "", err
	}
	for pointer, claim := range schema.Claims() {
		if claim == pictureClaim {
			return schema, pointer, nil
		}
	}
	return nil, "", failure.FailedPrecondition("the user type %q has no field feeding the OIDC claim %q, so its users have no avatar; annotate a URL field with \"oidcClaim\": %q", t.Name, pictureClaim, pictureClaim)
}

// pointerPatch is the JSON merge patch (RFC 7396) that sets the field at
// JSON pointer to value, or removes it when value is nil.
func pointerPatch(pointer string, value any) (json.RawMessage, error) {
	tokens := strings.Split(pointer, "/")[1:]
	if len(tokens) == 0 {
		return nil, failure.Internal(nil, "the picture field %q is the root", pointer)
	}
	v := value
	for i := len(tokens) - 1; i >= 0; i-- {
		tok := strings.ReplaceAll(strings.ReplaceAll(tokens[i], "~1", "/"), "~0", "~")
		v = map[string]any{tok: v}
	}
	return json.Marshal(v)
}
