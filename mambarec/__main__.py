"""``python -m mambarec ...``."""

import gc
import sys

from mambarec.cli import main

if __name__ == "__main__":
    code = main()
    # what is left is the OS's to free: exempt from the interpreter's last collections, which walked torch's objects
    # for 0.2-0.35 s at every exit (docs/speed.md section 2); files are closed and streams flushed by then
    gc.freeze()
    sys.exit(code)
