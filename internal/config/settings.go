package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is how a setting's text is parsed.
type kind int

const (
	kindString kind = iota
	kindInt
	kindUint
	kindDuration
	kindList
	kindBool
)

// setting is one leaf field of Config with everything derived from its tags.
type setting struct {
	key   string // dotted YAML path: first_instance.admin.password
	env   string // CASTELLAN_FIRST_INSTANCE_ADMIN_PASSWORD
	flag  string // first-instance-admin-password (without dashes)
	index []int  // field index path from Config
	typ   reflect.Type
	kind  kind

	defaultText  string
	defaultValue reflect.Value
	desc         string
	secret       bool
	oneOf        []string
	min, max     *int64
	positive     bool
	nonempty     bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()

	// settings lists every setting in the order of the Config fields.
	settings = describeSettings(reflect.TypeFor[Config](), nil, "")
	// settingsByKey and settingsByEnv index settings; sections holds the
	// dotted paths of nested structs (log, first_instance.admin, ...).
	settingsByKey, settingsByEnv, sections = indexSettings(settings)
)

// describeSettings walks t's fields and derives a setting for each leaf. It
// panics on a malformed tag: that is a programming error caught by any test.
func describeSettings(t reflect.Type, index []int, prefix string) []*setting {
	var out []*setting
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		if name == "" || strings.ContainsAny(name, ".,") {
			panic(fmt.Sprintf("config: field %s needs a yaml tag without dots or options", f.Name))
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, describeSettings(f.Type, idx, key)...)
			continue
		}
		out = append(out, newSetting(f, idx, key))
	}
	return out
}

func newSetting(f reflect.StructField, index []int, key string) *setting {
	s := &setting{
		key:         key,
		env:         envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
		flag:        strings.NewReplacer(".", "-", "_", "-").Replace(key),
		index:       index,
		typ:         f.Type,
		defaultText: f.Tag.Get("default"),
		desc:        f.Tag.Get("desc"),
		secret:      f.Tag.Get("secret") == "true",
		positive:    f.Tag.Get("positive") == "true",
		nonempty:    f.Tag.Get("nonempty") == "true",
	}
	switch {
	case f.Type == durationType:
		s.kind = kindDuration
	case f.Type.Kind() == reflect.String:
		s.kind = kindString
	case f.Type.Kind() == reflect.Int:
		s.kind = kindInt
	case f.Type.Kind() == reflect.Uint8 || f.Type.Kind() == reflect.Uint32:
		s.kind = kindUint
	case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
		s.kind = kindList
	case f.Type.Kind() == reflect.Bool:
		s.kind = kindBool
	default:
		panic(fmt.Sprintf("config: %s has unsupported type %s", key, f.Type))
	}
	if s.desc == "" {
		panic(fmt.Sprintf("config: %s needs a desc tag", key))
	}
	if v := f.Tag.Get("oneof"); v != "" {
		s.oneOf = strings.Split(v, ",")
	}
	for tag, dst := range map[string]**int64{"min": &s.min, "max": &s.max} {
		if v := f.Tag.Get(tag); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || (s.kind != kindInt && s.kind != kindUint) {
				panic(fmt.Sprintf("config: %s: bad %s tag %q", key, tag, v))
			}
			*dst = &n
		}
	}
	if s.positive && s.kind != kindDuration {
		panic(fmt.Sprintf("config: %s: positive applies to durations", key))
	}
	v, err := s.parse(s.defaultText)
	if err != nil {
		panic(fmt.Sprintf("config: %s: bad default: %v", key, err))
	}
	s.defaultValue = v
	return s
}

func indexSettings(all []*setting) (byKey, byEnv map[string]*setting, sections map[string]bool) {
	byKey = make(map[string]*setting)
	byEnv = make(map[string]*setting)
	byFlag := make(map[string]bool)
	sections = make(map[string]bool)
	for _, s := range all {
		if byKey[s.key] != nil || byEnv[s.env] != nil || byFlag[s.flag] || s.env == configEnv || s.flag == configFlag {
			panic(fmt.Sprintf("config: %s collides with another setting's key, variable or flag", s.key))
		}
		byKey[s.key], byEnv[s.env], byFlag[s.flag] = s, s, true
		for p := s.key; strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			sections[p] = true
		}
	}
	return byKey, byEnv, sections
}

// field returns the settable field of c that holds s.
func (s *setting) field(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(s.index)
}

// settingOf returns the setting whose field ptr points to, a field of c.
// Validation names settings this way rather than by key strings.
func settingOf(c *Config, ptr any) *setting {
	p := reflect.ValueOf(ptr)
	for _, s := range settings {
		f := s.field(c)
		if f.Addr().Pointer() == p.Pointer() && f.Type() == p.Type().Elem() {
			return s
		}
	}
	panic(fmt.Sprintf("config: %T is not a setting of this Config", ptr))
}

// parse converts text from the file, the environment or a flag into a value
// of the setting's type. Messages quote the text only for non-secrets.
func (s *setting) parse(raw string) (reflect.Value, error) {
	switch s.kind {
	case kindString:
		return reflect.ValueOf(raw).Convert(s.typ), nil
	case kindList:
		var items []string
		for item := range strings.SplitSeq(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return reflect.ValueOf(items).Convert(s.typ), nil
	case kindDuration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			if s.secret {
				return reflect.Value{}, errors.New("must be a duration such as 30s or 1m30s")
			}
			return reflect.Value{}, fmt.Errorf("%q is not a duration such as 30s, 15m or 720h", raw)
		}
		return reflect.ValueOf(d), nil
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, s.typ.Bits())
		if err != nil {
			return reflect.Value{}, s.numberError(err, raw)
		}
		v := reflect.New(s.typ).Elem()
		v.SetInt(n)
		return v, nil
	case kindUint:
		n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, s.typ.Bits())
		if err != nil {
			return reflect.Value{}, s.numberError(err, raw)
		}
		v := reflect.New(s.typ).Elem()
		v.SetUint(n)
		return v, nil
	case kindBool:
		switch strings.TrimSpace(raw) {
		case "true":
			return reflect.ValueOf(true).Convert(s.typ), nil
		case "false":
			return reflect.ValueOf(false).Convert(s.typ), nil
		}
		return reflect.Value{}, fmt.Errorf("must be true or false, got %s", s.quote(raw))
	}
	panic("unreachable")
}

func (s *setting) numberError(err error, raw string) error {
	what := "a whole number"
	if s.kind == kindUint {
		what = fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<s.typ.Bits()-1)
	}
	if errors.Is(err, strconv.ErrRange) && s.kind == kindInt {
		what = fmt.Sprintf("a whole number of at most %d bits", s.typ.Bits())
	}
	return fmt.Errorf("must be %s, got %s", what, s.quote(raw))
}

// quote returns raw quoted for an error message, or a placeholder for a
// secret setting.
func (s *setting) quote(raw string) string {
	if s.secret {
		return "a value that is not shown because the setting is secret"
	}
	return strconv.Quote(raw)
}

// summary is the first sentence of the description, for flag help.
func (s *setting) summary() string {
	if i := strings.Index(s.desc, ". "); i >= 0 {
		return s.desc[:i+1]
	}
	return s.desc
}

// typeName names the value syntax in help and documentation.
func (s *setting) typeName() string {
	switch s.kind {
	case kindInt, kindUint:
		return "integer"
	case kindDuration:
		return "duration"
	case kindList:
		return "list"
	case kindBool:
		return "boolean"
	}
	return "string"
}

// checkTags applies the tag-declared rules to the loaded value of s.
func (l *loader) checkTags(c *Config, s *setting) {
	v := s.field(c)
	fail := func(format string, args ...any) {
		l.errs = append(l.errs, &settingError{key: s.key, source: l.sources[s], msg: fmt.Sprintf(format, args...)})
	}
	switch s.kind {
	case kindString:
		str := v.String()
		if s.nonempty && strings.TrimSpace(str) == "" {
			fail("must not be empty")
		}
		if len(s.oneOf) > 0 && !slices.Contains(s.oneOf, str) {
			fail("must be one of %s, got %s", strings.Join(s.oneOf, ", "), s.quote(str))
		}
	case kindDuration:
		if s.positive && v.Int() <= 0 {
			fail("must be greater than zero, got %s", time.Duration(v.Int()))
		}
	case kindInt, kindUint:
		var n int64
		if s.kind == kindInt {
			n = v.Int()
		} else {
			n = int64(v.Uint()) // settings are at most 32 bits wide
		}
		if s.min != nil && n < *s.min {
			fail("must be at least %d, got %d", *s.min, n)
		}
		if s.max != nil && n > *s.max {
			fail("must be at most %d, got %d", *s.max, n)
		}
	}
}
