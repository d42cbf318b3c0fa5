"""Type-checks firmware files with basedpyright against one port's MicroPython stubs.

`micropython-rp2-stubs` and `micropython-esp32-stubs` both install their modules at the
top of site-packages, so in one environment the second overwrites the first's shared
files (machine.pyi, time.pyi, ...). Each port therefore gets its own folder,
<venv>/stubs/<port>-<version>, holding exactly that port's distribution plus
`micropython-stdlib-stubs` (which replaces the CPython typeshed). The folder is made
from the installed files when they are intact (checked against the wheel's RECORD
hashes), else with `pip install --target` once. basedpyright then runs with
`typeshedPath` and `stubPath` both pointing at that folder.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .paths import FIRMWARE

PORTS = ("rp2", "esp32")
STDLIB_DIST = "micropython-stdlib-stubs"


def _intact(dist: metadata.Distribution) -> bool:
    for f in dist.files or []:
        if f.hash is None or f.hash.mode != "sha256":
            continue
        p = Path(str(dist.locate_file(f)))
        try:
            digest = hashlib.sha256(p.read_bytes()).digest()
        except OSError:
            return False
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != f.hash.value:
            return False
    return True


def _copy_dist(dist: metadata.Distribution, dest: Path):
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if not parts or parts[0].endswith(".dist-info") or parts[0] == ".." or f.suffix == ".pyc":
            continue
        target = dest / Path(str(f))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(dist.locate_file(f)), target)


def port_stubs(port: str) -> Path:
    """The folder with `port`'s stubs and the MicroPython stdlib stubs, made once."""
    name = f"micropython-{port}-stubs"
    try:
        dist = metadata.distribution(name)
        std = metadata.distribution(STDLIB_DIST)
    except metadata.PackageNotFoundError as e:
        raise RuntimeError(f"{e.name} is not installed: pip install -e '.[dev]'") from None
    root = Path(sys.prefix) / "stubs" / f"{port}-{dist.version}-{std.version}"
    if (root / ".complete").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{port}-", dir=root.parent))
    try:
        if _intact(dist) and _intact(std):
            _copy_dist(std, tmp)
            _copy_dist(dist, tmp)
        else:
            proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                   "--disable-pip-version-check", "--target", str(tmp),
                                   f"{name}=={dist.version}", f"{STDLIB_DIST}=={std.version}"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"could not fetch {name}=={dist.version} into its own folder"
                                   f" (the installed copy was overwritten by another port's"
                                   f" stubs):\n{proc.stderr.strip()[-1500:]}")
        (tmp / ".complete").touch()
        try:
            os.rename(tmp, root)
        except OSError:   # made meanwhile by another process
            pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def basedpyright_binary() -> str:
    here = Path(sys.executable).with_name("basedpyright")
    return str(here) if here.exists() else (shutil.which("basedpyright") or "basedpyright")


def check(files, port: str, extra_paths=(FIRMWARE,)) -> list[dict]:
    """basedpyright's diagnostics (errors and warnings) for `files` on `port`."""
    stubs = port_stubs(port)
    cfg = {
        "typeshedPath": str(stubs),
        "stubPath": str(stubs),
        "extraPaths": [str(p) for p in extra_paths],
        "pythonVersion": "3.11",
        "pythonPlatform": "Linux",
        "typeCheckingMode": "standard",
        "reportMissingModuleSource": "none",
    }
    with tempfile.TemporaryDirectory(prefix=f"retrostep-pyright-{port}-") as tmp:
        conf = Path(tmp) / "pyrightconfig.json"
        conf.write_text(json.dumps(cfg))
        proc = subprocess.run([basedpyright_binary(), "-p", str(conf), "--outputjson",
                               *[str(f) for f in files]], capture_output=True, text=True)
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"basedpyright failed (exit {proc.returncode}):"
                           f" {proc.stderr.strip() or proc.stdout.strip()}") from None
    return [d for d in out.get("generalDiagnostics", []) if d.get("severity") in ("error", "warning")]


def describe(diags: list[dict]) -> str:
    lines = []
    for d in diags:
        r = d.get("range", {}).get("start", {})
        msg = d.get("message", "").splitlines()[0]
        lines.append(f"{d.get('file')}:{r.get('line', 0) + 1}:{r.get('character', 0) + 1}:"
                     f" {d.get('severity')}: {msg} [{d.get('rule', '')}]")
    return "\n".join(lines)
