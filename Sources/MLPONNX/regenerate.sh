#!/usr/bin/env bash
# Regenerates Sources/MLPONNX/onnx.pb.swift, the Swift for ONNX's onnx.proto, which is committed
# so that building mlp never needs protoc. Run it only to move to another onnx.proto or
# swift-protobuf; then commit the new file with the versions below updated.
#
# Needs: python3 with pip (PyPI), Debian's protobuf-compiler (protoc), git, swift.
# PROTOC_GEN_SWIFT=PATH uses a protoc-gen-swift built already (of that release) instead of building one.
# The generated file must come from the protoc-gen-swift of the swift-protobuf release that
# Package.swift names (the runtime checks the generator's API version).
set -euo pipefail

ONNX_VERSION=1.23.2            # the onnx wheel on PyPI whose onnx/onnx.proto is compiled
SWIFT_PROTOBUF_VERSION=1.39.0  # as in Package.swift

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v protoc >/dev/null || { echo "regenerate: protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }

# onnx.proto from the onnx wheel (any platform's wheel holds the same file).
python3 -m pip download --quiet --no-deps --only-binary :all: --dest "$work/wheel" "onnx==$ONNX_VERSION"
python3 - "$work" <<'PY'
import glob, sys, zipfile
work = sys.argv[1]
wheel, = glob.glob(f"{work}/wheel/onnx-*.whl")
with zipfile.ZipFile(wheel) as archive:
    archive.extract("onnx/onnx.proto", f"{work}/proto")
PY

# protoc-gen-swift, built from the same swift-protobuf release as the runtime (about 2 minutes).
plugin=${PROTOC_GEN_SWIFT:-}
if [ -z "$plugin" ]; then
    git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$SWIFT_PROTOBUF_VERSION" \
        https://github.com/apple/swift-protobuf "$work/swift-protobuf"
    (cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift)
    plugin="$work/swift-protobuf/.build/release/protoc-gen-swift"
fi

# Internal visibility: the generated types are MLPONNX's own; its public API is the exporter.
mkdir "$work/out"
protoc --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Internal --swift_out="$work/out" -I "$work/proto" "$work/proto/onnx/onnx.proto"
cp "$work/out/onnx/onnx.pb.swift" "$here/onnx.pb.swift"
echo "regenerate: wrote $here/onnx.pb.swift from onnx $ONNX_VERSION's onnx.proto ($(protoc --version), protoc-gen-swift $SWIFT_PROTOBUF_VERSION)"
