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
    if ! python3 -c "import oss2, alibabacloud_oss_v2, pytest, numpy" >/dev/null 2>&1; then
        echo "== installing Python packages: oss2 alibabacloud-oss-v2 pytest numpy"
        python3 -m pip install -q oss2 alibabacloud-oss-v2 pytest numpy
    fi
}
