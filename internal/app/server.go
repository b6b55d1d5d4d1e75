package app

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/castellan-iam/castellan/internal/clientaddr"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/accessapi"
	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/api/instanceapi"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/api/projectapi"
	"github.com/castellan-iam/castellan/internal/api/reportapi"
	"github.com/castellan-iam/castellan/internal/api/sessionapi"
	"github.com/castellan-iam/castellan/internal/api/settingsapi"
	"github.com/castellan-iam/castellan/internal/api/system"
	"github.com/castellan-iam/castellan/internal/api/trustsetapi"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/api/usertypeapi"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authzen"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/machinekey"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpopstore"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

// FirstStart creates the configured first instance, organization and
// administrator when the database has no instance yet; otherwise it
// changes nothing.
func (a *App) FirstStart(ctx context.Context) (setup.Result, error) {
	fi := a.Config.FirstInstance
	r, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{
		Name: fi.Name, Domain: fi.Domain, OrgName: fi.OrgName,
		AdminLoginName: fi.Admin.LoginName, AdminEmail: fi.Admin.Email, AdminPassword: fi.Admin.Password,
	})
	if err == nil && r.Created {
		// Hashing the administrator's password took argon2id's working set
		// (passwords.argon2id.memory_kib), garbage now, which the runtime
		// would return to the system only minutes later, after its periodic
		// collection: an idle server would hold it all that time. Give it
		// back once, here, at about 5 ms of the first start. Not done after
		// logins: a server that hashes them needs that memory again.
		debug.FreeOSMemory()
	}
	return r, err
}

// Server builds the whole HTTP server: operational endpoints, instance
// resolution, and every service in its route group — today the management
// API; the hosted login and the provider register here too. version is
// reported by the system service. With separateManagement, /metrics is
// left to Server.Management, served on a listener of its own.
func (a *App) Server(version string, separateManagement bool) (*server.Server, error) {
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.MustRegister(a.Store.Collectors()...)
	srv := server.New(server.Options{
		Logger: a.Log, Resolver: newCachingResolver(instance.NewResolver(a.DB)), Ready: a.Ready, Metrics: metrics, ExternalURL: a.Config.ExternalURL,
		SeparateManagement: separateManagement, ClientCertificates: a.clientCertificates(),
		ClientAddresses: clientaddr.Resolver{TrustedProxies: a.Config.Server.TrustedProxyNetworks()},
	})
	apiHandler, err := api.NewHandler(a.Log, a.Services(version)...)
	if err != nil {
		return nil, err
	}
	a.MountAPI(srv, apiHandler)
	if err := a.mountLogin(srv); err != nil {
		return nil, err
	}
	a.mountProvider(srv)
	for pattern, h := range authzen.New(a.DB, authn.New(a.DB, nil).WithAccessTokens(a.Tokens(), a.Config.ExternalURL).Caller, a.Config.ExternalURL, a.Log).Routes() {
		srv.Handle(pattern, h)
	}
	srv.Handle("GET /v1/events:stream", eventapi.NewService(a.Store, authn.New(a.DB, nil).WithAccessTokens(a.Tokens(), a.Config.ExternalURL)).StreamHandler())
	return srv, nil
}

// MountAPI serves h on srv as the binary does: every pattern of h, and the
// session routes through sessionapi.Admission, which refuses a storm's
// password checks before h decodes them. apitest mounts its services so.
func (a *App) MountAPI(srv *server.Server, h *api.Handler) {
	for _, p := range h.Patterns() {
		srv.Handle(p, h)
	}
	for p, g := range sessionapi.NewAdmission(a.Sessions(), h).Routes() {
		srv.Handle(p, g)
	}
}

// Services lists every API service the server offers.
func (a *App) Services(version string) []api.Service {
	auth := authn.New(a.DB, nil).WithCache(a.Store.Changed, authn.MaxStale).WithAccessTokens(a.Tokens(), a.Config.ExternalURL)
	return []api.Service{
		system.New(version),
		userapi.NewService(a.Store, a.UserCommands(), auth, a.Keys, a.SendCode).WithAssets(a.Assets(), a.Config.ExternalURL),
		userapi.NewAuthenticatorService(a.Store, a.UserCommands(), auth, a.Keys, a.SendMail, a.Log),
		userapi.NewPasskeyService(a.Store, auth, a.Passkeys(), a.SendMail, a.Log),
		userapi.NewExportService(a.Store, auth),
		usertypeapi.NewService(a.Store, auth),
		orgapi.NewService(a.Store, a.domainVerifier(), auth).WithProjects(a.memberProjects()),
		instanceapi.NewService(a.Store, auth, a.Tokens().Keys()).WithRetiredKept(a.Config.SigningKeys.RetiredKept),
		settingsapi.NewService(a.Store, auth).WithNotification(a.Keys, a.serverProviders()).WithAssets(a.Assets()),
		sessionapi.NewService(a.Store, a.Sessions(), auth, a.loginAuthRequests(), a.Consents()),
		projectapi.NewService(a.Store, auth, a.Keys),
		accessapi.NewService(a.Store, auth),
		trustsetapi.NewService(a.Store, auth),
		eventapi.NewService(a.Store, auth).WithHistory(a.History()),
		reportapi.NewService(a.DB, auth),
	}
}

// memberProjects answers package member's questions about projects and
// project grants.
func (a *App) memberProjects() member.Projects {
	return member.Projects{
		OwnerOf: func(ctx context.Context, instanceID, projectID string) (string, error) {
			p, err := client.GetProject(ctx, a.DB, instanceID, projectID)
			return p.OrgID, err
		},
		GrantOrg: func(ctx context.Context, instanceID, grantID string) (string, string, error) {
			g, err := project.GetGrant(ctx, a.DB, instanceID, grantID)
			return g.ProjectID, g.GrantedOrgID, err
		},
	}
}

// Assets returns the store of the instances' files (branding and users'
// avatars): the embedded one, in the database.
func (a *App) Assets() asset.Store { return asset.NewDBStore(a.DB) }

// Sessions returns the session commands: credentials checked under the
// settings in force, codes sealed with the key ring and sent through the
// configured providers.
func (a *App) Sessions() *session.Commands {
	creds := a.UserCommands().Credentials()
	return session.NewCommands(session.Deps{
		Store: a.Store, Credentials: creds, OTP: creds, Keys: a.Keys, Send: a.SendCode, Settings: a.settingsOf,
		Passkeys: passkeyLogins{a.Passkeys()}, UserFacts: a.userFacts, Ended: a.sessionEnded,
	})
}

// UserCommands returns the user commands under this server's
// configuration and each organization's settings.
func (a *App) UserCommands() *user.Commands {
	return user.NewCommands(a.Store, a.Hasher).WithPolicy(a.credentialPolicy).
		WithLoginNameRules(user.LoginNameRules{AllowMixedScripts: a.Config.Users.AllowMixedScriptLoginNames})
}

// domainVerifier checks domain challenges, fetching only from public
// addresses and the networks domains.verification_allowed_networks allows.
func (a *App) domainVerifier() *org.Verifier {
	v := org.NewVerifier(a.Config.Domains.VerificationNetworks()...)
	v.Log = a.Log
	return v
}

// Maintain does the server's hourly upkeep until ctx ends: it refreshes
// the query planner's statistics, so that searches stay on their indexes
// as the directory grows; rotates signing keys that signed for
// signing_keys.lifetime; and deletes what has expired: sessions, WebAuthn
// ceremonies, authorization and device requests, client assertions'
// jtis, opaque tokens, grants and refresh tokens. With audit.archive_daily
// on, it archives events older than audit.retention once a day.
func (a *App) Maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.maintain(ctx)
		}
	}
}

// ChainEvents links new events into each instance's hash chain and signs
// its checkpoints until ctx ends (eventstore.Chain; docs/audit.md).
func (a *App) ChainEvents(ctx context.Context) {
	c := &eventstore.Chain{Store: a.Store, Signer: eventstore.KeyRingSigner(a.Keys)}
	c.Run(ctx, a.Config.Subscriptions.PollInterval, a.Log)
}

// rotateSigningKeys rotates the signing keys of each instance whose
// current key has signed for signing_keys.lifetime.
func (a *App) rotateSigningKeys(ctx context.Context) {
	ids, err := instance.IDs(ctx, a.DB)
	if err != nil {
		a.Log.Warn("could not list instances to rotate their signing keys", "err", err)
		return
	}
	for _, id := range ids {
		rotated, err := a.Tokens().Keys().RotateDue(ctx, eventstore.SystemEditor, id, a.Config.SigningKeys.Lifetime, a.Config.SigningKeys.RetiredKept)
		if err != nil && ctx.Err() == nil {
			// Another replica rotating at the same time is a conflict; the
			// next hour tries again.
			a.Log.Warn("could not rotate signing keys", "instance", id, "err", err)
		}
		if len(rotated) > 0 {
			a.Log.Info("rotated signing keys", "instance", id, "algorithms", rotated)
		}
	}
}

func (a *App) maintain(ctx context.Context) {
	a.archiveDaily(ctx)
	if err := a.DB.Optimize(ctx); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not refresh the query planner's statistics", "err", err)
	}
	if _, err := session.Sweep(ctx, a.DB, time.Now()); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired sessions", "err", err)
	}
	if _, err := a.Passkeys().DeleteExpiredCeremonies(ctx); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired WebAuthn ceremonies", "err", err)
	}
	if _, err := a.AuthRequests().Sweep(ctx); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired authorization requests", "err", err)
	}
	if err := client.SweepAssertions(ctx, a.DB, time.Now()); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired client assertions", "err", err)
	}
	if err := machinekey.SweepAssertions(ctx, a.DB, time.Now()); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired machine key assertions", "err", err)
	}
	a.rotateSigningKeys(ctx)
	if err := token.SweepOpaque(ctx, a.DB, time.Now()); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired opaque tokens", "err", err)
	}
	if err := dpopstore.Sweep(ctx, a.DB, time.Now()); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired DPoP proofs", "err", err)
	}
	if err := a.Devices().Sweep(ctx); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired device requests", "err", err)
	}
	if err := a.Grants().Sweep(ctx); err != nil && ctx.Err() == nil {
		a.Log.Warn("could not delete expired grants and refresh tokens", "err", err)
	}
}

// clientCertificates say where OAuth requests' client certificates come
// from besides the TLS connection: the header of a trusted proxy
// (mtls.proxy_header_format).
func (a *App) clientCertificates() server.ClientCertificateOptions {
	m := a.Config.MTLS
	if m.ProxyHeaderFormat == "" || m.ProxyHeaderFormat == "none" {
		return server.ClientCertificateOptions{}
	}
	return server.ClientCertificateOptions{Format: m.ProxyHeaderFormat, Header: m.ProxyHeader, TrustedProxies: m.TrustedProxyNetworks()}
}
