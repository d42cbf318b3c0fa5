"""The `retrostep` command line as users and scripts see it."""
import re
import shutil
import subprocess
import sys

import pytest

from host_tools import cli
from host_tools.paths import ROOT


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_takes_db(command, capsys):
    # `--db FILE` is accepted by every command (scripts pass it uniformly) and documented
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--db", "/nonexistent/history.sqlite", "--help"])
    assert e.value.code == 0
    assert "--db FILE" in capsys.readouterr().out     # spelled alike everywhere


def test_unknown_option_is_still_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["replay", "--no-such-option", "x.csv"])
    assert e.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert re.fullmatch(r"retrostep \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_help_is_written_for_users(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    assert "forward from backward" in top and "first steps:" in top and "retrostep demo" in top
    assert "module" not in top
    for command in sorted(cli.COMMANDS):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        description = text.split("\n\n")[1]
        # the description says what the command does, not which module implements it
        assert not description.startswith("`retrostep") and "module" not in description, command
        for line in re.findall(r"^  (-\S.*)$", text, re.M):
            assert " DB" not in line and "FLASH" not in line and "HTML " not in line, line


def test_the_readme_detector_example_runs_as_written(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- section: detector -->")[1]
    code = section.split("```python\n")[1].split("```")[0]
    assert "from stepdetect import" in code
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    steps, fwd, bwd, unk, backward_events = map(int, r.stdout.split())
    assert 50 <= steps <= 60 and fwd + bwd + unk == steps and backward_events == bwd


@pytest.mark.skipif(not (ROOT / ".git").exists() or not shutil.which("git"), reason="not a git clone")
def test_simulates_default_folder_is_not_left_untracked_in_the_clone():
    from host_tools.simulate_cmd import add_parser
    import argparse
    p = add_parser(argparse.ArgumentParser().add_subparsers())
    assert p.get_default("out") == "sim"
    ignored = subprocess.run(["git", "check-ignore", "sim/sim_walk.csv", "tests/sim/x.csv"],
                             cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == ["sim/sim_walk.csv", "tests/sim/x.csv"]
    # the simulator's own package is not
    assert subprocess.run(["git", "check-ignore", "-q", "host_tools/sim/new_module.py"],
                          cwd=ROOT).returncode == 1


def test_emulate_refuses_a_bad_trace_or_flash_before_starting(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("# format: retrostep-trace/1\n# rate_hz: 50\n# accel_unit: g\nt_ms,ax,ay,az\n"
                    + "".join(f"{20 * i},0,0,1\n" for i in range(50)))
    nan = tmp_path / "nan.csv"
    nan.write_text(good.read_text().replace("\n400,0,0,1\n", "\n400,nan,0,1\n"))
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    cut = tmp_path / "cut.csv"
    cut.write_text(good.read_text() + "1000,0,")
    for trace, words in ((nan, "nan.csv:25: ax is nan"), (binary, "bin.csv:1: missing '# format"),
                         (cut, "cut.csv:55: truncated last line"), (tmp_path / "none.csv", "cannot read")):
        assert cli.main(["emulate", "--trace", str(trace)]) == 2
        cap = capsys.readouterr()
        assert words in cap.err and "running" not in cap.err and not cap.out, cap.err
    assert cli.main(["emulate", "--flash", str(good)]) == 2
    assert "is a file" in capsys.readouterr().err
