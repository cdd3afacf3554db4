"""The command line's argument parser: argparse with errors a user can act on (``mambarec.cli`` builds every
command with it; ``mambarec.cli_flags`` adds the config fields as flags)."""

from __future__ import annotations

import argparse
import difflib
import re


class CliParser(argparse.ArgumentParser):
    """argparse with short errors: the message and where the options are listed, not the command's whole usage
    (train's runs to ~20 lines, which buried the one line that said what was wrong). A flag is taken only as spelled
    in full: argparse's abbreviations trained `--learning-rat 0.01` as a learning rate, and a new flag sharing the
    prefix would change what an old command line meant (audit r73); a cut name gets "did you mean"."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # subcommands' parsers are of this class too (argparse's default)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:  # a misspelled subcommand or choice: the nearest, as an unknown flag gets ("trian": train)
            choices = re.findall(r"'([^']*)'", wrong.group(2)) or [c.strip() for c in wrong.group(2).split(",")]
            near = difflib.get_close_matches(wrong.group(1), choices, n=1, cutoff=0.6)
            message += f"; did you mean {near[0]}?" if near else ""
        self.exit(2, f"{self.prog}: error: {message}\n(`{self.prog} --help` lists every option)\n")

    def unrecognized(self, extras: list[str]):
        """Unknown flags, blamed on this (sub)command with the nearest known spellings."""
        known = [s for a in self._actions for s in a.option_strings]
        near = {e: difflib.get_close_matches(e.split("=", 1)[0], known, n=2, cutoff=0.75)
                for e in extras if e.startswith("-")}
        hints = "; ".join(f"{e}: did you mean {' or '.join(m)}?" for e, m in near.items() if m)
        self.error(f"unrecognized arguments: {' '.join(extras)}" + (f" ({hints})" if hints else ""))
