package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/knadh/koanf/providers/posflag"
	"github.com/spf13/pflag"
)

// Names of the flags that are not config keys.
const (
	FlagConfig  = "config"  // -c, --config FILE: the YAML file
	FlagCheck   = "check"   // --check: validate the config and exit
	FlagVersion = "version" // --version: print the version and exit
)

// NewFlagSet returns routerd's command-line flags, not yet parsed, with
// pflag.ContinueOnError so the caller reports parse errors: -c/--config,
// --check, --version, and one flag per scalar or list key named by its key
// path (--http.listen, --limits.max_frame_bytes, --nats.url a,b). The
// map-valued keys (namespaces, socketio.namespaces, socketio.events),
// nats.users and nats.leafnodes.remotes have no flags. Flag defaults are
// the built-in defaults and flag usages the keys' help (keyDocs); a key
// flag only overrides the file and the environment when it is given on the
// command line. The flag set's Usage (--help) lists the other flags, then
// every key with its type, default and meaning.
func NewFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.StringP(FlagConfig, "c", "", "path to the YAML config file")
	fs.Bool(FlagCheck, false, "validate the config (file, ROUTER_* environment and flags) and exit")
	fs.Bool(FlagVersion, false, "print the version and exit")

	def := reflect.ValueOf(Default())
	docs := keyDocs()
	for _, l := range configLeaves() {
		v := fieldByKey(def, l.key)
		usage := docs[l.key].help
		switch {
		case l.typ == durationType:
			fs.Duration(l.key, time.Duration(v.Int()), usage)
		case l.typ.Kind() == reflect.String:
			fs.String(l.key, v.String(), usage)
		case l.typ.Kind() == reflect.Int:
			fs.Int(l.key, int(v.Int()), usage)
		case l.typ.Kind() == reflect.Float64:
			fs.Float64(l.key, v.Float(), usage)
		case l.typ.Kind() == reflect.Bool:
			fs.Bool(l.key, v.Bool(), usage)
		case isStringList(l.typ):
			fs.StringSlice(l.key, v.Interface().([]string), usage)
		default:
			panic(fmt.Sprintf("config: no flag type for key %s (%s)", l.key, l.typ))
		}
	}
	fs.Usage = usage(fs)
	return fs
}

// fieldByKey returns the field of struct v at the dotted key path.
func fieldByKey(v reflect.Value, key string) reflect.Value {
	for _, l := range strings.Split(key, ".") {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("koanf") == l {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

// flagProvider returns the koanf provider for the key flags of fs that were
// set on the command line; other flags are skipped.
func flagProvider(fs *pflag.FlagSet, ko posflag.KoanfIntf) *posflag.Posflag {
	keys := map[string]bool{}
	for _, l := range configLeaves() {
		keys[l.key] = true
	}
	return posflag.ProviderWithFlag(fs, ".", ko, func(f *pflag.Flag) (string, any) {
		if !f.Changed || !keys[f.Name] {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fs, f)
	})
}
