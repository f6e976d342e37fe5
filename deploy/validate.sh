#!/usr/bin/env bash
# Checks the deployment offline: each Kubernetes resource against the API's schema (kubernetes-validate from PyPI,
# strict: an unknown field is an error), kustomization.yaml names every manifest; and, given the binary the
# Dockerfile builds (`swift build -c release --static-swift-stdlib --product mlcycle`), that it loads no library
# beyond those the run image installs. No cluster or container engine is needed; the image itself is not built here.
#   bash deploy/validate.sh [.build/release/mlcycle]
set -euo pipefail
if [ -n "${1:-}" ]; then
    # The run image: debian:bookworm-slim + libsqlite3-0 libstdc++6 zlib1g (libc, libm, libgcc_s are in the base).
    allowed='^(linux-vdso\.so\.1|libsqlite3\.so\.0|libstdc\+\+\.so\.6|libz\.so\.1|libm\.so\.6|libgcc_s\.so\.1|libc\.so\.6|/lib64/ld-linux-x86-64\.so\.2)$'
    extra=$(ldd "$1" | awk '{print $1}' | grep -Ev "$allowed" || true)
    if [ -n "$extra" ]; then
        echo "deploy/validate.sh: $1 loads libraries the run image lacks: $extra (add them to the Dockerfile)" >&2
        exit 1
    fi
    "$1" --version >/dev/null
    echo "deploy/validate.sh: $1 loads only the run image's libraries"
fi
cd "$(dirname "$0")/kubernetes"
venv="../../.venv-deploy"
if ! [ -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0'
fi
manifests=$(ls *.yaml | grep -v '^kustomization.yaml$')
"$venv/bin/kubernetes-validate" --strict --quiet $manifests
for m in $manifests; do
    grep -qE "^  - $m\$" kustomization.yaml || { echo "deploy/validate.sh: kustomization.yaml does not list $m" >&2; exit 1; }
done
echo "deploy/validate.sh: $(echo $manifests | wc -w) manifests valid against Kubernetes 1.37"
