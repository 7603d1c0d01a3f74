package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder converts the merged key/value tree of all sources into a Config,
// walking the schema (the Config type) rather than the tree, so that every
// conversion error and every unknown key is recorded with its key path.
//
// Conversions: strings accept any scalar; integers accept integers,
// integral floats and numeric strings; floats accept numbers and numeric
// strings; booleans accept YAML booleans and the strings "true", "false", "1"
// and "0"; durations accept Go duration strings ("25s", "1h30m") and the
// number 0, never other bare numbers; string lists accept a list of scalars
// or one comma-separated string. A null value leaves the key at its default.
type decoder struct {
	probs *Problems
}

// decode fills cfg, which holds the defaults, from the merged tree raw.
func decode(raw map[string]any, cfg *Config, probs *Problems) {
	d := decoder{probs: probs}
	d.value("", raw, reflect.ValueOf(cfg).Elem())
}

// joinKey appends name to the key path prefix.
func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// value decodes raw into dst; key is dst's key path.
func (d decoder) value(key string, raw any, dst reflect.Value) {
	if raw == nil {
		return
	}
	t := dst.Type()
	switch {
	case t == durationType:
		if v, ok := d.duration(key, raw); ok {
			dst.SetInt(int64(v))
		}
	case t.Kind() == reflect.String:
		if v, ok := d.str(key, raw); ok {
			dst.SetString(v)
		}
	case t.Kind() == reflect.Int:
		if v, ok := d.integer(key, raw); ok {
			dst.SetInt(int64(v))
		}
	case t.Kind() == reflect.Float64:
		if v, ok := d.float(key, raw); ok {
			dst.SetFloat(v)
		}
	case t.Kind() == reflect.Bool:
		if v, ok := d.boolean(key, raw); ok {
			dst.SetBool(v)
		}
	case isStringList(t):
		if v, ok := d.strings(key, raw); ok {
			dst.Set(reflect.ValueOf(v))
		}
	case t.Kind() == reflect.Slice:
		d.list(key, raw, dst)
	case t.Kind() == reflect.Struct:
		d.structure(key, raw, dst)
	case t.Kind() == reflect.Pointer:
		if _, ok := asMap(raw); !ok {
			d.probs.add(key, "must be a map, not %s", describe(raw))
			return
		}
		p := reflect.New(t.Elem())
		if dst.IsNil() {
			p.Elem().Set(elemDefault(t.Elem()))
		} else {
			p.Elem().Set(dst.Elem())
		}
		d.value(key, raw, p.Elem())
		dst.Set(p)
	case t.Kind() == reflect.Map:
		d.mapping(key, raw, dst)
	default:
		panic(fmt.Sprintf("config: key %s has unsupported type %s", key, t))
	}
}

// elemDefault is the value a new map entry, list item or pointer starts
// from before its own keys apply.
func elemDefault(t reflect.Type) reflect.Value {
	switch t {
	case reflect.TypeFor[Namespace]():
		return reflect.ValueOf(DefaultNamespace())
	case reflect.TypeFor[History]():
		return reflect.ValueOf(DefaultHistory())
	}
	return reflect.Zero(t)
}

// asMap returns raw as a map with string keys.
func asMap(raw any) (map[string]any, bool) {
	switch m := raw.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// structure decodes a map into the struct dst, field by koanf tag.
func (d decoder) structure(key string, raw any, dst reflect.Value) {
	m, ok := asMap(raw)
	if !ok {
		d.probs.add(key, "must be a map, not %s", describe(raw))
		return
	}
	t := dst.Type()
	fields := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" {
			fields[tag] = i
		}
	}
	for _, name := range sortedKeys(m) {
		i, ok := fields[name]
		if !ok {
			d.probs.add(joinKey(key, name), "unknown key")
			continue
		}
		d.value(joinKey(key, name), m[name], dst.Field(i))
	}
}

// mapping decodes a map into the Go map dst, merging into entries it holds.
func (d decoder) mapping(key string, raw any, dst reflect.Value) {
	m, ok := asMap(raw)
	if !ok {
		d.probs.add(key, "must be a map, not %s", describe(raw))
		return
	}
	t := dst.Type()
	if dst.IsNil() {
		dst.Set(reflect.MakeMapWithSize(t, len(m)))
	}
	for _, name := range sortedKeys(m) {
		k := reflect.ValueOf(name)
		elem := reflect.New(t.Elem()).Elem()
		if old := dst.MapIndex(k); old.IsValid() {
			elem.Set(old)
		} else {
			elem.Set(elemDefault(t.Elem()))
		}
		d.value(joinKey(key, name), m[name], elem)
		dst.SetMapIndex(k, elem)
	}
}

// list decodes a list of maps into the slice of structs dst, replacing it.
func (d decoder) list(key string, raw any, dst reflect.Value) {
	items, ok := raw.([]any)
	if !ok {
		d.probs.add(key, "must be a list, not %s", describe(raw))
		return
	}
	t := dst.Type()
	out := reflect.MakeSlice(t, len(items), len(items))
	for i, item := range items {
		elemKey := fmt.Sprintf("%s[%d]", key, i)
		out.Index(i).Set(elemDefault(t.Elem()))
		if item == nil {
			d.probs.add(elemKey, "must be a map, not null")
			continue
		}
		d.value(elemKey, item, out.Index(i))
	}
	dst.Set(out)
}

// str converts a scalar to a string.
func (d decoder) str(key string, raw any) (string, bool) {
	switch v := raw.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	}
	if isNumber(raw) {
		return fmt.Sprint(raw), true
	}
	d.probs.add(key, "must be a string, not %s", describe(raw))
	return "", false
}

// integer converts an integer, an integral float or a numeric string.
func (d decoder) integer(key string, raw any) (int, bool) {
	rv := reflect.ValueOf(raw)
	switch {
	case rv.CanInt():
		if n := rv.Int(); n >= math.MinInt && n <= math.MaxInt {
			return int(n), true
		}
	case rv.CanUint():
		if u := rv.Uint(); u <= math.MaxInt {
			return int(u), true
		}
	case rv.CanFloat():
		f := rv.Float()
		if f == math.Trunc(f) && f >= math.MinInt && f <= math.MaxInt {
			return int(f), true
		}
		d.probs.add(key, "must be an integer, not %v", f)
		return 0, false
	case rv.Kind() == reflect.String:
		s := strings.TrimSpace(rv.String())
		if n, err := strconv.Atoi(s); err == nil {
			return n, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && f >= math.MinInt && f <= math.MaxInt {
			return int(f), true
		}
		d.probs.add(key, "invalid integer %q", rv.String())
		return 0, false
	default:
		d.probs.add(key, "must be an integer, not %s", describe(raw))
		return 0, false
	}
	d.probs.add(key, "integer %v out of range", raw)
	return 0, false
}

// float converts a number or a numeric string.
func (d decoder) float(key string, raw any) (float64, bool) {
	rv := reflect.ValueOf(raw)
	switch {
	case rv.CanInt():
		return float64(rv.Int()), true
	case rv.CanUint():
		return float64(rv.Uint()), true
	case rv.CanFloat():
		return rv.Float(), true
	case rv.Kind() == reflect.String:
		f, err := strconv.ParseFloat(strings.TrimSpace(rv.String()), 64)
		if err != nil {
			d.probs.add(key, "invalid number %q", rv.String())
			return 0, false
		}
		return f, true
	}
	d.probs.add(key, "must be a number, not %s", describe(raw))
	return 0, false
}

// boolean converts a boolean or one of the strings true, false, 1, 0.
func (d decoder) boolean(key string, raw any) (bool, bool) {
	switch v := raw.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
		d.probs.add(key, "invalid boolean %q (use true or false)", v)
		return false, false
	}
	d.probs.add(key, "must be true or false, not %s", describe(raw))
	return false, false
}

// duration converts a Go duration string ("25s"), a time.Duration (from
// flags) or the number 0.
func (d decoder) duration(key string, raw any) (time.Duration, bool) {
	switch v := raw.(type) {
	case time.Duration:
		return v, true
	case string:
		dur, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			if _, numErr := strconv.ParseFloat(strings.TrimSpace(v), 64); numErr == nil {
				d.probs.add(key, "invalid duration %q: a number needs a unit, e.g. \"%ss\"", v, strings.TrimSpace(v))
				return 0, false
			}
			d.probs.add(key, "invalid duration %q", v)
			return 0, false
		}
		return dur, true
	}
	if isNumber(raw) {
		if reflect.ValueOf(raw).IsZero() {
			return 0, true
		}
		d.probs.add(key, "invalid duration %v: a number needs a unit, e.g. \"%vs\"", raw, raw)
		return 0, false
	}
	d.probs.add(key, "must be a duration such as \"25s\", not %s", describe(raw))
	return 0, false
}

// strings converts a list of scalars or one comma-separated string. Items of
// a comma-separated string are trimmed and empty items dropped; list items
// are kept as they are.
func (d decoder) strings(key string, raw any) ([]string, bool) {
	switch v := raw.(type) {
	case []string:
		return slices.Clone(v), true
	case string:
		return splitList(v), true
	case []any:
		out := make([]string, 0, len(v))
		ok := true
		for i, item := range v {
			s, good := d.str(fmt.Sprintf("%s[%d]", key, i), item)
			ok = ok && good
			out = append(out, s)
		}
		return out, ok
	}
	d.probs.add(key, "must be a list or a comma-separated string, not %s", describe(raw))
	return nil, false
}

// splitList splits a comma-separated list, trimming items and dropping
// empty ones.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// isNumber reports whether v holds a Go number.
func isNumber(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.CanInt() || rv.CanUint() || rv.CanFloat()
}

// describe names the kind of a raw value for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any, []string:
		return "a list"
	case map[string]any, map[any]any:
		return "a map"
	}
	if isNumber(v) {
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("a %T", v)
}
