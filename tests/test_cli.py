"""The `retrostep` command line as scripts see it."""
import pytest

from host_tools import cli


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_takes_db(command, capsys):
    # `--db FILE` is accepted by every command (scripts pass it uniformly) and documented
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--db", "/nonexistent/history.sqlite", "--help"])
    assert e.value.code == 0
    assert "--db" in capsys.readouterr().out


def test_unknown_option_is_still_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["replay", "--no-such-option", "x.csv"])
    assert e.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
