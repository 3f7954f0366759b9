"""Entry point for ``ray job submit ... -- python jobs/ocr_pdfs.py INPUT... --output DIR [options]``.

The same options as ``raypipe run`` (see ``raypipe run --help``). Inside a Ray job RAY_ADDRESS is
set, so the pipeline attaches to the cluster the job was submitted to. Exit code 0 when the job ran
(even if some documents failed: they are rows with an error code); 2 for a bad option or input.
"""

import sys

from raypipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
