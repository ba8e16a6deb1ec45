"""Compares planaudit's audit with the Python peer's numbers; exits 1 when they disagree.

    python compare.py OUT_DIR/summary.json peer.json [--geojson OUT_DIR/living_circle.geojson]

Tolerances (those of the indicator issues):
- road density per built-up area (density, road length, area, length by grade): relative 1e-3;
- park mix per park (mix share, share of construction land, park and mix areas, area by
  category): relative 1e-3;
- living circle per tier and per need (share by count and by residential area): absolute 1e-3;
  with --geojson, every origin's walking distance to every facility type: 0.5 m (and reached by
  both or by neither).
A relative comparison also allows 2e-6 absolute, the rounding of planaudit's 6-decimal outputs
(the digest's relative differences are those left beyond half a unit of the sixth decimal).
The last line on stdout is a one-line digest of the largest differences, for the bench table.
"""

import argparse
import json
import math
import sys

REL = 1e-3
ABS_SHARE = 1e-3
DIST_M = 0.5
ROUNDING = 2e-6
HALF_UNIT = 5e-7


class Check:
    def __init__(self):
        self.failures = []
        self.worst = {}

    def rel(self, group, what, got, want):
        """got: planaudit, want: the peer."""
        if got is None or want is None:
            if got != want:
                self.failures.append(f"{group} {what}: planaudit {got}, peer {want}")
            return
        diff = abs(got - want)
        scale = max(abs(got), abs(want))
        # The digest reports what is left beyond the rounding of planaudit's 6-decimal outputs.
        beyond = max(diff - HALF_UNIT, 0.0)
        rel = beyond / scale if scale > 0 else 0.0
        self.worst[group] = max(self.worst.get(group, 0.0), rel)
        if diff > REL * scale + ROUNDING:
            self.failures.append(f"{group} {what}: planaudit {got}, peer {want} (relative {rel:.2e} > {REL})")

    def abs(self, group, what, got, want, tol):
        if got is None or want is None:
            if got != want:
                self.failures.append(f"{group} {what}: planaudit {got}, peer {want}")
            return
        diff = abs(got - want)
        self.worst[group] = max(self.worst.get(group, 0.0), diff)
        if diff > tol:
            self.failures.append(f"{group} {what}: planaudit {got}, peer {want} (|diff| {diff:.3g} > {tol})")

    def same(self, group, what, got, want):
        if got != want:
            self.failures.append(f"{group} {what}: planaudit {got}, peer {want}")


def by_key(items, key):
    return {str(i[key]): i for i in items}


def matched(c, group, mine, peer, key):
    """The (id, planaudit item, peer item) of the ids both list; a different set of ids is a mismatch."""
    a, b = by_key(mine, key), by_key(peer, key)
    c.same(group, f"{key}s", sorted(a), sorted(b))
    return [(k, a[k], b[k]) for k in sorted(set(a) & set(b))]


def road_density(c, mine, peer):
    g = "road_density"
    pairs = matched(c, g, mine["areas"], peer["areas"], "area_id")
    for aid, x, y in pairs:
        for k in ("density_km_per_km2", "road_length_km", "area_km2"):
            c.rel(g, f"area {aid} {k}", x[k], y[k])
        for grade in sorted(set(x["by_grade"]) | set(y["by_grade"])):
            c.rel(g, f"area {aid} by_grade.{grade}", x["by_grade"].get(grade, 0.0), y["by_grade"].get(grade, 0.0))
    return f"{len(pairs)} areas"


def park_mix(c, mine, peer):
    g = "park_mix"
    pairs = matched(c, g, mine["parks"], peer["parks"], "park_id")
    for pid, x, y in pairs:
        for k in ("mix_share", "mix_share_of_construction_land", "park_area_km2", "mix_area_km2",
                  "construction_land_km2"):
            c.rel(g, f"park {pid} {k}", x[k], y[k])
        for cat, km2 in x["by_category"].items():
            c.rel(g, f"park {pid} by_category.{cat}", km2, y["by_category"].get(cat, 0.0))
    return f"{len(pairs)} parks"


def living_circle(c, mine, peer):
    g = "living_circle"
    c.same(g, "origins", mine["origins"], peer["origins"])
    c.same(g, "unreachable origins", mine["unreachable_origins"], peer["unreachable_origins"])
    cov = mine["coverage"]
    for kind, name in (("tiers", "tier"), ("needs", "need")):
        for k, x, y in matched(c, g, cov[kind], peer[kind], name):
            for share in ("share_by_count", "share_by_area"):
                c.abs(g, f"{k} {share}", x[share], y[share], ABS_SHARE)
    return f"{mine['origins']} origins"


def origin_features(path):
    """The features of a planaudit GeoJSON file, one per line as planaudit writes them."""
    with open(path, encoding="utf-8") as f:
        f.readline()
        for line in f:
            line = line.strip().rstrip(",")
            if line.startswith("{"):
                yield json.loads(line)


def distances(c, path, peer):
    g = "distances_m"
    want = peer["distances"]
    max_walk = peer["max_walk_m"]
    compared = mismatched = 0
    examples = []
    seen = 0
    for feat in origin_features(path):
        p = feat["properties"]
        oid = p["origin_id"]
        if oid not in want:
            c.failures.append(f"{g}: origin {oid} is not in the peer's output")
            continue
        seen += 1
        for code, got in p["dist_m"].items():
            exp = want[oid].get(code)
            compared += 1
            if got is None and exp is None:
                continue
            # Reached by one side only: fine when the other is within the tolerance of the limit.
            if got is None or exp is None:
                d = max_walk - (exp if got is None else got)
            else:
                d = abs(got - exp)
            c.worst[g] = max(c.worst.get(g, 0.0), d)
            if d > DIST_M:
                mismatched += 1
                if len(examples) < 10:
                    examples.append(f"origin {oid} {code}: planaudit {got}, peer {exp}")
    if seen != len(want):
        c.failures.append(f"{g}: planaudit lists {seen} origins, the peer {len(want)}")
    if mismatched:
        c.failures.append(f"{g}: {mismatched} of {compared} distances differ by more than {DIST_M} m; "
                          + "; ".join(examples))
    return f"{compared} distances"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("summary")
    ap.add_argument("peer")
    ap.add_argument("--geojson", help="planaudit's living_circle.geojson: compare every distance")
    args = ap.parse_args()
    with open(args.summary, encoding="utf-8") as f:
        summary = json.load(f)
    with open(args.peer, encoding="utf-8") as f:
        peer = json.load(f)
    ind = summary["indicators"]
    c = Check()
    done = []
    for name, fn in (("road_density", road_density), ("park_mix", park_mix), ("living_circle", living_circle)):
        if (name in ind) != (name in peer):
            c.failures.append(f"{name}: computed by {'planaudit' if name in ind else 'the peer'} only")
        elif name in ind:
            c.same(name, "frame", ind[name]["frame_crs"], peer[name]["frame_crs"])
            done.append(f"{name} {fn(c, ind[name], peer[name])}")
    if args.geojson and "living_circle" in peer:
        done.append(distances(c, args.geojson, peer["living_circle"]))
    # The summary rows are what the report shows: each must be one of the numbers compared above.
    for row in summary["rows"]:
        ind_name = row["indicator"]
        if ind_name == "road_density":
            c.rel("road_density", f"row {row['area_id']}", row["value"],
                  by_key(peer["road_density"]["areas"], "area_id").get(row["area_id"], {}).get("density_km_per_km2"))
        elif ind_name == "park_mix":
            c.rel("park_mix", f"row {row['area_id']}", row["value"],
                  by_key(peer["park_mix"]["parks"], "park_id").get(row["area_id"], {}).get("mix_share"))
        elif ind_name.startswith("living_circle_"):
            tier = "within_" + ind_name.removeprefix("living_circle_")
            peer_tier = by_key(peer["living_circle"]["tiers"], "tier").get(tier, {})
            c.abs("living_circle", f"row {tier}", row["value"], peer_tier.get("share_by_area"), ABS_SHARE)

    print("compared: " + ", ".join(done))
    for f in c.failures[:50]:
        print(f"MISMATCH {f}")
    if len(c.failures) > 50:
        print(f"MISMATCH ... and {len(c.failures) - 50} more")
    labels = {"road_density": "density rel", "park_mix": "park mix rel", "living_circle": "coverage abs",
              "distances_m": "distance m"}
    digest = ", ".join(f"{labels[k]} {c.worst[k]:.1e}" for k in labels if k in c.worst)
    if c.failures:
        print(f"DISAGREE ({len(c.failures)} mismatches): {digest}")
        sys.exit(1)
    print(f"agree: {digest}")


if __name__ == "__main__":
    main()
