package client

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// maxMayActField bounds the sub and client_id an application's may_act
// names.
const maxMayActField = 200

// MayActSet replaces the may_act claim (RFC 8693 section 4.4) of the
// access tokens issued to an application: the one party that may act for
// their subject in a token exchange. Nil removes it.
type MayActSet struct {
	AppID  string        `json:"appId"`
	MayAct *oauth.MayAct `json:"mayAct,omitempty"`
}

func (MayActSet) EventType() string { return "project.application.may_act.set" }

func mayActJSON(m *oauth.MayAct) string {
	if m == nil {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func parseMayAct(s string) (*oauth.MayAct, error) {
	if s == "" {
		return nil, nil
	}
	var m oauth.MayAct
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func reduceMayAct(ctx context.Context, tx *database.Tx, instanceID string, p *MayActSet) error {
	_, err := tx.ExecContext(ctx, `UPDATE applications SET may_act = $1 WHERE instance_id = $2 AND app_id = $3`, mayActJSON(p.MayAct), instanceID, p.AppID)
	return err
}

func checkMayActField(field, v string) error {
	if len(v) > maxMayActField || !utf8.ValidString(v) {
		return failure.InvalidArgument(field, "at most %d bytes of UTF-8", maxMayActField)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return failure.InvalidArgument(field, "has a control character")
		}
	}
	return nil
}

// SetMayAct names the party that may act for the subjects of the access
// tokens issued to a client from now on (their may_act claim): its sub —
// a user id, or a client id for a client acting with its own token — and,
// optionally, the client its actor token must have been issued to. Nil
// (or an empty sub) removes the restriction. Tokens already issued keep
// the claim they carry.
func (c *Commands) SetMayAct(ctx context.Context, editor eventstore.Editor, instanceID, appID string, m *oauth.MayAct) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	if app.Kind != KindOIDC {
		return Application{}, failure.InvalidArgument("mayAct", "only a client application (kind oidc) obtains tokens")
	}
	if m != nil && m.Subject == "" {
		if m.ClientID != "" {
			return Application{}, failure.InvalidArgument("mayAct.sub", "is required with a client_id")
		}
		m = nil
	}
	if m != nil {
		if err := checkMayActField("mayAct.sub", m.Subject); err != nil {
			return Application{}, err
		}
		if err := checkMayActField("mayAct.clientId", m.ClientID); err != nil {
			return Application{}, err
		}
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{&MayActSet{AppID: app.ID, MayAct: m}}})
	if err != nil {
		return Application{}, err
	}
	app.MayAct = m
	return app, nil
}
