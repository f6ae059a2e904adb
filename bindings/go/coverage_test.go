package aphelion

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Every function of include/aphelion.h is bound (called by the hand-written layer: C.aph_x or
// its generated helper C.go_aph_x in a .go file, or from callbacks.c) or listed with a reason
// in BINDING_EXCLUSIONS; and every exclusion names a real function that is not bound.
func TestCoverage(t *testing.T) {
	root := sourceDir(t)
	out, err := exec.Command("python3", filepath.Join(root, "tools/aphelion_header.py"), "--functions").Output()
	if err != nil {
		t.Skipf("python3 tools/aphelion_header.py --functions: %v", err)
	}
	header := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		header[f] = true
	}
	if len(header) < 200 {
		t.Fatalf("the header parser listed only %d functions", len(header))
	}

	bound := map[string]bool{}
	goRef := regexp.MustCompile(`\bC\.(?:go_)?(aph_[a-z0-9_]+)\b`)
	cRef := regexp.MustCompile(`\b(?:go_)?(aph_[a-z0-9_]+)\s*\(`)
	files, _ := filepath.Glob("*.go")
	cfiles, _ := filepath.Glob("*.c")
	for _, f := range append(files, cfiles...) {
		if strings.HasSuffix(f, "_test.go") || strings.Contains(f, "generated") {
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		re := goRef
		if strings.HasSuffix(f, ".c") {
			re = cRef
		}
		for _, m := range re.FindAllStringSubmatch(string(text), -1) {
			bound[m[1]] = true
		}
	}
	// The generated helpers read aph_last_error inside each failing call.
	bound["aph_last_error"] = true

	excluded := map[string]string{}
	ef, err := os.Open("BINDING_EXCLUSIONS")
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	sc := bufio.NewScanner(ef)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			t.Errorf("BINDING_EXCLUSIONS: %q has no reason", line)
			continue
		}
		excluded[fields[0]] = strings.Join(fields[1:], " ")
	}

	var missing, stale []string
	for f := range header {
		if !bound[f] && excluded[f] == "" {
			missing = append(missing, f)
		}
	}
	for f := range excluded {
		if !header[f] {
			stale = append(stale, f+" (not in the header)")
		} else if bound[f] {
			stale = append(stale, f+" (bound, yet excluded)")
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("%d header functions are neither bound nor in BINDING_EXCLUSIONS:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("BINDING_EXCLUSIONS entries to remove:\n  %s", strings.Join(stale, "\n  "))
	}
	t.Logf("%d functions: %d bound, %d excluded", len(header), len(header)-len(excluded), len(excluded))
}
