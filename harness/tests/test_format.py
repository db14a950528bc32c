"""format.py: the one way the harness prints numbers."""

import pytest

from harness import format as fmt


@pytest.mark.parametrize("x,text", [(None, "n/a"), (float("nan"), "n/a"), (0.012345, "0.0123"),
                                    (3.849, "3.85"), (21.44, "21.4"), (99.96, "100"),
                                    (227.4, "227"), (999.6, "1,000"), (23830.2, "23,830"),
                                    (-1234.0, "-1,234"), (5, "5"), (20000, "20,000"),
                                    ("x", "x")])
def test_num(x, text):
    assert fmt.num(x) == text


def test_intervals_and_units():
    assert fmt.num(3.85, "us") == "3.85 us" and fmt.num(None, "us") == "n/a"
    assert fmt.ci(1.0, 2.5, 0.9375) == "[1, 2.5] 94%" and fmt.ci(None, 2.0) == "n/a"
    assert fmt.estimate(1.5, 1.0, 2.5, 0.88) == "1.5 [1, 2.5] 88%"
    assert fmt.estimate(1.5) == "1.5"
    assert fmt.estimate(0.12, -0.05, 0.3, 0.95, fmt.signed) == "+0.12 [-0.05, +0.30] 95%"
    assert fmt.ratio(1.0034) == "1.003" and fmt.pct(0.1234) == "12.3%"
    assert fmt.duration(3850) == "3.85 us" and fmt.duration(250e6) == "250 ms"
    assert fmt.duration(12) == "12 ns"
