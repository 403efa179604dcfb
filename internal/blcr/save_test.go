package blcr

import "testing"

func TestSaveOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want Saved
	}{
		{nil, Saved{}},
		{[]string{"--save-exe", "42"}, Saved{Exe: true}},
		{[]string{"--save-exe", "--save-shared"}, Saved{Exe: true, Shared: true}},
		{[]string{"--save-all", "--save-none", "--save-private"}, Saved{Private: true}},
		{[]string{"--save-private", "--save-all"}, Saved{true, true, true}},
		{[]string{"--save-all", "--save-none"}, Saved{}},
		{[]string{"-f", "--save-all", "--save-exe"}, Saved{Exe: true}}, // a file named --save-all
		{[]string{"--save-exe", "--", "--save-all"}, Saved{Exe: true}},
	} {
		if got := SaveOptions(c.args); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.args, got, c.want)
		}
	}
}
