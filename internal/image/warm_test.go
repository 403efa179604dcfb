package image

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWarmDecoder: the warm-up reaches every struct type a process record
// holds (each appears in the JSON it decodes), and decoding a record is
// the same after it.
func TestWarmDecoder(t *testing.T) {
	v := reflect.New(reflect.TypeFor[Process]()).Elem()
	fillOne(v, map[reflect.Type]bool{})
	var walk func(reflect.Value, string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), path+"."+v.Type().Field(i).Name)
				}
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			if v.Len() != 1 {
				t.Errorf("%s: %d elements, want 1", path, v.Len())
				return
			}
			walk(v.Index(0), path+"[0]")
		case reflect.Pointer:
			if v.IsNil() {
				t.Errorf("%s: nil", path)
				return
			}
			walk(v.Elem(), path)
		}
	}
	walk(v, "Process")

	rec := []byte(`{"pid":7,"comm":"x","vmas":[{"start":4096,"end":8192}],"fds":[{"num":3,"kind":"file","path":"/a"}],"threads":[{"tid":7}]}`)
	var before Process
	if err := json.Unmarshal(rec, &before); err != nil {
		t.Fatal(err)
	}
	WarmDecoder()
	var after Process
	if err := json.Unmarshal(rec, &after); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("decoded differently after the warm-up:\n%+v\n%+v", before, after)
	}
}
