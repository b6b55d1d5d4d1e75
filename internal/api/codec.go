package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"connectrpc.com/vanguard"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/castellan-iam/castellan/internal/failure"
)

// The codecs decode request messages strictly and explain what is wrong in
// the API's own terms. protojson and proto report errors with positions,
// Go types and protobuf full names ("unmarshal into *userv1.X: proto:
// (line 1:15): invalid google.protobuf.Timestamp value"), and connect-go and
// vanguard discard unknown JSON fields, so a misspelt field is silently
// ignored. Here an unknown field is refused, and a message that does not
// decode is diagnosed (diagnoseJSON, diagnoseProto) into a
// failure.InvalidArgument naming the offending field by its JSON path
// ("expireTime", "users[2].traits", "metadata[\"k\"]"), which connectError
// maps like any other domain error.

// jsonCodec is connect-go's JSON codec (Connect JSON, gRPC-Web JSON) with
// strict decoding. Connect registers JSON under two names, so there is one
// value per name.
type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (jsonCodec) Marshal(m any) ([]byte, error) { return jsonCodec{}.MarshalAppend(nil, m) }

func (jsonCodec) MarshalAppend(b []byte, m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("api: %T is not a protobuf message", m)
	}
	return protojson.MarshalOptions{}.MarshalAppend(b, msg)
}

func (jsonCodec) Unmarshal(data []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("api: %T is not a protobuf message", m)
	}
	return unmarshalJSON(protojson.UnmarshalOptions{}, data, msg)
}

// unmarshalJSON decodes data into msg, refusing unknown fields; its error is
// a *failure.Error that names the field.
func unmarshalJSON(opts protojson.UnmarshalOptions, data []byte, msg proto.Message) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return failure.InvalidArgument("", "the request body must be a JSON object, not empty")
	}
	opts.DiscardUnknown = false
	if err := opts.Unmarshal(data, msg); err != nil {
		return diagnoseJSON(msg.ProtoReflect().Descriptor(), data)
	}
	return nil
}

// protoCodec is connect-go's binary codec (gRPC, gRPC-Web, Connect proto)
// with errors that name the field.
type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(m any) ([]byte, error) { return protoCodec{}.MarshalAppend(nil, m) }

func (protoCodec) MarshalAppend(b []byte, m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("api: %T is not a protobuf message", m)
	}
	return proto.MarshalOptions{}.MarshalAppend(b, msg)
}

func (protoCodec) Unmarshal(data []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("api: %T is not a protobuf message", m)
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		if f := diagnoseProto(msg.ProtoReflect().Descriptor(), data, ""); f != nil {
			return f
		}
		return failure.InvalidArgument("", "the request is not a valid protobuf message")
	}
	return nil
}

// restCodec is vanguard's JSON codec for REST bodies with strict decoding.
// Vanguard passes a *connect.Error on unchanged, so its errors are mapped
// here already.
type restCodec struct{ vanguard.JSONCodec }

func newRESTCodec(res vanguard.TypeResolver) vanguard.Codec {
	return restCodec{*vanguard.NewJSONCodec(res)}
}

func (c restCodec) Unmarshal(data []byte, msg proto.Message) error {
	if err := unmarshalJSON(c.UnmarshalOptions, data, msg); err != nil {
		return connectError(err)
	}
	return nil
}

// UnmarshalField decodes a body bound to one field (`body: "field"`).
func (c restCodec) UnmarshalField(data []byte, msg proto.Message, field protoreflect.FieldDescriptor) error {
	if field.Message() != nil && !field.IsList() && !field.IsMap() {
		return c.Unmarshal(data, msg.ProtoReflect().Mutable(field).Message().Interface())
	}
	if err := c.JSONCodec.UnmarshalField(data, msg, field); err != nil {
		return connectError(failure.InvalidArgument(field.JSONName(), "%s", expectation(field)))
	}
	return nil
}

// diagnoseJSON explains why protojson refused data as a md message: the
// first member, at any depth, that is unknown, repeated, or has a value
// protojson does not accept for its field.
func diagnoseJSON(md protoreflect.MessageDescriptor, data []byte) *failure.Error {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for the position of the syntax error
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return failure.InvalidArgument("", "the request body is not valid JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
		}
		return failure.InvalidArgument("", "the request body is not valid JSON")
	}
	if f := diagnoseObject(md, data, ""); f != nil {
		return f
	}
	return failure.InvalidArgument("", "the request body is not a valid request message")
}

// diagnoseObject checks the JSON object data, a md message at path, member
// by member. Each member is tried alone with protojson, so protojson's own
// rules decide; only a member it refuses is looked into further.
func diagnoseObject(md protoreflect.MessageDescriptor, data []byte, path string) *failure.Error {
	members, ok := objectMembers(data)
	if !ok && path == "" {
		return failure.InvalidArgument("", "the request body must be a JSON object")
	}
	if !ok {
		return failure.InvalidArgument(path, "must be a JSON object")
	}
	seen := map[protoreflect.FieldNumber]bool{}
	oneofs := map[protoreflect.FullName]string{}
	for _, m := range members {
		fd := md.Fields().ByJSONName(m.key)
		if fd == nil {
			fd = md.Fields().ByTextName(m.key)
		}
		if fd == nil {
			return failure.InvalidArgument(joinPath(path, m.key), "unknown field")
		}
		p := joinPath(path, fd.JSONName())
		if seen[fd.Number()] {
			return failure.InvalidArgument(p, "is given more than once")
		}
		seen[fd.Number()] = true
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && string(m.value) != "null" {
			if other, set := oneofs[o.FullName()]; set {
				return failure.InvalidArgument(p, "cannot be set together with %s", other)
			}
			oneofs[o.FullName()] = fd.JSONName()
		}
		if accepts(md, fd, m.value) {
			continue
		}
		if !utf8.Valid(m.value) {
			return failure.InvalidArgument(p, "must be valid UTF-8 text")
		}
		switch {
		case fd.IsMap():
			entries, ok := objectMembers(m.value)
			if !ok {
				return failure.InvalidArgument(p, "must be a JSON object")
			}
			for _, e := range entries {
				entry := []byte(`{` + strconv.Quote(e.key) + `:` + string(e.value) + `}`)
				if accepts(md, fd, entry) {
					continue
				}
				ep := p + "[" + strconv.Quote(e.key) + "]"
				if v := fd.MapValue(); isPlainMessage(v) && string(e.value) != "null" {
					if f := diagnoseObject(v.Message(), e.value, ep); f != nil {
						return f
					}
				}
				return failure.InvalidArgument(ep, "%s", expectation(fd.MapValue()))
			}
		case fd.IsList():
			var elems []json.RawMessage
			if err := json.Unmarshal(m.value, &elems); err != nil {
				return failure.InvalidArgument(p, "must be a JSON array")
			}
			for i, e := range elems {
				if accepts(md, fd, []byte("["+string(e)+"]")) {
					continue
				}
				ep := fmt.Sprintf("%s[%d]", p, i)
				if isPlainMessage(fd) {
					if f := diagnoseObject(fd.Message(), e, ep); f != nil {
						return f
					}
				}
				return failure.InvalidArgument(ep, "%s", expectation(fd))
			}
		case isPlainMessage(fd):
			if f := diagnoseObject(fd.Message(), m.value, p); f != nil {
				return f
			}
		}
		return failure.InvalidArgument(p, "%s", expectation(fd))
	}
	return nil
}

// accepts reports whether protojson takes value as the JSON value of field
// fd of a md message.
func accepts(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, value []byte) bool {
	doc := []byte(`{` + strconv.Quote(fd.JSONName()) + `:` + string(value) + `}`)
	return protojson.Unmarshal(doc, newMessage(md)) == nil
}

// newMessage returns an empty md message: the generated type when it is
// linked in, so that protojson applies the same rules as for the request.
func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(md)
}

type member struct {
	key   string
	value json.RawMessage
}

// objectMembers splits a JSON object into its members, in order.
func objectMembers(data []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, false
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		members = append(members, member{key, value})
	}
	return members, true
}

// isPlainMessage reports whether fd holds a message that JSON writes as an
// object of its fields (not a well-known type with a JSON form of its own).
func isPlainMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Message() != nil && !strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.")
}

// expectation says, for an error message, what a value of fd must be.
func expectation(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "must be a JSON object"
	}
	if fd.Message() != nil {
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			return `must be a timestamp in RFC 3339 format, such as "2030-01-31T12:00:00Z"`
		case "google.protobuf.Duration":
			return `must be a duration in seconds, such as "90s" or "1.5s"`
		case "google.protobuf.Struct":
			return "must be a JSON object"
		case "google.protobuf.ListValue":
			return "must be a JSON array"
		case "google.protobuf.Value":
			return "must be a JSON value"
		case "google.protobuf.FieldMask":
			return `must be a string of comma-separated field names, such as "name,state"`
		case "google.protobuf.Empty":
			return "must be {}"
		}
		if v := fd.Message().Fields().ByName("value"); v != nil && strings.HasSuffix(string(fd.Message().FullName()), "Value") {
			return expectation(v) // a wrapper: google.protobuf.Int32Value, …
		}
		return "must be a JSON object"
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "must be true or false"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "must be a whole number from -2147483648 to 2147483647"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "must be a whole number from 0 to 4294967295"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "must be a whole number from -9223372036854775808 to 9223372036854775807"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "must be a whole number from 0 to 18446744073709551615"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "must be a number"
	case protoreflect.StringKind:
		return "must be a string"
	case protoreflect.BytesKind:
		return "must be base64-encoded bytes"
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		names := make([]string, values.Len())
		for i := range values.Len() {
			names[i] = string(values.Get(i).Name())
		}
		return "must be one of " + strings.Join(names, ", ")
	}
	return "has a value of the wrong type"
}

// joinPath appends a field name to a JSON path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// diagnoseProto finds a string field with invalid UTF-8, or where the wire
// data of a md message breaks off, and names it.
func diagnoseProto(md protoreflect.MessageDescriptor, b []byte, path string) *failure.Error {
	broken := func() *failure.Error {
		if path == "" {
			return failure.InvalidArgument("", "the request is not a valid protobuf message")
		}
		return failure.InvalidArgument(path, "is not a valid protobuf message")
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return broken()
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return broken()
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return broken()
		}
		b = b[n:]
		if fd == nil {
			continue
		}
		p := joinPath(path, fd.JSONName())
		switch {
		case fd.Kind() == protoreflect.StringKind && !utf8.Valid(v):
			return failure.InvalidArgument(p, "must be valid UTF-8 text")
		case fd.IsMap():
			if f := diagnoseProto(fd.Message(), v, p); f != nil {
				if f.Field == joinPath(p, "key") {
					return failure.InvalidArgument(p, "has a key that is not valid UTF-8 text")
				}
				if strings.HasPrefix(f.Field, joinPath(p, "value")) {
					f.Field = p + strings.TrimPrefix(f.Field, joinPath(p, "value"))
				}
				return f
			}
		case fd.Kind() == protoreflect.MessageKind:
			if f := diagnoseProto(fd.Message(), v, p); f != nil {
				return f
			}
		}
	}
	return nil
}

// BinaryResponse reports whether the response to a request with header h
// is binary protobuf: gRPC and gRPC-Web without +json, Connect's
// application/proto, and REST (vanguard calls the service in binary, then
// decodes the response with its schema to write JSON). A service may then
// write parts of the response as wire bytes (jsonstruct.AppendWire);
// when the encoding is not known for sure (a Connect GET names it in its
// query), the answer is false.
func BinaryResponse(h http.Header) bool {
	switch h.Get("Content-Type") {
	case "application/proto", "application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web+proto":
		return true
	}
	return false
}
