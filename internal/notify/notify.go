package notify

import (
	"context"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Message is one notification to one recipient.
type Message struct {
	// To is an email address ("jane@example.com", no display name) for
	// email, or an E.164 phone number ("+41791234567") for SMS.
	To string
	// Subject is the email subject; SMS ignores it.
	Subject string
	// Text is the plain-text body, required for both channels. Line breaks
	// may be "\n" or "\r\n"; email sends them as CRLF.
	Text string
	// HTML is an optional HTML alternative of Text for email; SMS ignores
	// it. When set, the email is multipart/alternative.
	HTML string
}

// Notifier delivers a message to its recipient.
//
// Send returns a *failure.Error of kind invalid argument, naming the field
// ("to", "subject", "text", "html"), when the message cannot be sent as
// given; nothing is transmitted then. Delivery problems (the provider is
// unreachable, refuses the credentials or the message) are of kind
// unavailable, with the provider's answer as the cause. Errors never carry
// the message body or a credential.
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// unavailable reports a delivery failure: msg is for the caller, cause (the
// provider's answer or the network error) for the operator's log.
func unavailable(cause error, msg string) error {
	e := failure.Unavailable("%s", msg)
	e.Cause = cause
	return e
}
