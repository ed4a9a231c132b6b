# Installs what ossmount needs on Debian 12 when it is missing: the C libraries
# it links (FUSE, libcurl, OpenSSL), the peers the tests mount, attr (setfattr)
# and the official Python SDKs. Sourced by scripts/test.sh and scripts/demo.sh.
install_deps() {
    local debs=(fuse3 libfuse3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config ca-certificates s3fs rclone attr)
    local missing=() p
    for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing Debian packages: ${missing[*]}"
        local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! python3 -c "import oss2, alibabacloud_oss_v2, pytest, numpy, cryptography, yaml" >/dev/null 2>&1; then
        echo "== installing Python packages: oss2 alibabacloud-oss-v2 pytest numpy cryptography pyyaml"
        python3 -m pip install -q oss2 alibabacloud-oss-v2 pytest numpy cryptography pyyaml
    fi
    install_connector
}

# The OSS Connector for AI/ML (PyPI osstorchconnector) and the torch it imports.
# PyPI's torch pulls gigabytes of CUDA packages: a CPU-only wheel the machine ships
# (/opt/wheels) is used when there is one; otherwise the CPU build from PyPI.
install_connector() {
    python3 -c "import osstorchconnector" >/dev/null 2>&1 && return 0
    if ! python3 -c "import torch" >/dev/null 2>&1; then
        local wheel
        wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -n 1 || true)
        echo "== installing torch (CPU): ${wheel:-torch from PyPI}"
        python3 -m pip install -q "${wheel:-torch}" || echo "== torch could not be installed: the connector tests will say so"
    fi
    python3 -m pip install -q osstorchconnector || echo "== osstorchconnector could not be installed: the connector tests will say so"
}

# matplotlib, for the benchmarks' charts (scripts/bench/run, scripts/bench/train).
install_chart_deps() {
    python3 -c "import matplotlib" >/dev/null 2>&1 && return 0
    echo "== installing Python packages: matplotlib"
    python3 -m pip install -q matplotlib
}
