"""Faults done for real: a process killed with SIGKILL, a planted symlink or
FIFO, a full disk, hostile configs. Each test states what must hold after
the fault (no orphan, no empty or partial file, no program of ours left
attached, one line and a non-zero exit, never a traceback) and would fail
on the code before these guarantees existed.

Tests that need root, a second user, a tracer or a tmpfs skip with the
reason. Other helpers' tracers may run at the same time: leftovers are
looked for only among the processes and BPF programs these tests started.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CATALOG, write_config
from harness.cli import run_main
from harness.run.runner import ProcessRunner

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
TRACER = BUILD / "schedtrace"
WORKLOAD = BUILD / "workload"


# ---- what a killed process leaves behind ------------------------------------------------

def descendants(pid: int) -> set[int]:
    """Every live process below pid (children of each of its threads)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                kids = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def alive(pid: int) -> bool:
    """Running or sleeping: a zombie has already died."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def wait_until(cond, within_s: float, step_s: float = 0.02) -> bool:
    """Polls cond; True as soon as it holds. The bound is a deadline for a
    kernel clean-up to happen at all, not a speed being measured."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return cond()


def bpf_prog_ids(pid: int) -> set[int]:
    """Ids of the BPF programs pid holds open (its own, not other tracers')."""
    ids: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        ids.update(int(ln.split()[1]) for ln in info.splitlines() if ln.startswith("prog_id:"))
    return ids


def bpf_prog_exists(prog_id: int) -> bool:
    return subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)],
                          capture_output=True).returncode == 0


def tracer_missing() -> str | None:
    if not TRACER.exists() or not WORKLOAD.exists():
        return "build/schedtrace or build/workload not built: run `make build`"
    if os.geteuid() != 0:
        return "needs root to load BPF programs"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "needs kernel BTF (/sys/kernel/btf/vmlinux)"
    if not shutil.which("bpftool"):
        return "needs bpftool to look the tracer's programs up by id"
    return None


@pytest.mark.root
@pytest.mark.bpf
def test_kill_9_of_the_tracer_leaves_nothing(tmp_path):
    """No orphan, no empty or partial --json, no program of its own left."""
    why = tracer_missing()
    if why:
        pytest.skip(why)
    out = tmp_path / "traced.json"
    # A command that runs far longer than the test: only the kill ends it.
    tracer = subprocess.Popen(
        [str(TRACER), "--json", str(out), "--probes", "sched", "--",
         str(WORKLOAD), "preempt", "--model", "threads", "--hog_ms", "60000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # released: the command has started its threads under the probes
        assert wait_until(lambda: any(len(os.listdir(f"/proc/{k}/task")) > 1
                                      for k in descendants(tracer.pid) if alive(k)), 60), \
            tracer.stderr.read1().decode() if tracer.poll() is not None else "no command"
        progs = bpf_prog_ids(tracer.pid)
        kids = descendants(tracer.pid)
        assert progs and kids
        tracer.kill()
        tracer.wait()
        assert wait_until(lambda: not any(alive(k) for k in kids), 5), \
            f"still alive after the tracer's kill -9: {[k for k in kids if alive(k)]}"
        assert wait_until(lambda: not any(bpf_prog_exists(p) for p in progs), 5), \
            f"programs of the killed tracer still loaded: {sorted(progs)}"
        assert list(tmp_path.iterdir()) == [], "the killed tracer left a file"
    finally:
        if tracer.poll() is None:
            os.killpg(tracer.pid, signal.SIGKILL)
            tracer.wait()


@pytest.mark.root
@pytest.mark.bpf
def test_tracer_replaces_a_planted_json_symlink(tmp_path):
    """--json FILE where FILE is a symlink: the document takes FILE's place;
    the symlink's target is untouched."""
    why = tracer_missing()
    if why:
        pytest.skip(why)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "t.json"
    out.symlink_to(victim)
    proc = subprocess.run([str(TRACER), "--json", str(out), "--probes", "sched", "--",
                           "true"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json", "victim"]


# ---- the harness: its run directory, its children, its inputs ---------------------------

SCHEDLAB = [sys.executable, "-m", "harness"]


def schedlab(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*SCHEDLAB, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, **kw)


def one_line(err: str) -> str:
    """The refusal: exactly one line (notes aside), no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "note:" not in ln]
    assert len(lines) == 1, err
    return lines[0]


def fake_config(tmp_path: Path, workload: Path, body: str = "", name: str = "cfg.toml",
                repetitions: int = 1, models: str = '["threads", "coro"]') -> Path:
    return write_config(tmp_path, f"""
        [run]
        repetitions = {repetitions}
        order = "sequential"
        workload = "{workload}"
        [[experiment]]
        task = "pingpong"
        models = {models}
        params = {{ iterations = [1, 2] }}
        {body}
        """, name)


def need_root(why: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {why}")


def other_user() -> tuple[int, int]:
    """uid and gid of a second user to own planted files (nobody)."""
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no second user here (nobody)")
    return pw.pw_uid, pw.pw_gid


PLANTED = [".lock", "config.toml", "env.json", "run.json", "catalog.json", "records.jsonl"]


@pytest.mark.root
def test_out_of_another_user_is_refused_and_nothing_followed(tmp_path, fake_runner, capsys):
    need_root("a directory owned by a second user")
    uid, gid = other_user()
    out, victim = tmp_path / "o", tmp_path / "victim"
    out.mkdir()
    victim.write_text("precious\n")
    for name in PLANTED:
        (out / name).symlink_to(victim)
        os.lchown(out / name, uid, gid)
    os.chown(out, uid, gid)
    cfg = fake_config(tmp_path, "build/workload")
    assert run_main(["run", str(cfg), "--out", str(out)], fake_runner) == 2
    assert f"belongs to uid {uid}" in one_line(capsys.readouterr().err)
    assert victim.read_text() == "precious\n"
    assert fake_runner.calls == []


def test_out_writable_by_others_is_refused(tmp_path, fake_runner, capsys):
    out = tmp_path / "o"
    out.mkdir()
    out.chmod(0o777)
    cfg = fake_config(tmp_path, "build/workload")
    assert run_main(["run", str(cfg), "--out", str(out)], fake_runner) == 2
    assert "writable by others" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("name", PLANTED)
def test_a_symlink_in_the_run_directory_is_never_followed(tmp_path, fake_runner, capsys, name):
    out, victim = tmp_path / "o", tmp_path / "victim"
    out.mkdir()
    victim.write_text("precious\n")
    (out / name).symlink_to(victim)
    cfg = fake_config(tmp_path, "build/workload")
    code = run_main(["run", str(cfg), "--out", str(out)], fake_runner)
    err = capsys.readouterr().err
    assert victim.read_text() == "precious\n"
    if code == 2:               # refused: it says which file
        assert name in one_line(err) and "symlink" in err
    else:                       # or replaced by a file of the run's own
        assert code == 0 and not (out / name).is_symlink(), err


@pytest.mark.parametrize("out", ["/dev/null", "/proc/self/stat"])
def test_out_that_is_not_a_directory(tmp_path, fake_runner, capsys, out):
    cfg = fake_config(tmp_path, "build/workload")
    assert run_main(["run", str(cfg), "--out", out], fake_runner) == 2
    assert "not a directory" in one_line(capsys.readouterr().err)


def test_history_scan_skips_what_is_not_a_regular_file_of_ours(tmp_path, fake_workload):
    """A FIFO named records.jsonl beside --out used to hang even --dry-run."""
    root = tmp_path / "results"
    (root / "fifo").mkdir(parents=True)
    os.mkfifo(root / "fifo" / "records.jsonl")
    (root / "dev").mkdir()
    (root / "dev" / "records.jsonl").symlink_to("/dev/zero")
    (root / "link").symlink_to(root / "fifo")
    cfg = fake_config(tmp_path, fake_workload)
    out = schedlab("run", str(cfg), "--dry-run", "--out", str(root / "new"), timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "fifo/records.jsonl" in out.stderr      # skipped, with a note


@pytest.mark.root
def test_history_scan_as_an_ordinary_user_skips_what_it_cannot_read(tmp_path):
    """As a second user: a sibling it cannot read is a note, not a traceback."""
    need_root("to run the scan as a second user")
    uid, gid = other_user()
    root = tmp_path / "results"
    (root / "theirs").mkdir(parents=True)
    (root / "theirs" / "records.jsonl").write_text('{"cell": "x", "repetition": 0}\n')
    (root / "theirs").chmod(0o700)
    (root / "mine").mkdir()
    (root / "mine" / "records.jsonl").write_text(
        '{"cell": "a/b/", "repetition": 0, "status": "ok", "duration_s": 1.5}\n')
    (root / "mine" / "unreadable").mkdir()
    for p in (root, root / "mine", root / "mine" / "records.jsonl"):
        os.chown(p, uid, gid)
    (root / "mine" / "records.jsonl").chmod(0o200)      # its own, but unreadable
    for p in [tmp_path, *tmp_path.parents]:
        if p == Path("/"):
            break
        p.chmod(p.stat().st_mode | 0o001)               # searchable, not listable
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "from harness.records import history;"
            "d, notes = history.previous_durations(__import__('pathlib').Path(sys.argv[2]));"
            "print(d, notes)")
    out = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                          sys.executable, "-c", code, str(REPO), str(root)],
                         capture_output=True, text=True, timeout=60)
    if "Permission denied" in out.stderr and "harness" not in out.stderr:
        pytest.skip(f"the checkout is not readable by uid {uid}")
    assert out.returncode == 0, out.stderr
    assert "records.jsonl" in out.stdout and "{}" in out.stdout


def lines_of(run_dir: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run_dir / "records.jsonl").read_text().splitlines()]


def ignores_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ign = next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigIgn:"))
    return bool(int(ign, 16) & (1 << (signal.SIGTERM - 1)))


def start_and_kill_9(cfg: Path, out: Path, lines_before: int, ready=alive) -> set[int]:
    """Starts a run, waits until lines_before lines are written and a
    workload is ready(pid), kills the harness with SIGKILL; the workload's pids."""
    proc = subprocess.Popen([*SCHEDLAB, "run", str(cfg), "--out", str(out)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    recs = out / "records.jsonl"
    try:
        assert wait_until(lambda: recs.exists() and
                          recs.read_text().count("\n") >= lines_before and
                          any(ready(k) for k in descendants(proc.pid)), 60), \
            proc.stderr.read().decode() if proc.poll() is not None else "no progress"
        kids = {k for k in descendants(proc.pid) if alive(k)}
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return kids


@contextlib.contextmanager
def killed_harness(cfg: Path, out: Path, lines_before: int, ready=alive):
    """start_and_kill_9, then yields the workload's pids; SIGKILLs whichever
    of them still lives when the block ends, so no test leaves one behind."""
    kids = start_and_kill_9(cfg, out, lines_before, ready)
    try:
        yield kids
    finally:
        for k in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(k, signal.SIGKILL)


def test_kill_9_of_the_harness_then_resume(tmp_path, fake_workload):
    """No orphan, no duplicate, no lost line."""
    cfg = fake_config(tmp_path, fake_workload, models='["threads"]', body="""
        [[experiment]]
        task = "fake"
        models = ["threads"]
        timeout_s = 2
        params = { behave = "hang" }
        """)
    out = tmp_path / "r"
    with killed_harness(cfg, out, lines_before=2) as kids:
        assert wait_until(lambda: not any(alive(k) for k in kids), 5), \
            f"the killed harness left {sorted(k for k in kids if alive(k))} running"
    before = (out / "records.jsonl").read_text()
    res = schedlab("run", "--resume", str(out))
    assert res.returncode == 1, res.stderr          # the hanging cell timed out
    after = (out / "records.jsonl").read_text()
    assert after.startswith(before)
    keys = [(ln["cell"], ln["repetition"]) for ln in lines_of(out)]
    assert len(keys) == len(set(keys)) == 3


def test_resume_refuses_while_a_process_of_the_earlier_run_lives(tmp_path, fake_workload):
    cfg = fake_config(tmp_path, fake_workload, models='["threads"]', body="""
        [[experiment]]
        task = "fake"
        models = ["threads"]
        timeout_s = 120
        params = { behave = "stubborn" }
        """)
    out = tmp_path / "r"
    with killed_harness(cfg, out, lines_before=2, ready=ignores_sigterm) as kids:
        survivors = [k for k in kids if alive(k)]
        assert survivors, "the stubborn workload ignores SIGTERM: it should still run"
        res = schedlab("run", "--resume", str(out))
        assert res.returncode == 2
        line = one_line(res.stderr)
        assert any(str(k) in line for k in survivors), line
    assert wait_until(lambda: not any(alive(k) for k in kids), 5)
    # once it is gone, the run resumes (the stubborn cell itself left out: it
    # would only time out again)
    res = schedlab("run", "--resume", str(out), "--only", "task=pingpong")
    assert res.returncode == 0, res.stderr
    keys = [(ln["cell"], ln["repetition"]) for ln in lines_of(out)]
    assert len(keys) == len(set(keys)) == 2


BIG_RECORD = """#!/bin/sh
# The fake workload (conftest's catalog), with a record of about 200 KB: a
# few fill a small disk. sh, not python: it runs many times.
if [ "$1" = --list ]; then
    cat <<'EOT'
{catalog}
EOT
    exit 0
fi
printf '{{"schema":1,"task":"pingpong","model":"threads","params":{{}},"status":"ok",'
printf '"reason":null,"usage":{{}},"metrics":{{"padding":"'
head -c 200000 /dev/zero | tr '\\0' x
printf '"}}}}\\n'
"""


@pytest.mark.root
def test_disk_full_mid_run_then_resume(tmp_path):
    need_root("to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        workload = tmp_path / "big_workload"
        workload.write_text(BIG_RECORD.format(catalog=json.dumps(CATALOG)))
        workload.chmod(0o755)
        cfg = fake_config(tmp_path, workload, repetitions=8, models='["threads"]')
        out = disk / "r"
        res = schedlab("run", str(cfg), "--out", str(out))
        assert res.returncode == 1
        assert "Traceback" not in res.stderr
        full = [ln for ln in res.stderr.splitlines() if "no space left" in ln]
        assert len(full) == 1 and "bytes" in full[0] and "--resume" in full[0], res.stderr
        done = len((out / "records.jsonl").read_text().splitlines())
        assert done < 16
        # resume on the still full disk: one line again
        res = schedlab("run", "--resume", str(out))
        assert res.returncode == 1 and "Traceback" not in res.stderr
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        res = schedlab("run", "--resume", str(out))
        assert res.returncode == 0, res.stderr
        text = (out / "records.jsonl").read_text()
        assert text.endswith("\n")
        keys = [(ln["cell"], ln["repetition"]) for ln in lines_of(out)]
        assert len(keys) == len(set(keys)) == 16
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# ---- hostile configs: one line, exit 2, before anything runs ----------------------------

@pytest.mark.parametrize("run_keys, needle", [
    ("timeout_s = inf", "run.timeout_s is not a finite number"),
    ("timeout_s = nan", "run.timeout_s is not a finite number"),
    ("cooldown_s = -inf", "run.cooldown_s is not a finite number"),
    ("repetitions = 100000000", "repetitions must be <= 100,000"),
])
def test_absurd_numbers(tmp_path, fake_runner, capsys, run_keys, needle):
    cfg = write_config(tmp_path, f"""
        [run]
        {run_keys}
        [[experiment]]
        task = "pingpong"
        """)
    assert run_main(["run", str(cfg), "--dry-run"], fake_runner) == 2
    assert needle in one_line(capsys.readouterr().err)


def test_more_runs_than_a_run_may_hold_are_refused_before_they_exist(tmp_path, fake_runner,
                                                                     capsys):
    cfg = write_config(tmp_path, """
        [run]
        repetitions = 100000
        [[experiment]]
        task = "pingpong"
        params = { iterations = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] }
        """)
    assert run_main(["run", str(cfg), "--dry-run"], fake_runner) == 2
    assert "more than the 1,000,000" in one_line(capsys.readouterr().err)


def test_non_utf8_config(tmp_path, fake_runner, capsys):
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes(b'# caf\xe9\n[[experiment]]\ntask = "pingpong"\n')
    assert run_main(["run", str(cfg), "--dry-run"], fake_runner) == 2
    assert "not UTF-8" in one_line(capsys.readouterr().err)


def test_negative_seed(tmp_path, fake_runner, capsys):
    cfg = fake_config(tmp_path, "build/workload")
    assert run_main(["run", str(cfg), "--dry-run", "--seed", "-1"], fake_runner) == 2
    assert "--seed" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("params, needle", [
    ('policy = "fifo", priority = 0', "--priority 0 with policy fifo"),
    ("slice_us = 50", "--slice_us 50"),
    ("priority = 3", "with policy other"),
    ('policy = "fifo", nice = 3', "--nice with policy fifo"),
    (f'cpus = "{(os.cpu_count() or 1) + 8}"', "not every CPU is available"),
])
def test_cross_parameter_rules_refuse_the_config(tmp_path, capsys, params, needle):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built")
    cfg = write_config(tmp_path, f"""
        [[experiment]]
        name = "hostile"
        task = "compute"
        models = ["threads"]
        params = {{ work_units = 2, {params} }}
        """)
    assert run_main(["run", str(cfg), "--dry-run"], ProcessRunner()) == 2
    line = one_line(capsys.readouterr().err)
    assert needle in line and "hostile" in line


@pytest.mark.parametrize("task, params, needle", [
    ("preempt", "tick_work_us = 1000, period_us = 1000", "tick_work_us (1000) must be <"),
    ("compute", 'cpus = "0", mn_workers = 2', "mn_workers=2 is more than"),
])
def test_task_and_model_rules_refuse_the_config(tmp_path, capsys, task, params, needle):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built")
    models = '["mn"]' if "mn_" in params else '["threads"]'
    cfg = write_config(tmp_path, f"""
        [[experiment]]
        task = "{task}"
        models = {models}
        params = {{ {params} }}
        """)
    assert run_main(["run", str(cfg), "--dry-run"], ProcessRunner()) == 2
    assert needle in one_line(capsys.readouterr().err)


def test_fileio_dir_may_be_absolute(tmp_path, capsys):
    if not WORKLOAD.exists():
        pytest.skip("build/workload not built")
    cfg = write_config(tmp_path, f"""
        [run]
        repetitions = 1
        [[experiment]]
        task = "fileio"
        models = ["threads"]
        params = {{ dir = "{tmp_path}", file_mb = 1, duration_ms = 50 }}
        """)
    assert run_main(["run", str(cfg), "--out", str(tmp_path / "r")], ProcessRunner()) == 0, \
        capsys.readouterr().err
    (line,) = lines_of(tmp_path / "r")
    assert line["params"]["dir"] == str(tmp_path) and line["status"] == "ok"


def test_report_of_an_empty_run_warns(tmp_path, capsys):
    (tmp_path / "records.jsonl").write_text("")
    assert run_main(["report", str(tmp_path), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "warning" in err and "holds no usable run" in err


@pytest.mark.parametrize("name", ["report.json", "report.md", "report.html", "plots"])
def test_a_symlink_where_the_report_writes_is_never_followed(tmp_path, fake_runner, capsys,
                                                             name):
    """The report writes into a run directory too, often as root: a planted
    file symlink is replaced, a planted directory symlink refused."""
    out, victim = tmp_path / "o", tmp_path / "victim"
    victim.mkdir()
    (victim / "report.html").write_text("precious\n")
    cfg = fake_config(tmp_path, "build/workload")
    assert run_main(["run", str(cfg), "--out", str(out)], fake_runner) == 0
    capsys.readouterr()
    (out / name).symlink_to(victim / "report.html" if "." in name else victim)
    code = run_main(["report", str(out)])
    err = capsys.readouterr().err
    assert (victim / "report.html").read_text() == "precious\n"
    assert sorted(p.name for p in victim.iterdir()) == ["report.html"]
    if code == 2:
        assert name in one_line(err) and "symlink" in err
    else:
        assert code == 0 and not (out / name).is_symlink(), err
