package config

import (
	"reflect"
	"time"
)

// The schema of the configuration is the Config struct itself: every field
// with a koanf tag is a key, nested structs are key groups. Decoding, the
// environment mapping and the flag set all derive their key lists from it,
// so a field added to Config is a known key everywhere at once.

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
