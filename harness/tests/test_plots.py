"""plots: the spawn plot keeps each coroutine stack kind apart."""
from harness import plots
from harness.rundir import Cell


def cell(model, stack=None):
    params = {"tasks": 1000} | ({"stack": stack} if stack else {})
    return Cell(id=f"spawn/{model}/{stack}", task="spawn", model=model, params=params)


def test_stack_groups_one_bar_per_kind_in_order():
    cells = [cell("uring", "shared"), cell("coro", "shared"), cell("threads"),
             cell("coro", "unguarded"), cell("coro", "guarded")]
    assert plots._stack_groups(cells) == [
        ("threads", None), ("coro", "guarded"), ("coro", "unguarded"), ("coro", "shared"),
        ("uring", "shared")]


def test_bytes_per_task_labels_stack_kinds():
    cells = [cell("threads"), cell("coro", "guarded"), cell("coro", "shared")]
    for c, user in zip(cells, (8550.0, 4096.0, 384.0)):
        c.lines.append({"status": "ok", "record": {"metrics": {
            "user_bytes_per_task": user, "kernel_bytes_per_task": 30.0}}})
    fig = plots.plot_bytes_per_task(cells)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["threads", "coro\nown+guard", "coro\nshared"]
