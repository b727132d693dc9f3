"""The command group imports a command's module only when that command runs (start-up of `check`)."""

from __future__ import annotations

import subprocess
import sys

import click

from mlplatform.cli import _COMMAND_MODULES, main


def test_every_command_module_gives_its_command_under_its_name() -> None:
    ctx = click.Context(main)
    assert main.list_commands(ctx) == list(_COMMAND_MODULES)
    for name in _COMMAND_MODULES:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
    assert main.get_command(ctx, "nope") is None


def test_one_command_imports_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "from mlplatform.cli import main\n"
        "try:\n    main(['rules', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('mlplatform.cli.') and m.endswith('_cmd')),"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.stderr.strip().splitlines()[-1] == "['mlplatform.cli.rules_cmd']", proc.stderr
