package userapi

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
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
	agg := eventstore.Aggregate{InstanceID: caller.InstanceID, Type: user.AggregateType, ID: u.ID, Owner: u.OrgID}
	resp := &userv1.AddMachineKeyResponse{}
	var add eventstore.Append
	var key machinekey.Key
	switch {
	case m.GetPublicKey() != "" && m.GetAlgorithm() != "":
		return nil, failure.InvalidArgument("algorithm", "give a public key to register or an algorithm to generate, not both")
	case m.GetPublicKey() != "":
		add, key, err = machinekey.Register(agg, []byte(m.GetPublicKey()), m.GetExpireTime().AsTime(), s.now())
	default:
		var private, file []byte
		add, key, private, file, err = machinekey.Generate(agg, m.GetAlgorithm(), m.GetExpireTime().AsTime(), s.now())
		resp.PrivateKey, resp.KeyFile = string(private), string(file)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.store.Push(ctx, caller.Editor(), add); err != nil {
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
	k, err := machinekey.Get(ctx, s.db(), caller.InstanceID, req.Msg.GetKeyId())
	if err != nil {
		return nil, err
	}
	if k.UserID != u.ID {
		return nil, failure.NotFound("user %s has no key %s", u.ID, req.Msg.GetKeyId())
	}
	if _, err := s.store.Push(ctx, caller.Editor(), machinekey.Remove(eventstore.Aggregate{InstanceID: caller.InstanceID, Type: user.AggregateType, ID: u.ID, Owner: u.OrgID}, k.ID)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMachineKeyResponse{}), nil
}
