"""Usage errors carry a stable code (apkscan/cli/usage.py): a pipeline branches on
``Error: USAGE_...:`` while the exit code (2), click's usage line and its message stay."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from conftest import APKS

from apkscan.cli import main
from apkscan.issue_codes import CODES

APK = str(APKS / "clean-v1v2v3.apk")


def _usage(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 2, res.output
    assert "Usage: " in res.output and "--help' for help." in res.output  # click's own lines kept
    return res.output


@pytest.mark.parametrize("args, code, said", [
    (["scan", "--no-store", "--tmp-limit", "abc", APK], "USAGE_BAD_VALUE", "Invalid value for --tmp-limit: not a size"),
    (["scan", "--jobs", "0", APK], "USAGE_BAD_VALUE", "Invalid value for '--jobs'"),
    (["scan", "--resume", "--deep", APK], "USAGE_CONFLICT", "--resume needs the scan store"),
    (["scan", "--resume", "--no-store", APK], "USAGE_CONFLICT", "--resume needs the scan store"),
    (["inspect", "--min-sdk-version", "30", "--max-sdk-version", "20", APK], "USAGE_CONFLICT", "is above"),
    # a negative API level: apksigner refuses it (apksig: "minSdkVersion must not be negative")
    (["inspect", "--min-sdk-version", "-5", APK], "USAGE_BAD_VALUE", "Invalid value for '--min-sdk-version'"),
    (["scan", "--no-store", "--min-sdk-version", "-1", APK], "USAGE_BAD_VALUE", "Invalid value for '--min-sdk-version'"),
    (["scan", "--no-store", "--max-sdk-version", "-1", APK], "USAGE_BAD_VALUE", "Invalid value for '--max-sdk-version'"),
    (["inspect", "--max-sdk-version", "2147483648", APK], "USAGE_BAD_VALUE", "Invalid value for '--max-sdk-version'"),
    (["scan", "--bogus", APK], "USAGE_ERROR", "No such option '--bogus'"),
    (["--bogus"], "USAGE_ERROR", "No such option '--bogus'"),
    (["nosuch"], "USAGE_ERROR", "No such command 'nosuch'"),
])
def test_a_misuse_is_exit_2_with_its_code_leading_the_message(args, code, said):
    out = _usage(*args)
    assert f"Error: {code}: " in out and said in out, out
    assert out.count("USAGE_") == 1  # coded once, whichever layer saw it
    assert code in CODES


@pytest.mark.parametrize("option", ["--tmp-limit", "--json", "--policy"])
def test_an_option_without_its_value_is_a_bad_value(option):
    """Review 71 F11: `--json $OUT` with OUT empty is a missing value (click's BadOptionUsage, which
    carries no usage line), not "anything else"."""
    res = CliRunner().invoke(main, ["scan", APK, option])
    assert res.exit_code == 2
    assert f"Error: USAGE_BAD_VALUE: Option '{option}' requires an argument." in res.output, res.output


def test_an_input_apk_given_as_a_report_file_is_an_output_refused(tmp_path):
    apk = tmp_path / "app.apk"
    shutil.copy(APK, apk)
    before = apk.read_bytes()
    out = _usage("scan", "--no-store", "--json", str(apk), APK)  # `--json app.apk other.apk`: FILE forgotten
    assert f"Error: USAGE_OUTPUT_REFUSED: Invalid value for '--json': {apk} is an existing APK" in out, out
    assert apk.read_bytes() == before


def test_a_report_inside_an_input_folder_is_an_output_refused(tmp_path):
    folder = tmp_path / "evidence"
    folder.mkdir()
    shutil.copy(APK, folder / "app.apk")
    out = _usage("scan", "--no-store", "--csv", str(folder / "r.csv"), str(folder))
    assert "Error: USAGE_OUTPUT_REFUSED: " in out, out
    assert sorted(p.name for p in folder.iterdir()) == ["app.apk"]


def test_no_arguments_still_show_the_help():
    res = CliRunner().invoke(main, [])
    assert res.exit_code == 2 and "Commands:" in res.output and "USAGE_" not in res.output.split("Exit codes:")[0]
