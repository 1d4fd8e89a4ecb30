package pipeline

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// ioCounters is what the kernel counts of this process's reads: bytes
// asked of read calls (rchar), bytes fetched from storage (readBytes), and
// page faults (minflt, majflt: a touched page of a mapped file faults
// once; a major fault waited for the disk). They show what a stage read
// even when its files sit in the page cache, so a benchmark at a size that
// fits the cache still tells what a larger one reads from disk.
type ioCounters struct{ rchar, readBytes, minflt, majflt int64 }

// readIOCounters reads /proc/self/io and /proc/self/stat; zero where they
// cannot be read (not Linux).
func readIOCounters() ioCounters {
	var c ioCounters
	if b, err := os.ReadFile("/proc/self/io"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "rchar":
				c.rchar = n
			case "read_bytes":
				c.readBytes = n
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			// Fields after the command: state is field 3, minflt 10, majflt 12.
			f := strings.Fields(s[i+1:])
			if len(f) > 9 {
				c.minflt, _ = strconv.ParseInt(f[7], 10, 64)
				c.majflt, _ = strconv.ParseInt(f[9], 10, 64)
			}
		}
	}
	return c
}

// logIO logs the reads since before under the stage's name.
func logIO(stage string, before ioCounters) {
	after := readIOCounters()
	slog.Info("reads", "stage", stage, "rchar_mib", (after.rchar-before.rchar)>>20, "read_bytes_mib", (after.readBytes-before.readBytes)>>20,
		"minflt", after.minflt-before.minflt, "majflt", after.majflt-before.majflt)
}
