"""``maskrcnn-ext list``: every registered component, by registry, and the registered datasets."""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("registry", nargs="?", default=None,
                        help="only this registry (e.g. POOLER); 'datasets' lists datasets")


def format_registries(only: str | None = None) -> str:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    import maskrcnn_ext.modeling  # noqa: F401  (registers the components)
    from maskrcnn_ext.registry import ALL_REGISTRIES, registered_names

    lines = []
    for registry in ALL_REGISTRIES:
        if only and registry._name.lower() != only.lower():
            continue
        lines.append(f"{registry._name}:")
        for name in registered_names(registry):
            obj = registry.get(name)
            summary = (obj.__doc__ or "").strip().splitlines()
            lines.append(f"  {name:<28} {obj.__module__}" + (f"  -- {summary[0]}" if summary else ""))
    return "\n".join(lines)


def format_datasets() -> str:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.data.catalog import DatasetCatalog

    return "datasets:\n" + "\n".join(f"  {name}" for name in sorted(DatasetCatalog.list()))


def run(args: argparse.Namespace) -> int:
    parts = []
    if args.registry in (None, "datasets"):
        parts.append(format_datasets())
    if args.registry != "datasets":
        text = format_registries(args.registry)
        if not text:
            sys.stderr.write(f"No registry named {args.registry!r}\n")
            return 2
        parts.insert(0, text)
    sys.stdout.write("\n\n".join(parts) + "\n")
    return 0
