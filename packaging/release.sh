#!/usr/bin/env bash
# Builds routerd's release files into dist/ (and nothing else: no upload):
# for each target a static binary (CGO_ENABLED=0, -trimpath, -ldflags "-s -w")
# packed with LICENSE, README.md and the sample router.yaml into
# routerd_VERSION_OS_ARCH.tar.gz (.zip for windows where zip is installed),
# and SHA256SUMS over the archives (verify with: cd dist && sha256sum -c SHA256SUMS).
#
#   packaging/release.sh                           every target
#   TARGETS="linux/amd64" packaging/release.sh     some targets
#   VERSION=v1.2.3 packaging/release.sh            archive names (default: git describe)
#
# In a git checkout the binaries carry the commit for `routerd --version`
# (-buildvcs=true whatever GOFLAGS says; tag the commit vX.Y.Z first and they
# report vX.Y.Z). Outside one, VERSION is linked in as the version. Archives
# are reproducible: file times are the commit's (SOURCE_DATE_EPOCH). Needs GNU
# tar and coreutils (Linux).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-"linux/amd64 linux/arm64 darwin/arm64 windows/amd64"}
DIST=dist

ldflags="-s -w"
if git rev-parse --git-dir >/dev/null 2>&1; then
  vcs=true
  VERSION=${VERSION:-$(git describe --tags --always --dirty)}
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
else
  vcs=false
  VERSION=${VERSION:-devel}
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
  [ "$VERSION" = devel ] || ldflags="$ldflags -X main.version=$VERSION"
fi
export SOURCE_DATE_EPOCH TZ=UTC  # zip stores local times

rm -rf "$DIST"
mkdir -p "$DIST"
for target in $TARGETS; do
  os=${target%/*} arch=${target#*/}
  name=routerd_${VERSION}_${os}_${arch}
  exe=routerd; [ "$os" = windows ] && exe=routerd.exe
  start=$SECONDS
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=$vcs -ldflags "$ldflags" \
    -o "$DIST/$name/$exe" ./cmd/routerd
  cp LICENSE README.md router.yaml "$DIST/$name/"
  touch -d "@$SOURCE_DATE_EPOCH" "$DIST/$name" "$DIST/$name"/*
  if [ "$os" = windows ] && command -v zip >/dev/null; then
    archive=$name.zip
    (cd "$DIST" && find "$name" | LC_ALL=C sort | zip -q -X -@ "$archive")
  else
    archive=$name.tar.gz
    tar -C "$DIST" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -cf - "$name" | gzip -n -9 >"$DIST/$archive"
  fi
  rm -r "${DIST:?}/$name"
  echo "$DIST/$archive ($((SECONDS - start))s)"
done
(cd "$DIST" && sha256sum -- *.tar.gz $(ls *.zip 2>/dev/null) >SHA256SUMS)
echo "$DIST/SHA256SUMS:"
cat "$DIST/SHA256SUMS"
