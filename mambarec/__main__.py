"""``python -m mambarec ...``."""

import gc
import signal
import sys

if __name__ == "__main__":
    try:
        from mambarec.cli import main
    except KeyboardInterrupt:  # Ctrl-C in the first half second, while torch and pandas load: no 50-line traceback
        print("\ninterrupted while starting: nothing was done", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    code = main()
    # what is left is the OS's to free: exempt from the interpreter's last collections, which walked torch's objects
    # for 0.15-0.38 s (median 0.22) at every exit (docs/speed.md section 2); files are closed and streams flushed
    # by then
    gc.freeze()
    sys.exit(code)
