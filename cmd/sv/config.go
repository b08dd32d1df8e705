package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/svtool/sv/dash"
	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/live"
	"github.com/svtool/sv/stream"
)

// configFlag is --config: the flags' values from a YAML file (sv all, sv serve).
var configFlag = &cli.StringFlag{Name: "config", Usage: "take flag values from the YAML `FILE` (\"flag: value\", the flags' names without --; a list for a repeatable flag); the command line and SV_* variables win", EnvVars: []string{"SV_CONFIG"}}

// applyConfig sets every flag that the --config file gives a value and that neither the
// command line nor its SV_* variable set. A key that is no flag of the command is an
// error: a misspelt setting must not be ignored.
func applyConfig(c *cli.Context) error {
	name := c.String("config")
	m, err := readConfig(c)
	if err != nil || m == nil {
		return err
	}
	if _, ok := m[streamsKey]; ok && hasFlag(c, "recording") {
		delete(m, streamsKey) // streamOptions and authOptions read it
		if _, err := streamSettings(c); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	given := map[string]bool{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			known[n] = n != "config" && n != "help"
			given[n] = c.IsSet(n)
		}
	}
	envOf(c).given = given
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

// streamsKey is the --config file's mapping of the streams with settings of their own
// (sv all): a stream's name to its settings, each the name of a packaging or analysis
// flag, "recording", or "keys" (a list of "KEY [ACTION,...]").
const streamsKey = "streams"

// streamKeys is the setting of a stream's own keys.
const streamKeys = "keys"

// readConfig reads the --config file: its settings by name; nil when there is none.
func readConfig(c *cli.Context) (map[string]any, error) {
	name := c.String("config")
	if name == "" {
		return nil, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, usagef("--config %s: %v", name, err)
	}
	return m, nil
}

// streamSettings reads the --config file's streams: a stream's name to its settings,
// each setting's values as configValues gives them. Names and settings are checked.
func streamSettings(c *cli.Context) (map[string]map[string][]string, error) {
	m, err := readConfig(c)
	if err != nil || m[streamsKey] == nil {
		return nil, err
	}
	name := c.String("config")
	streams, ok := m[streamsKey].(map[string]any)
	if !ok {
		return nil, usagef("--config %s: streams: want a mapping of stream names to their settings", name)
	}
	out := make(map[string]map[string][]string, len(streams))
	for _, s := range slices.Sorted(maps.Keys(streams)) {
		if !stream.Valid(s) {
			return nil, usagef("--config %s: streams: %q is not a stream name (letters, digits, - and _)", name, s)
		}
		own, ok := streams[s].(map[string]any)
		if !ok {
			return nil, usagef("--config %s: streams: %s: want a mapping of settings", name, s)
		}
		settings := map[string][]string{}
		for _, key := range slices.Sorted(maps.Keys(own)) {
			if key != streamKeys && streamFlag(key) == nil {
				return nil, usagef("--config %s: streams: %s: %s is not a setting of a stream (%s)", name, s, key, strings.Join(streamSettingNames(), ", "))
			}
			values, err := configValues(own[key])
			if err != nil {
				return nil, usagef("--config %s: streams: %s: %s: %v", name, s, key, err)
			}
			settings[key] = values
		}
		out[s] = settings
	}
	return out, nil
}

// recordingFlag is sv all's --recording.
var recordingFlag = &cli.BoolFlag{Name: "recording", Value: true, Usage: "record every stream into --out's recordings/{stream} (--recording=false: package and analyse only)", EnvVars: []string{"SV_RECORDING"}}

// streamFlag is the flag of sv all that a stream may set for itself, by name; nil if
// there is none.
func streamFlag(name string) cli.Flag { return flagNamed(streamFlags(), name) }

// streamFlags are the flags of sv all that a stream may set for itself.
func streamFlags() []cli.Flag {
	return slices.Concat(packagingFlags, analysisFlags, []cli.Flag{recordingFlag})
}

// streamSettingNames are the settings a stream may have of its own.
func streamSettingNames() []string {
	var names []string
	for _, f := range streamFlags() {
		names = append(names, f.Names()[0])
	}
	return append(names, streamKeys)
}

// streamOptions are the options of the streams the --config file gives settings of
// their own: those settings over the command's (common, analysis).
func streamOptions(c *cli.Context, common dash.Options, analysis frames.Options) (map[string]live.StreamOptions, error) {
	settings, err := streamSettings(c)
	if err != nil || len(settings) == 0 {
		return nil, err
	}
	out := make(map[string]live.StreamOptions, len(settings))
	for name, set := range settings {
		v := streamValues{Context: c, set: map[string]any{}}
		for key, values := range set {
			if key == streamKeys {
				continue
			}
			x, err := parseFlagValue(streamFlag(key), strings.Join(values, ","))
			if err != nil {
				return nil, usagef("--config %s: streams: %s: %s: %v", c.String("config"), name, key, err)
			}
			v.set[key] = x
		}
		o := live.StreamOptions{Dash: common, Frames: analysis, NoRecording: !v.Bool("recording")}
		if err := packagingOptions(v, &o.Dash); err != nil {
			return nil, fmt.Errorf("--config %s: streams: %s: %w", c.String("config"), name, err)
		}
		if err := analysisOptions(v, &o.Frames); err != nil {
			return nil, fmt.Errorf("--config %s: streams: %s: %w", c.String("config"), name, err)
		}
		out[name] = o
	}
	return out, nil
}

// parseFlagValue parses s as flag f's value.
func parseFlagValue(f cli.Flag, s string) (any, error) {
	switch f.(type) {
	case *cli.StringFlag:
		return s, nil
	case *cli.IntFlag:
		return strconv.Atoi(s)
	case *cli.BoolFlag:
		return strconv.ParseBool(s)
	case *cli.Float64Flag:
		return strconv.ParseFloat(s, 64)
	case *cli.DurationFlag:
		return time.ParseDuration(s)
	}
	return nil, fmt.Errorf("%s cannot be set per stream", f.Names()[0])
}

// streamValues are a stream's own settings over the command's flags.
type streamValues struct {
	*cli.Context
	set map[string]any // parsed
}

func (v streamValues) IsSet(name string) bool {
	_, ok := v.set[name]
	return ok || v.Context.IsSet(name)
}

func (v streamValues) String(name string) string { return value(v, name, v.Context.String) }
func (v streamValues) Int(name string) int       { return value(v, name, v.Context.Int) }
func (v streamValues) Bool(name string) bool     { return value(v, name, v.Context.Bool) }
func (v streamValues) Float64(name string) float64 {
	return value(v, name, v.Context.Float64)
}
func (v streamValues) Duration(name string) time.Duration {
	return value(v, name, v.Context.Duration)
}

// value is the stream's own setting name, or else the command's.
func value[T any](v streamValues, name string, flag func(string) T) T {
	if x, ok := v.set[name].(T); ok {
		return x
	}
	return flag(name)
}

// hasFlag reports whether c's command has the flag name.
func hasFlag(c *cli.Context, name string) bool { return flagNamed(c.Command.Flags, name) != nil }

// flagNamed is the flag of flags called name; nil if none is.
func flagNamed(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// reloadedConfig is the command's flags with the --config file read again: a flag the
// command line or an SV_* variable set keeps that value; any other takes the file's new
// value, or its default once the file no longer sets it. SIGHUP reloads the access
// settings through it (reloadAuth).
type reloadedConfig struct {
	*cli.Context
	given map[string]bool
	file  map[string][]string
}

// reloadConfig reads c's --config file again; with none, the flags as they are.
func reloadConfig(c *cli.Context) (accessValues, error) {
	m, err := readConfig(c)
	if err != nil || m == nil {
		return c, err
	}
	name := c.String("config")
	r := reloadedConfig{Context: c, given: envOf(c).given, file: map[string][]string{}}
	for key, v := range m {
		if key == streamsKey {
			continue
		}
		values, err := configValues(v)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %s: %w", name, key, err)
		}
		r.file[key] = values
	}
	return r, nil
}

// fromFile is what the file now says of flag name, parsed (its default if it says
// nothing), and false when the command line or a variable set it.
func (r reloadedConfig) fromFile(name string) (any, bool) {
	if r.given[name] {
		return nil, false
	}
	f := flagNamed(r.Command.Flags, name)
	values, inFile := r.file[name]
	if sf, ok := f.(*cli.StringSliceFlag); ok {
		switch {
		case inFile:
			return values, true
		case sf.Value == nil:
			return []string(nil), true
		}
		return sf.Value.Value(), true
	}
	if !inFile {
		switch f := f.(type) {
		case *cli.StringFlag:
			return f.Value, true
		case *cli.DurationFlag:
			return f.Value, true
		}
		return nil, false
	}
	x, err := parseFlagValue(f, strings.Join(values, ","))
	if err != nil {
		return nil, false // checked when sv started; a bad new value keeps the old one
	}
	return x, true
}

func (r reloadedConfig) String(name string) string { return reloaded(r, name, r.Context.String) }
func (r reloadedConfig) Duration(name string) time.Duration {
	return reloaded(r, name, r.Context.Duration)
}
func (r reloadedConfig) StringSlice(name string) []string {
	return reloaded(r, name, r.Context.StringSlice)
}

// reloaded is flag name's value in the file read again, or else the command's.
func reloaded[T any](r reloadedConfig, name string, flag func(string) T) T {
	if v, ok := r.fromFile(name); ok {
		if x, ok := v.(T); ok {
			return x
		}
	}
	return flag(name)
}
