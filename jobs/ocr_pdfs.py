"""Entry point for ``ray job submit ... -- python jobs/ocr_pdfs.py INPUT... --output DIR [options]``.

The same options as ``raypipe run`` (see ``raypipe run --help``). Inside a Ray job RAY_ADDRESS is
set, so the pipeline attaches to the cluster the job was submitted to.

Exit codes, which ``ray job status`` reports as the job's state:
  0  the job ran, even if some documents failed (they are rows with an error code) → SUCCEEDED
  2  a bad option or input, found before any work starts; the message is on stderr → FAILED
  1  an error that stopped the whole job (e.g. the output cannot be written); traceback on stderr → FAILED
"""

import os
import sys

import raypipe
from raypipe.cli import main

if __name__ == "__main__":
    # Which code runs: with a working_dir runtime_env it is the submitted checkout, not the nodes' install.
    print(f"raypipe {raypipe.__version__} from {os.path.dirname(raypipe.__file__)}", file=sys.stderr, flush=True)
    sys.exit(main(["run", *sys.argv[1:]]))
