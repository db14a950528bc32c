"""The Makefile on a fresh machine: `make run` builds the tracer in the same
command that installs clang, bpftool and libbpf-dev.

Nothing here depends on what this machine has installed. Every tool the
Makefile calls is a shim in tmp_path that logs its arguments and writes the
file it is asked for: the compiler (CC), the Python that runs the harness
(PYTHON), and the package installer (DEPS). The BPF tools (CLANG, BPFTOOL),
Go (GO) and the headers of libbpf and libdwfl (LIBBPF_H, LIBDWFL_H) have names no
machine has, and the fake deps
creates them: before it runs they are absent, as on a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Logs "<tool> <args>" and creates the file after -o, as a compiler would.
TOOL = """#!/bin/sh
if [ "$1" = -dumpmachine ]; then echo x86_64-linux-gnu; exit 0; fi
echo "$(basename "$0") $*" >> "{log}"
out=""
while [ $# -gt 0 ]; do
    [ "$1" = -o ] && out="$2"
    shift
done
[ -z "$out" ] || { : > "$out"; chmod +x "$out"; }
exit 0
"""

# Installs the BPF tools: copies the shim under their names, writes the header.
DEPS = """#!/bin/sh
echo "deps" >> "{log}"
cp "{bin}/fake-cc" "{bin}/fresh-clang"
cp "{bin}/fake-cc" "{bin}/fresh-bpftool"
cp "{bin}/fake-cc" "{bin}/fresh-go"
mkdir -p "{inc}" && : > "{inc}/libbpf.h" && : > "{inc}/libdwfl.h"
"""


def _shim(path: Path, text: str, **fmt: Path) -> None:
    for key, value in fmt.items():
        text = text.replace("{" + key + "}", str(value))
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fresh(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("needs make")
    bin_dir, inc, log = tmp_path / "bin", tmp_path / "include", tmp_path / "calls.log"
    bin_dir.mkdir()
    fmt = {"log": log, "bin": bin_dir, "inc": inc}
    _shim(bin_dir / "fake-cc", TOOL, **fmt)
    _shim(bin_dir / "fake-python", TOOL, **fmt)
    _shim(bin_dir / "fake-deps", DEPS, **fmt)
    _shim(bin_dir / "no-deps", '#!/bin/sh\necho deps >> "{log}"\n', **fmt)

    def make(*targets: str, deps: str = "fake-deps") -> tuple[subprocess.CompletedProcess, str]:
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
        env.pop("MAKEFLAGS", None)
        env.pop("MAKELEVEL", None)
        cp = subprocess.run(
            ["make", "-C", str(REPO), "--no-print-directory", *targets,
             f"BUILD={tmp_path / 'build'}", "CC=fake-cc", "PYTHON=fake-python",
             "CLANG=fresh-clang", "BPFTOOL=fresh-bpftool", "GO=fresh-go",
             f"LIBBPF_H={inc}/libbpf.h",
             f"LIBDWFL_H={inc}/libdwfl.h", f"DEPS={bin_dir / deps}"],
            env=env, capture_output=True, text=True, timeout=120)
        return cp, log.read_text() if log.exists() else ""

    assert shutil.which("fresh-clang") is None
    return make


def _calls(log: str, tool: str) -> list[str]:
    return [ln for ln in log.splitlines() if ln.split(" ", 1)[0] == tool]


@pytest.mark.parametrize("target", ["run", "test", "bench"])
def test_tracer_built_in_the_make_that_installs_its_tools(fresh, target):
    cp, log = fresh(target)
    assert cp.returncode == 0, cp.stderr
    lines = log.splitlines()
    assert lines[0] == "deps"
    assert "SKIP" not in cp.stdout + cp.stderr
    # vmlinux.h, every skeleton, the loader: the whole BPF chain ran.
    assert any("btf dump file" in ln for ln in _calls(log, "fresh-bpftool"))
    assert any("gen skeleton" in ln for ln in _calls(log, "fresh-bpftool"))
    assert any("-target bpf" in ln for ln in _calls(log, "fresh-clang"))
    linked = [i for i, ln in enumerate(lines)
              if ln.startswith("fake-cc") and ln.endswith("/build/schedtrace")]
    assert linked, "schedtrace was not linked"
    # the Go peer too: deps installed Go, the second make found it
    assert any(ln.endswith("/build/peers/gotasks") or "/build/peers/gotasks " in ln
               for ln in _calls(log, "fresh-go"))
    harness = [i for i, ln in enumerate(lines) if ln.startswith("fake-python -m")]
    assert harness and linked[0] < harness[0]
    if target == "run":
        assert "fake-python -m harness run configs/default.toml" in log


def test_without_the_tools_the_build_says_why(fresh):
    # The same command when deps installs nothing: the userspace builds, the
    # tracer is named as skipped with the fix, and the run still happens.
    cp, log = fresh("run", deps="no-deps")
    assert cp.returncode == 0, cp.stderr
    assert "SKIP     schedtrace: needs clang, bpftool, libbpf-dev and libdw-dev" in cp.stdout
    assert "SKIP     peers/go: needs Go (Debian: golang-go" in cp.stdout
    assert not _calls(log, "fresh-bpftool")
    assert any(ln.endswith("/build/workload") for ln in _calls(log, "fake-cc"))
    assert "fake-python -m harness run configs/default.toml" in log


def test_run_takes_seed_out_and_resume(fresh):
    # the variables fleet/playbook.yml passes: a fresh run in a named directory
    # with a seed, and the same directory resumed (its own config and seed);
    # -n prints the commands without building anything
    cp, _ = fresh("-n", "run", "CONFIG=fleet/smoke.toml", "SEED=7", "OUT=results/fleet-x",
                  deps="no-deps")
    assert cp.returncode == 0, cp.stderr
    assert "fake-python -m harness run fleet/smoke.toml --out results/fleet-x --seed 7" in cp.stdout
    assert "fake-python -m harness report results/fleet-x" in cp.stdout
    cp, _ = fresh("-n", "run", "RESUME=results/fleet-x", "SEED=7", deps="no-deps")
    assert cp.returncode == 0, cp.stderr
    assert "fake-python -m harness run --resume results/fleet-x;" in cp.stdout
