package token

import (
	"context"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// ExchangeAggregate is the aggregate type of a token exchange's event;
// its id is the issued token's jti.
const ExchangeAggregate = "token_exchange"

// Exchanged records a token exchange (RFC 8693): the audit trail of who
// acts as whom. TokenID is the issued token's jti, ClientID the client
// that exchanged; Subject is the user (or client) the new token acts as,
// with the jti and client of the subject token; Actor, when the exchange
// was a delegation, the party acting for the subject, with the jti and
// client of the actor token (empty for an impersonation, Impersonation
// true). Scope, Audience and ExpiresAt are the new token's.
type Exchanged struct {
	TokenID         string   `json:"tokenId"`
	ClientID        string   `json:"clientId"`
	Subject         string   `json:"subject"`
	SubjectTokenID  string   `json:"subjectTokenId"`
	SubjectClientID string   `json:"subjectClientId"`
	Actor           string   `json:"actor,omitempty"`
	ActorTokenID    string   `json:"actorTokenId,omitempty"`
	ActorClientID   string   `json:"actorClientId,omitempty"`
	Impersonation   bool     `json:"impersonation"`
	Scope           string   `json:"scope,omitempty"`
	Audience        []string `json:"audience"`
	ExpiresAt       int64    `json:"expiresAt"`
}

func (Exchanged) EventType() string { return "oauth.token.exchanged" }

// RecordExchange appends the Exchanged event of a token the exchange
// issued, on an aggregate of its own (owner: the exchanging client's
// organization). The editor is the exchanging client, and the actor when
// there is one.
func (t *Tokens) RecordExchange(ctx context.Context, editor eventstore.Editor, instanceID, ownerOrg string, e Exchanged) error {
	_, err := t.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: ExchangeAggregate, ID: e.TokenID, Owner: ownerOrg},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&e},
	})
	return err
}
