#!/usr/bin/env bash
# make bench: generates the scale data when missing (target/bench-data/SIZE, never committed),
# audits each size with /usr/bin/time -v and prints wall time, CPU time, peak RSS, the stage
# timings the audit prints with PLANAUDIT_TIMINGS=1, and the read floor (every layer read once
# through GDAL's Arrow stream, examples/read_floor.rs, timed as a whole process as the audit is)
# with the ratio audit / read floor.
#
# The audit runs on a copy of the size's city.toml with `snap = "node"` (city-node.toml beside it,
# so that its relative paths hold), the convention of the Python peer: bench/peer/peer.py computes
# the same three indicators with GeoPandas, Shapely, pyproj and networkx (installed from PyPI into
# target/peer-venv from bench/peer/requirements.txt), under /usr/bin/time -v as well; the table
# shows its wall time, peak RSS and the speed-up peer / audit, and bench/peer/compare.py checks
# that the numbers agree (the bench fails when they do not).
#
# BENCH_SIZES="city province" (default) picks the sizes; BENCH_SCALE=0.1 shrinks them;
# BENCH_PEER=0 skips the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_SIZES:-"city province"}
SCALE=${BENCH_SCALE:-1}
DATA=target/bench-data
BIN=target/release/planaudit
FLOOR=target/release/examples/read_floor
PEER=${BENCH_PEER:-1}
VENV=target/peer-venv
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time (package time) is missing" >&2; exit 1; }
cargo build --release --locked --bin planaudit --example read_floor >&2

# The peer's virtual environment, (re)installed when the pinned requirements change.
if [ "$PEER" != 0 ] && ! cmp -s bench/peer/requirements.txt "$VENV/requirements.txt"; then
  echo "== installing the Python peer into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { echo "bench: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/peer/requirements.txt >&2
  cp bench/peer/requirements.txt "$VENV/requirements.txt"
fi

# Wall seconds and peak RSS in MiB from a /usr/bin/time -v report.
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
cpu_s() { awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$1"; }
rss_mib() { awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$1"; }

rows=()
disagree=()
for size in $SIZES; do
  tag=$size; [ "$SCALE" = 1 ] || tag="$size-x$SCALE"
  dir=$DATA/$tag
  if [ ! -f "$dir/.complete" ]; then
    echo "== generating $tag" >&2
    rm -rf "$dir"
    mkdir -p "$DATA"
    "$BIN" generate --size "$size" --scale "$SCALE" -o "$dir" > "$DATA/$tag.generate.txt"
    touch "$dir/.complete"
  fi
  counts=$(sed -n 's/.*: \(.*\)$/\1/p' "$DATA/$tag.generate.txt")
  # The audit and the peer both snap points to the nearest node.
  city="$dir/city-node.toml"
  sed 's/^snap = .*/snap = "node"/' "$dir/city.toml" > "$city"
  grep -q '^snap = "node"$' "$city" || { echo "bench: $dir/city.toml has no snap line to set to node" >&2; exit 1; }
  out=target/bench-out/$tag
  rm -rf "$out"; mkdir -p target/bench-out
  echo "== auditing $tag" >&2
  # The read floor and the audit, taken in turns (this machine's speed drifts, in phases that last
  # minutes): five rounds of the floor, the first three each followed by an audit; the best of
  # each. The floor is timed as the audit is, the whole process under /usr/bin/time (starting it
  # loads GDAL and the libraries it links, 0.03-0.06 s here, which any GDAL-based tool pays); the
  # read alone, as the floor's own clock gives it, is shown beside it. The page cache is warm for
  # both. The table and the stages are those of the fastest audit.
  best=""
  reading=""
  fastest=""
  for run in 1 2 3 4 5; do
    /usr/bin/time -v "$FLOOR" "$dir/built_up_areas.shp#built_up_areas" "$dir/roads.gpkg#roads" "$dir/landuse.gpkg#landuse" \
      "$dir/landuse.gpkg#parks" "$dir/facilities.gpkg#facilities" > "$DATA/$tag.floor.stdout" 2> "$DATA/$tag.floor.stderr" || {
      echo "bench: the read floor failed on $tag, see $DATA/$tag.floor.stderr" >&2; exit 1; }
    t=$(wall_s "$DATA/$tag.floor.stderr")
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then
      best=$t
      reading=$(awk '$1=="total"{print $3}' "$DATA/$tag.floor.stdout")
    fi
    [ "$run" -le 3 ] || continue
    rm -rf "$out"
    PLANAUDIT_TIMINGS=1 /usr/bin/time -v "$BIN" audit "$city" -o "$out" > "$out.stdout" 2> "$out.run$run.stderr" || {
      echo "bench: audit of $tag failed, see $out.run$run.stderr" >&2; exit 1; }
    w=$(wall_s "$out.run$run.stderr")
    if [ -z "$fastest" ] || awk -v a="$w" -v b="$fastest" 'BEGIN{exit !(a<b)}'; then
      fastest=$w
      cp "$out.run$run.stderr" "$out.stderr"
    fi
  done
  wall=$(wall_s "$out.stderr")
  cpu=$(cpu_s "$out.stderr")
  rss=$(rss_mib "$out.stderr")
  ratio=$(awk -v a="$wall" -v b="$best" 'BEGIN{printf "%.1f", a/b}')
  echo "-- stages ($tag), by the time they ended (stage, seconds, ended at, RSS MiB, peak MiB, CPU s the process used meanwhile):" >&2
  grep '^timing' "$out.stderr" | sort -t "$(printf '\t')" -k4,4n >&2 || true

  peer_cols="– | – | – | – | not run"
  if [ "$PEER" != 0 ]; then
    echo "== Python peer on $tag" >&2
    /usr/bin/time -v "$VENV/bin/python" bench/peer/peer.py "$city" -o "$out.peer.json" \
      > "$out.peer.stdout" 2> "$out.peer.stderr" || {
      echo "bench: the Python peer failed on $tag, see $out.peer.stderr" >&2; exit 1; }
    echo "-- peer stages ($tag):" >&2
    grep '^peer:' "$out.peer.stderr" >&2 || true
    peer_wall=$(wall_s "$out.peer.stderr")
    peer_cpu=$(cpu_s "$out.peer.stderr")
    peer_rss=$(rss_mib "$out.peer.stderr")
    speedup=$(awk -v a="$peer_wall" -v b="$wall" 'BEGIN{printf "%.1f", a/b}')
    echo "-- agreement ($tag):" >&2
    if "$VENV/bin/python" bench/peer/compare.py "$out/summary.json" "$out.peer.json" \
      --geojson "$out/living_circle.geojson" > "$out.compare.txt"; then
      agreement=$(tail -n 1 "$out.compare.txt")
    else
      agreement="DISAGREE, see $out.compare.txt"
      disagree+=("$tag")
    fi
    cat "$out.compare.txt" >&2
    peer_cols="$peer_wall | $peer_cpu | $peer_rss | $speedup× | $agreement"
  fi
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s (%s) | %s× | %s |' "$tag" "$counts" "$wall" "$cpu" "$rss" "$best" "$reading" "$ratio" "$peer_cols")")
done

echo
echo "| size | counts | audit wall s | audit CPU s | peak RSS MiB | read floor s (reading alone) | audit / floor | peer s | peer CPU s | peer MiB | speed-up (wall) | agreement |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "${#disagree[@]}" -gt 0 ]; then
  echo
  echo "bench: planaudit and the Python peer disagree on ${disagree[*]} (MISMATCH lines above, and target/bench-out/SIZE.compare.txt)" >&2
  exit 1
fi
