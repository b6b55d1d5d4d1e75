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

func TestParseCPUTimes(t *testing.T) {
	stat := []byte("cpu  2938801 4324 741617 7248487 108119 0 100367 30197 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	steal, total, ok := parseCPUTimes(stat)
	if !ok || steal != 30197 || total != 2938801+4324+741617+7248487+108119+0+100367+30197 {
		t.Fatalf("parseCPUTimes = %d, %d, %v", steal, total, ok)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "intr 1 2 3 4 5 6 7 8 9\n", "cpu 1 2 3 4 5 6 7 x 0\n"} {
		if _, _, ok := parseCPUTimes([]byte(bad)); ok {
			t.Errorf("parseCPUTimes(%q) accepted", bad)
		}
	}
}
