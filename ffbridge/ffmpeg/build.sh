#!/bin/sh
# Build an FFmpeg with gvc1d inside it (libavcodec "libgvc1d" encoder/decoder, libavformat "gvc"
# demuxer/muxer, gvc1d in Matroska and NUT) and print where the ffmpeg binary is.
#
#   ffbridge/ffmpeg/build.sh            # -> ffbridge/ffmpeg/bin/ffmpeg, ffbridge/ffmpeg/bin/ffprobe
#
# 1. builds libgvc1d (make -C ffbridge) with PYTHON (default: the repository's .venv, else python3);
# 2. downloads FFmpeg's source as the distribution ships it (`apt-get source ffmpeg`, the version
#    `apt-cache policy ffmpeg` names), through a private apt configuration with a deb-src entry
#    under ffbridge/ffmpeg/build/apt (the system's apt configuration is not touched; no root needed);
# 3. unpacks it with dpkg-source (Debian's own patches applied), applies
#    ffbridge/ffmpeg/libgvc1d-ffmpeg-5.1.patch;
# 4. configures a small build (only what gvc1d needs, plus common inputs and outputs; libx264,
#    libx265 and libdav1d when pkg-config finds them: as root with apt-get, their development
#    packages and nasm are installed from the distribution first) and builds it in ffbridge/ffmpeg/build/;
# 5. copies ffmpeg and ffprobe into ffbridge/ffmpeg/bin/ and prints the ffmpeg path (last line).
#
# Idempotent: every step is skipped when its result is up to date (stamps hold the inputs' hashes),
# so a second run only runs make (a few seconds). Environment: PYTHON, JOBS (default 2),
# FFMPEG_SRC_DIR (an already unpacked and Debian-patched source tree to use instead of apt),
# EXTRA_CONFIGURE (more configure options), FFMPEG_NO_INSTALL=1 (install no packages).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD="$HERE/build"
BIN="$HERE/bin"
PATCH="$HERE/libgvc1d-ffmpeg-5.1.patch"
JOBS=${JOBS:-2}

say() { echo "ffmpeg-build: $*" >&2; }
die() { echo "ffmpeg-build: error: $*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

mkdir -p "$BUILD" "$BIN"

# ---- 1. libgvc1d ---------------------------------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
say "building libgvc1d (PYTHON=$PYTHON)"
make -s -C "$ROOT/ffbridge" PYTHON="$PYTHON" >&2 || die "make -C ffbridge failed"
PKG_CONFIG_PATH="$ROOT/ffbridge/build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
pkg-config --exists gvc1d || die "pkg-config cannot find gvc1d.pc in $ROOT/ffbridge/build"

# ---- external codecs from the distribution (root with apt-get only; optional) -------------------
# libx264 / libx265 (encoders, GPL), libdav1d (AV1 decoder) and nasm (FFmpeg's x86 assembly). When
# nothing can be installed, FFmpeg is built with whatever of them is already there.
DEPS="libx264-dev libx265-dev libdav1d-dev nasm pkg-config"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; }
if [ "${FFMPEG_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null &&
   command -v dpkg-query >/dev/null; then
    MISSING=""
    for p in $DEPS; do installed "$p" || MISSING="$MISSING $p"; done
    if [ -n "$MISSING" ]; then
        say "apt-get install$MISSING"
        # shellcheck disable=SC2086
        if ! apt_install $MISSING; then
            say "apt-get install failed: apt-get update, then again (package by package)"
            apt-get update -q >&2 || say "apt-get update failed"
            for p in $MISSING; do apt_install "$p" || say "cannot install $p: building without it"; done
        fi
    fi
fi

# ---- 2./3. source ------------------------------------------------------------------------------
if [ -n "${FFMPEG_SRC_DIR:-}" ]; then
    ORIG="$FFMPEG_SRC_DIR"
    VERSION=local
else
    command -v apt-get >/dev/null || die "apt-get not found: set FFMPEG_SRC_DIR to an unpacked FFmpeg 5.1 source tree"
    VERSION=$(apt-cache policy ffmpeg 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    case "$VERSION" in ""|"(none)") die "apt-cache policy ffmpeg names no version (is this Debian/Ubuntu?)";; esac
    UPVER=$(echo "$VERSION" | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//')
    DL="$BUILD/download"
    ORIG="$BUILD/ffmpeg-$UPVER-debian"
    if [ ! -f "$ORIG/.unpacked" ]; then
        APT="$BUILD/apt"
        mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$DL"
        # a deb-src entry for every deb entry the system has (one-line and deb822 formats)
        {
            for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [ -f "$f" ] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f"
            done
            for f in /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                awk 'BEGIN{RS=""; FS="\n"} {
                    types=""; uris=""; suites=""; comps=""; opts="";
                    for (i = 1; i <= NF; i++) {
                        line = $i; if (line ~ /^#/) continue;
                        split(line, kv, ":"); key = kv[1]; val = substr(line, length(key) + 2); gsub(/^[ \t]+/, "", val);
                        if (key == "Types") types = val; else if (key == "URIs") uris = val;
                        else if (key == "Suites") suites = val; else if (key == "Components") comps = val;
                        else if (key == "Signed-By") opts = " [signed-by=" val "]";
                        else if (key == "Enabled" && val == "no") types = "";
                    }
                    if (types !~ /deb/) next;
                    n = split(uris, U, " "); m = split(suites, S, " ");
                    for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print "deb-src" opts " " U[a] " " S[b] " " comps
                }' "$f"
            done
        } | sort -u > "$APT/sources.list"
        [ -s "$APT/sources.list" ] || die "no apt sources found to derive a deb-src entry from"
        APTOPTS="-o Dir::Etc::SourceList=$APT/sources.list -o Dir::Etc::SourceParts=/dev/null
                 -o Dir::State::Lists=$APT/lists -o Dir::Cache=$APT/cache -o APT::Sandbox::User=root"
        say "apt-get update (deb-src only, private lists in $APT)"
        # shellcheck disable=SC2086
        apt-get $APTOPTS update >&2 || die "apt-get update for the deb-src entries failed"
        say "apt-get source ffmpeg=$VERSION"
        # shellcheck disable=SC2086
        (cd "$DL" && apt-get $APTOPTS source --download-only "ffmpeg=$VERSION" >&2) \
            || die "apt-get source ffmpeg=$VERSION failed"
        DSC=$(ls "$DL"/ffmpeg_*.dsc | head -n 1)
        rm -rf "$ORIG"
        if command -v dpkg-source >/dev/null; then
            dpkg-source --no-check -x "$DSC" "$ORIG" >&2 || die "dpkg-source -x $DSC failed"
        else  # no dpkg-dev: unpack the tarballs and apply Debian's patch series by hand
            mkdir -p "$ORIG"
            tar -xf "$DL"/ffmpeg_*.orig.tar.* -C "$ORIG" --strip-components=1
            tar -xf "$DL"/ffmpeg_*.debian.tar.* -C "$ORIG"
            if [ -f "$ORIG/debian/patches/series" ]; then
                grep -v '^#' "$ORIG/debian/patches/series" | while read -r p _; do
                    [ -n "$p" ] && patch -d "$ORIG" -p1 -s < "$ORIG/debian/patches/$p"
                done
            fi
        fi
        touch "$ORIG/.unpacked"
    fi
fi

# the patched tree: a copy of the Debian tree plus our patch, redone when the patch changes
SRC="$BUILD/src"
PATCH_HASH=$(hash_of "$PATCH")
if [ ! -f "$SRC/.patched" ] || [ "$(cat "$SRC/.patched")" != "$VERSION $PATCH_HASH" ]; then
    say "applying $(basename "$PATCH") to FFmpeg $VERSION"
    rm -rf "$SRC"
    cp -a "$ORIG" "$SRC"
    patch -d "$SRC" -p1 -s --no-backup-if-mismatch < "$PATCH" \
        || die "the patch does not apply to FFmpeg $VERSION (it was made for Debian's 5.1.9-0+deb12u1)"
    echo "$VERSION $PATCH_HASH" > "$SRC/.patched"
    rm -f "$BUILD/.configured"
fi

# ---- 4. configure and build --------------------------------------------------------------------
EXTERNAL="--enable-libgvc1d"
ENC="libgvc1d,rawvideo,wrapped_avframe,mpeg4,ac3,aac,pcm_s16le"
DEC="libgvc1d,rawvideo,wrapped_avframe,h264,hevc,mpeg4,vp9,av1,png,mjpeg,aac,ac3,mp3float,opus,vorbis,flac,pcm_s16le"
ENABLED="libgvc1d $(pkg-config --modversion gvc1d)"   # what the stamp and the summary name
if pkg-config --exists x264 2>/dev/null; then
    EXTERNAL="$EXTERNAL --enable-gpl --enable-libx264"; ENC="$ENC,libx264"
    ENABLED="$ENABLED, libx264 $(pkg-config --modversion x264)"
fi
if pkg-config --exists x265 2>/dev/null; then
    case "$EXTERNAL" in *--enable-gpl*) ;; *) EXTERNAL="$EXTERNAL --enable-gpl";; esac
    EXTERNAL="$EXTERNAL --enable-libx265"; ENC="$ENC,libx265"
    ENABLED="$ENABLED, libx265 $(pkg-config --modversion x265)"
fi
if pkg-config --exists "dav1d >= 0.5.0" 2>/dev/null; then
    EXTERNAL="$EXTERNAL --enable-libdav1d"; DEC="$DEC,libdav1d"
    ENABLED="$ENABLED, libdav1d $(pkg-config --modversion dav1d)"
fi
# without nasm (or yasm) FFmpeg's x86 assembly is left out: slower h264/hevc decoding, same results
ASM=""
if ! command -v nasm >/dev/null && ! command -v yasm >/dev/null; then
    say "nasm not found: configuring with --disable-x86asm (apt-get install nasm for the assembly)"
    ASM="--disable-x86asm"
fi
CONFIG="$ASM --prefix=$BUILD/install --disable-everything --disable-autodetect --disable-doc --disable-debug
 --disable-ffplay --enable-ffmpeg --enable-ffprobe $EXTERNAL
 --enable-encoder=$ENC
 --enable-decoder=$DEC
 --enable-demuxer=gvc,yuv4mpegpipe,matroska,nut,mov,h264,hevc,rawvideo,image2,wav,mp3,ogg,ivf
 --enable-muxer=gvc,yuv4mpegpipe,matroska,nut,rawvideo,framemd5,md5,framecrc,null,image2,mp4,mov
 --enable-parser=h264,hevc,mpeg4video,vp9,av1,png,mjpeg,aac,ac3,mpegaudio,opus,vorbis,flac
 --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,vp9_superframe,av1_frame_merge,extract_extradata
 --enable-protocol=file,pipe
 --enable-filter=scale,format,null,copy,aresample,aformat,anull,fps,crop,trim,atrim,setpts
 --enable-swscale --enable-swresample ${EXTRA_CONFIGURE:-}"
CONFIG=$(echo $CONFIG)   # one line
say "external libraries: $ENABLED${ASM:+ (no x86 assembly)}"
# the stamp: the configure line (which names what is enabled), the libraries' versions, the patch
CONFIG_HASH=$(printf '%s %s %s' "$CONFIG" "$ENABLED" "$(cat "$SRC/.patched")" | sha256sum | cut -c1-16)
if [ ! -f "$BUILD/.configured" ] || [ "$(cat "$BUILD/.configured")" != "$CONFIG_HASH" ]; then
    say "configure $CONFIG"
    # shellcheck disable=SC2086
    (cd "$SRC" && ./configure $CONFIG >"$BUILD/configure.log" 2>&1) \
        || { tail -n 20 "$SRC/ffbuild/config.log" >&2; die "configure failed (see $BUILD/configure.log, $SRC/ffbuild/config.log)"; }
    echo "$CONFIG_HASH" > "$BUILD/.configured"
fi
say "make -j$JOBS (log: $BUILD/make.log)"
(cd "$SRC" && make -j"$JOBS" ffmpeg ffprobe >"$BUILD/make.log" 2>&1) \
    || { tail -n 30 "$BUILD/make.log" >&2; die "make failed (see $BUILD/make.log)"; }

# ---- 5. install --------------------------------------------------------------------------------
for p in ffmpeg ffprobe; do
    if ! cmp -s "$SRC/$p" "$BIN/$p"; then
        cp "$SRC/$p" "$BIN/$p.tmp" && mv -f "$BIN/$p.tmp" "$BIN/$p"
    fi
done
"$BIN/ffmpeg" -hide_banner -h encoder=libgvc1d >/dev/null 2>&1 || die "$BIN/ffmpeg does not run or lacks libgvc1d"
say "external codecs in the build: $(for k in encoders decoders; do "$BIN/ffmpeg" -hide_banner -$k 2>/dev/null |
    awk -v k="${k%s}" '$2 ~ /^lib/ { printf "%s (%s) ", $2, k }'; done)"
say "done: $BIN/ffmpeg and $BIN/ffprobe"
echo "$BIN/ffmpeg"
