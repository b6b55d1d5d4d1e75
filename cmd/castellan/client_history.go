package main

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/castellan-iam/castellan/client"
	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
)

const historyUsage = `Usage: castellan history COMMAND [flags]

  user USER_ID --at TIME                  (a user as it was, replayed from its events)
  org ORG_ID --at TIME                    (an organization as it was)
  user-type TYPE_ID --at TIME             (a user type and its schema as they were)
  project PROJECT_ID --at TIME            (a project with its roles, grants and applications)
  memberships USER_ID --at TIME           (the memberships and roles a user held)
  authorizations USER_ID --at TIME        (a user's authorizations in projects)
  role-holders PROJECT_ID ROLE --at TIME  (who held a role, with the events that granted it)
  permission-holders PERMISSION --at TIME [--org ORG_ID]
  diff user|org|user-type|project|memberships|authorizations ID --from TIME [--to TIME]

TIME is RFC 3339 (2026-03-03T10:00:00Z) or a day (2026-03-03, its midnight
in UTC); --to is now unless given. Answers are JSON, as the API gives them
(docs/audit.md); the same permissions hold: an organization's
administrator asks about its own organization only. Needs event.read.

"castellan history COMMAND --help" describes a command.
` + apiCallsHelp

// historyAt asks one "as of" question: the subject's ids from the command
// line and the moment.
type historyAt struct {
	synopsis, summary string
	args              int
	ask               askAt
}

type (
	askAt   func(ctx context.Context, api *client.Client, args []string, at *timestamppb.Timestamp) (proto.Message, error)
	askDiff func(ctx context.Context, api *client.Client, id string, from, to *timestamppb.Timestamp) (proto.Message, error)
	ts      = *timestamppb.Timestamp
)

func historyQuestions() map[string]historyAt {
	return map[string]historyAt{
		"user": {"USER_ID", "Prints a user as it was at --at.", 1,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.GetUserAt(ctx, connect.NewRequest(&eventv1.GetUserAtRequest{UserId: a[0], Time: at})))
			}},
		"org": {"ORG_ID", "Prints an organization as it was at --at.", 1,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.GetOrganizationAt(ctx, connect.NewRequest(&eventv1.GetOrganizationAtRequest{OrganizationId: a[0], Time: at})))
			}},
		"user-type": {"TYPE_ID", "Prints a user type and its schema as they were at --at.", 1,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.GetUserTypeAt(ctx, connect.NewRequest(&eventv1.GetUserTypeAtRequest{UserTypeId: a[0], Time: at})))
			}},
		"project": {"PROJECT_ID", "Prints a project with its roles, grants and applications as they were at --at.", 1,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.GetProjectAt(ctx, connect.NewRequest(&eventv1.GetProjectAtRequest{ProjectId: a[0], Time: at})))
			}},
		"memberships": {"USER_ID", "Prints the memberships and roles a user held at --at.", 1,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.ListMembershipsAt(ctx, connect.NewRequest(&eventv1.ListMembershipsAtRequest{UserId: a[0], Time: at})))
			}},
		"authorizations": {"USER_ID", "Prints a user's authorizations in projects as they were at --at.", 1,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.ListAuthorizationsAt(ctx, connect.NewRequest(&eventv1.ListAuthorizationsAtRequest{UserId: a[0], Time: at})))
			}},
		"role-holders": {"PROJECT_ID ROLE", "Prints the users who held a project's role at --at, with the events that granted and revoked it.", 2,
			func(ctx context.Context, api *client.Client, a []string, at ts) (proto.Message, error) {
				return msg(api.Events.ListRoleHoldersAt(ctx, connect.NewRequest(&eventv1.ListRoleHoldersAtRequest{ProjectId: a[0], Role: a[1], Time: at})))
			}},
	}
}

// historyDiffs are the objects "history diff" compares between two moments.
func historyDiffs() map[string]askDiff {
	return map[string]askDiff{
		"user": func(ctx context.Context, api *client.Client, id string, from, to ts) (proto.Message, error) {
			return msg(api.Events.DiffUser(ctx, connect.NewRequest(&eventv1.DiffUserRequest{UserId: id, From: from, To: to})))
		},
		"org": func(ctx context.Context, api *client.Client, id string, from, to ts) (proto.Message, error) {
			return msg(api.Events.DiffOrganization(ctx, connect.NewRequest(&eventv1.DiffOrganizationRequest{OrganizationId: id, From: from, To: to})))
		},
		"user-type": func(ctx context.Context, api *client.Client, id string, from, to ts) (proto.Message, error) {
			return msg(api.Events.DiffUserType(ctx, connect.NewRequest(&eventv1.DiffUserTypeRequest{UserTypeId: id, From: from, To: to})))
		},
		"project": func(ctx context.Context, api *client.Client, id string, from, to ts) (proto.Message, error) {
			return msg(api.Events.DiffProject(ctx, connect.NewRequest(&eventv1.DiffProjectRequest{ProjectId: id, From: from, To: to})))
		},
		"memberships": func(ctx context.Context, api *client.Client, id string, from, to ts) (proto.Message, error) {
			return msg(api.Events.DiffMemberships(ctx, connect.NewRequest(&eventv1.DiffMembershipsRequest{UserId: id, From: from, To: to})))
		},
		"authorizations": func(ctx context.Context, api *client.Client, id string, from, to ts) (proto.Message, error) {
			return msg(api.Events.DiffAuthorizations(ctx, connect.NewRequest(&eventv1.DiffAuthorizationsRequest{UserId: id, From: from, To: to})))
		},
	}
}

// msg is the message of an API call's response, or its error.
func msg[T any, M interface {
	*T
	proto.Message
}](r *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return M(r.Msg), nil
}

func historyCommand(ctx context.Context, args []string, s streams) error {
	return s.group("history", historyUsage, args, func(name string, rest []string) error {
		switch name {
		case "diff":
			return historyDiff(ctx, rest, s)
		case "permission-holders":
			return historyPermissionHolders(ctx, rest, s)
		}
		q, ok := historyQuestions()[name]
		if !ok {
			return errUnknownCommand
		}
		cmd := s.command("history "+name, q.synopsis, q.summary+" Needs event.read.")
		at := cmd.fs.String("at", "", "the moment, `TIME` (RFC 3339 or a day); required")
		pos, err := cmd.parse(rest, q.args, q.args)
		if err != nil {
			return err
		}
		t, err := historyTime("--at", *at, true)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		m, err := q.ask(ctx, api, pos, t)
		if err != nil {
			return err
		}
		return s.printJSON(m)
	})
}

func historyPermissionHolders(ctx context.Context, args []string, s streams) error {
	cmd := s.command("history permission-holders", "PERMISSION", "Prints the users who held PERMISSION (such as user.write) at --at, "+
		"through which memberships, in the instance or one organization. Needs event.read.")
	at := cmd.fs.String("at", "", "the moment, `TIME` (RFC 3339 or a day); required")
	org := cmd.fs.String("org", "", "only within organization `ORG_ID`")
	pos, err := cmd.parse(args, 1, 1)
	if err != nil {
		return err
	}
	t, err := historyTime("--at", *at, true)
	if err != nil {
		return err
	}
	api, err := cmd.client()
	if err != nil {
		return err
	}
	r, err := api.Events.ListPermissionHoldersAt(ctx, connect.NewRequest(&eventv1.ListPermissionHoldersAtRequest{Permission: pos[0], OrganizationId: *org, Time: t}))
	if err != nil {
		return err
	}
	return s.printJSON(r.Msg)
}

func historyDiff(ctx context.Context, args []string, s streams) error {
	cmd := s.command("history diff", "user|org|user-type|project|memberships|authorizations ID",
		"Prints what changed in an object between --from and --to, field by field (each change's path, before and after). Needs event.read.")
	from := cmd.fs.String("from", "", "the earlier moment, `TIME` (RFC 3339 or a day); required")
	to := cmd.fs.String("to", "", "the later moment, `TIME` (default now)")
	pos, err := cmd.parse(args, 2, 2)
	if err != nil {
		return err
	}
	diff, ok := historyDiffs()[pos[0]]
	if !ok {
		return fmt.Errorf("history diff: %q is not one of user, org, user-type, project, memberships, authorizations; see castellan history diff --help", pos[0])
	}
	f, err := historyTime("--from", *from, true)
	if err != nil {
		return err
	}
	t, err := historyTime("--to", *to, false)
	if err != nil {
		return err
	}
	if t == nil {
		t = timestamppb.Now()
	}
	if t.AsTime().Before(f.AsTime()) {
		return fmt.Errorf("history diff: --to (%s) is before --from (%s)", t.AsTime().Format(time.RFC3339), f.AsTime().Format(time.RFC3339))
	}
	api, err := cmd.client()
	if err != nil {
		return err
	}
	m, err := diff(ctx, api, pos[1], f, t)
	if err != nil {
		return err
	}
	return s.printJSON(m)
}

// historyTime reads a moment given as RFC 3339 or as a day (its midnight
// in UTC); nil when it is empty and not required.
func historyTime(flagName, v string, required bool) (*timestamppb.Timestamp, error) {
	if v == "" {
		if required {
			return nil, fmt.Errorf("%s is required: a moment such as 2026-03-03T10:00:00Z or 2026-03-03", flagName)
		}
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, fmt.Errorf("%s: %q is not a moment such as 2026-03-03T10:00:00Z or 2026-03-03", flagName, v)
}
