"""`python -m connector ...`: see connector/cli.py."""

from connector.cli import main

raise SystemExit(main())
