package userapi

import (
	"context"
	"net"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
)

// allowCodeFrom applies the per-address limit on verification codes. The
// address is the connection's peer: behind a reverse proxy, every client
// shares the proxy's.
func (s *Service) allowCodeFrom(peer connect.Peer) error {
	host, _, err := net.SplitHostPort(peer.Addr)
	if err != nil {
		host = peer.Addr
	}
	if !s.codesPerAddress.Allow(host) {
		return failure.ResourceExhausted("too many verification codes were asked for from this address; wait before asking for another")
	}
	return nil
}

// SendVerificationCode sends a user a code for its email address or
// phone; the caller needs user.write.
func (s *Service) SendVerificationCode(ctx context.Context, req *connect.Request[userv1.SendVerificationCodeRequest]) (*connect.Response[userv1.SendVerificationCodeResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite)
	if err != nil {
		return nil, err
	}
	if err := s.allowCodeFrom(req.Peer()); err != nil {
		return nil, err
	}
	if err := s.users.SendContactCode(ctx, caller.Editor(), caller.InstanceID, u.ID, req.Msg.GetChannel(), s.keys, s.send); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.SendVerificationCodeResponse{}), nil
}

// SendMyVerificationCode sends the caller a code.
func (s *Service) SendMyVerificationCode(ctx context.Context, req *connect.Request[userv1.SendMyVerificationCodeRequest]) (*connect.Response[userv1.SendMyVerificationCodeResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.allowCodeFrom(req.Peer()); err != nil {
		return nil, err
	}
	if err := s.users.SendContactCode(ctx, caller.Editor(), caller.InstanceID, caller.UserID, req.Msg.GetChannel(), s.keys, s.send); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.SendMyVerificationCodeResponse{}), nil
}

// VerifyMyContact checks the code the caller received.
func (s *Service) VerifyMyContact(ctx context.Context, req *connect.Request[userv1.VerifyMyContactRequest]) (*connect.Response[userv1.VerifyMyContactResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.users.VerifyContact(ctx, caller.Editor(), caller.InstanceID, caller.UserID, req.Msg.GetChannel(), req.Msg.GetCode(), s.keys); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.VerifyMyContactResponse{}), nil
}

// ChangeMyPassword replaces the caller's password.
func (s *Service) ChangeMyPassword(ctx context.Context, req *connect.Request[userv1.ChangeMyPasswordRequest]) (*connect.Response[userv1.ChangeMyPasswordResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.users.ChangePassword(ctx, caller.InstanceID, caller.UserID, req.Msg.GetCurrentPassword(), req.Msg.GetNewPassword()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ChangeMyPasswordResponse{}), nil
}
