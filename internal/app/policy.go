package app

import (
	"context"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
)

// settingsOf answers the settings in force for an organization (or, with
// orgID empty, the instance): built in, overridden by the instance's,
// overridden by the organization's.
func (a *App) settingsOf(ctx context.Context, instanceID, orgID string) (settings.Settings, error) {
	return settings.Effective(ctx, a.DB, instanceID, orgID)
}

// credentialPolicy is the credential policy of an organization: its
// settings' password, lockout and login groups over the built-in rules of
// codes (credential.DefaultPolicy).
func (a *App) credentialPolicy(ctx context.Context, instanceID, orgID string) (credential.Policy, error) {
	s, err := a.settingsOf(ctx, instanceID, orgID)
	if err != nil {
		return credential.Policy{}, err
	}
	return policyOf(s), nil
}

func policyOf(s settings.Settings) credential.Policy {
	p := credential.DefaultPolicy
	p.MinPasswordLength = s.Password.MinLength
	p.RequireUpper, p.RequireLower, p.RequireDigit, p.RequireSymbol = s.Password.RequireUpper, s.Password.RequireLower, s.Password.RequireDigit, s.Password.RequireSymbol
	p.MaxPasswordAttempts, p.MaxOTPAttempts = s.Lockout.MaxPasswordAttempts, s.Lockout.MaxOTPAttempts
	p.AllowedAuthenticators = s.Login.AllowedAuthenticators
	return p
}

// Passkeys returns the WebAuthn commands, with each instance as its own
// relying party.
func (a *App) Passkeys() *passkey.Commands {
	return passkey.NewCommands(a.Store, a.relyingParty, passkey.Config{Attestation: a.Config.WebAuthn.Attestation})
}

// relyingParty answers the WebAuthn relying party of an instance: its
// primary domain, its name, and its base URL as the one origin.
func (a *App) relyingParty(ctx context.Context, instanceID string) (id, name string, origins []string, err error) {
	inst, ok := instance.FromContext(ctx)
	if !ok || inst.ID != instanceID {
		if inst, err = instance.ByID(ctx, a.DB, instanceID); err != nil {
			return "", "", nil, err
		}
	}
	id, name, origins = passkey.FromInstance(inst, a.Config.ExternalURL)
	return id, name, origins, nil
}

// passkeyLogins runs the WebAuthn assertions of sessions.
type passkeyLogins struct{ p *passkey.Commands }

func (l passkeyLogins) BeginLogin(ctx context.Context, instanceID string, user *eventstore.Aggregate, userVerification string) (string, []byte, error) {
	return l.p.BeginLogin(ctx, instanceID, user, userVerification)
}

func (l passkeyLogins) FinishLogin(ctx context.Context, instanceID, ceremonyID string, response []byte) (session.PasskeyResult, error) {
	r, err := l.p.FinishLogin(ctx, instanceID, ceremonyID, response)
	return session.PasskeyResult{UserID: r.UserID, UserVerified: r.UserVerified, Passwordless: r.Passwordless}, err
}

// userFacts tells the sessions what a user has registered (its second
// factors) and the state of its password, from one read of the user's
// events for the credentials and the passkeys.
func (a *App) userFacts(ctx context.Context, user eventstore.Aggregate, events []eventstore.Event) (session.Facts, error) {
	if events == nil {
		var err error
		if events, err = credential.ReadUser(ctx, a.Store, user); err != nil {
			return session.Facts{}, err
		}
	}
	auth, err := credential.AuthenticatorsIn(user, events)
	if err != nil {
		return session.Facts{}, err
	}
	f := session.Facts{PasswordChangeRequired: auth.PasswordChangeRequired, PasswordSetAt: auth.PasswordSetAt}
	for _, k := range []struct {
		has    bool
		factor session.Factor
	}{{auth.TOTP, session.FactorTOTP}, {auth.SignInCodeEmail, session.FactorOTPEmail}, {auth.SignInCodeSMS, session.FactorOTPSMS}} {
		if k.has {
			f.SecondFactors = append(f.SecondFactors, k.factor)
		}
	}
	secondFactor, _, err := passkey.HasIn(user, events)
	if err != nil {
		return session.Facts{}, err
	}
	if secondFactor {
		f.SecondFactors = append(f.SecondFactors, session.FactorWebAuthn)
	}
	if auth.RecoveryCodesLeft > 0 && len(f.SecondFactors) > 0 {
		f.SecondFactors = append(f.SecondFactors, session.FactorRecoveryCode)
	}
	return f, nil
}
