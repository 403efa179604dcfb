package image

import (
	"encoding/json"
	"reflect"
)

// WarmDecoder prepares what encoding/json learns on the first decoding
// of a process record: the fields of every struct type it holds, found
// by reflection once per type (about half of the first record's decoding
// time). A command that is about to read an image calls it on a
// goroutine of its own, while it does other work; decoding is the same
// with or without it.
func WarmDecoder() {
	v := reflect.New(reflect.TypeFor[Process]()).Elem()
	fillOne(v, map[reflect.Type]bool{})
	b, err := json.Marshal(v.Addr().Interface())
	if err != nil {
		return
	}
	var p Process
	json.Unmarshal(b, &p)
}

// fillOne gives every slice and pointer within v one element, so that
// the JSON of v holds every struct type of v's type. seen stops at a
// type that holds itself.
func fillOne(v reflect.Value, seen map[reflect.Type]bool) {
	t := v.Type()
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				fillOne(v.Field(i), seen)
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return // []byte is a base64 string
		}
		v.Set(reflect.MakeSlice(t, 1, 1))
		fillOne(v.Index(0), seen)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fillOne(v.Index(i), seen)
		}
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		fillOne(v.Elem(), seen)
	}
}
