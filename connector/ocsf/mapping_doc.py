"""`docs/mapping.md`: one section per OCSF class, each rendered from its module's `MAPPING`.

`python -m connector.ocsf --mapping-doc > docs/mapping.md`; a test proves the file is current.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from connector.ocsf import (
    authentication,
    device_inventory,
    directory_audit,
    user_inventory,
    workload_identity,
)


def render_mapping_doc() -> str:
    """User Inventory Info (5003) first, then Authentication (3002), Device Inventory Info (5001)
    and the directory audit classes."""
    return "\n".join((user_inventory.render_mapping_doc(), authentication.render_mapping_section(),
                      device_inventory.render_mapping_section(),
                      directory_audit.render_mapping_section(),
                      workload_identity.render_mapping_section()))


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
