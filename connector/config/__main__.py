"""`python -m connector.config --write | --check`: regenerate or check the generated files."""

from connector.config.generate import main

raise SystemExit(main())
