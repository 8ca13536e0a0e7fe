"""`docs/mapping.md`: one section per OCSF class, each rendered from its module's `MAPPING`.

`python -m connector.ocsf --mapping-doc > docs/mapping.md`; a test proves the file is current.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from connector.streams import registry


def render_mapping_doc() -> str:
    """The first stream's class (User Inventory Info, 5003) with the document's introduction,
    then each other stream's section (the directory audit stream's: its four classes), in the
    stream registry's order."""
    modules = [registry.mapping_module(spec) for spec in registry.STREAMS]
    return "\n".join([modules[0].render_mapping_doc(),
                      *(module.render_mapping_section() for module in modules[1:])])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.ocsf", description=__doc__)
    parser.add_argument(
        "--mapping-doc", action="store_true", help="print docs/mapping.md (Markdown) to stdout"
    )
    args = parser.parse_args(argv)
    if not args.mapping_doc:
        parser.print_help()
        return 2
    sys.stdout.write(render_mapping_doc())
    return 0
