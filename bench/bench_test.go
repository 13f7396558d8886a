package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndBounds(t *testing.T) {
	var calls atomic.Int64
	res, err := Run(context.Background(), Options{Concurrency: 4, Duration: time.Minute, Requests: 100}, func(context.Context) error {
		calls.Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 4 warm-up requests, then exactly the 100 measured.
	if res.Requests != 100 || res.Errors != 0 || calls.Load() != 104 {
		t.Fatalf("requests %d errors %d calls %d, want 100, 0, 104", res.Requests, res.Errors, calls.Load())
	}
	if res.Percentile(0.5) > res.Percentile(0.99) || res.Percentile(0.99) > res.Max() || res.RequestsPerSecond() <= 0 {
		t.Errorf("percentiles out of order: %v %v %v", res.Percentile(0.5), res.Percentile(0.99), res.Max())
	}
}

func TestRunReportsErrors(t *testing.T) {
	var n atomic.Int64
	boom := errors.New("boom")
	res, err := Run(context.Background(), Options{Concurrency: 2, Requests: 50}, func(context.Context) error {
		if n.Add(1) > 2 && n.Load()%5 == 0 {
			return boom
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || !errors.Is(res.FirstErr, boom) || res.Requests+res.Errors != 50 {
		t.Fatalf("requests %d errors %d first %v", res.Requests, res.Errors, res.FirstErr)
	}
}

func TestWarmupFailureStopsTheRun(t *testing.T) {
	_, err := Run(context.Background(), Options{Concurrency: 3, Requests: 10}, func(context.Context) error {
		return errors.New("connection refused")
	})
	if err == nil || err.Error() != "warm-up request failed: connection refused" {
		t.Fatalf("got %v", err)
	}
}

func TestPercentiles(t *testing.T) {
	r := &Result{}
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := r.Percentile(tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p*100, got, tt.want)
		}
	}
}
