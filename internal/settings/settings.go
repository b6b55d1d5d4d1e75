package settings

import "time"

// Level is where a group of settings in force comes from.
type Level string

// The levels, from the most general: the values built into Castellan, the
// instance's defaults, an organization's override.
const (
	LevelBuiltIn      Level = "built_in"
	LevelInstance     Level = "instance"
	LevelOrganization Level = "organization"
)

// Group names one group of settings. A group is set and reset as a whole
// at a level: an organization's override replaces the instance's group,
// which replaces the built-in one.
type Group string

// The groups.
const (
	GroupLogin    Group = "login"
	GroupPassword Group = "password"
	GroupLockout  Group = "lockout"
	GroupSession  Group = "session"
	GroupTokens   Group = "tokens"
	GroupPrivacy  Group = "privacy"
	GroupBranding Group = "branding"
	// GroupTexts are a level's own words for the login (texts.go);
	// GroupEmbedding the sites that may frame it, set for the instance
	// only (embedding.go).
	GroupTexts     Group = "texts"
	GroupEmbedding Group = "embedding"
)

// Groups lists every group, in the order the API shows them.
var Groups = []Group{GroupLogin, GroupPassword, GroupLockout, GroupSession, GroupTokens, GroupPrivacy, GroupBranding, GroupTexts, GroupEmbedding}

// Authenticator kinds a login may allow: the names user types list.
const (
	AuthPassword = "password"
	AuthPasskey  = "passkey"
	AuthTOTP     = "totp"
	AuthEmailOTP = "otp_email"
	AuthSMSOTP   = "otp_sms"
	AuthIdP      = "idp"
)

// Authenticators lists the authenticator kinds a login may allow.
var Authenticators = []string{AuthPassword, AuthPasskey, AuthTOTP, AuthEmailOTP, AuthSMSOTP, AuthIdP}

// MFARequirement says who must prove a second factor at sign-in.
type MFARequirement string

// The requirements.
const (
	MFANever          MFARequirement = "never"
	MFAAdministrators MFARequirement = "administrators"
	MFAEveryone       MFARequirement = "everyone"
)

// Login says how users sign in.
type Login struct {
	// AllowedAuthenticators are the kinds a user may sign in with (and
	// register); a user's type narrows them further.
	AllowedAuthenticators []string       `json:"allowedAuthenticators"`
	MFARequired           MFARequirement `json:"mfaRequired"`
	// PasswordlessAllowed lets a passkey alone sign a user in.
	PasswordlessAllowed bool `json:"passwordlessAllowed"`
	SelfRegistration    bool `json:"selfRegistration"`
	OrgRegistration     bool `json:"orgRegistration"`
	// AccountSelection shows the accounts of the browser before asking
	// for a login name (the hosted login).
	AccountSelection bool `json:"accountSelection"`
	// MagicLinkAllowed offers a sign-in by a single-use link sent to the
	// user's verified email address (the hosted login's "email me a
	// sign-in link"); it proves a first factor, never a second.
	MagicLinkAllowed bool `json:"magicLinkAllowed,omitempty"`
	// How long a check counts towards a sign-in.
	PasswordCheckLifetime     time.Duration `json:"passwordCheckLifetime"`
	SecondFactorCheckLifetime time.Duration `json:"secondFactorCheckLifetime"`
	ExternalLoginLifetime     time.Duration `json:"externalLoginLifetime"`
}

// Password is the complexity and age of passwords.
type Password struct {
	MinLength     int  `json:"minLength"`
	RequireUpper  bool `json:"requireUpper"`
	RequireLower  bool `json:"requireLower"`
	RequireDigit  bool `json:"requireDigit"`
	RequireSymbol bool `json:"requireSymbol"`
	// MaxAge makes a password older than it expire (0: never).
	MaxAge time.Duration `json:"maxAge"`
}

// Lockout is how many wrong answers in a row lock a user (0: never).
type Lockout struct {
	MaxPasswordAttempts int `json:"maxPasswordAttempts"`
	MaxOTPAttempts      int `json:"maxOtpAttempts"`
	// ShowLocked tells a locked user so at sign-in; otherwise a locked
	// user gets the answer of a wrong password (no enumeration).
	ShowLocked bool `json:"showLocked"`
}

// Session bounds a sign-in session.
type Session struct {
	Lifetime    time.Duration `json:"lifetime"`
	IdleTimeout time.Duration `json:"idleTimeout"`
}

// Tokens are the lifetimes of the tokens the provider issues.
type Tokens struct {
	AccessToken      time.Duration `json:"accessToken"`
	IDToken          time.Duration `json:"idToken"`
	RefreshToken     time.Duration `json:"refreshToken"`
	RefreshTokenIdle time.Duration `json:"refreshTokenIdle"`
}

// Privacy is what a login links to and speaks.
type Privacy struct {
	TermsURL         string   `json:"termsUrl"`
	PrivacyURL       string   `json:"privacyUrl"`
	HelpURL          string   `json:"helpUrl"`
	SupportEmail     string   `json:"supportEmail"`
	DefaultLanguage  string   `json:"defaultLanguage"`
	AllowedLanguages []string `json:"allowedLanguages"`
}

// Settings are the settings in force for an organization (or, without
// one, the instance), with where each group comes from.
type Settings struct {
	Login     Login
	Password  Password
	Lockout   Lockout
	Session   Session
	Tokens    Tokens
	Privacy   Privacy
	Branding  Branding
	Texts     Texts
	Embedding Embedding
	Sources   map[Group]Level
}

// BuiltIn are the settings of an instance that set none.
func BuiltIn() Settings {
	return Settings{
		Login: Login{
			AllowedAuthenticators: []string{AuthPassword, AuthPasskey, AuthTOTP, AuthEmailOTP, AuthSMSOTP, AuthIdP},
			MFARequired:           MFANever, PasswordlessAllowed: true,
			PasswordCheckLifetime: 10 * 24 * time.Hour, SecondFactorCheckLifetime: 18 * time.Hour, ExternalLoginLifetime: 10 * 24 * time.Hour,
		},
		Password: Password{MinLength: 8},
		Lockout:  Lockout{MaxPasswordAttempts: 10, MaxOTPAttempts: 10},
		Session:  Session{Lifetime: 24 * time.Hour, IdleTimeout: 12 * time.Hour},
		Tokens:   Tokens{AccessToken: 12 * time.Hour, IDToken: 12 * time.Hour, RefreshToken: 90 * 24 * time.Hour, RefreshTokenIdle: 30 * 24 * time.Hour},
		Privacy:  Privacy{DefaultLanguage: "en", AllowedLanguages: []string{"en"}},
		Branding: builtInBranding,
		Sources: map[Group]Level{GroupLogin: LevelBuiltIn, GroupPassword: LevelBuiltIn, GroupLockout: LevelBuiltIn,
			GroupSession: LevelBuiltIn, GroupTokens: LevelBuiltIn, GroupPrivacy: LevelBuiltIn, GroupBranding: LevelBuiltIn,
			GroupTexts: LevelBuiltIn, GroupEmbedding: LevelBuiltIn},
	}
}
