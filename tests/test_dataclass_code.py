"""The dataclass methods compiled ahead (apkscan/dataclass_code.py): current, used, and alike.

A method taken from the table must be the very code ``dataclasses`` would have compiled: the
classes below are built once from the table and once by ``dataclasses`` itself, and every
behaviour users or apkscan can see is compared.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from dataclasses import InitVar, field
from typing import ClassVar

import pytest

from apkscan import dataclass_code, dataclass_code_table
from apkscan.dataclass_code_gen import table_source

pytestmark = pytest.mark.skipif(sys.version_info[:2] not in dataclass_code.SUPPORTED,
                                reason="dataclass_code installs itself on CPython 3.11 and 3.12 only")
same_python = pytest.mark.skipif(dataclass_code_table.PYTHON != sys.version_info[:2],
                                 reason="the table was written by another Python: its texts may differ")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@same_python
def test_the_table_holds_every_method_of_every_apkscan_class():
    """A class added or changed without ``--write`` fails here (and would be compiled at start-up)."""
    done = subprocess.run([sys.executable, "-m", "apkscan.dataclass_code_gen", "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@same_python
def test_a_scan_process_compiles_no_method_of_its_own():
    """Every method ``@dataclass`` makes for apkscan's classes on the scan path comes from the table."""
    done = _run("import dataclasses, apkscan.dataclass_code as d\n"
                "made = []\n"
                "orig = dataclasses._create_fn\n"
                "def spy(*a, **k):\n"
                "    made.append((k.get('globals') or {}).get('__name__', ''))\n"
                "    return orig(*a, **k)\n"
                "dataclasses._create_fn = spy\n"
                "import apkscan.scan, apkscan.cli.scan_cmd, apkscan.apk.identify, apkscan.report.html\n"
                "ours = [m for m in made if m.startswith('apkscan')]\n"
                "print(len(ours), d.hits)\n")
    assert done.returncode == 0, done.stderr
    ours, hits = map(int, done.stdout.split())
    assert ours > 300 and hits == ours


def _shapes() -> dict[str, type]:
    """Classes of every shape dataclasses writes differently (built anew at each call)."""

    @dataclasses.dataclass
    class Plain:
        a: int
        b: str = "x"
        c: list[int] = field(default_factory=list)
        d: ClassVar[int] = 3
        e: int = field(default=0, repr=False, compare=False)

    @dataclasses.dataclass(frozen=True, slots=True, order=True)
    class Frozen:
        a: int
        b: tuple[int, ...] = ()

    @dataclasses.dataclass(unsafe_hash=True, kw_only=True)
    class KwOnly:
        a: int
        self: str = "named self"

    @dataclasses.dataclass(eq=False)
    class Post:
        a: int
        scale: InitVar[int] = 2
        doubled: int = field(init=False, default=0)

        def __post_init__(self, scale: int) -> None:
            self.doubled = self.a * scale

    return {c.__name__: c for c in (Plain, Frozen, KwOnly, Post)}


def _behaviour(classes: dict[str, type]) -> list[object]:
    """What anyone can observe of the classes: values, texts, comparisons, hashes, errors."""
    P, F, K, Q = classes["Plain"], classes["Frozen"], classes["KwOnly"], classes["Post"]
    seen: list[object] = []

    def attempt(fn):
        try:
            seen.append(("ok", fn()))
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            seen.append((type(exc).__name__, str(exc)))

    p = P(1)
    seen += [repr(p), p == P(1), p == P(1, e=9), p == P(2), P(1).c is not P(1).c, p.b, p.e]
    attempt(lambda: P())
    attempt(lambda: P(1, 2, 3, 4, 5))
    f = F(1, (2,))
    seen += [repr(f), f < F(2), f <= F(1, (2,)), hash(f) == hash(F(1, (2,))), F.__slots__]
    attempt(lambda: setattr(f, "a", 5))
    attempt(lambda: delattr(f, "b"))
    k = K(a=1)
    seen += [repr(k), hash(k) == hash(K(a=1)), k.self]
    attempt(lambda: K(1))
    q = Q(4, 3)
    seen += [repr(q), q.doubled, q == Q(4, 3), Q(4).doubled]
    for cls in (P, F, K, Q):
        seen.append(str(inspect.signature(cls)))
        for name in ("__init__", "__repr__", "__eq__", "__lt__", "__hash__", "__setattr__"):
            fn = cls.__dict__.get(name)
            if inspect.isfunction(fn):
                seen.append((cls.__name__, name, fn.__qualname__, fn.__module__, sorted(fn.__annotations__)))
    return seen


def test_classes_from_the_table_behave_as_dataclasses_makes_them(monkeypatch):
    dataclass_code.uninstall()
    try:
        expected = _behaviour(_shapes())
    finally:
        dataclass_code.install()
    monkeypatch.setattr(dataclass_code, "recording", [])
    _shapes()
    texts = [text for _module, text in dataclass_code.recording]
    namespace: dict[str, object] = {}
    exec(compile(table_source(texts), "<test table>", "exec", dont_inherit=True), namespace)  # as a module is
    monkeypatch.setattr(dataclass_code, "recording", None)
    monkeypatch.setattr(dataclass_code, "_table", namespace["TABLE"])
    before = dataclass_code.hits
    got = _behaviour(_shapes())
    assert dataclass_code.hits - before == len(texts) >= 15  # every method came from the table
    assert got == expected


def test_a_text_not_in_the_table_is_compiled_as_dataclasses_does(monkeypatch):
    monkeypatch.setattr(dataclass_code, "_table", {})
    before = dataclass_code.hits
    got = _behaviour(_shapes())
    assert dataclass_code.hits == before
    dataclass_code.uninstall()
    try:
        assert got == _behaviour(_shapes())
    finally:
        dataclass_code.install()


class _Wrapper:  # another tool's wrapper: a callable object, no __code__
    def __call__(self, *args, **kwargs):
        raise AssertionError("not called")


def _another_shape(name, args, body, *, globals=None, locals=None):  # another signature
    raise AssertionError("not called")


@pytest.mark.parametrize("other", [_another_shape, _Wrapper()])
def test_nothing_is_installed_over_a_create_fn_of_another_shape(monkeypatch, other):
    dataclass_code.uninstall()
    try:
        monkeypatch.setattr(dataclasses, "_create_fn", other)
        dataclass_code.install()
        assert dataclasses._create_fn is other
    finally:
        monkeypatch.undo()
        dataclass_code.install()
    assert dataclasses._create_fn is dataclass_code._create_fn
