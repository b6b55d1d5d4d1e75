package config

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"
)

// FlagUsage writes every flag with its value type, environment variable and
// default, for `castellan start --help`.
func FlagUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Flags override environment variables, which override the YAML file, which overrides the defaults.\n\n")
	fmt.Fprintf(&b, "  --%s FILE\n        %s (env %s)\n", configFlag, configFlagUsage, configEnv)
	for _, s := range settings {
		fmt.Fprintf(&b, "  --%s %s\n        %s (env %s", s.flag, s.typeName(), s.summary(), s.env)
		if s.defaultText != "" {
			fmt.Fprintf(&b, ", default %q", s.defaultText)
		}
		b.WriteString(")\n")
		if s.secret {
			b.WriteString("        Secret: prefer the file or environment; other users can see flags in the process list.\n")
		}
	}
	fmt.Fprintf(&b, "  -h, --help\n        Show this help.\n")
	io.WriteString(w, b.String())
}

// Reference returns the Markdown reference of every setting: key,
// environment variable, flag, type, default, rules and description, with
// secrets marked. docs/configuration.md is a short header followed by it.
func Reference() string {
	var b strings.Builder
	b.WriteString("## Summary\n\n")
	b.WriteString("| Key | Environment variable | Flag | Default |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, s := range settings {
		fmt.Fprintf(&b, "| [`%s`](#%s) | `%s` | `--%s` | %s |\n", s.key, anchor(s.key), s.env, s.flag, s.defaultMarkdown())
	}
	b.WriteString("\n## Settings\n")
	for _, s := range settings {
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", s.key, s.desc)
		fmt.Fprintf(&b, "- Environment variable: `%s`\n", s.env)
		fmt.Fprintf(&b, "- Flag: `--%s`\n", s.flag)
		fmt.Fprintf(&b, "- Type: %s\n", s.typeDescription())
		fmt.Fprintf(&b, "- Default: %s\n", s.defaultMarkdown())
		if len(s.oneOf) > 0 {
			fmt.Fprintf(&b, "- Allowed values: `%s`\n", strings.Join(s.oneOf, "`, `"))
		}
		if s.min != nil {
			fmt.Fprintf(&b, "- Minimum: %d\n", *s.min)
		}
		if s.max != nil {
			fmt.Fprintf(&b, "- Maximum: %d\n", *s.max)
		}
		if s.positive {
			b.WriteString("- Must be greater than zero.\n")
		}
		if s.nonempty {
			b.WriteString("- Must not be empty.\n")
		}
		if s.secret {
			b.WriteString("- **Secret**: never printed, logged or included in error messages. Prefer the file or the environment to the flag, which other local users can see in the process list.\n")
		}
	}
	return b.String()
}

// anchor is the heading anchor GitHub generates for a setting's section.
func anchor(key string) string {
	return strings.ReplaceAll(key, ".", "")
}

func (s *setting) defaultMarkdown() string {
	if s.defaultText == "" {
		return "*(empty)*"
	}
	return "`" + s.defaultText + "`"
}

func (s *setting) typeDescription() string {
	switch s.kind {
	case kindInt:
		return "integer"
	case kindUint:
		return fmt.Sprintf("integer from 0 to %d", uint64(1)<<s.typ.Bits()-1)
	case kindDuration:
		return "duration (Go syntax: `500ms`, `30s`, `1m30s`, `2h`)"
	case kindList:
		return "list of strings (a YAML sequence; comma-separated in the environment and flags, or a repeated flag)"
	case kindBool:
		return "boolean (`true` or `false`; the flag alone means `true`)"
	}
	return "string"
}

// LogValue renders the settings for a start-up log record with secrets
// hidden: the database with [Config.RedactedDatabase], other secrets as
// whether they are set.
func (c *Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		v := s.field(c)
		switch {
		case s.key == settingOf(c, &c.Database).key:
			attrs = append(attrs, slog.String(s.key, c.RedactedDatabase()))
		case s.secret && v.Kind() == reflect.Slice:
			attrs = append(attrs, slog.String(s.key, fmt.Sprintf("[%d redacted]", v.Len())))
		case s.secret && v.String() != "":
			attrs = append(attrs, slog.String(s.key, "[redacted]"))
		case s.secret:
			attrs = append(attrs, slog.String(s.key, ""))
		case s.kind == kindDuration:
			attrs = append(attrs, slog.Duration(s.key, time.Duration(v.Int())))
		default:
			attrs = append(attrs, slog.Any(s.key, v.Interface()))
		}
	}
	return slog.GroupValue(attrs...)
}
