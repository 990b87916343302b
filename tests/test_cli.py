"""``python -m ognet``: the entry point lists its subcommands and runs them."""

import subprocess
import sys

import pytest

from ognet.cli import main


@pytest.mark.slow
def test_help_lists_subcommands():
    """The entry point itself (``ognet/__main__.py``), in a process of its own."""
    out = subprocess.run([sys.executable, "-m", "ognet", "--help"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0
    for command in ("models", "prepare", "train", "evaluate", "index", "synth"):
        assert command in out.stdout


def test_models_prints_counts_next_to_the_paper(capsys):
    assert main(["models"]) == 0
    # A title line, a header (variant, ours, authors, paper), then one row per variant.
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["ognet_small"] == ["1,200,833", "1,200,833", "1.20M"]
    assert lines["ognet"] == ["1,951,738", "1,951,738", "1.95M"]
    assert lines["ognet_deep"][2] == "2.47M"
