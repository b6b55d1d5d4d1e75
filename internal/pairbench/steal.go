package pairbench

import (
	"bytes"
	"os"
	"strconv"
)

// Steal measures the share of the machine's CPU time its hypervisor gave
// to other guests (the "steal" of /proc/stat) while a benchmark ran. On a
// shared virtual machine it is the noise a latency's tail is most exposed
// to: a p99 measured while a quarter of the CPU was stolen is not the
// code's. Start it where the measured loop starts and report Percent with
// the figures. Where /proc/stat cannot be read (not Linux) it reports -1.
type Steal struct {
	steal, total uint64
	ok           bool
}

// StartSteal reads the machine's CPU times now.
func StartSteal() Steal {
	s, t, ok := cpuTimes()
	return Steal{steal: s, total: t, ok: ok}
}

// Percent is the stolen share of the CPU time since StartSteal, in percent.
func (m Steal) Percent() float64 {
	s, t, ok := cpuTimes()
	if !ok || !m.ok || t <= m.total {
		return -1
	}
	return 100 * float64(s-m.steal) / float64(t-m.total)
}

// cpuTimes reads the stolen and total ticks of all CPUs from /proc/stat.
func cpuTimes() (steal, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	return parseCPUTimes(b)
}

// parseCPUTimes reads the first line of /proc/stat, "cpu user nice system
// idle iowait irq softirq steal ...": the eighth figure is the steal, the
// first eight the total (guest time is counted in user already).
func parseCPUTimes(stat []byte) (steal, total uint64, ok bool) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:9] {
		n, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i == 7 {
			steal = n
		}
	}
	return steal, total, true
}
