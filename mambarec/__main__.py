"""``python -m mambarec ...``."""

import sys

from mambarec.cli import main

if __name__ == "__main__":
    sys.exit(main())
