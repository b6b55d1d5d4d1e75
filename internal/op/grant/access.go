package grant

import (
	"context"
	"errors"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
)

// ProjectAccess applies a project's sign-in settings to a user
// (project.MayUse): failure.PermissionDenied when the user may not get
// tokens for the project.
type ProjectAccess func(ctx context.Context, instanceID, userID, projectID string) error

// permissionDenied returns the message of a failure.PermissionDenied.
func permissionDenied(err error) (string, bool) {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Kind == failure.KindPermissionDenied {
		return fe.Message, true
	}
	return "", false
}

// userRoles returns what a user's tokens for app carry of the user's
// claims: the role claims (package project), the same as the tokens of
// the code flow; the claims function decides by the project's sign-in
// settings whether the user may use app at all, and code is the error
// code when not.
func userRoles(ctx context.Context, c Claims, instanceID, userID string, app client.Application, scopes []string, code string) (map[string]any, error) {
	if c == nil {
		return nil, nil
	}
	all, err := c(ctx, instanceID, userID, app, scopes)
	if msg, ok := permissionDenied(err); ok {
		return nil, oauth.Errorf(code, "the user may not use this application: %s", msg)
	}
	if err != nil {
		return nil, oauth.Errorf(code, "the user can no longer sign in")
	}
	var roles map[string]any
	for k, v := range all {
		if project.IsRoleClaim(k) {
			if roles == nil {
				roles = map[string]any{}
			}
			roles[k] = v
		}
	}
	return roles, nil
}

// mayReach checks that a user may get tokens for the resource servers
// uris: the project of each lets the user in (its sign-in settings, as
// for its applications); else invalid_target.
func mayReach(ctx context.Context, res Resources, access ProjectAccess, instanceID, userID string, uris []string) error {
	if access == nil || res == nil {
		return nil
	}
	for _, uri := range uris {
		api, err := res.Resource(ctx, instanceID, uri)
		if failure.Is(err, failure.KindNotFound) {
			return oauth.Errorf(oauth.InvalidTarget, "resource %.200q is not a resource server of this issuer", uri)
		}
		if err != nil {
			return err
		}
		err = access(ctx, instanceID, userID, api.ProjectID)
		if msg, ok := permissionDenied(err); ok {
			return oauth.Errorf(oauth.InvalidTarget, "the user may not use resource %.200q: %s", uri, msg)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// grantResources are the resource servers a token of a user's grant is
// for: those the request names, else the grant's (userAudience).
func grantResources(r Request, g grants.Grant) []string {
	if uris := r.Form["resource"]; len(uris) > 0 {
		return uris
	}
	return g.Resources
}
