"""Every `./schedlab` example in the command's --help texts and in the
README runs as written: it parses, the configs it names exist and load, the
--only subset and the trace cell it names exist in that config; the cheap
ones (list, a dry run) are run. `schedlab list` shows every model's variants
and the configs apart from the claims and reproduction files, each
description a whole sentence."""

import re
import shlex

import pytest

from conftest import REPO
from harness import cli
from harness.run import catalog as run_catalog
from harness.run import config, matrix, runner

EXAMPLE = re.compile(r"(\./schedlab [^`\n#]+)")
# An example's results directory (a run, a fleet's runs): one the reader made.
RUN_DIRS = re.compile(r"^results/[\w.-]+$")


def help_examples() -> list[str]:
    ap = cli.build_parser()
    texts = [ap.epilog or ""]
    for action in ap._subparsers._group_actions:
        texts += [p.epilog or "" for p in action.choices.values()]
    return [m.strip() for t in texts for m in EXAMPLE.findall(t)]


def readme_examples() -> list[str]:
    """Concrete examples only: "./schedlab trace DIR --cell ID" is syntax."""
    found = [m.strip() for m in EXAMPLE.findall((REPO / "README.md").read_text())]
    return [e for e in found if not re.search(r"\b[A-Z]{2,}\b", e.split(" ", 2)[-1])]


def listing():
    doc, why = run_catalog.listing(runner.ProcessRunner(cwd=REPO).capture,
                                   str(REPO / "build" / "workload"))
    if doc is None:
        pytest.skip(why)
    return doc, run_catalog.Listing(run_catalog.with_peers(doc))


def test_there_are_examples():
    assert len(help_examples()) >= 8
    assert readme_examples(), "the README shows no concrete ./schedlab command"


@pytest.mark.parametrize("example", sorted(set(help_examples() + readme_examples())))
def test_example_runs_as_written(example):
    argv = shlex.split(example)[1:]
    args = cli.build_parser().parse_args(argv)        # exits 2 on a bad example
    paths = [a for a in argv if a.startswith(("configs/", "results/"))]
    for p in paths:
        assert RUN_DIRS.match(p) or (REPO / p).exists(), f"{example}: {p} does not exist"
    if args.command == "run" and args.config:
        _, lst = listing()
        cfg = config.load(REPO / args.config)
        cells = matrix.expand(cfg, lst)
        assert matrix.select(cells, matrix.parse_only(args.only))
    if args.command == "trace":
        _, lst = listing()
        cells = matrix.expand(config.load(REPO / "configs" / "default.toml"), lst)
        assert any(c.id == args.cell and c.events for c in cells), \
            f"{example}: configs/default.toml records no events for {args.cell}"


def test_cheap_examples_run(capsys):
    listing()
    assert cli.run_main(["list"]) == 0
    assert cli.run_main(["run", "configs/default.toml", "--dry-run"]) == 0
    capsys.readouterr()


def test_list_shows_variants_and_configs_apart(capsys):
    doc, _ = listing()
    assert cli.run_main(["list"]) == 0
    out = capsys.readouterr().out
    models = out[out.index("\nmodels:"):out.index("configs you can run")]
    for m in doc["models"]:
        for p in m.get("params", []):
            assert f"variant --{p['key']} " in models, (m["name"], p["key"])
            assert p["help"] in models          # whole, never cut
    runnable = out[out.index("configs you can run"):out.index("published figures")]
    assert "configs/default.toml" in runnable and "claims.toml" not in runnable
    assert "reproduce/" not in runnable
    for line in out[out.index("configs you can run"):].splitlines():
        if line.startswith("  configs/"):
            assert line.rstrip().endswith((".", ")")), f"cut description: {line}"


def test_list_shows_every_peer_by_task_and_model(capsys):
    """A config names a peer by task and model: `list` says which exist."""
    from harness.run import peers
    assert cli.run_main(["list"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("\npeers"):out.index("configs you can run")]
    for peer in peers.PEERS.values():
        line = f"  {peer.task}/{'|'.join(peer.model_names)}: {peer.summary} ("
        assert line in section, peer.name


def test_config_summary_keeps_whole_sentences():
    text = "# a: first line runs on,\n# to here. Then more\n# and more.\n\n[run]\n"
    assert cli.config_summary(text) == "a: first line runs on, to here."
    assert cli.config_summary("# one. two.\n") == "one. two."
