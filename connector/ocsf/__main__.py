"""`python -m connector.ocsf --mapping-doc`: print docs/mapping.md."""

from connector.ocsf.user_inventory import main

raise SystemExit(main())
