package pairbench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	for q, want := range map[float64]float64{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := Percentile(d, q); got != want {
			t.Errorf("Percentile(%v) = %v, want %v", q, got, want)
		}
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("Percentile of nothing")
	}
}

func TestStealReadsTheMachine(t *testing.T) {
	m := StartSteal()
	if _, _, ok := cpuTimes(); !ok {
		if p := m.Percent(); p != -1 {
			t.Fatalf("without /proc/stat Percent = %v, want -1", p)
		}
		t.Skip("no /proc/stat here")
	}
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
	}
	if p := m.Percent(); p < 0 || p > 100 {
		t.Fatalf("steal = %v%%, want a share", p)
	}
}
