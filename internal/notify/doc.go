// Package notify delivers messages to users by email and SMS: verification
// codes now, password resets and invitations later. It owns the channels,
// not the content: callers (user, and later the login and invitation
// flows) compose a [Message] and hand it to a [Notifier].
//
// [SMTP] submits email through one SMTP server with net/smtp, one
// connection per message. The message is built here (RFC 5322 and MIME):
// Date, Message-ID, From, To, Subject (RFC 2047 encoded words when not
// plain ASCII), MIME-Version, Auto-Submitted (RFC 3834), quoted-printable
// UTF-8 bodies, multipart/alternative when there is HTML. CR or LF in To,
// Subject or From is rejected, naming the field, before anything is sent.
// The connection is TLS: STARTTLS (required; a server that does not offer
// it gets nothing, not even the password), implicit TLS, or, for a
// loopback relay only, none. AUTH PLAIN is the only mechanism and is used
// only over TLS. A recipient address that is not ASCII needs a server that
// offers SMTPUTF8 (RFC 6531).
//
// [SMSWebhook] sends text messages through any SMS gateway the operator
// fronts with a small HTTP endpoint: a JSON POST signed per Standard
// Webhooks. Castellan does not speak vendor APIs.
//
// [Recorder] stands in for both in tests of other packages.
//
// Errors follow package failure: invalid argument (naming the field) for a
// message that cannot be sent, unavailable for a provider that cannot be
// reached or refuses. Neither ever contains a credential or a message body,
// which holds codes.
//
// Delivery is synchronous; callers that must not wait or that need retries
// send from an asynchronous consumer of the event that asked for the
// message. Configuration comes today from the server's settings
// notify.smtp.* and notify.sms.* (docs/configuration.md), one provider of
// each for all instances, turned into notifiers with [NewSMTP] and
// [NewSMSWebhook] at start. Later each instance gets its own notification
// provider settings (its own SMTP server and SMS gateway, secrets sealed
// with the key ring), with the server's providers as the fallback.
package notify
