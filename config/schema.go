package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The schema of the configuration is the Config struct itself: every field
// with a koanf tag is a key, nested structs are key groups. Decoding, the
// environment mapping and the flag set all derive their key lists from it,
// so a field added to Config is a known key everywhere at once. Its
// defaults are Default()'s, and its descriptions the keyDocs table: the
// reference docs/configuration.md (go generate ./config), `routerd --help`
// and the flags' usage are written from these three, and tests fail when a
// key has no description or the reference is out of date.

var durationType = reflect.TypeFor[time.Duration]()

// leaf is a key holding one scalar or a string list, the keys that
// environment variables and flags can set.
type leaf struct {
	key string       // dotted key path relative to where the walk started
	typ reflect.Type // Go type of the field
}

// leaves lists the scalar and string-list keys of struct type t, in field
// order, with their paths prefixed by prefix. Map-valued keys, lists of
// objects and pointers to structs are not leaves; pointers to structs are
// descended into when descendPtr is set (for namespaces.*.history.*).
func leaves(t reflect.Type, prefix string, descendPtr bool) []leaf {
	var out []leaf
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" || !f.IsExported() {
			continue
		}
		key := prefix + tag
		ft := f.Type
		switch {
		case isScalar(ft) || isStringList(ft):
			out = append(out, leaf{key: key, typ: ft})
		case ft.Kind() == reflect.Struct:
			out = append(out, leaves(ft, key+".", descendPtr)...)
		case descendPtr && ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leaves(ft.Elem(), key+".", descendPtr)...)
		}
	}
	return out
}

// isScalar reports whether t is decoded from a single value.
func isScalar(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Float64, reflect.Bool:
		return true
	}
	return false
}

// isStringList reports whether t is a []string.
func isStringList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String
}

// configLeaves lists the static scalar and string-list keys of Config.
func configLeaves() []leaf {
	return leaves(reflect.TypeFor[Config](), "", false)
}

// namespaceLeaves lists the keys of one namespace entry, history.* included.
func namespaceLeaves() []leaf {
	return leaves(reflect.TypeFor[Namespace](), "", true)
}

// keySource says where a key can be set besides the YAML file.
type keySource int

const (
	// setByFlag: a ROUTER_ variable and a flag, both named by the key path
	// (the scalar and string-list keys).
	setByFlag keySource = iota
	// setByNamespaceVar: a ROUTER_NAMESPACES_{NAME}_{KEY} variable (the
	// keys of a namespace policy).
	setByNamespaceVar
	// yamlOnly: the YAML file only (maps, lists of objects, their items).
	yamlOnly
)

// schemaKey is one key as the reference (docs/configuration.md) and
// `routerd --help` list it: its path, type and built-in default come from
// the Config type and Default(), its description from keyDocs.
type schemaKey struct {
	// path is the dotted key path; a namespace name is written <name>
	// (namespaces.<name>.auth) and a list item [] (nats.users[].user).
	path   string
	typ    string // string, int, float, bool, duration, string list, map, list or object
	def    string // the built-in default as text; "" for none
	source keySource
	doc    keyDoc // the zero keyDoc when keyDocs lacks the key
}

// namespaceName stands for a namespace name or glob in the paths of the
// namespace policy keys.
const namespaceName = "<name>"

// schemaKeys lists every key of Config in field order: the scalar and
// string-list keys, the maps and lists of objects with the keys of their
// entries and items, and the namespace policy keys under
// namespaces.<name>. Defaults are those of Default(), DefaultNamespace()
// and DefaultHistory().
func schemaKeys() []schemaKey {
	w := schemaWalker{docs: keyDocs()}
	w.structure("", reflect.ValueOf(Default()), setByFlag)
	return w.keys
}

// schemaWalker collects schemaKeys.
type schemaWalker struct {
	docs map[string]keyDoc
	keys []schemaKey
}

// structure adds the keys of the struct v, whose fields hold their
// defaults, with their paths prefixed by prefix.
func (w *schemaWalker) structure(prefix string, v reflect.Value, src keySource) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := f.Tag.Get("koanf"); tag != "" && f.IsExported() {
			w.value(prefix+tag, v.Field(i), src)
		}
	}
}

// value adds the key at path holding v, and the keys below it.
func (w *schemaWalker) value(path string, v reflect.Value, src keySource) {
	t := v.Type()
	switch {
	case isScalar(t) || isStringList(t):
		w.add(path, typeName(t), defaultText(v), src)
	case t.Kind() == reflect.Struct:
		w.structure(path+".", v, src)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		// namespaces.<name>.history: absent unless set.
		w.add(path, "object", "", src)
		w.structure(path+".", elemDefault(t.Elem()), src)
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		// namespaces: the ROUTER_NAMESPACES_ variables set its entries.
		w.add(path, "map", "", setByNamespaceVar)
		w.structure(path+"."+namespaceName+".", elemDefault(t.Elem()), setByNamespaceVar)
	case t.Kind() == reflect.Map:
		w.add(path, "map", "", yamlOnly)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		w.add(path, "list", "", yamlOnly)
		w.structure(path+"[].", elemDefault(t.Elem()), yamlOnly)
	default:
		panic(fmt.Sprintf("config: key %s has unsupported type %s", path, t))
	}
}

// add appends one key with its description.
func (w *schemaWalker) add(path, typ, def string, src keySource) {
	w.keys = append(w.keys, schemaKey{path: path, typ: typ, def: def, source: src, doc: w.docs[path]})
}

// typeName names a scalar or string-list type for the reader of the
// reference.
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case isStringList(t):
		return "string list"
	case t.Kind() == reflect.Float64:
		return "float"
	}
	return t.Kind().String()
}

// defaultText writes the scalar or string list v as a YAML author would:
// "" for an empty string or list, durations without trailing zero units
// ("2m", "24h", "0").
func defaultText(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return formatDuration(time.Duration(v.Int()))
	case isStringList(v.Type()):
		return strings.Join(v.Interface().([]string), ",")
	case v.Kind() == reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration is d.String() without zero minutes and seconds ("2m"
// rather than "2m0s"), and "0" for 0.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}
