#!/usr/bin/env python
"""Make PyPI's (CUDA-built) torchvision importable beside CPU torch (torch==X+cpu).

Run with the target venv's interpreter after `pip install 'raypipe[cpu]'`:
    .venv/bin/python tools/patch_torchvision_cpu.py
Only for CPU-only installs (the `cpu` extra); a CUDA install needs nothing of this.
Idempotent, non-interactive, no network.  Exit 0 when `import torchvision` works afterwards.

Why: PyPI only ships CUDA torchvision wheels for linux x86_64.  Their _C.so links
libtorch_cuda.so / libc10_cuda.so, which CPU torch does not have, so the extension
load fails (torchvision swallows that OSError) and then
torchvision/_meta_registrations.py does an unguarded
    @torch.library.register_fake("torchvision::nms")   (and "torchvision::qnms")
which raises "RuntimeError: operator torchvision::nms does not exist".
Fix: guard those two decorators so torchvision imports as pure Python (transforms,
transforms.v2.functional, io.ImageReadMode ... work; torchvision.ops C++ kernels don't).
vLLM's Qwen2-VL path needs exactly that: transformers' image_processing_qwen2_vl.py does
`from torchvision.transforms.v2 import functional as tvF` at import time.

torchaudio / torchcodec (also CUDA builds, fail with "Could not load this library") are
uninstalled unless --keep-audio is given; vLLM imports them only for audio/video inputs.
"""
import importlib.util
import os
import subprocess
import sys

MARKER = "# raypipe-cpu-guard"
GUARD = f'''
{MARKER}: CUDA torchvision wheel beside CPU torch -> _C ops missing; skip fake registration.
def _raypipe_register_fake(name):
    if torchvision.extension._has_ops():
        return torch.library.register_fake(name)
    return lambda fn: fn

'''


def main() -> int:
    if "--keep-audio" not in sys.argv:
        for pkg in ("torchaudio", "torchcodec"):
            if importlib.util.find_spec(pkg) is not None:
                subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "-y", "-q", pkg])
                print(f"uninstalled {pkg}")

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        print("torchvision not installed; nothing to patch")
        return 0
    path = os.path.join(list(spec.submodule_search_locations)[0], "_meta_registrations.py")
    src = open(path, encoding="utf-8").read()
    if MARKER in src:
        print(f"already patched: {path}")
    else:
        anchor = "@functools.lru_cache(None)\ndef get_meta_lib():"
        new = src.replace('@torch.library.register_fake("torchvision::', '@_raypipe_register_fake("torchvision::')
        if new == src or anchor not in new:
            print(f"unexpected layout of {path}; not patched", file=sys.stderr)
        else:
            new = new.replace(anchor, GUARD.lstrip("\n") + "\n" + anchor, 1)
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            # drop stale bytecode
            pyc_dir = os.path.join(os.path.dirname(path), "__pycache__")
            if os.path.isdir(pyc_dir):
                for name in os.listdir(pyc_dir):
                    if name.startswith("_meta_registrations."):
                        os.remove(os.path.join(pyc_dir, name))
            print(f"patched: {path}")

    rc = subprocess.call(
        [sys.executable, "-c",
         "import torch, torchvision; from torchvision.transforms.v2 import functional as F; "
         "print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'import OK')"])
    return rc


if __name__ == "__main__":
    sys.exit(main())
