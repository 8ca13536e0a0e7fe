"""`python -m connector.ocsf --mapping-doc`: print docs/mapping.md."""

from connector.ocsf.mapping_doc import main

raise SystemExit(main())
