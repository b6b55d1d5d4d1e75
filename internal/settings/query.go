package settings

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
)

// Effective returns the settings in force for organization orgID of an
// instance, or for the instance itself when orgID is empty: the built-in
// values, overridden by the groups the instance sets, overridden by those
// the organization sets, with the level of each group in Sources. It reads
// both levels in one query and does not check that the organization
// exists (callers that take orgID from a request check it).
func Effective(ctx context.Context, db *database.DB, instanceID, orgID string) (Settings, error) {
	s := BuiltIn()
	// '' (the instance) sorts before any organization id, so that the
	// organization's rows come last and win.
	rows, err := db.Reader().QueryContext(ctx, `SELECT org_id, grp, value FROM settings
WHERE instance_id = $1 AND org_id IN ('', $2) ORDER BY org_id`, instanceID, orgID)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: effective of %q: %w", orgID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var level, grp, value string
		if err := rows.Scan(&level, &grp, &value); err != nil {
			return Settings{}, err
		}
		if err := s.apply(Group(grp), []byte(value)); err != nil {
			return Settings{}, fmt.Errorf("settings: stored %s of %q: %w", grp, level, err)
		}
		s.Sources[Group(grp)] = LevelInstance
		if level != "" {
			s.Sources[Group(grp)] = LevelOrganization
		}
	}
	return s, rows.Err()
}

// apply replaces a group with its stored JSON, decoded into a zero value
// so that nothing of the level above shows through.
func (s *Settings) apply(g Group, data []byte) error {
	var target any
	switch g {
	case GroupLogin:
		s.Login = Login{}
		target = &s.Login
	case GroupPassword:
		s.Password = Password{}
		target = &s.Password
	case GroupLockout:
		s.Lockout = Lockout{}
		target = &s.Lockout
	case GroupSession:
		s.Session = Session{}
		target = &s.Session
	case GroupTokens:
		s.Tokens = Tokens{}
		target = &s.Tokens
	case GroupPrivacy:
		s.Privacy = Privacy{}
		target = &s.Privacy
	case GroupBranding:
		s.Branding = Branding{}
		target = &s.Branding
	case GroupTexts:
		s.Texts = Texts{}
		target = &s.Texts
	case GroupEmbedding:
		s.Embedding = Embedding{}
		target = &s.Embedding
	default:
		return fmt.Errorf("unknown group %q", g)
	}
	return json.Unmarshal(data, target)
}

// Get returns the value of group g in s.
func (s Settings) Get(g Group) Value {
	switch g {
	case GroupLogin:
		return s.Login
	case GroupPassword:
		return s.Password
	case GroupLockout:
		return s.Lockout
	case GroupSession:
		return s.Session
	case GroupTokens:
		return s.Tokens
	case GroupPrivacy:
		return s.Privacy
	case GroupBranding:
		return s.Branding
	case GroupTexts:
		return s.Texts
	case GroupEmbedding:
		return s.Embedding
	}
	return nil
}
