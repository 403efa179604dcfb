package main

import "sync"

// measurement is every figure of one size, which all of that size's
// benchmarks report from; skip says why none was measured ("" if they were).
type measurement interface{ skip() string }

// measuredOnce measures one size once, on behalf of the first of its
// benchmarks to run, for all of them.
type measuredOnce[M measurement] struct {
	once    sync.Once
	m       M
	err     error
	measure func(*config) (M, error)
}

func (o *measuredOnce[M]) report(judge func(M) result) func(*config) (result, error) {
	return func(cfg *config) (result, error) {
		o.once.Do(func() { o.m, o.err = o.measure(cfg) })
		if o.err != nil {
			return result{}, o.err
		}
		if why := o.m.skip(); why != "" {
			return result{skipped: why}, nil
		}
		return judge(o.m), nil
	}
}

// tooBig says why a size cannot be measured with the memory available
// ("" if it can).
func tooBig(mib int) (string, error) {
	avail, err := memAvailable()
	if err != nil || mib < bigMiB || avail > bigMemAvailable {
		return "", err
	}
	return "needs more than " + gib(bigMemAvailable) + " of available memory, there is " + gib(avail), nil
}
