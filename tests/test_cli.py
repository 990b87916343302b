"""``python -m ognet``: the entry point lists its subcommands and runs them."""

import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ognet", *args], capture_output=True, text=True,
                          timeout=300)


def test_help_lists_subcommands():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("models", "prepare", "train", "evaluate", "index", "synth"):
        assert command in out.stdout


def test_models_prints_counts_next_to_the_paper():
    out = _run("models")
    assert out.returncode == 0
    # A title line, a header (variant, ours, authors, paper), then one row per variant.
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()[2:]}
    assert lines["ognet_small"] == ["1,200,833", "1,200,833", "1.20M"]
    assert lines["ognet"] == ["1,951,738", "1,951,738", "1.95M"]
    assert lines["ognet_deep"][2] == "2.47M"
