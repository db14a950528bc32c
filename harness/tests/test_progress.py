"""progress.py: plain lines off a terminal, time left scaled by reality."""

import io

from harness.run import progress


def test_plain_lines_when_not_a_tty():
    s = io.StringIO()
    p = progress.make(3, 30.0, s)
    assert type(p) is progress.Progress
    p.start("a")
    p.finish("a", "ok", 20.0, 10.0)       # twice as slow as estimated
    assert p.time_left_s() == 40.0        # 20 s of estimates left, x2
    p.finish("b", "failed", 1.0, 10.0, "exit status 1: boom")
    p.close()
    lines = s.getvalue().splitlines()
    assert lines[0] == "[1/3] a: ok 20.0s, about 40s left"
    assert lines[1].startswith("[2/3] b: failed 1.0s (exit status 1: boom)")


def test_fmt_duration():
    assert progress.fmt_duration(5) == "5s"
    assert progress.fmt_duration(65) == "1m05s"
    assert progress.fmt_duration(3725) == "1h02m"
    assert progress.fmt_duration(-3) == "0s"
