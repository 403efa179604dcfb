package blcr

import "testing"

func TestLastValue(t *testing.T) {
	args := []string{"--run-on-failure=echo any", "-f", "--run-on-fail-env=x", "img",
		"--run-on-fail-env", "echo env", "--", "--run-on-fail-env=late"}
	if v, ok := LastValue(args, "--run-on-fail-env", "--run-on-failure"); !ok || v != "echo env" {
		t.Errorf("env hook = %q, %v", v, ok)
	}
	if v, ok := LastValue(args, "--run-on-fail-temp", "--run-on-failure"); !ok || v != "echo any" {
		t.Errorf("temp hook = %q, %v", v, ok)
	}
	if _, ok := LastValue(args, "--run-on-success"); ok {
		t.Error("found an option that is not there")
	}
}
