package main

import (
	"testing"

	"github.com/alecthomas/kong"

	"stasis/restart"
)

func TestPidFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want restart.PidMode
		bad  bool
	}{
		{nil, restart.PidsRestore, false},
		{[]string{"--restore-pid"}, restart.PidsRestore, false},
		{[]string{"--no-restore-pid"}, restart.PidsNew, false},
		{[]string{"--restore-pid=strict"}, restart.PidsStrict, false},
		{[]string{"--no-restore-pid", "--restore-pid=strict"}, restart.PidsStrict, false},
		{[]string{"--restore-pid=strict", "--no-restore-pid"}, restart.PidsNew, false},
		{[]string{"--restore-pid=sometimes"}, 0, true},
	} {
		var c struct {
			RestorePid pidFlag `negatable:""`
		}
		p, err := kong.New(&c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Parse(tc.args)
		if tc.bad {
			if err == nil {
				t.Errorf("%v: accepted", tc.args)
			}
			continue
		}
		if err != nil || restart.PidMode(c.RestorePid) != tc.want {
			t.Errorf("%v: got %v, %v; want %v", tc.args, c.RestorePid, err, tc.want)
		}
	}
}
