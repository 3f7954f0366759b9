"""``raypipe`` command line. Options are generated from the config models, so every option's help
is its field's description and every value is validated by the same model the Python API uses."""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from typing import Any, Literal, Optional

from pydantic import BaseModel, ValidationError

from raypipe.config import PipelineConfig

# Fields that are not plain --options.
_POSITIONAL = {("input", "inputs")}
_REQUIRED = {("output", "output")}
_SHORT = {("output", "output"): "-o"}


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for Optional[X] / X | None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _sections() -> list[tuple[str, type[BaseModel]]]:
    return [(name, _unwrap(f.annotation)[0]) for name, f in PipelineConfig.model_fields.items()]


def add_config_options(parser: argparse.ArgumentParser) -> dict[str, tuple[str, str]]:
    """Add one option per config field; returns dest → (section, field)."""
    dests: dict[str, tuple[str, str]] = {}
    for section, model in _sections():
        group = parser.add_argument_group(section, PipelineConfig.model_fields[section].description)
        for name, field in model.model_fields.items():
            key = (section, name)
            dest = f"{section}__{name}"
            dests[dest] = key
            inner, _ = _unwrap(field.annotation)
            help_text = field.description or ""
            if not field.is_required() and field.default_factory is None and field.default is not None:
                help_text += f" (default: {field.default})"
            kwargs: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
            if typing.get_origin(inner) is Literal:
                kwargs["choices"] = list(typing.get_args(inner))
            elif inner is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            elif typing.get_origin(inner) is list:
                kwargs["nargs"] = "+"
                kwargs["metavar"] = name.upper().rstrip("S")
                item = typing.get_args(inner)[0]
                if item in (int, float):
                    kwargs["type"] = item
            elif typing.get_origin(inner) is dict:
                kwargs["type"] = _json_object
                kwargs["metavar"] = "JSON"
            elif inner in (int, float, str):
                kwargs["type"] = inner
                kwargs["metavar"] = name.upper()
            if key in _POSITIONAL:
                kwargs.pop("dest")
                kwargs.update(nargs="*", metavar="INPUT")
                group.add_argument(dest, **kwargs)
                continue
            flags = [_flag(name)] + ([_SHORT[key]] if key in _SHORT else [])
            if key in _REQUIRED:
                kwargs.pop("default")
                kwargs["required"] = True
            group.add_argument(*flags, **kwargs)
    return dests


def config_from_args(args: argparse.Namespace, dests: dict[str, tuple[str, str]]) -> PipelineConfig:
    nested: dict[str, dict[str, Any]] = {}
    for dest, (section, name) in dests.items():
        if hasattr(args, dest):
            nested.setdefault(section, {})[name] = getattr(args, dest)
    return PipelineConfig.model_validate(nested)


def describe_validation_error(error: ValidationError) -> str:
    """Name the CLI option (and config field) each problem belongs to."""
    lines = []
    for e in error.errors():
        loc = [str(p) for p in e["loc"]]
        msg = e["msg"]
        if len(loc) >= 2:
            lines.append(f"{_flag(loc[1])} ({'.'.join(loc)}): {msg}")
        elif len(loc) == 1:
            lines.append(f"{loc[0]}: {msg}")
        else:
            lines.append(msg)
    return "; ".join(lines)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="raypipe", description="Turn PDFs into text on Ray Data: read → render → engine → postprocess → write."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="process PDFs and write one row per document",
        description="Process PDFs and write one output row per input document.",
    )
    dests = add_config_options(run)
    sub.add_parser("presets", help="list the model presets", description="List the model presets.")
    return parser, dests


def main(argv: Optional[list[str]] = None) -> int:
    parser, dests = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(parser, args, dests)
    if args.command == "presets":
        return _presets()
    return 2


def _presets() -> int:
    from raypipe import presets

    for name in presets.names():
        p = presets.get(name)
        print(f"{name}\n  model: {p.model}\n  parser: {p.parser}, longest side {p.longest_side} px, "
              f"max tokens {p.max_tokens}\n  {p.description}")
    return 0


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, dests: dict) -> int:
    from raypipe.pipeline import EngineUnavailableError, OutputExistsError, check_output, run
    from raypipe.read import InputError, list_documents

    try:
        config = config_from_args(args, dests)
        list_documents(config.input)  # fail on a missing input before Ray starts
        check_output(config)
    except ValidationError as e:
        parser.exit(2, f"raypipe: error: {describe_validation_error(e)}\n")
    except (InputError, OutputExistsError) as e:
        parser.exit(2, f"raypipe: error: {e}\n")
    try:
        run(config)
    except EngineUnavailableError as e:  # found once Ray is up, before any actor starts
        parser.exit(2, f"raypipe: error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
