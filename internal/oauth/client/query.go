package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

type scanner interface{ Scan(dest ...any) error }

// GetProject returns a project, or failure.NotFound.
func GetProject(ctx context.Context, db *database.DB, instanceID, projectID string) (Project, error) {
	p, _, err := getProject(ctx, db, instanceID, projectID)
	return p, err
}

func getProject(ctx context.Context, db *database.DB, instanceID, projectID string) (Project, int64, error) {
	p := Project{ID: projectID}
	var created, seq int64
	err := db.Reader().QueryRowContext(ctx, `SELECT org_id, name, sequence, created_at FROM projects WHERE instance_id = $1 AND project_id = $2`,
		instanceID, projectID).Scan(&p.OrgID, &p.Name, &seq, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, 0, failure.NotFound("project %.64q not found", projectID)
	}
	if err != nil {
		return Project{}, 0, fmt.Errorf("client: project: %w", err)
	}
	p.CreatedAt = time.Unix(created, 0).UTC()
	return p, seq, nil
}

// ListProjects returns the projects of an organization, or of every
// organization when orgID is empty, by name.
func ListProjects(ctx context.Context, db *database.DB, instanceID, orgID string) ([]Project, error) {
	q := `SELECT project_id, org_id, name, created_at FROM projects WHERE instance_id = $1`
	args := []any{instanceID}
	if orgID != "" {
		q += ` AND org_id = $2`
		args = append(args, orgID)
	}
	rows, err := db.Reader().QueryContext(ctx, q+` ORDER BY name, project_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("client: list projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		var p Project
		var created int64
		if err := rows.Scan(&p.ID, &p.OrgID, &p.Name, &created); err != nil {
			return nil, fmt.Errorf("client: list projects: %w", err)
		}
		p.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

const selectApplication = `SELECT app_id, project_id, org_id, name, client_id, kind, client_type, grant_types, access_token_type,
	access_token_lifetime_ms, scopes, redirects, created_at, auth_method, jwks, id_token_alg, third_party, role_claims, resource_uri, impersonation,
	dpop, certificate_auth, certificate_bound, fapi, may_act FROM applications`

func scanApplication(row scanner) (Application, error) {
	var a Application
	var typ, grants, scopes, redirects, jwks, dpop, certAuth, mayAct string
	var lifetime, created int64
	if err := row.Scan(&a.ID, &a.ProjectID, &a.OrgID, &a.Name, &a.ClientID, &a.Kind, &typ, &grants, &a.AccessTokenType, &lifetime, &scopes, &redirects, &created,
		&a.AuthMethod, &jwks, &a.IDTokenAlg, &a.ThirdParty, &a.RoleClaims, &a.ResourceURI, &a.ImpersonationAllowed,
		&dpop, &certAuth, &a.CertificateBoundTokens, &a.FAPI, &mayAct); err != nil {
		return Application{}, err
	}
	if jwks != "" {
		if err := json.Unmarshal([]byte(jwks), &a.JWKS); err != nil {
			return Application{}, fmt.Errorf("client: keys of %s: %w", a.ID, err)
		}
	}
	if certAuth != "" {
		var c certificateJSON
		if err := json.Unmarshal([]byte(certAuth), &c); err != nil {
			return Application{}, fmt.Errorf("client: certificate authentication of %s: %w", a.ID, err)
		}
		a.TLSClientAuth, a.Certificates = c.TLSClientAuth, c.Certificates
	}
	var err error
	if a.Redirects, err = parseRedirects(redirects); err != nil {
		return Application{}, fmt.Errorf("client: redirects of %s: %w", a.ID, err)
	}
	if a.DPoP, err = parseDPoP(dpop); err != nil {
		return Application{}, fmt.Errorf("client: DPoP settings of %s: %w", a.ID, err)
	}
	if a.MayAct, err = parseMayAct(mayAct); err != nil {
		return Application{}, fmt.Errorf("client: may_act of %s: %w", a.ID, err)
	}
	a.Public = typ == "public"
	a.GrantTypes = strings.Fields(grants)
	a.Scopes = strings.Fields(scopes)
	a.AccessTokenLifetime = time.Duration(lifetime) * time.Millisecond
	a.CreatedAt = time.Unix(created, 0).UTC()
	return a, nil
}

// GetApplication returns an application with its secrets' metadata, or
// failure.NotFound.
func GetApplication(ctx context.Context, db *database.DB, instanceID, appID string) (Application, error) {
	return getApplication(ctx, db, `app_id`, instanceID, appID)
}

// ApplicationByClientID is GetApplication by client id.
func ApplicationByClientID(ctx context.Context, db *database.DB, instanceID, clientID string) (Application, error) {
	return getApplication(ctx, db, `client_id`, instanceID, clientID)
}

func getApplication(ctx context.Context, db *database.DB, column, instanceID, value string) (Application, error) {
	a, err := scanApplication(db.Reader().QueryRowContext(ctx, selectApplication+` WHERE instance_id = $1 AND `+column+` = $2`, instanceID, value))
	if errors.Is(err, sql.ErrNoRows) {
		return Application{}, failure.NotFound("application %.64q not found", value)
	}
	if err != nil {
		return Application{}, fmt.Errorf("client: application: %w", err)
	}
	if a.Secrets, err = secrets(ctx, db, instanceID, a.ID); err != nil {
		return Application{}, err
	}
	return a, nil
}

func secrets(ctx context.Context, db *database.DB, instanceID, appID string) ([]Secret, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT secret_id, key_id, hash, expires_at, created_at FROM client_secrets
WHERE instance_id = $1 AND app_id = $2 ORDER BY created_at, secret_id`, instanceID, appID)
	if err != nil {
		return nil, fmt.Errorf("client: secrets: %w", err)
	}
	defer rows.Close()
	var out []Secret
	for rows.Next() {
		var s Secret
		var expires, created int64
		if err := rows.Scan(&s.ID, &s.keyID, &s.hash, &expires, &created); err != nil {
			return nil, fmt.Errorf("client: secrets: %w", err)
		}
		if expires != 0 {
			s.ExpiresAt = time.Unix(expires, 0).UTC()
		}
		s.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// ListApplications returns the applications of a project, by name.
func ListApplications(ctx context.Context, db *database.DB, instanceID, projectID string) ([]Application, error) {
	rows, err := db.Reader().QueryContext(ctx, selectApplication+` WHERE instance_id = $1 AND project_id = $2 ORDER BY name, app_id`, instanceID, projectID)
	if err != nil {
		return nil, fmt.Errorf("client: list applications: %w", err)
	}
	var out []Application
	for rows.Next() {
		a, err := scanApplication(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("client: list applications: %w", err)
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Secrets, err = secrets(ctx, db, instanceID, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ApplicationByResource returns the API application that registered a
// resource URI (RFC 8707), or failure.NotFound.
func ApplicationByResource(ctx context.Context, db *database.DB, instanceID, uri string) (Application, error) {
	a, err := scanApplication(db.Reader().QueryRowContext(ctx, selectApplication+` WHERE instance_id = $1 AND resource_uri = $2 AND kind = $3`,
		instanceID, uri, KindAPI))
	if errors.Is(err, sql.ErrNoRows) {
		return Application{}, failure.NotFound("no resource %.80q", uri)
	}
	if err != nil {
		return Application{}, fmt.Errorf("client: resource: %w", err)
	}
	return a, nil
}
