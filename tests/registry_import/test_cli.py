"""`registry-import` exists and says plainly that the import is not available yet."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from registry_import.cli import main


def test_cli_help_describes_the_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and "registry" in result.output


def test_cli_refuses_with_not_available_yet() -> None:
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 2
    assert "pas encore disponible" in result.output and "not available yet" in result.output


def test_cli_console_script_entry_point_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "from registry_import.cli import main; main()"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 2
    assert "not available yet" in completed.stderr
