package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/asset"
)

// usersAvatarSubcommand runs castellan users set-avatar | remove-avatar.
func usersAvatarSubcommand(ctx context.Context, name string, args []string, s streams) error {
	switch name {
	case "set-avatar":
		cmd := s.command("users set-avatar", "USER_ID FILE", "Uploads FILE (- for standard input) as a user's picture and prints its URL.")
		args, err := cmd.parse(args, 2, 2)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		in := s.stdin
		if name := args[1]; name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		// One byte over the limit lets the server name the refusal.
		data, err := io.ReadAll(io.LimitReader(in, asset.MaxImageBytes+1))
		if err != nil {
			return err
		}
		resp, err := api.Users.SetUserAvatar(ctx, connect.NewRequest(&userv1.SetUserAvatarRequest{UserId: args[0], Data: data}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.stdout, resp.Msg.GetUrl())
		return err
	case "remove-avatar":
		cmd := s.command("users remove-avatar", "USER_ID", "Clears a user's picture.")
		ids, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		_, err = api.Users.RemoveUserAvatar(ctx, connect.NewRequest(&userv1.RemoveUserAvatarRequest{UserId: ids[0]}))
		return err
	}
	return fmt.Errorf("unknown users command %q", name)
}
