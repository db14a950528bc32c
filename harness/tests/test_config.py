"""config.py: parsing, defaults, one-line errors, the check against --list."""

from pathlib import Path

import pytest

from conftest import LISTING, REPO, write_config
from harness.run import config
from harness.run.catalog import Listing, with_peers
from harness.records import record
from harness.cli import main

GOOD = """
[run]
repetitions = 4
seed = 7
timeout_s = 30

[[experiment]]
task = "pingpong"
models = ["threads", "coro"]
probes = ["perf"]
[experiment.params]
channel = ["event", "pipe"]
iterations = 1000

[[experiment]]
task = "spawn"
repetitions = 2
params = { tasks = [10, 100], touch = true }
"""


def test_parse_good_config(tmp_path):
    cfg = config.load(write_config(tmp_path, GOOD))
    assert cfg.run.repetitions == 4 and cfg.run.seed == 7 and cfg.run.timeout_s == 30
    assert cfg.run.warmup_runs == 0 and cfg.run.order == "random"
    pp, sp = cfg.experiments
    assert pp.name == "pingpong" and pp.models == ("threads", "coro")
    assert pp.params == (("channel", ("event", "pipe")), ("iterations", (1000,)))
    assert pp.probes == ("perf",) and pp.repetitions == 4 and pp.timeout_s == 30
    assert sp.models is None and sp.repetitions == 2 and sp.probes == ()
    assert sp.params == (("tasks", (10, 100)), ("touch", (True,)))
    assert len(cfg.sha256) == 64
    config.check_catalog(cfg, LISTING)


def test_defaults(tmp_path):
    cfg = config.load(write_config(tmp_path, '[[experiment]]\ntask = "spawn"\n'))
    assert cfg.run == config.RunSettings()
    # the models come from the catalog, in the order they declare
    assert config.resolve_models(cfg.experiments[0], LISTING) == ("threads", "coro", "uring")
    with pytest.raises(config.ConfigError, match="no catalog"):
        config.resolve_models(cfg.experiments[0], Listing(None))


@pytest.mark.parametrize("body, needle", [
    ("[run\n", "not valid TOML"),
    ("[run]\nrepetitons = 3\n[[experiment]]\ntask='x'\n", "unknown key 'repetitons'"),
    ("[run]\nrepetitions = 0\n[[experiment]]\ntask='x'\n", "repetitions must be >= 1"),
    ("[run]\ntimeout_s = '5'\n[[experiment]]\ntask='x'\n", "timeout_s must be a number"),
    ("[run]\norder = 'shuffled'\n[[experiment]]\ntask='x'\n", "order must be"),
    ("[run]\nprobes = ['kprobe']\n[[experiment]]\ntask='x'\n", "unknown probe 'kprobe'"),
    ("[run]\nrepetitions = 2\n", "missing 'experiment'"),
    ("[[experiments]]\ntask='x'\n", "did you mean 'experiment'"),
    ("[[experiment]]\nmodels = ['coro']\n", "missing 'task"),
    ("[[experiment]]\ntask='x'\nmodel = 'coro'\n", "unknown key 'model'"),
    ("[[experiment]]\ntask='x'\nmodels = []\n", "models must be a non-empty list"),
    ("[[experiment]]\ntask='x'\nmodels = ['coro', 'coro']\n", "lists a model twice"),
    ("[[experiment]]\ntask='x'\nparams = { n = [] }\n", "params.n must be a value or a non-empty"),
    ("[[experiment]]\ntask='x'\nparams = { n = [1, 2.0] }\n", "params.n[1] must be an integer"),
    ("[run]\nrepetitions = 2.0\n[[experiment]]\ntask='x'\n",
     "repetitions must be an integer, got float 2.0"),
    ("[[experiment]]\ntask='x'\nprobes = ['sched', 'sched']\n", "probes lists a probe twice"),
    ("[[experiment]]\ntask='x'\nparams = { n = 1.5 }\n", "write 1000, not 1000.0"),
    ("[[experiment]]\ntask='x'\nparams = { cpus = '0,1' }\n", "ranges"),
    ("[[experiment]]\ntask='x'\nparams = { n = [1, 1] }\n", "lists a value twice"),
    ("[[experiment]]\ntask='x'\nparams = 3\n", "params must be a table"),
    ("[[experiment]]\nname='a'\ntask='x'\n[[experiment]]\nname='a'\ntask='y'\n",
     "already used"),
    ("[[experiment]]\nname='a b'\ntask='x'\n", "name must be a word"),
])
def test_bad_config_one_line(tmp_path, body, needle):
    with pytest.raises(config.ConfigError) as e:
        config.load(write_config(tmp_path, body))
    msg = str(e.value)
    assert needle in msg
    assert "\n" not in msg
    assert "cfg.toml" in msg


def test_keys_and_messages_come_from_the_schema(tmp_path):
    keys = record.load_schema("config")["properties"]["run"]["properties"]
    with pytest.raises(config.ConfigError) as e:
        config.load(write_config(tmp_path, "[run]\nrepeats = 3\n[[experiment]]\ntask='x'\n"))
    assert f"valid keys: {', '.join(keys)} (see docs/config.md)" in str(e.value)
    assert keys["timeout_s"]["$ref"] == "#/$defs/seconds"
    with pytest.raises(config.ConfigError, match="timeout_s must be a number of seconds"):
        config.load(write_config(tmp_path, "[run]\ntimeout_s = '1'\n[[experiment]]\ntask='x'\n"))


def test_unnamed_experiments_of_one_task_get_numbered(tmp_path):
    cfg = config.load(write_config(tmp_path, "[[experiment]]\ntask='spawn'\n"
                                             "[[experiment]]\ntask='spawn'\n"))
    assert [e.name for e in cfg.experiments] == ["spawn", "spawn-2"]


def test_report_metadata_keys_are_ignored(tmp_path):
    cfg = config.load(write_config(tmp_path, "id = 'x'\ntitle = 't'\n[source]\nyear = 1\n"
                                             "[[experiment]]\ntask='spawn'\n"))
    assert cfg.experiments[0].task == "spawn"


def test_missing_file():
    with pytest.raises(config.ConfigError, match="cannot read config"):
        config.load("/nonexistent/cfg.toml")


@pytest.mark.parametrize("body, needle", [
    ("task='echoo'", "unknown task 'echoo'; valid tasks: pingpong, spawn, fake, "),
    ("task='pingpong'\nmodels=['fibers']", "unknown model 'fibers'; valid models: threads"),
    ("task='pingpong'\nparams={iteratons=5}",
     "unknown parameter 'iteratons' for task pingpong; valid: iterations, placement, "
     "channel, work_ns, cpus, seed, warmup"),
    ("task='pingpong'\nparams={iterations=0}", "out of range [1, 1000000000]"),
    ("task='pingpong'\nparams={iterations='5'}", "expected an integer"),
    ("task='pingpong'\nparams={channel='carrier-pigeon'}", "expected one of event, pipe"),
    ("task='spawn'\nparams={touch='yes'}", "expected true or false"),
    ("task='pingpong'\nparams={cpus=0}", "expected a string"),
])
def test_catalog_check(tmp_path, body, needle):
    cfg = config.load(write_config(tmp_path, "[[experiment]]\n" + body + "\n"))
    with pytest.raises(config.ConfigError) as e:
        config.check_catalog(cfg, LISTING)
    assert needle in str(e.value)


def test_bad_config_exits_2(tmp_path, fake_runner, capsys):
    p = write_config(tmp_path, "[[experiment]]\ntask='pingpong'\nparams={bogus=1}\n")
    with pytest.raises(SystemExit) as e:
        main(["run", str(p), "--out", str(tmp_path / "out")], runner=fake_runner)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'bogus'" in err
    assert len(err.strip().splitlines()) == 1
    assert fake_runner.calls == []
    assert not (tmp_path / "out").exists()


def test_missing_workload_exits_2(tmp_path, capsys):
    from conftest import FakeRunner
    p = write_config(tmp_path, "[[experiment]]\ntask='pingpong'\n")
    with pytest.raises(SystemExit) as e:
        main(["run", str(p)], runner=FakeRunner(tmp_path, catalog=None))
    assert e.value.code == 2
    assert "make build/workload" in capsys.readouterr().err


REPO_CONFIGS = sorted((REPO / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", [p for p in REPO_CONFIGS if p.name != "claims.toml"],
                         ids=lambda p: p.name)
def test_repo_configs_parse(path: Path):
    assert config.load(path).experiments      # test_schemas checks them against the schema


@pytest.mark.parametrize("path", [p for p in REPO_CONFIGS if p.name != "claims.toml"],
                         ids=lambda p: p.name)
def test_repo_configs_match_the_real_workload(path: Path):
    from harness.run.runner import ProcessRunner
    workload = REPO / "build" / "workload"
    if not workload.exists():
        pytest.skip("build/workload not built (make build/workload)")
    out = ProcessRunner().capture([str(workload), "--list"])
    assert out is not None, "build/workload --list failed"
    import json
    config.check_catalog(config.load(path), Listing(with_peers(json.loads(out))))


def test_signed_parameters_take_negative_integers():
    from harness.run.config import ConfigError, _check_value
    spec = {"key": "nice", "type": "i64", "min": -20, "max": 19}
    _check_value("cfg", spec, -5)
    for bad in (-21, 20, "5", True):
        with pytest.raises(ConfigError):
            _check_value("cfg", spec, bad)


def test_max_interference_is_a_share_with_a_default(tmp_path):
    """[run] max_interference: 0.25 unless set; a share in [0, 1] or refused in one line."""
    exp = "[[experiment]]\ntask='x'\n"
    assert config.load(write_config(tmp_path, exp)).run.max_interference == 0.25
    cfg = config.load(write_config(tmp_path, "[run]\nmax_interference = 1\n" + exp))
    assert cfg.run.max_interference == 1.0 and isinstance(cfg.run.max_interference, float)
    for bad in ("1.5", "-0.1", "'low'"):
        with pytest.raises(config.ConfigError) as e:
            config.load(write_config(tmp_path, f"[run]\nmax_interference = {bad}\n" + exp))
        assert "max_interference" in str(e.value) and "\n" not in str(e.value)
