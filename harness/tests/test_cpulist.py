"""cpulist.py: the one CPU-list parser and writer."""

import pytest

from harness import cpulist


@pytest.mark.parametrize("text,cpus", [("0", (0,)), ("0-1", (0, 1)), ("0,2-3", (0, 2, 3)),
                                       ("3,0-1\n", (0, 1, 3)), ("1,1-2", (1, 2)),
                                       ("", ()), (None, ()), (5, (5,))])
def test_parse(text, cpus):
    assert cpulist.parse(text) == cpus


@pytest.mark.parametrize("text,why", [("x", "not a CPU list"), ("0,,1", "not a CPU list"),
                                      ("0-", "not a CPU list"), ("3-1", "runs backwards")])
def test_parse_refuses(text, why):
    with pytest.raises(ValueError, match=why):
        cpulist.parse(text)


@pytest.mark.parametrize("cpus,text", [([0, 1, 2, 5, 7, 8], "0-2,5,7-8"), ((3,), "3"),
                                       ([1, 0, 1], "0-1"), ([], "")])
def test_label_round_trips(cpus, text):
    assert cpulist.label(cpus) == text
    assert cpulist.parse(text) == tuple(sorted(set(cpus)))
