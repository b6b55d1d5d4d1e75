package usertypeapi

import (
	"errors"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// schemaJSON is the JSON document of a schema given as a Struct.
func schemaJSON(s *structpb.Struct) ([]byte, error) {
	if s == nil {
		return nil, failure.InvalidArgument("schema", "must be set")
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, failure.InvalidArgument("schema", "cannot be written as JSON: %v", err)
	}
	return b, nil
}

// traitsJSON is the JSON document of traits given as a Struct; absent
// traits are the empty object.
func traitsJSON(s *structpb.Struct) ([]byte, error) {
	if s == nil {
		return []byte(`{}`), nil
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, failure.InvalidArgument("traits", "cannot be written as JSON: %v", err)
	}
	return b, nil
}

// renameField gives an InvalidArgument or AlreadyExists error about the
// domain's field from the name of the request field it came from; other
// errors pass unchanged.
func renameField(err error, from, to string) error {
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Field != from {
		return err
	}
	renamed := *fe
	renamed.Field = to
	return &renamed
}

// userTypeMessage is the wire form of t and its latest revision.
func userTypeMessage(t usertype.Type) (*usertypev1.UserType, error) {
	schema, err := t.Schema()
	if err != nil {
		return nil, err
	}
	doc := &structpb.Struct{}
	if err := protojson.Unmarshal(t.Document, doc); err != nil {
		return nil, failure.Internal(err, "reading the document of user type %s", t.ID)
	}
	out := &usertypev1.UserType{
		Id:             t.ID,
		Name:           t.Name,
		State:          stateMessage(t.State),
		Revision:       int32(t.Revision),
		Schema:         doc,
		Claims:         schema.Claims(),
		SamlAttributes: schema.SAMLAttributes(),
		Authenticators: schema.Authenticators(),
		CreateTime:     timestamppb.New(t.CreatedAt),
		UpdateTime:     timestamppb.New(t.ChangedAt),
	}
	for _, f := range schema.UniqueFields() {
		out.UniqueFields = append(out.UniqueFields, &usertypev1.UniqueField{Pointer: f.Pointer, Scope: scopeMessage(f.Scope)})
	}
	return out, nil
}

func stateMessage(s usertype.State) usertypev1.UserTypeState {
	switch s {
	case usertype.StateActive:
		return usertypev1.UserTypeState_USER_TYPE_STATE_ACTIVE
	case usertype.StateInactive:
		return usertypev1.UserTypeState_USER_TYPE_STATE_INACTIVE
	}
	return usertypev1.UserTypeState_USER_TYPE_STATE_UNSPECIFIED
}

func scopeMessage(s userschema.UniqueScope) usertypev1.UniqueScope {
	switch s {
	case userschema.UniqueOrg:
		return usertypev1.UniqueScope_UNIQUE_SCOPE_ORG
	case userschema.UniqueInstance:
		return usertypev1.UniqueScope_UNIQUE_SCOPE_INSTANCE
	}
	return usertypev1.UniqueScope_UNIQUE_SCOPE_UNSPECIFIED
}
