"""Which file a policy name opens (review 27 F1): a bare name is the shipped policy only.

An evidence folder (a pulled device tree, a backup unpacked by someone else) may hold a file
named like a shipped policy; running ``apkscan scan .`` inside it must not let that file
pick the verdicts, the default policy included. Only a path-like argument opens a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apkscan.policy.loader import is_path_like, policy_dir, resolve
from apkscan.rules.loader import RulesInvalid

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"

ALLOW_ALL = """schema: apkscan-policy/1
policy: {name}
version: "1"
default: allowed
decisions:
  - id: planted
    verdict: allowed
    when: any
    text: "looks like the real decision"
"""


def signed_apk(dest: Path, package: str, label: str, key: str) -> Path:
    """An APK built by fixtures/generate.py and signed (v1+v2) with a test key."""
    from cli_helpers import generate_module

    generate = generate_module()
    work = dest.parent / f"work-{dest.stem}"
    work.mkdir(parents=True)
    unsigned = generate.build_unsigned(generate.App(package, label))
    dest.write_bytes(generate.sign(unsigned, work, [key], v1=True, v2=True, v3=False, min_sdk=21))
    shutil.rmtree(work)
    return dest


def apkscan(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(cwd.parent / "cache"))
    return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    """A folder with a WeChat impostor and files named like shipped policies (one a folder)."""
    folder = tmp_path_factory.mktemp("pol") / "evidence"
    folder.mkdir()
    signed_apk(folder / "wechat.apk", "com.tencent.mm", "WeChat", "impostor")
    for name in ("canada-tbs-2023", "us-dhs-bod-17-01"):
        (folder / name).write_text(ALLOW_ALL.format(name=name), encoding="utf-8")
    (folder / "us-commerce-kaspersky-2024").mkdir()
    (folder / "my-org").write_text(ALLOW_ALL.format(name="my-org"), encoding="utf-8")
    return folder


def test_default_policy_is_the_shipped_one_whatever_the_cwd_holds(evidence):
    res = apkscan(evidence, "scan", "--no-store", "wechat.apk", "--json", "../out.json")
    assert res.returncode == 1, res.stderr
    doc = json.loads((evidence.parent / "out.json").read_text(encoding="utf-8"))
    assert doc["apps"][0]["verdict"] == "prohibited"
    assert doc["apps"][0]["policy"]["decision"] == "tbs-2023-10-wechat"
    assert Path(doc["policy"]["path"]) == policy_dir() / "canada-tbs-2023.yaml"


def test_named_policy_and_policies_commands_ignore_the_cwd(evidence):
    res = apkscan(evidence, "scan", "--no-store", "-q", "wechat.apk", "--policy", "us-dhs-bod-17-01",
                  "--policy", "canada-tbs-2023", "--policy", "us-commerce-kaspersky-2024")
    assert res.returncode == 1, res.stderr  # a folder of a shipped name is no "cannot read" either
    shown = apkscan(evidence, "policies", "show", "canada-tbs-2023")
    assert shown.returncode == 0 and "tbs-2023-10-wechat: prohibited" in shown.stdout
    assert "planted: allowed" not in shown.stdout
    tested = apkscan(evidence, "policies", "test", "canada-tbs-2023", "us-dhs-bod-17-01")
    assert tested.returncode == 0 and " 0 failed" in tested.stdout, tested.stdout


def test_a_path_opens_the_file(evidence):
    res = apkscan(evidence, "scan", "--no-store", "-q", "wechat.apk", "--policy", "./my-org")
    assert res.returncode == 0, res.stderr  # the operator asked for that file: allowed by it
    # a file taking a shipped policy's name with other content is opened, and refused: it would
    # show the shipped measure's name and citation (review 64 F6)
    res = apkscan(evidence, "scan", "--no-store", "-q", "wechat.apk", "--policy", "./canada-tbs-2023")
    assert res.returncode == 2 and "canada-tbs-2023:2: policy name 'canada-tbs-2023' is a shipped policy's" in res.stderr


def test_bare_name_of_a_local_file_is_refused_with_a_hint(evidence, monkeypatch):
    res = apkscan(evidence, "scan", "--no-store", "-q", "wechat.apk", "--policy", "my-org")
    assert res.returncode == 2
    assert "no such policy" in res.stderr and "./my-org" in res.stderr
    monkeypatch.chdir(evidence)
    with pytest.raises(RulesInvalid) as info:
        resolve("my-org")
    assert info.value.errors[0].code == "POLICY_NOT_FOUND"


@pytest.mark.parametrize("arg, path_like", [
    ("canada-tbs-2023", False), ("my-org", False), ("./my-org", True), ("dir/my-org", True),
    ("my-org.yaml", True), ("my-org.YML", True), ("/abs/policy", True), ("..", False),
])
def test_path_like(arg, path_like):
    assert is_path_like(arg) is path_like


def test_bare_names_never_leave_the_shipped_folder():
    for name in ("..", ".", "policies", ""):
        with pytest.raises(RulesInvalid):
            resolve(name)


# --- review 32 #9: spellings that Path() normalises into another file -----------------------------

@pytest.mark.parametrize("arg, hint", [
    ("canada-tbs-2023/", "--policy canada-tbs-2023"),   # a trailing slash: the planted cwd file before
    ("canada-tbs-2023/.", "--policy canada-tbs-2023"),  # Path() dropped the "." too
    ("my-org/", "./my-org"),
    ("us-commerce-kaspersky-2024", None),               # a folder named like a shipped policy: the shipped one
    ("./us-commerce-kaspersky-2024", "--policy us-commerce-kaspersky-2024"),  # the folder, as a path
])
def test_a_spelling_that_is_no_file_is_refused(evidence, monkeypatch, arg, hint):
    monkeypatch.chdir(evidence)
    if hint is None:
        assert resolve(arg) == policy_dir() / f"{arg}.yaml"
        return
    with pytest.raises(RulesInvalid) as info:
        resolve(arg)
    assert info.value.errors[0].code == "POLICY_NOT_FOUND" and hint in info.value.errors[0].message


def test_trailing_slash_never_opens_the_planted_file(evidence):
    """The reviewer's command: the planted allow-all file was the policy, under the shipped
    policy's title (1 allowed, rc 0); now refused (rc 2) and the shipped name is the hint."""
    res = apkscan(evidence, "scan", "--no-store", "-q", "wechat.apk", "--policy", "canada-tbs-2023/")
    assert res.returncode == 2 and "not a policy file" in res.stderr, res.stderr
    assert "--policy canada-tbs-2023" in res.stderr and "./canada-tbs-2023" in res.stderr


def test_odd_spellings(evidence, monkeypatch, tmp_path):
    """``~`` is expanded as a shell would; a backslash on POSIX is a name character, so a bare
    ``canada-tbs-2023\\`` is no shipped name (refused, never the cwd file)."""
    monkeypatch.chdir(evidence)
    home = tmp_path / "home"
    home.mkdir()
    (home / "org.yaml").write_text(ALLOW_ALL.format(name="org"), encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    assert resolve("~/org.yaml") == home / "org.yaml"
    if os.sep == "/":
        with pytest.raises(RulesInvalid) as info:
            resolve("canada-tbs-2023\\")
        assert info.value.errors[0].code == "POLICY_NOT_FOUND"
    assert resolve("./canada-tbs-2023") == Path("canada-tbs-2023")  # asked for as a path: that file
