package client

import (
	"context"
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// DPoP is an application's use of DPoP (RFC 9449). Every client may
// present DPoP proofs and get DPoP-bound tokens; Required refuses its
// token requests without a proof (no bearer tokens), and NonceRequired
// makes every proof it presents carry a server nonce (section 8), at the
// token endpoint, PAR and userinfo alike.
//
// It is stored as it is, in the events and in the applications table.
type DPoP struct {
	Required      bool `json:"required,omitempty"`
	NonceRequired bool `json:"nonceRequired,omitempty"`
}

// DPoPSet replaces an application's DPoP settings. Applications whose
// events have none use DPoP when their clients do, without a nonce.
type DPoPSet struct {
	AppID string `json:"appId"`
	DPoP
}

func (DPoPSet) EventType() string { return "project.application.dpop.set" }

func dpopJSON(d DPoP) string {
	b, _ := json.Marshal(d)
	return string(b)
}

func parseDPoP(s string) (DPoP, error) {
	var d DPoP
	err := json.Unmarshal([]byte(s), &d)
	return d, err
}

func reduceDPoP(ctx context.Context, tx *database.Tx, instanceID string, p *DPoPSet) error {
	_, err := tx.ExecContext(ctx, `UPDATE applications SET dpop = $1 WHERE instance_id = $2 AND app_id = $3`, dpopJSON(p.DPoP), instanceID, p.AppID)
	return err
}

// SetDPoP replaces an application's DPoP settings. Only a client that
// obtains tokens (KindOIDC) has them; tokens already issued keep their
// binding.
func (c *Commands) SetDPoP(ctx context.Context, editor eventstore.Editor, instanceID, appID string, d DPoP) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	if app.Kind != KindOIDC {
		return Application{}, failure.InvalidArgument("dpop", "only a client application (kind oidc) obtains tokens; an API application has no DPoP settings")
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{&DPoPSet{AppID: app.ID, DPoP: d}}})
	if err != nil {
		return Application{}, err
	}
	app.DPoP = d
	return app, nil
}
