package instanceapi

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// ListSigningKeys lists the instance's signing keys; instance.read.
func (s *Service) ListSigningKeys(ctx context.Context, req *connect.Request[instancev1.ListSigningKeysRequest]) (*connect.Response[instancev1.ListSigningKeysResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceRead)
	if err != nil {
		return nil, err
	}
	keys, err := s.signingKeys(ctx, caller.InstanceID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.ListSigningKeysResponse{Keys: keys}), nil
}

// RotateSigningKeys rotates the keys of one algorithm; instance.write.
func (s *Service) RotateSigningKeys(ctx context.Context, req *connect.Request[instancev1.RotateSigningKeysRequest]) (*connect.Response[instancev1.RotateSigningKeysResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceWrite)
	if err != nil {
		return nil, err
	}
	keep := s.retiredKept
	if keep == 0 {
		keep = token.RetiredKept
	}
	if d := req.Msg.GetKeepRetired(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 24*time.Hour {
			return nil, failure.InvalidArgument("keepRetired", "must be at least a day: tokens signed by a retired key must still verify")
		}
		keep = d.AsDuration()
	}
	if err := s.keys.Rotate(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetAlgorithm(), keep); err != nil {
		return nil, err
	}
	keys, err := s.signingKeys(ctx, caller.InstanceID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.RotateSigningKeysResponse{Keys: keys}), nil
}

func (s *Service) signingKeys(ctx context.Context, instanceID string) ([]*instancev1.SigningKey, error) {
	keys, err := s.keys.List(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	out := make([]*instancev1.SigningKey, 0, len(keys))
	for _, k := range keys {
		one := &instancev1.SigningKey{Id: k.ID, Algorithm: k.Algorithm, State: k.State, CreateTime: timestamppb.New(k.CreatedAt)}
		if !k.ActivatedAt.IsZero() {
			one.ActivateTime = timestamppb.New(k.ActivatedAt)
		}
		if !k.RetiredAt.IsZero() {
			one.RetireTime = timestamppb.New(k.RetiredAt)
		}
		out = append(out, one)
	}
	return out, nil
}
