"""Loading, versions, the generated declarations and the install paths."""
import os
import subprocess
import sys

import aphelion


def test_versions():
    assert aphelion.__version__ == "0.2.0"
    assert aphelion.library_version_info[:2] == (0, 2)
    assert aphelion.library_version == "%d.%d.%d" % aphelion.library_version_info
    assert os.path.exists(aphelion.library_path) or aphelion.library_path.startswith("libaphelion")


def test_expected_package_and_library():
    """The runner says which copy must be in use: installed package, bundled library."""
    pkg = os.path.dirname(os.path.abspath(aphelion.__file__))
    if os.environ.get("APHELION_TEST_EXPECT_PACKAGE"):
        assert pkg == os.path.abspath(os.environ["APHELION_TEST_EXPECT_PACKAGE"])
    if os.environ.get("APHELION_TEST_EXPECT_INSTALLED"):
        assert "site-packages" in pkg, pkg
    if os.environ.get("APHELION_TEST_EXPECT_BUNDLED"):
        assert os.path.realpath(aphelion.library_path).startswith(os.path.realpath(pkg)), aphelion.library_path
        assert "APHELION_LIBRARY" not in os.environ


def _import_with(env_lib):
    env = dict(os.environ, APHELION_LIBRARY=env_lib)
    return subprocess.run([sys.executable, "-c", "import aphelion"], env=env, capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(aphelion.__file__))))


def test_missing_library_message():
    r = _import_with("/nonexistent/libaphelion.so.0")
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr and "/nonexistent/libaphelion.so.0" in r.stderr
    assert "APHELION_LIBRARY" in r.stderr


def test_raw_covers_header():
    from aphelion import _generated

    assert len(_generated.FUNCTIONS) > 250
    assert aphelion.raw.aph_dtype_size(int(aphelion.DType.F32)) == 4
    assert "aph_tensor_create" in dir(aphelion.raw)


def test_open_enums_take_unknown_values():
    s = aphelion.Status(1234)
    assert int(s) == 1234 and "1234" in s.name
    assert aphelion.DType(77) == 77
    assert aphelion.status_name(1234) == "APH_ERR_UNKNOWN"
    assert aphelion.error_class(1234) is aphelion.Error
