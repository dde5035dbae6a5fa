#!/usr/bin/env bash
# Install jepaworld and its test tools into the active Python environment.
#
# On a machine without an NVIDIA GPU, PyTorch's CPU build is installed first, so that pip never
# pulls the multi-GB CUDA build to satisfy jepaworld's `torch` requirement:
#   1. a torch that already imports is kept;
#   2. a CPU wheel of torch that pip finds offline (find-links, a local index) is installed,
#      its own dependencies coming from the package index as usual;
#   3. otherwise the CPU build comes from PyTorch's CPU index.
# With a GPU (nvidia-smi answers), the regular PyPI build, which bundles CUDA, is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
command -v "$PY" >/dev/null || PY=python3
TORCH_VERSION=${JEPAWORLD_TORCH_VERSION:-2.13.0}

if "$PY" -c "import torch" 2>/dev/null; then
    echo "setup: keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: GPU found, installing torch with CUDA"
    "$PY" -m pip install "torch>=2.4"
elif probe=$(mktemp -d) && "$PY" -m pip download -q --no-deps --no-index -d "$probe" "torch==${TORCH_VERSION}" \
        2>/dev/null && ls "$probe" | grep -q '+cpu'; then
    echo "setup: installing the local CPU build of torch ${TORCH_VERSION}"
    "$PY" -m pip install "$probe"/torch-*.whl
else
    echo "setup: installing the CPU build of torch from PyTorch's CPU index"
    "$PY" -m pip install torch --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
fi
"$PY" -m pip install -e ".[dev]"

# The viewer's page tests drive Debian's headless Chromium through its chromedriver.
if ! command -v chromedriver >/dev/null && [ -z "${JEPAWORLD_SKIP_BROWSER:-}" ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "setup: installing chromium and chromium-driver for the viewer's page tests"
        apt-get install -y -q chromium chromium-driver >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
            || echo "setup: WARNING: could not install chromium; the viewer's page tests will be skipped"
    else
        echo "setup: note: chromium + chromedriver not found; the viewer's page tests will be skipped" \
             "(Debian: apt-get install chromium chromium-driver)"
    fi
fi
# Reacher renders headless through OSMesa (MUJOCO_GL=osmesa): Debian's libosmesa6.
if ! ldconfig -p 2>/dev/null | grep -q libOSMesa; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "setup: installing libosmesa6 for headless MuJoCo rendering"
        apt-get install -y -q libosmesa6 >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q libosmesa6 >/dev/null; } \
            || echo "setup: WARNING: could not install libosmesa6; jepaworld/Reacher-v0 will not render"
    else
        echo "setup: note: libOSMesa not found; jepaworld/Reacher-v0 needs it (Debian: apt-get install libosmesa6)"
    fi
fi
"$PY" -c "import jepaworld, torch; print(f'setup: jepaworld {jepaworld.__version__}, torch {torch.__version__}, cuda {torch.cuda.is_available()}')"
