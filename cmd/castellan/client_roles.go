package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
)

const rolesUsage = `Usage: castellan roles COMMAND [flags]

  list                                          (built-in and custom roles, with their permissions)
  permissions                                   (the permission catalogue)
  define KEY SCOPE DISPLAY_NAME PERMISSION…     (KEY: custom.…; SCOPE: instance, org, project, project_grant)
  change KEY DISPLAY_NAME PERMISSION…
  remove KEY                                    (also takes it from every member holding it)

"castellan roles COMMAND --help" describes a command.
` + apiCallsHelp

func rolesCommand(ctx context.Context, args []string, s streams) error {
	return s.group("roles", rolesUsage, args, func(name string, rest []string) error {
		return rolesSubcommand(ctx, name, rest, s)
	})
}

func printRoles(s streams, roles ...*instancev1.Role) error {
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSCOPE\tNAME\tPERMISSIONS")
	for _, r := range roles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.GetKey(), r.GetScope(), r.GetDisplayName(), strings.Join(r.GetPermissions(), " "))
	}
	return tw.Flush()
}

func rolesSubcommand(ctx context.Context, name string, args []string, s streams) error {
	path := "roles " + name
	switch name {
	case "list":
		cmd := s.command(path, "", "Lists the administrator roles of the instance, built-in and custom, with their permissions.")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Instance.ListRoles(ctx, connect.NewRequest(&instancev1.ListRolesRequest{}))
		if err != nil {
			return err
		}
		return printRoles(s, resp.Msg.GetRoles()...)
	case "permissions":
		cmd := s.command(path, "", "Lists the permission catalogue: every permission and what it allows.")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Instance.ListPermissions(ctx, connect.NewRequest(&instancev1.ListPermissionsRequest{}))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PERMISSION\tALLOWS")
		for _, p := range resp.Msg.GetPermissions() {
			fmt.Fprintf(tw, "%s\t%s\n", p.GetName(), p.GetDescription())
		}
		return tw.Flush()
	case "define":
		cmd := s.command(path, "KEY SCOPE DISPLAY_NAME PERMISSION [PERMISSION…]",
			"Defines a custom role held on scopes of kind SCOPE (instance, org, project, project_grant); you must hold role.write and every permission you put in it.")
		a, err := cmd.parse(args, 4, -1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Instance.DefineRole(ctx, connect.NewRequest(&instancev1.DefineRoleRequest{Key: a[0], Scope: a[1], DisplayName: a[2], Permissions: a[3:]}))
		if err != nil {
			return err
		}
		return printRoles(s, resp.Msg.GetRole())
	case "change":
		cmd := s.command(path, "KEY DISPLAY_NAME PERMISSION [PERMISSION…]", "Replaces a custom role's display name and permissions; its holders hold the new ones at once.")
		a, err := cmd.parse(args, 3, -1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Instance.ChangeRole(ctx, connect.NewRequest(&instancev1.ChangeRoleRequest{Key: a[0], DisplayName: a[1], Permissions: a[2:]}))
		if err != nil {
			return err
		}
		return printRoles(s, resp.Msg.GetRole())
	case "remove":
		cmd := s.command(path, "KEY", "Removes a custom role and takes it from every member holding it.")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		_, err = api.Instance.RemoveRole(ctx, connect.NewRequest(&instancev1.RemoveRoleRequest{Key: a[0]}))
		return err
	default:
		return errUnknownCommand
	}
}
