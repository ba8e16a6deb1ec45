#!/usr/bin/env bash
# make bench: generates the scale data when missing (target/bench-data/SIZE, never committed),
# audits each size with /usr/bin/time -v and prints wall time, CPU time, peak RSS, the stage
# timings the audit prints with PLANAUDIT_TIMINGS=1, and the read floor (every layer read once
# through GDAL's Arrow stream, examples/read_floor.rs) with the ratio audit / read floor.
#
# BENCH_SIZES="city province" (default) picks the sizes; BENCH_SCALE=0.1 shrinks them.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_SIZES:-"city province"}
SCALE=${BENCH_SCALE:-1}
DATA=target/bench-data
BIN=target/release/planaudit
FLOOR=target/release/examples/read_floor
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time (package time) is missing" >&2; exit 1; }
cargo build --release --locked --bin planaudit --example read_floor >&2

rows=()
for size in $SIZES; do
  tag=$size; [ "$SCALE" = 1 ] || tag="$size-x$SCALE"
  dir=$DATA/$tag
  if [ ! -f "$dir/.complete" ]; then
    echo "== generating $tag" >&2
    rm -rf "$dir"
    "$BIN" generate --size "$size" --scale "$SCALE" -o "$dir" > "$DATA/$tag.generate.txt"
    touch "$dir/.complete"
  fi
  counts=$(sed -n 's/.*: \(.*\)$/\1/p' "$DATA/$tag.generate.txt")
  # Read floor: best of three, so that the page cache is warm as it is for the audit.
  best=""
  for _ in 1 2 3; do
    t=$("$FLOOR" "$dir/built_up_areas.shp#built_up_areas" "$dir/roads.gpkg#roads" "$dir/landuse.gpkg#landuse" \
      "$dir/landuse.gpkg#parks" "$dir/facilities.gpkg#facilities" | awk '$1=="total"{print $3}')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t; fi
  done
  out=target/bench-out/$tag
  rm -rf "$out"; mkdir -p target/bench-out
  echo "== auditing $tag" >&2
  PLANAUDIT_TIMINGS=1 /usr/bin/time -v "$BIN" audit "$dir/city.toml" -o "$out" > "$out.stdout" 2> "$out.stderr" || {
    echo "bench: audit of $tag failed, see $out.stderr" >&2; exit 1; }
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out.stderr")
  cpu=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$out.stderr")
  rss=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$out.stderr")
  ratio=$(awk -v a="$wall" -v b="$best" 'BEGIN{printf "%.0f", a/b}')
  echo "-- stages ($tag):" >&2
  grep '^timing' "$out.stderr" >&2 || true
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s× |' "$tag" "$counts" "$wall" "$cpu" "$rss" "$best" "$ratio")")
done

echo
echo "| size | counts | audit wall s | audit CPU s | peak RSS MiB | read floor s | audit / floor |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Python peer (GeoPandas/networkx): not run by this bench yet."
