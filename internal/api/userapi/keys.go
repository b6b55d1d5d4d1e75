package userapi

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/machinekey"
	"github.com/castellan-iam/castellan/internal/user"
)

func keyToProto(k machinekey.Key) *userv1.MachineKey {
	return &userv1.MachineKey{Id: k.ID, Algorithm: k.Algorithm, PublicKey: string(k.PublicJWK), Thumbprint: k.Thumbprint,
		ExpireTime: timestamppb.New(k.ExpiresAt), CreateTime: timestamppb.New(k.CreatedAt)}
}

// AddMachineKey registers a public key or generates a key pair; the
// caller needs user.credential.write.
func (s *Service) AddMachineKey(ctx context.Context, req *connect.Request[userv1.AddMachineKeyRequest]) (*connect.Response[userv1.AddMachineKeyResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.GetExpireTime() == nil {
		return nil, failure.InvalidArgument("expireTime", "required")
	}
	resp := &userv1.AddMachineKeyResponse{}
	var key machinekey.Key
	switch {
	case m.GetPublicKey() != "" && m.GetAlgorithm() != "":
		return nil, failure.InvalidArgument("algorithm", "give a public key to register or an algorithm to generate, not both")
	case m.GetPublicKey() != "":
		key, err = s.machineKeys.Register(ctx, caller.Editor(), u.Aggregate(), []byte(m.GetPublicKey()), m.GetExpireTime().AsTime())
	default:
		var private, file []byte
		key, private, file, err = s.machineKeys.Generate(ctx, caller.Editor(), u.Aggregate(), m.GetAlgorithm(), m.GetExpireTime().AsTime())
		resp.PrivateKey, resp.KeyFile = string(private), string(file)
	}
	if err != nil {
		return nil, err
	}
	resp.Key = keyToProto(key)
	return connect.NewResponse(resp), nil
}

// ListMachineKeys lists a user's keys.
func (s *Service) ListMachineKeys(ctx context.Context, req *connect.Request[userv1.ListMachineKeysRequest]) (*connect.Response[userv1.ListMachineKeysResponse], error) {
	caller, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserRead)
	if err != nil {
		return nil, err
	}
	keys, err := machinekey.List(ctx, s.db(), caller.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	resp := &userv1.ListMachineKeysResponse{}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, keyToProto(k))
	}
	return connect.NewResponse(resp), nil
}

// RemoveMachineKey removes a key.
func (s *Service) RemoveMachineKey(ctx context.Context, req *connect.Request[userv1.RemoveMachineKeyRequest]) (*connect.Response[userv1.RemoveMachineKeyResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	if err := s.machineKeys.Remove(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetKeyId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMachineKeyResponse{}), nil
}

// AddMyPersonalAccessToken issues the caller a token of its own, when its
// user type lists the "pat" authenticator.
func (s *Service) AddMyPersonalAccessToken(ctx context.Context, req *connect.Request[userv1.AddMyPersonalAccessTokenRequest]) (*connect.Response[userv1.AddMyPersonalAccessTokenResponse], error) {
	if req.Msg.GetExpireTime() == nil {
		return nil, failure.InvalidArgument("expireTime", "required")
	}
	caller, u, err := s.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	ok, err := user.MayUse(ctx, s.db(), u, "pat")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failure.FailedPrecondition("users of type %s do not use personal access tokens", u.Type)
	}
	tokenID, token, err := s.tokens.Add(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetExpireTime().AsTime())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.AddMyPersonalAccessTokenResponse{TokenId: tokenID, Token: token}), nil
}

// RemoveMyPersonalAccessToken revokes one of the caller's tokens.
func (s *Service) RemoveMyPersonalAccessToken(ctx context.Context, req *connect.Request[userv1.RemoveMyPersonalAccessTokenRequest]) (*connect.Response[userv1.RemoveMyPersonalAccessTokenResponse], error) {
	caller, u, err := s.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.tokens.Revoke(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetTokenId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyPersonalAccessTokenResponse{}), nil
}
