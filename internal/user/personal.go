package user

import (
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Personal data of users — login name, traits, email, phone, metadata
// values — is sealed per user by the event store
// (eventstore.Personal); Delete destroys the user's key. The payloads below
// move exactly those fields in and out.

func split[T any](copy T, personal any) (eventstore.Payload, []byte, error) {
	b, err := json.Marshal(personal)
	if err != nil {
		return nil, nil, err
	}
	return any(copy).(eventstore.Payload), b, nil
}

type addedPersonal struct {
	LoginName string          `json:"loginName"`
	Traits    json.RawMessage `json:"traits"`
	Email     string          `json:"email,omitempty"`
	Phone     string          `json:"phone,omitempty"`
}

func (p *Added) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.LoginName, c.Traits, c.Email, c.Phone = "", nil, "", ""
	return split(&c, addedPersonal{p.LoginName, p.Traits, p.Email, p.Phone})
}

func (p *Added) JoinPersonal(b []byte) error {
	var v addedPersonal
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.LoginName, p.Traits, p.Email, p.Phone = v.LoginName, v.Traits, v.Email, v.Phone
	return nil
}

func (p *Added) ErasePersonal(subject string) {
	p.LoginName, p.Traits, p.Email, p.Phone = "erased-"+subject, json.RawMessage(`{}`), "", ""
}

func (p *TraitsUpdated) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.Traits = nil
	return split(&c, p.Traits)
}

func (p *TraitsUpdated) JoinPersonal(b []byte) error { p.Traits = json.RawMessage(b); return nil }
func (p *TraitsUpdated) ErasePersonal(string)        { p.Traits = json.RawMessage(`{}`) }

func (p *EmailChanged) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.Email = ""
	return split(&c, p.Email)
}

func (p *EmailChanged) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.Email) }
func (p *EmailChanged) ErasePersonal(string)        { p.Email = "" }

func (p *PhoneChanged) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.Phone = ""
	return split(&c, p.Phone)
}

func (p *PhoneChanged) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.Phone) }
func (p *PhoneChanged) ErasePersonal(string)        { p.Phone = "" }

func (p *LoginNameChanged) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.LoginName = ""
	return split(&c, p.LoginName)
}

func (p *LoginNameChanged) JoinPersonal(b []byte) error  { return json.Unmarshal(b, &p.LoginName) }
func (p *LoginNameChanged) ErasePersonal(subject string) { p.LoginName = "erased-" + subject }

func (p *MetadataSet) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.Value = nil
	return split(&c, p.Value)
}

func (p *MetadataSet) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.Value) }
func (p *MetadataSet) ErasePersonal(string)        { p.Value = []byte{} }
