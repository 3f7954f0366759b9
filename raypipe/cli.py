"""``raypipe`` command line. Options are generated from the config models, so every option's help
is its field's description and every value is validated by the same model the Python API uses."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import types
import typing
from typing import Any, Literal, Optional

from pydantic import BaseModel, ValidationError

from raypipe.config import PipelineConfig
from raypipe.errors import UsageError

# Fields that are not plain --options.
_POSITIONAL = {("input", "inputs")}
_SHORT = {("output", "output"): "-o"}


@dataclasses.dataclass(frozen=True)
class Option:
    path: tuple[str, ...]  # e.g. ("ray", "infer", "actors")
    flags: tuple[str, ...]  # e.g. ("--infer-actors",); the first is the option's name
    field: Any  # the pydantic FieldInfo

    @property
    def dest(self) -> str:
        return "__".join(self.path)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for Optional[X] / X | None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def _cli_meta(field) -> dict:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return extra.get("cli") or {}


def _is_section(annotation: Any) -> bool:
    inner = _unwrap(annotation)[0]
    return isinstance(inner, type) and issubclass(inner, BaseModel)


def options(model: type[BaseModel] = PipelineConfig, path: tuple[str, ...] = (), prefix: str = "") -> list[Option]:
    """One option per leaf field of the configuration, with its flags."""
    found = []
    for name, field in model.model_fields.items():
        meta = _cli_meta(field)
        if meta.get("hidden"):
            continue  # a config-file field only (a secret)
        if _is_section(field.annotation):
            given = meta.get("prefix")
            if not path:  # a top-level section's fields keep their own names unless it says otherwise
                sub_prefix = given or ""
            else:
                sub_prefix = prefix + (given if given is not None else name + "-")
            found += options(_unwrap(field.annotation)[0], path + (name,), sub_prefix)
            continue
        flag = meta.get("flag") or "--" + prefix + name.replace("_", "-")
        short = [_SHORT[path + (name,)]] if path + (name,) in _SHORT else []
        found.append(Option(path + (name,), (flag, *short, *meta.get("aliases", ())), field))
    return found


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def add_config_options(parser: argparse.ArgumentParser) -> list[Option]:
    """Add one option per config field, grouped by section."""
    groups = {
        section: parser.add_argument_group(section, field.description)
        for section, field in PipelineConfig.model_fields.items()
    }
    found = options()
    for option in found:
        field = option.field
        inner, _ = _unwrap(field.annotation)
        help_text = field.description or ""
        if not field.is_required() and field.default_factory is None and field.default is not None:
            help_text += f" (default: {field.default})"
        kwargs: dict[str, Any] = {"dest": option.dest, "default": argparse.SUPPRESS, "help": help_text}
        name = option.path[-1]
        if typing.get_origin(inner) is Literal:
            kwargs["choices"] = list(typing.get_args(inner))
        elif inner is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(inner) is list:
            kwargs["nargs"] = _cli_meta(field).get("nargs") or "+"
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
        group = groups[option.path[0]]
        if option.path in _POSITIONAL:
            kwargs.pop("dest")
            kwargs.update(nargs="*", metavar="INPUT")
            group.add_argument(option.dest, **kwargs)
            continue
        group.add_argument(*option.flags, **kwargs)
    return found


def _put(nested: dict, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nested = nested.setdefault(part, {})
    nested[path[-1]] = value


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def config_file(path: str) -> dict:
    """A job's configuration from a YAML (or JSON) file, nested like the configuration: keys are section
    names (``engine: {vllm: {dtype: ...}}``) or option names (``max-pages: 50``, ``base_url: ...``).
    Secrets can live here (``passwords``, ``engine: {openai: {api_key: ...}}``) instead of an entrypoint."""
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise UsageError(f"--config: cannot read {path!r} ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise UsageError(f"--config: {path!r} is not valid YAML ({e})") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config: {path!r} must hold a mapping of options, not {type(data).__name__}")
    by_flag = {flag.lstrip("-").replace("-", "_"): option.path for option in options() for flag in option.flags if flag.startswith("--")}
    nested: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name in PipelineConfig.model_fields and (isinstance(value, dict) or name not in by_flag):
            nested = _merge(nested, {name: value})
        elif name in by_flag:
            _put(nested, by_flag[name], value)
        else:
            raise UsageError(f"--config: {path!r} has an unknown option {key!r}")
    return nested


def config_from_args(args: argparse.Namespace, found: list[Option]) -> PipelineConfig:
    """The configuration: a --config file first, then every option given on the command line over it."""
    nested: dict[str, Any] = config_file(args.config) if getattr(args, "config", None) else {}
    given: dict[str, Any] = {}
    for option in found:
        if hasattr(args, option.dest):
            _put(given, option.path, getattr(args, option.dest))
    return PipelineConfig.model_validate(_merge(nested, given))


def describe_validation_error(error: ValidationError) -> str:
    """Name the CLI option (and config field) each problem belongs to."""
    flags = {option.path: option.flags[0] for option in options()}
    lines = []
    for e in error.errors():
        loc = tuple(str(p) for p in e["loc"])
        msg = e["msg"]
        if loc in flags:
            lines.append(f"{flags[loc]} ({'.'.join(loc)}): {msg}")
        elif loc:
            lines.append(f"{'.'.join(loc)}: {msg}")
        else:
            lines.append(msg)
    return "; ".join(lines)


def build_parser() -> tuple[argparse.ArgumentParser, list[Option]]:
    parser = argparse.ArgumentParser(
        prog="raypipe", description="Turn PDFs into text on Ray Data: read → render → engine → postprocess → write."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="process PDFs and write one row per document",
        description="Process PDFs and write one output row per input document.",
    )
    run.add_argument(
        "--config", metavar="FILE", help="A YAML file of options (the same names as here, or nested by section); "
        "options given on the command line win. Keeps secrets and long option lists out of an entrypoint.",
    )
    found = add_config_options(run)
    plan = sub.add_parser(
        "plan",
        help="resolve everything a run would use and print it, starting no actor",
        description="Resolve everything `raypipe run` would use with the same options — documents, engine and "
        "device, actors, engine arguments, pages in flight, render concurrency, output and resume state — and "
        "print it as a table (or JSON), without starting a single actor.",
    )
    plan.add_argument("--config", metavar="FILE", help="A YAML file of options, as for `raypipe run`.")
    plan.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    add_config_options(plan)
    sub.add_parser("presets", help="list the model presets", description="List the model presets.")
    return parser, found


def _log_to_stderr() -> None:
    """raypipe's own messages (which cluster, which engine) on stderr, beside Ray's."""
    logger = logging.getLogger("raypipe")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("raypipe: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Optional[list[str]] = None) -> int:
    parser, found = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(parser, args, found)
    if args.command == "plan":
        return _plan(parser, args, found)
    if args.command == "presets":
        return _presets()
    return 2


def _presets() -> int:
    from raypipe.engines import presets

    for name in presets.names():
        p = presets.get(name)
        print(f"{name}\n  model: {p.model}\n  parser: {p.parser}, longest side {p.longest_side} px, "
              f"max tokens {p.max_tokens}\n  {p.description}")
    return 0


def _plan(parser: argparse.ArgumentParser, args: argparse.Namespace, found: list[Option]) -> int:
    from raypipe.plan import describe, make_plan, render_table

    _log_to_stderr()
    try:
        described = describe(make_plan(config_from_args(args, found)))
    except ValidationError as e:
        parser.exit(2, f"raypipe: error: {describe_validation_error(e)}\n")
    except UsageError as e:
        parser.exit(2, f"raypipe: error: {e}\n")
    print(json.dumps(described, indent=2) if args.json else render_table(described), flush=True)
    return 0


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, found: list[Option]) -> int:
    from raypipe.pipeline import run

    _log_to_stderr()
    try:
        config = config_from_args(args, found)
        run(config)
    except ValidationError as e:
        parser.exit(2, f"raypipe: error: {describe_validation_error(e)}\n")
    except UsageError as e:  # found before any actor starts
        parser.exit(2, f"raypipe: error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
