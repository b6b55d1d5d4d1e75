package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyFile reads the YAML file at path into c. Unknown or repeated keys are
// errors, like yaml.v3's KnownFields(true), but the file is walked as a node
// tree so that every value is parsed exactly as in the environment and each
// setting remembers its file and line for error messages.
func (l *loader) applyFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: reading config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("config: %s: %w", path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
		return fmt.Errorf("config: %s:%d: the file must hold a single YAML document", path, next.Line)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // a file holding only "~" or a comment
	}
	l.applyMapping(c, path, root, "")
	return nil
}

// applyMapping applies the keys of node, the section named prefix ("" for
// the top level).
func (l *loader) applyMapping(c *Config, path string, node *yaml.Node, prefix string) {
	where := "the top level"
	if prefix != "" {
		where = prefix
	}
	if node.Kind != yaml.MappingNode {
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			return // "log:" with nothing under it
		}
		l.errs = append(l.errs, fmt.Errorf("config: %s:%d: %s must be a mapping of keys to values", path, node.Line, where))
		return
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(node.Content); i += 2 {
		keyNode, value := resolve(node.Content[i]), resolve(node.Content[i+1])
		name := keyNode.Value
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		switch {
		case keyNode.Kind != yaml.ScalarNode || strings.Contains(name, "."):
			l.errs = append(l.errs, fmt.Errorf("config: %s:%d: unknown key %q in %s (known keys: %s)", path, keyNode.Line, full, where, knownKeys(prefix)))
		case seen[name]:
			l.errs = append(l.errs, fmt.Errorf("config: %s:%d: key %q appears twice", path, keyNode.Line, full))
		case sections[full]:
			seen[name] = true
			l.applyMapping(c, path, value, full)
		case settingsByKey[full] != nil:
			seen[name] = true
			l.applyValue(c, settingsByKey[full], value, fmt.Sprintf("%s:%d", path, value.Line))
		default:
			l.errs = append(l.errs, fmt.Errorf("config: %s:%d: unknown key %q in %s (known keys: %s)", path, keyNode.Line, full, where, knownKeys(prefix)))
		}
	}
}

// applyValue sets s from a YAML node: a scalar, or for a list a sequence of
// scalars (a scalar is then read as a comma-separated list, as in the
// environment). Null is the empty value.
func (l *loader) applyValue(c *Config, s *setting, node *yaml.Node, source string) {
	switch {
	case node.Kind == yaml.ScalarNode && node.Tag == "!!null":
		l.set(c, s, "", source)
	case node.Kind == yaml.ScalarNode:
		l.set(c, s, node.Value, source)
	case node.Kind == yaml.SequenceNode && s.kind == kindList:
		items := make([]string, 0, len(node.Content))
		for _, item := range node.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode {
				l.errs = append(l.errs, &settingError{key: s.key, source: source, msg: "must be a list of strings"})
				return
			}
			if v := strings.TrimSpace(item.Value); v != "" {
				items = append(items, v)
			}
		}
		s.field(c).Set(reflect.ValueOf(items).Convert(s.typ))
		l.sources[s] = source
	default:
		what := "a single value"
		if s.kind == kindList {
			what = "a list of strings"
		}
		l.errs = append(l.errs, &settingError{key: s.key, source: source, msg: "must be " + what})
	}
}

// resolve follows YAML aliases (*name) to the node they refer to.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// knownKeys lists the keys allowed directly in the section prefix.
func knownKeys(prefix string) string {
	var names []string
	add := func(full string) {
		rest, ok := strings.CutPrefix(full, prefix+".")
		if prefix == "" {
			rest, ok = full, true
		}
		if ok && !strings.Contains(rest, ".") && !slices.Contains(names, rest) {
			names = append(names, rest)
		}
	}
	for _, s := range settings {
		add(s.key)
		for p := s.key; strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			add(p)
		}
	}
	return strings.Join(names, ", ")
}
