package cli

import (
	"reflect"
	"testing"
)

func TestArgs(t *testing.T) {
	valued := map[string]bool{"-f": true, "--interval": true}
	for _, c := range []struct {
		in, want []string
		valued   map[string]bool
	}{
		{[]string{"ls", "-d", "/tmp"}, []string{"--", "ls", "-d", "/tmp"}, valued},
		{[]string{"-f", "ck", "echo", "-f", "hello"}, []string{"-f", "ck", "--", "echo", "-f", "hello"}, valued},
		{[]string{"--interval", "1s", "echo", "--version"}, []string{"--interval", "1s", "--", "echo", "--version"}, valued},
		{[]string{"-?"}, []string{"--help"}, valued},
		{[]string{"--", "-x"}, []string{"--", "-x"}, valued},
		{[]string{"-?", "-q", "123"}, []string{"--help", "-q", "123"}, nil},
		{[]string{"abc", "-?"}, []string{"abc", "--help"}, nil},
	} {
		if got := Args(c.in, c.valued); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Args(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
