package settingsapi

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/settings"
)

var levels = map[settings.Level]settingsv1.SettingsLevel{
	settings.LevelBuiltIn:      settingsv1.SettingsLevel_SETTINGS_LEVEL_BUILT_IN,
	settings.LevelInstance:     settingsv1.SettingsLevel_SETTINGS_LEVEL_INSTANCE,
	settings.LevelOrganization: settingsv1.SettingsLevel_SETTINGS_LEVEL_ORGANIZATION,
	settings.LevelServer:       settingsv1.SettingsLevel_SETTINGS_LEVEL_SERVER,
}

var mfa = map[settings.MFARequirement]settingsv1.MfaRequirement{
	settings.MFANever:          settingsv1.MfaRequirement_MFA_REQUIREMENT_NEVER,
	settings.MFAAdministrators: settingsv1.MfaRequirement_MFA_REQUIREMENT_ADMINISTRATORS,
	settings.MFAEveryone:       settingsv1.MfaRequirement_MFA_REQUIREMENT_EVERYONE,
}

func toProto(s settings.Settings) *settingsv1.Settings {
	l := s.Login
	return &settingsv1.Settings{
		Login: &settingsv1.LoginSettings{
			AllowedAuthenticators: l.AllowedAuthenticators, MfaRequired: mfa[l.MFARequired], PasswordlessAllowed: l.PasswordlessAllowed,
			SelfRegistration: l.SelfRegistration, OrgRegistration: l.OrgRegistration, AccountSelection: l.AccountSelection,
			MagicLinkAllowed:          l.MagicLinkAllowed,
			PasswordCheckLifetime:     durationpb.New(l.PasswordCheckLifetime),
			SecondFactorCheckLifetime: durationpb.New(l.SecondFactorCheckLifetime),
			ExternalLoginLifetime:     durationpb.New(l.ExternalLoginLifetime),
		},
		Password: &settingsv1.PasswordSettings{
			MinLength: int32(s.Password.MinLength), RequireUpper: s.Password.RequireUpper, RequireLower: s.Password.RequireLower,
			RequireDigit: s.Password.RequireDigit, RequireSymbol: s.Password.RequireSymbol, MaxAge: durationpb.New(s.Password.MaxAge),
		},
		Lockout: &settingsv1.LockoutSettings{
			MaxPasswordAttempts: int32(s.Lockout.MaxPasswordAttempts), MaxOtpAttempts: int32(s.Lockout.MaxOTPAttempts), ShowLocked: s.Lockout.ShowLocked,
		},
		Session: &settingsv1.SessionSettings{Lifetime: durationpb.New(s.Session.Lifetime), IdleTimeout: durationpb.New(s.Session.IdleTimeout)},
		Tokens: &settingsv1.TokenSettings{
			AccessToken: durationpb.New(s.Tokens.AccessToken), IdToken: durationpb.New(s.Tokens.IDToken),
			RefreshToken: durationpb.New(s.Tokens.RefreshToken), RefreshTokenIdle: durationpb.New(s.Tokens.RefreshTokenIdle),
		},
		Privacy: &settingsv1.PrivacySettings{
			TermsUrl: s.Privacy.TermsURL, PrivacyUrl: s.Privacy.PrivacyURL, HelpUrl: s.Privacy.HelpURL, SupportEmail: s.Privacy.SupportEmail,
			DefaultLanguage: s.Privacy.DefaultLanguage, AllowedLanguages: s.Privacy.AllowedLanguages,
		},
		Branding:  brandingToProto(s.Branding),
		Texts:     textsToProto(s.Texts),
		Embedding: &settingsv1.EmbeddingSettings{FrameAncestors: s.Embedding.FrameAncestors},
		Sources: &settingsv1.SettingsSources{
			Login: levels[s.Sources[settings.GroupLogin]], Password: levels[s.Sources[settings.GroupPassword]],
			Lockout: levels[s.Sources[settings.GroupLockout]], Session: levels[s.Sources[settings.GroupSession]],
			Tokens: levels[s.Sources[settings.GroupTokens]], Privacy: levels[s.Sources[settings.GroupPrivacy]],
			Branding: levels[s.Sources[settings.GroupBranding]],
			Texts:    levels[s.Sources[settings.GroupTexts]], Embedding: levels[s.Sources[settings.GroupEmbedding]],
		},
	}
}

// durationField is a request's duration and where it goes.
type durationField struct {
	field string
	from  *durationpb.Duration
	to    *time.Duration
}

// durations converts a request's durations in order; an absent one is
// zero, which the settings reject where a duration is required.
func durations(fields ...durationField) error {
	for _, f := range fields {
		if f.from == nil {
			continue
		}
		if err := f.from.CheckValid(); err != nil {
			return failure.InvalidArgument(f.field, "is not a valid duration")
		}
		*f.to = f.from.AsDuration()
	}
	return nil
}

func loginFromProto(p *settingsv1.LoginSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("login")
	}
	l := settings.Login{
		AllowedAuthenticators: p.GetAllowedAuthenticators(), PasswordlessAllowed: p.GetPasswordlessAllowed(),
		SelfRegistration: p.GetSelfRegistration(), OrgRegistration: p.GetOrgRegistration(), AccountSelection: p.GetAccountSelection(),
		MagicLinkAllowed: p.GetMagicLinkAllowed(),
	}
	for k, v := range mfa {
		if v == p.GetMfaRequired() {
			l.MFARequired = k
		}
	}
	err := durations(
		durationField{"login.passwordCheckLifetime", p.GetPasswordCheckLifetime(), &l.PasswordCheckLifetime},
		durationField{"login.secondFactorCheckLifetime", p.GetSecondFactorCheckLifetime(), &l.SecondFactorCheckLifetime},
		durationField{"login.externalLoginLifetime", p.GetExternalLoginLifetime(), &l.ExternalLoginLifetime})
	return l, err
}

func passwordFromProto(p *settingsv1.PasswordSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("password")
	}
	v := settings.Password{
		MinLength: int(p.GetMinLength()), RequireUpper: p.GetRequireUpper(), RequireLower: p.GetRequireLower(),
		RequireDigit: p.GetRequireDigit(), RequireSymbol: p.GetRequireSymbol(),
	}
	err := durations(durationField{"password.maxAge", p.GetMaxAge(), &v.MaxAge})
	return v, err
}

func lockoutFromProto(p *settingsv1.LockoutSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("lockout")
	}
	return settings.Lockout{MaxPasswordAttempts: int(p.GetMaxPasswordAttempts()), MaxOTPAttempts: int(p.GetMaxOtpAttempts()), ShowLocked: p.GetShowLocked()}, nil
}

func sessionFromProto(p *settingsv1.SessionSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("session")
	}
	var v settings.Session
	err := durations(durationField{"session.lifetime", p.GetLifetime(), &v.Lifetime},
		durationField{"session.idleTimeout", p.GetIdleTimeout(), &v.IdleTimeout})
	return v, err
}

func tokensFromProto(p *settingsv1.TokenSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("tokens")
	}
	var v settings.Tokens
	err := durations(
		durationField{"tokens.accessToken", p.GetAccessToken(), &v.AccessToken},
		durationField{"tokens.idToken", p.GetIdToken(), &v.IDToken},
		durationField{"tokens.refreshToken", p.GetRefreshToken(), &v.RefreshToken},
		durationField{"tokens.refreshTokenIdle", p.GetRefreshTokenIdle(), &v.RefreshTokenIdle})
	return v, err
}

func privacyFromProto(p *settingsv1.PrivacySettings) (settings.Value, error) {
	if p == nil {
		return nil, required("privacy")
	}
	return settings.Privacy{
		TermsURL: p.GetTermsUrl(), PrivacyURL: p.GetPrivacyUrl(), HelpURL: p.GetHelpUrl(), SupportEmail: p.GetSupportEmail(),
		DefaultLanguage: p.GetDefaultLanguage(), AllowedLanguages: p.GetAllowedLanguages(),
	}, nil
}

func brandingToProto(b settings.Branding) *settingsv1.BrandingSettings {
	return &settingsv1.BrandingSettings{
		PrimaryColor: b.PrimaryColor, BackgroundColor: b.BackgroundColor, WarningColor: b.WarningColor, FontColor: b.FontColor,
		PrimaryColorDark: b.PrimaryColorDark, BackgroundColorDark: b.BackgroundColorDark, WarningColorDark: b.WarningColorDark,
		FontColorDark: b.FontColorDark, LogoLight: b.LogoLight, LogoDark: b.LogoDark, IconLight: b.IconLight, IconDark: b.IconDark,
		Font: b.Font, HidePoweredBy: b.HidePoweredBy,
	}
}

func brandingFromProto(p *settingsv1.BrandingSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("branding")
	}
	return settings.Branding{
		PrimaryColor: p.GetPrimaryColor(), BackgroundColor: p.GetBackgroundColor(), WarningColor: p.GetWarningColor(), FontColor: p.GetFontColor(),
		PrimaryColorDark: p.GetPrimaryColorDark(), BackgroundColorDark: p.GetBackgroundColorDark(), WarningColorDark: p.GetWarningColorDark(),
		FontColorDark: p.GetFontColorDark(), LogoLight: p.GetLogoLight(), LogoDark: p.GetLogoDark(), IconLight: p.GetIconLight(),
		IconDark: p.GetIconDark(), Font: p.GetFont(), HidePoweredBy: p.GetHidePoweredBy(),
	}, nil
}
