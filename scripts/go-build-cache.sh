# Sourced by the scripts/build-*.sh scripts: the versioned build cache they share. Each script sets
# BINARIES (the files its bin dir must hold) and defines log() before sourcing this, then calls, in
# order: use_given_bin_dir, reuse_or_lock, start_build, timed (per binary), publish.
# Every function that finds the work done prints the bin dir as the LAST line of stdout and exits.

check_bin_dir() {  # check_bin_dir DIR: every one of BINARIES is an executable there
    local dir=$1 b
    for b in "${BINARIES[@]}"; do
        [[ -x "$dir/$b" ]] || return 1
    done
}

use_given_bin_dir() {  # use_given_bin_dir VARNAME: binaries named by the environment; nothing is built
    local dir=${!1:-}
    [[ -n "$dir" ]] || return 0
    if ! check_bin_dir "$dir"; then
        log "$1=$dir lacks one of: ${BINARIES[*]}"
        exit 1
    fi
    printf '%s\n' "$dir"
    exit 0
}

reuse_or_lock() {  # reuse_or_lock OUT: a finished build in OUT is reused; else hold OUT's build lock
    out=$1
    bin=$out/bin
    if [[ -f "$out/complete" ]] && check_bin_dir "$bin"; then
        printf '%s\n' "$bin"
        exit 0
    fi
    mkdir -p "$out"
    # Concurrent callers (parallel test sessions) wait for one builder instead of racing it.
    exec 9>"$out/lock"
    flock 9
    if [[ -f "$out/complete" ]] && check_bin_dir "$bin"; then
        printf '%s\n' "$bin"
        exit 0
    fi
}

start_build() {  # sets jobs (go build -p) and an empty tmp dir the binaries are built into
    local cpus
    cpus=$(nproc 2>/dev/null || echo 2)
    jobs=${KAITO_BUILD_JOBS:-$(( cpus < 4 ? cpus : 4 ))}
    tmp=$out/bin.partial
    rm -rf "$tmp"
    mkdir -p "$tmp"
    times=$out/build-times.txt
    : >"$times"
}

timed() {  # timed NAME CMD... ; appends "NAME SECONDS" to build-times.txt
    local name=$1 start end
    shift
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    awk -v n="$name" -v a="$start" -v b="$end" 'BEGIN { printf "%s %.1f\n", n, b - a }' | tee -a "$times" >&2
}

publish() {  # the finished binaries become the cache entry, marked complete
    rm -rf "$bin"
    mv "$tmp" "$bin"
    du -sb "$bin" | cut -f1 >"$out/bin-bytes"
    touch "$out/complete"
    log "done: $(du -sh "$bin" | cut -f1) in $bin"
    printf '%s\n' "$bin"
}
