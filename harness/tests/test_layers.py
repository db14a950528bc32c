"""The harness's layers, read from its import graph: records/ (the data model
of a run directory) at the bottom, run/ (which writes it) and analyse/ (which
reads it) above it, present/ on top; format.py and cpulist.py serve every
layer, cli.py and doctor.py sit above them all. No module imports a layer
above its own, and run/ and analyse/ do not import each other. One parser:
only cli.py (and the peers' drivers, programs of their own) uses argparse."""
import ast
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1]
BASE = {"format", "cpulist", "__init__"}
TOP = {"cli", "doctor", "__main__"}
LAYER = {"records": 1, "run": 2, "analyse": 2, "present": 3}
# programs the runner starts as processes, with their own command lines
DRIVERS = {"run/echo_peer.py", "run/peer_exec.py"}


def modules() -> list[Path]:
    return sorted(p for p in HARNESS.rglob("*.py") if "tests" not in p.parts)


def part(module: str) -> str:
    """harness.run.runner -> run; harness.format -> format."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def level(name: str) -> int:
    return 0 if name in BASE else 9 if name in TOP else LAYER[name]


def imports(path: Path) -> set[str]:
    """Every harness module the file imports, at module level or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("harness."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
            if node.module == "harness":
                out.update(f"harness.{a.name}" for a in node.names if a.name != "REPO"
                           and a.name != "__version__")
            else:
                out.add(node.module)
    return out


def own_part(path: Path) -> str:
    rel = path.relative_to(HARNESS)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(HARNESS)))
def test_no_module_imports_a_layer_above_its_own(path):
    mine = own_part(path)
    for mod in imports(path):
        theirs = part(mod)
        assert level(theirs) <= level(mine), f"{path.name} ({mine}) imports {mod} ({theirs})"
        if {mine, theirs} == {"run", "analyse"}:
            pytest.fail(f"{path.name} ({mine}) imports {mod}: run/ and analyse/ meet only "
                        "in records/")


def test_the_check_sees_a_violation():
    # records importing run would be caught: the rule is not vacuous
    assert level(part("harness.run.peers")) > level("records")
    assert "harness.present.report" in imports(HARNESS / "cli.py") or \
        "harness.present" in imports(HARNESS / "cli.py")


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(HARNESS)))
def test_one_parser(path):
    rel = str(path.relative_to(HARNESS))
    if rel in ("cli.py", *DRIVERS):
        return
    assert "argparse" not in imports(path) | {
        a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import)
        for a in n.names}, f"{rel} parses arguments: declare them in harness/cli.py"
