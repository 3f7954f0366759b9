"""What every configuration section shares: no unknown keys, validation on assignment, and the
command-line metadata of a field."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def cli(flag: Optional[str] = None, *, aliases: tuple[str, ...] = (), prefix: Optional[str] = None,
        nargs: Optional[str] = None) -> dict:
    """Command-line metadata of a field: its option name, older names, for a list how many values it
    takes (argparse's nargs), or for a sub-model the prefix of its fields' options."""
    return {"cli": {"flag": flag, "aliases": list(aliases), "prefix": prefix, "nargs": nargs}}
