package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// Migrations create the project, application and secret read models.
var Migrations = []database.Migration{{
	Name: "client/0001_projects",
	SQLite: `CREATE TABLE projects (instance_id TEXT NOT NULL, project_id TEXT NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
	sequence INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, project_id));
CREATE INDEX projects_org ON projects (instance_id, org_id, name);
CREATE TABLE applications (instance_id TEXT NOT NULL, app_id TEXT NOT NULL, project_id TEXT NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
	client_id TEXT NOT NULL, kind TEXT NOT NULL, client_type TEXT NOT NULL, grant_types TEXT NOT NULL, access_token_type TEXT NOT NULL,
	access_token_lifetime_ms INTEGER NOT NULL, scopes TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, app_id));
CREATE UNIQUE INDEX applications_client ON applications (instance_id, client_id);
CREATE INDEX applications_project ON applications (instance_id, project_id);
CREATE TABLE client_secrets (instance_id TEXT NOT NULL, app_id TEXT NOT NULL, secret_id TEXT NOT NULL, key_id TEXT NOT NULL, hash BLOB NOT NULL,
	expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, app_id, secret_id));`,
	Postgres: `CREATE TABLE projects (instance_id TEXT NOT NULL, project_id TEXT NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
	sequence BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, project_id));
CREATE INDEX projects_org ON projects (instance_id, org_id, name);
CREATE TABLE applications (instance_id TEXT NOT NULL, app_id TEXT NOT NULL, project_id TEXT NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
	client_id TEXT NOT NULL, kind TEXT NOT NULL, client_type TEXT NOT NULL, grant_types TEXT NOT NULL, access_token_type TEXT NOT NULL,
	access_token_lifetime_ms BIGINT NOT NULL, scopes TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, app_id));
CREATE UNIQUE INDEX applications_client ON applications (instance_id, client_id);
CREATE INDEX applications_project ON applications (instance_id, project_id);
CREATE TABLE client_secrets (instance_id TEXT NOT NULL, app_id TEXT NOT NULL, secret_id TEXT NOT NULL, key_id TEXT NOT NULL, hash BYTEA NOT NULL,
	expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, app_id, secret_id));`,
}, {
	Name:     "client/0002_redirects",
	SQLite:   `ALTER TABLE applications ADD COLUMN redirects TEXT NOT NULL DEFAULT '{}';`,
	Postgres: `ALTER TABLE applications ADD COLUMN redirects TEXT NOT NULL DEFAULT '{}';`,
}, {
	Name: "client/0003_client_keys",
	SQLite: `ALTER TABLE applications ADD COLUMN auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
CREATE TABLE client_assertions (instance_id TEXT NOT NULL, client_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, client_id, jti));
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);`,
	Postgres: `ALTER TABLE applications ADD COLUMN auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
CREATE TABLE client_assertions (instance_id TEXT NOT NULL, client_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, client_id, jti));
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);`,
}, {
	Name:     "client/0004_id_token_alg",
	SQLite:   `ALTER TABLE applications ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE applications ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT '';`,
}, {
	Name:     "client/0005_third_party",
	SQLite:   `ALTER TABLE applications ADD COLUMN third_party BOOLEAN NOT NULL DEFAULT FALSE;`,
	Postgres: `ALTER TABLE applications ADD COLUMN third_party BOOLEAN NOT NULL DEFAULT FALSE;`,
}, {
	Name:     "client/0006_role_claims",
	SQLite:   `ALTER TABLE applications ADD COLUMN role_claims TEXT NOT NULL DEFAULT 'nested';`,
	Postgres: `ALTER TABLE applications ADD COLUMN role_claims TEXT NOT NULL DEFAULT 'nested';`,
}, {
	Name: "client/0007_resources",
	SQLite: `ALTER TABLE applications ADD COLUMN resource_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN impersonation BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX applications_resource ON applications (instance_id, resource_uri);`,
	Postgres: `ALTER TABLE applications ADD COLUMN resource_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN impersonation BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX applications_resource ON applications (instance_id, resource_uri);`,
}, {
	Name:     "client/0100_dpop",
	SQLite:   `ALTER TABLE applications ADD COLUMN dpop TEXT NOT NULL DEFAULT '{}';`,
	Postgres: `ALTER TABLE applications ADD COLUMN dpop TEXT NOT NULL DEFAULT '{}';`,
}, {
	Name: "client/0008_certificates",
	SQLite: `ALTER TABLE applications ADD COLUMN certificate_auth TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN certificate_bound BOOLEAN NOT NULL DEFAULT FALSE;`,
	Postgres: `ALTER TABLE applications ADD COLUMN certificate_auth TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN certificate_bound BOOLEAN NOT NULL DEFAULT FALSE;`,
}, {
	Name:     "client/0200_fapi",
	SQLite:   `ALTER TABLE applications ADD COLUMN fapi BOOLEAN NOT NULL DEFAULT FALSE;`,
	Postgres: `ALTER TABLE applications ADD COLUMN fapi BOOLEAN NOT NULL DEFAULT FALSE;`,
}, {
	Name:     "client/0110_may_act",
	SQLite:   `ALTER TABLE applications ADD COLUMN may_act TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE applications ADD COLUMN may_act TEXT NOT NULL DEFAULT '';`,
}}

// Projection keeps projects, applications and client_secrets.
type Projection struct{}

func (Projection) Name() string { return "projects" }
func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&ProjectAdded{}, &ApplicationAdded{}, &RedirectsSet{}, &KeysSet{}, &ApplicationChanged{}, &SecretAdded{}, &SecretExpirySet{}, &SecretRemoved{},
		&DPoPSet{}, &FAPISet{}, &AuthenticationChanged{}, &MayActSet{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, table := range []string{"projects", "applications", "client_secrets"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return err
		}
	}
	return nil
}

// redirectsJSON is the redirects column: one JSON document, since they
// are only ever read with their application.
func redirectsJSON(r Redirects) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func parseRedirects(s string) (Redirects, error) {
	var r Redirects
	err := json.Unmarshal([]byte(s), &r)
	return r, err
}

// authMethod is the stored authentication method of a client: its
// event's, or for an application added before methods were recorded, none
// for a public client and a secret for a confidential one.
func authMethod(public bool, method string) string {
	switch {
	case method != "":
		return method
	case public:
		return oauth.AuthNone
	}
	return oauth.AuthClientSecretBasic
}

// idTokenAlg is the stored ID token algorithm: RS256 unless chosen.
func idTokenAlg(alg string) string {
	if alg == "" {
		return "RS256"
	}
	return alg
}

func clientType(public bool) string {
	if public {
		return "public"
	}
	return "confidential"
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a, at := e.Aggregate, e.CreatedAt.Unix()
	var err error
	switch p := e.Payload.(type) {
	case *ProjectAdded:
		_, err = tx.ExecContext(ctx, `INSERT INTO projects (instance_id, project_id, org_id, name, sequence, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			a.InstanceID, a.ID, a.Owner, p.Name, e.Sequence, at)
	case *ApplicationAdded:
		_, err = tx.ExecContext(ctx, `INSERT INTO applications (instance_id, app_id, project_id, org_id, name, client_id, kind, client_type,
	grant_types, access_token_type, access_token_lifetime_ms, scopes, redirects, created_at, auth_method, jwks, id_token_alg, third_party, role_claims,
	resource_uri, impersonation, certificate_auth, certificate_bound)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
			a.InstanceID, p.AppID, a.ID, a.Owner, p.Name, p.ClientID, p.Kind, clientType(p.Public), strings.Join(p.GrantTypes, " "),
			p.AccessTokenType, p.AccessTokenLifetime.Milliseconds(), strings.Join(p.Scopes, " "),
			redirectsJSON(p.Redirects), at, authMethod(p.Public, p.AuthMethod), string(p.JWKS), idTokenAlg(p.IDTokenAlg), p.ThirdParty,
			roleClaims(p.RoleClaims), p.ResourceURI, p.ImpersonationAllowed, marshalCertificateAuth(p.TLSClientAuth, p.Certificates), p.CertificateBoundTokens)
	case *ApplicationChanged:
		_, err = tx.ExecContext(ctx, `UPDATE applications SET name = $1, grant_types = $2, access_token_type = $3, access_token_lifetime_ms = $4,
	scopes = $5, id_token_alg = $6, third_party = $7, role_claims = $8, resource_uri = $9, impersonation = $10, certificate_bound = $11,
	certificate_auth = CASE WHEN $12 = '' THEN certificate_auth ELSE $12 END WHERE instance_id = $13 AND app_id = $14`,
			p.Name, strings.Join(p.GrantTypes, " "), p.AccessTokenType, p.AccessTokenLifetime.Milliseconds(), strings.Join(p.Scopes, " "),
			idTokenAlg(p.IDTokenAlg), p.ThirdParty, roleClaims(p.RoleClaims), p.ResourceURI, p.ImpersonationAllowed, p.CertificateBoundTokens,
			marshalCertificateAuth(p.TLSClientAuth, ""), a.InstanceID, p.AppID)
	case *KeysSet:
		_, err = tx.ExecContext(ctx, `UPDATE applications SET jwks = $1, certificate_auth = $2 WHERE instance_id = $3 AND app_id = $4`, string(p.JWKS), marshalCertificateAuth(nil, p.Certificates), a.InstanceID, p.AppID)
	case *RedirectsSet:
		_, err = tx.ExecContext(ctx, `UPDATE applications SET redirects = $1 WHERE instance_id = $2 AND app_id = $3`,
			redirectsJSON(p.Redirects), a.InstanceID, p.AppID)
	case *SecretAdded:
		_, err = tx.ExecContext(ctx, `INSERT INTO client_secrets (instance_id, app_id, secret_id, key_id, hash, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, 0, $6)`, a.InstanceID, p.AppID, p.SecretID, p.KeyID, p.Hash, at)
	case *SecretExpirySet:
		_, err = tx.ExecContext(ctx, `UPDATE client_secrets SET expires_at = $1 WHERE instance_id = $2 AND app_id = $3 AND secret_id = $4`,
			p.ExpiresAt.Unix(), a.InstanceID, p.AppID, p.SecretID)
	case *SecretRemoved:
		_, err = tx.ExecContext(ctx, `DELETE FROM client_secrets WHERE instance_id = $1 AND app_id = $2 AND secret_id = $3`, a.InstanceID, p.AppID, p.SecretID)
	case *DPoPSet:
		err = reduceDPoP(ctx, tx, a.InstanceID, p)
	case *FAPISet:
		err = reduceFAPI(ctx, tx, a.InstanceID, p)
	case *MayActSet:
		err = reduceMayAct(ctx, tx, a.InstanceID, p)
	case *AuthenticationChanged:
		_, err = tx.ExecContext(ctx, `UPDATE applications SET client_type = $1, auth_method = $2, jwks = $3, certificate_auth = $4
WHERE instance_id = $5 AND app_id = $6`, clientType(p.Public), p.AuthMethod, string(p.JWKS), marshalCertificateAuth(p.TLSClientAuth, p.Certificates),
			a.InstanceID, p.AppID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE projects SET sequence = $1 WHERE instance_id = $2 AND project_id = $3`, e.Sequence, a.InstanceID, a.ID)
	return err
}

// roleClaims is the role claim format of an application; events before
// the format was chosen mean the default.
func roleClaims(f string) string {
	if f == "" {
		return RoleClaimsNested
	}
	return f
}
