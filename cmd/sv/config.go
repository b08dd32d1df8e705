package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// configFlag is --config: the flags' values from a YAML file (sv all, sv serve).
var configFlag = &cli.StringFlag{Name: "config", Usage: "take flag values from the YAML `FILE` (\"flag: value\", the flags' names without --; a list for a repeatable flag); the command line and SV_* variables win", EnvVars: []string{"SV_CONFIG"}}

// applyConfig sets every flag that the --config file gives a value and that neither the
// command line nor its SV_* variable set. A key that is no flag of the command is an
// error: a misspelt setting must not be ignored.
func applyConfig(c *cli.Context) error {
	name := c.String("config")
	if name == "" {
		return nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return usagef("--config %s: %v", name, err)
	}
	known := map[string]bool{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			known[n] = n != "config" && n != "help"
		}
	}
	var unknown []string
	for _, key := range slices.Sorted(maps.Keys(m)) {
		if !known[key] {
			unknown = append(unknown, key)
			continue
		}
		if c.IsSet(key) {
			continue
		}
		values, err := configValues(m[key])
		if err != nil {
			return usagef("--config %s: %s: %v", name, key, err)
		}
		for _, v := range values {
			if err := c.Set(key, v); err != nil {
				return usagef("--config %s: %s: invalid value %q (%v)", name, key, v, err)
			}
		}
	}
	if len(unknown) > 0 {
		return usagef("--config %s: not a flag of sv %s: %s", name, c.Command.Name, strings.Join(unknown, ", "))
	}
	return nil
}

// configValues is a setting's value as the flag takes it: one, or each of a list.
func configValues(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, fmt.Errorf("no value")
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := configValues(e)
			if err != nil || len(s) != 1 {
				return nil, fmt.Errorf("want a list of values")
			}
			out = append(out, s[0])
		}
		return out, nil
	case map[string]any:
		return nil, fmt.Errorf("want a value or a list, not a mapping")
	default:
		return []string{fmt.Sprint(v)}, nil
	}
}
