"""The bench's Python peer: planaudit's three indicators computed the way an analyst would with
GeoPandas (pyogrio), Shapely 2, pyproj and networkx, from the same city file and the same tables.

    python peer.py CITY.toml -o peer.json

Conventions mirrored from planaudit (see the Rust sources named in each section):
- the frame is the CGCS2000 3-degree Gauss-Krueger zone (EPSG:4513-4533, zone prefix) at the centre
  of the study layer's longitude/latitude box: built-up areas for road density, parks for park
  mix, origins for the living circle (src/normalise/crs/mod.rs);
- clipping and overlay happen in the frame; every reported length and area is measured on the WGS84
  ellipsoid: geodesic lengths of the clipped lines, geodesic areas of the oriented polygons
  (src/normalise/measure.rs);
- tables (grades, land-use classes, facility types, tiers) are read from planaudit's own presets
  in src/presets/ with tomllib, or from the file the city file names;
- the walking network is noded at shared vertices on a 0.01 m grid, points snap to the nearest
  node (`snap = "node"`), one multi-source Dijkstra per facility type bounded at max_walk_m
  (src/index/graph.rs, snap.rs, routing.rs).

Only what the bench audits is supported: ellipsoidal measurement, node snapping, vertex noding,
network distances and parks read from a layer. Anything else stops with a message.
"""

import argparse
import json
import math
import sys
import time
import tomllib
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely

PRESETS = Path(__file__).resolve().parents[2] / "src" / "presets"
PRESET_FILES = {
    "grades": "grades_{}.toml",
    "classes": "classes_{}.toml",
    "facility_types": "facilities_{}.toml",
    "tiers": "tiers_{}.toml",
}
GEOD = pyproj.Geod(ellps="WGS84")
NODE_TOLERANCE_M = 0.01
MIX_DEFAULT = ["residential", "community_service", "public_service", "commercial"]
NON_CONSTRUCTION = ["water", "agricultural", "other"]
CATEGORIES = [
    "residential", "community_service", "public_service", "commercial", "industrial", "warehouse",
    "transport", "utilities", "green", "water", "agricultural", "other",
]


def log(msg):
    print(f"peer: {msg}", file=sys.stderr, flush=True)


class Timer:
    """Wall time per stage, printed on stderr and kept for the output."""

    def __init__(self):
        self.stages = {}

    def __call__(self, name):
        timer = self

        class Stage:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.t0
                timer.stages[name] = round(dt, 3)
                log(f"{dt:8.2f} s  {name}")

        return Stage()


def load_table(kind, name_or_path, base):
    """A planaudit table: a preset by name, or a TOML file (relative to the city file)."""
    preset = PRESETS / PRESET_FILES[kind].format(name_or_path)
    path = preset if preset.is_file() else (base / name_or_path)
    if not path.is_file():
        sys.exit(f"peer: {kind} table '{name_or_path}' is neither a preset nor a file")
    with open(path, "rb") as f:
        table = tomllib.load(f)
    if "extends" in table:
        sys.exit(f"peer: {path}: tables that extend a preset are not supported by the peer")
    return table


# --- reading ---------------------------------------------------------------------------------

def read_layer(cfg, base, columns):
    """One [layers.X] entry of the city file, read with pyogrio."""
    kw = {"engine": "pyogrio"}
    if cfg.get("layer"):
        kw["layer"] = cfg["layer"]
    if cfg.get("where"):
        kw["where"] = cfg["where"]
    if cfg.get("encoding"):
        kw["encoding"] = cfg["encoding"]
    gdf = gpd.read_file(base / cfg["source"], columns=columns, fid_as_index=True, **kw)
    if cfg.get("crs"):
        gdf = gdf.set_crs(cfg["crs"], allow_override=True)
    if gdf.crs is None:
        sys.exit(f"peer: {cfg['source']}: no CRS")
    return gdf


def auto_frame(gdf):
    """The CGCS2000 3-degree GK zone (with zone prefix) at the centre of the layer's lon/lat box."""
    to_ll = pyproj.Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = to_ll.transform_bounds(*gdf.total_bounds, densify_pts=21)
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    zone = round(lon / 3.0)
    in_china = 73.0 <= lon <= 135.5 and 3.0 <= lat <= 54.0
    if not (in_china and 25 <= zone <= 45):
        sys.exit(f"peer: layer centre {lon:.3f},{lat:.3f} is outside the CGCS2000 GK zones")
    return f"EPSG:{4513 + zone - 25}"


def in_frame(gdf, frame):
    return gdf if gdf.crs == pyproj.CRS(frame) else gdf.to_crs(frame)


def study_and_data(study_cfg, id_field, data_cfg, data_field, base):
    """The study polygons (built-up areas, parks) with their ids in `area_id`, and the layer they
    are audited on, both in the frame the study layer chooses."""
    study = read_layer(study_cfg, base, [id_field])
    data = read_layer(data_cfg, base, [data_field])
    frame = auto_frame(study)
    study = in_frame(study, frame)
    study["area_id"] = area_ids(study, id_field)
    return frame, study, in_frame(data, frame)


# --- measuring on the ellipsoid --------------------------------------------------------------

def geodesic_lengths(geoms):
    """Metres, one per line geometry (frame CRS in the GeoSeries)."""
    ll = geoms.to_crs("EPSG:4326")
    return ll.apply(GEOD.geometry_length).to_numpy()


def geodesic_areas(geoms):
    """Square metres, one per polygon geometry; rings oriented first (exterior counter-clockwise)."""
    ll = geoms.to_crs("EPSG:4326")
    oriented = gpd.GeoSeries(shapely.orient_polygons(ll.values), crs=ll.crs)
    return oriented.apply(lambda g: abs(GEOD.geometry_area_perimeter(g)[0])).to_numpy()


# --- road density (src/indicators/road_density.rs) -------------------------------------------

def area_ids(gdf, field):
    def text(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v).strip() or None

    ids = [text(v) for v in gdf[field]] if field in gdf.columns else [None] * len(gdf)
    return [i if i is not None else str(fid) for i, fid in zip(ids, gdf.index)]


def road_density(city, base, t):
    layers = city["layers"]
    rd = city["road_density"]
    grades = load_table("grades", rd.get("grades", "cn"), base)
    rows = {g["value"]: g for g in grades.get("grade", [])}
    afields = layers["areas"].get("fields", {})
    rfields = layers["roads"].get("fields", {})
    id_field = afields.get("id", "id")
    grade_field = rfields.get("grade", grades["field"])

    with t("road_density read"):
        frame, areas, roads = study_and_data(layers["areas"], id_field, layers["roads"], grade_field, base)
    with t("road_density clip"):
        value = roads[grade_field].fillna("").astype(str).str.strip()
        row = value.map(rows)
        counted = row.map(lambda r: isinstance(r, dict) and r["counted"])
        roads = roads.loc[counted.to_numpy(bool)].copy()
        roads["grade"] = row[counted.to_numpy(bool)].map(lambda r: r["grade"])
        pieces = gpd.overlay(roads[["grade", "geometry"]], areas[["area_id", "geometry"]],
                             how="intersection", keep_geom_type=True)
    with t("road_density measure"):
        pieces["m"] = geodesic_lengths(pieces.geometry)
        by_grade = pieces.groupby(["area_id", "grade"])["m"].sum()
        areas["m2"] = geodesic_areas(areas.geometry)
    out = []
    for a in areas.sort_values("area_id").itertuples():
        grades_km = {g: float(m) / 1000 for (aid, g), m in by_grade.items() if aid == a.area_id}
        length_km = sum(grades_km.values())
        area_km2 = a.m2 / 1e6
        out.append({
            "area_id": a.area_id,
            "road_length_km": length_km,
            "area_km2": area_km2,
            "density_km_per_km2": length_km / area_km2,
            "by_grade": grades_km,
        })
    return {"frame_crs": frame, "areas": out}


# --- park mix (src/indicators/park_mix.rs) ---------------------------------------------------

def classify(codes, table):
    """Category of each code by its longest listed prefix (codes = "prefix" tables)."""
    if table.get("codes", "prefix") != "prefix":
        sys.exit("peer: only prefix class tables are supported")
    rows = {r["code"].strip().upper(): r["category"] for r in table["class"]}
    folded = codes.fillna("").astype(str).str.strip().str.upper()
    category = pd.Series([None] * len(folded), index=folded.index, dtype=object)
    longest = int(folded.str.len().max() or 0)
    for n in range(longest, 0, -1):
        todo = category.isna()
        if not todo.any():
            break
        category[todo] = folded[todo].str[:n].map(rows)
    return category


def park_mix(city, base, t):
    layers = city["layers"]
    pm = city["park_mix"]
    if pm.get("parks_from_class") or "parks" not in layers:
        sys.exit("peer: derived parks are not supported; the city file must name a parks layer")
    classes = load_table("classes", pm.get("classes", "tdt2023"), base)
    lfields = layers["landuse"].get("fields", {})
    class_fields = [lfields["class"]] if "class" in lfields else classes["fields"]
    if len(class_fields) != 1:
        sys.exit("peer: one class field only")
    class_field = class_fields[0]
    pid_field = layers["parks"].get("fields", {}).get("id", "park_id")
    mix = pm.get("mix", MIX_DEFAULT)

    with t("park_mix read"):
        frame, parks, parcels = study_and_data(layers["parks"], pid_field, layers["landuse"], class_field, base)
    with t("park_mix overlay"):
        parcels["category"] = classify(parcels[class_field], classes).fillna("(unclassified)")
        pieces = gpd.overlay(parcels[["category", "geometry"]], parks[["area_id", "geometry"]],
                             how="intersection", keep_geom_type=True)
        # Overlapping parcels count once: dissolve per park and category, then across the mix and
        # across the non-construction categories.
        land = pieces.dissolve(by=["area_id", "category"]).reset_index()
        mixed = land[land["category"].isin(mix)].dissolve(by="area_id")
        non_construction = land[land["category"].isin(NON_CONSTRUCTION)].dissolve(by="area_id")
    with t("park_mix measure"):
        parks["m2"] = geodesic_areas(parks.geometry)
        land["m2"] = geodesic_areas(land.geometry)
        mix_m2 = pd.Series(geodesic_areas(mixed.geometry), index=mixed.index)
        nc_m2 = pd.Series(geodesic_areas(non_construction.geometry), index=non_construction.index)
    out = []
    for p in parks.sort_values("area_id").itertuples():
        park_km2 = p.m2 / 1e6
        cap = lambda m2: min(m2 / 1e6, park_km2)  # noqa: E731 (as planaudit caps at the park area)
        mix_km2 = cap(mix_m2.get(p.area_id, 0.0))
        construction = max(park_km2 - cap(nc_m2.get(p.area_id, 0.0)), 0.0)
        mine = land[land["area_id"] == p.area_id]
        by_category = {c: 0.0 for c in CATEGORIES}
        by_category.update({c: cap(m) for c, m in zip(mine["category"], mine["m2"]) if c in by_category})
        out.append({
            "park_id": p.area_id,
            "park_area_km2": park_km2,
            "mix_area_km2": mix_km2,
            "mix_share": mix_km2 / park_km2,
            "construction_land_km2": construction,
            "mix_share_of_construction_land": mix_km2 / construction if construction > 0 else None,
            "by_category": by_category,
        })
    return {"frame_crs": frame, "parks": out}


# --- living circle (src/indicators/living_circle.rs, src/index/*.rs) --------------------------

def walking_network(roads, grade_field, grades):
    """Vertex noding on the 0.01 m grid: a node is every line end and every grid key used more
    than once; edges run between consecutive nodes along each line, with geodesic lengths."""
    rows = {g["value"]: g for g in grades.get("grade", [])}
    value = roads[grade_field].fillna("").astype(str).str.strip()
    walkable = value.map(lambda v: v != "" and rows.get(v, {}).get("walkable", True))
    lines = roads.loc[walkable.to_numpy(bool)].sort_index().geometry.explode(index_parts=False)
    lines = lines[~lines.is_empty]

    xy, line = shapely.get_coordinates(lines.values, return_index=True)
    kx = np.floor(xy[:, 0] / NODE_TOLERANCE_M + 0.5).astype(np.int64)
    ky = np.floor(xy[:, 1] / NODE_TOLERANCE_M + 0.5).astype(np.int64)
    # Consecutive vertices with one key are one vertex.
    keep = np.ones(len(xy), bool)
    keep[1:] = ~((kx[1:] == kx[:-1]) & (ky[1:] == ky[:-1]) & (line[1:] == line[:-1]))
    xy, line, kx, ky = xy[keep], line[keep], kx[keep], ky[keep]
    # Lines left with fewer than two vertices have no edge.
    counts = np.bincount(line, minlength=len(lines))
    keep = counts[line] >= 2
    xy, line, kx, ky = xy[keep], line[keep], kx[keep], ky[keep]

    keys = pd.MultiIndex.from_arrays([kx, ky])
    codes, uniques = pd.factorize(keys)
    used = np.bincount(codes)
    first = np.r_[True, line[1:] != line[:-1]]
    last = np.r_[line[1:] != line[:-1], True]
    is_node = (used[codes] >= 2) | first | last
    # Node coordinates: the first vertex met with the key.
    _, first_seen = np.unique(codes, return_index=True)
    node_xy = xy[first_seen]

    # Geodesic length of every segment, summed per edge (edges break at node vertices).
    to_ll = pyproj.Transformer.from_crs(roads.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    seg = ~last  # segment i runs from vertex i to i + 1
    _, _, seg_m = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    seg_m = np.where(seg[:-1], seg_m, 0.0)
    edge_of_vertex = np.cumsum(is_node & ~last) - 1  # the edge a segment starting here belongs to
    starts = np.flatnonzero(is_node & ~last)
    ends = np.flatnonzero(is_node & ~first)
    length = np.bincount(edge_of_vertex[:-1][seg[:-1]], weights=seg_m[seg[:-1]], minlength=len(starts))
    u, v = codes[starts], codes[ends]
    edges = pd.DataFrame({"u": np.minimum(u, v), "v": np.maximum(u, v), "length": length})
    # Parallel edges: the shortest counts (networkx keeps one edge per pair of nodes).
    edges = edges.groupby(["u", "v"], as_index=False)["length"].min()
    graph = nx.Graph()
    graph.add_weighted_edges_from(edges.itertuples(index=False), weight="length")
    return graph, node_xy, np.unique(codes[is_node]), len(starts)


def snap_to_nodes(points, node_xy, node_ids, crs, max_snap_m):
    """Nearest node of each point (frame distance), or -1 when farther than max_snap_m metres
    (measured on the ellipsoid between the point and the node)."""
    tree = shapely.STRtree(shapely.points(node_xy[node_ids]))
    nearest = tree.query_nearest(points, all_matches=False)
    node = node_ids[nearest[1]]
    snapped = np.full(len(points), -1)
    to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    px, py = to_ll.transform(shapely.get_x(points), shapely.get_y(points))
    nx_, ny_ = to_ll.transform(node_xy[node, 0], node_xy[node, 1])
    _, _, snap_m = GEOD.inv(px[nearest[0]], py[nearest[0]], nx_, ny_)
    snapped[nearest[0]] = np.where(snap_m <= max_snap_m, node, -1)
    return snapped


def living_circle(city, base, t):
    layers = city["layers"]
    lc = city["living_circle"]
    for key, want in [("snap", "node"), ("noding", "vertices"), ("method", "network"),
                      ("thresholds", "table")]:
        got = lc.get(key, {"snap": "edge"}.get(key, want))
        if got != want:
            sys.exit(f"peer: living_circle.{key} = {got!r}: the peer supports {want!r} only")
    grades = load_table("grades", city.get("road_density", {}).get("grades", "cn"), base)
    types = load_table("facility_types", lc.get("facility_types", "cn"), base)
    tiers = load_table("tiers", lc.get("tiers", "gb50180"), base)
    grade_field = layers["roads"].get("fields", {}).get("grade", grades["field"])
    facility_cfgs = layers["facilities"]
    type_field = facility_cfgs[0].get("fields", {}).get("type", types["fields"][0])
    max_snap_m = lc.get("max_snap_m", 500.0)
    origin_id = layers["origins"].get("fields", {}).get("id")

    # Needs, in tier order, with their types and service distances (tiers_*.toml).
    tier_rows = sorted(tiers["tier"], key=lambda r: r["minutes"])
    code_of_value = {v.strip(): row["code"] for row in types["type"] for v in row["values"]}
    needs = []
    for ti, tier in enumerate(tier_rows):
        for n in tier.get("need", []):
            needs.append({"need": n["need"], "tier": ti, "types": n.get("types") or [n["need"]],
                          "distance_m": float(n.get("distance_m", tier["distance_m"]))})
    max_walk_m = lc.get("max_walk_m", 2.0 * max(max(n["distance_m"] for n in needs), 1.0))
    cumulative = tiers.get("cumulative", True)

    with t("living_circle read"):
        roads = read_layer(layers["roads"], base, [grade_field])
        origins = read_layer(layers["origins"], base, [origin_id] if origin_id else [])
        facilities = pd.concat([read_layer(c, base, [type_field]) for c in facility_cfgs])
    with t("living_circle network"):
        frame = auto_frame(origins)
        roads, origins, facilities = (in_frame(g, frame) for g in (roads, origins, facilities))
        graph, node_xy, node_ids, edge_count = walking_network(roads, grade_field, grades)
        log(f"network: {len(node_ids)} nodes, {edge_count} edges, {graph.number_of_edges()} node pairs")
    with t("living_circle snap"):
        origin_pts = origins.geometry.centroid.values
        origin_node = snap_to_nodes(origin_pts, node_xy, node_ids, frame, max_snap_m)
        origin_m2 = np.where(origins.geom_type.isin(["Polygon", "MultiPolygon"]),
                             geodesic_areas(origins.geometry), 0.0)
        fac_type = facilities[type_field].fillna("").astype(str).str.strip().map(code_of_value)
        facilities = facilities[fac_type.notna().to_numpy()]
        fac_type = fac_type[fac_type.notna()].to_numpy()
        fac_node = snap_to_nodes(facilities.geometry.centroid.values, node_xy, node_ids, frame,
                                 max_snap_m)
    with t("living_circle dijkstra"):
        routed = sorted({c for n in needs for c in n["types"]} | set(fac_type))
        dist = {}
        for code in routed:
            sources = set(fac_node[(fac_type == code) & (fac_node >= 0)].tolist())
            d = np.full(len(origins), np.inf)
            if sources:
                reached = nx.multi_source_dijkstra_path_length(graph, sources, cutoff=max_walk_m,
                                                               weight="length")
                ok = origin_node >= 0
                d[ok] = [reached.get(n, np.inf) for n in origin_node[ok]]
            dist[code] = d

    met = np.array([np.any([dist[c] <= n["distance_m"] for c in n["types"]], axis=0) for n in needs])
    total_m2 = origin_m2.sum()

    def coverage(ok):
        return {"origins": int(len(ok)), "covered": int(ok.sum()),
                "share_by_count": float(ok.mean()) if len(ok) else None,
                "share_by_area": float(origin_m2[ok].sum() / total_m2) if total_m2 > 0 else None}

    tiers_out = []
    for ti, tier in enumerate(tier_rows):
        rows = [i for i, n in enumerate(needs) if (n["tier"] <= ti if cumulative else n["tier"] == ti)]
        ok = np.all(met[rows], axis=0) if rows else np.ones(len(origins), bool)
        tiers_out.append({"tier": f"within_{tier['minutes']}min", "minutes": tier["minutes"], **coverage(ok)})
    needs_out = [{"need": n["need"], **coverage(met[i])} for i, n in enumerate(needs)]
    ids = area_ids(origins, origin_id) if origin_id else [str(f) for f in origins.index]
    distances = {oid: {c: (None if math.isinf(dist[c][i]) else round(float(dist[c][i]), 3)) for c in routed}
                 for i, oid in enumerate(ids)}
    return {
        "frame_crs": frame,
        "origins": int(len(origins)),
        "unreachable_origins": int((origin_node < 0).sum()),
        "network": {"nodes": int(len(node_ids)), "edges": int(edge_count)},
        "max_walk_m": max_walk_m,
        "tiers": tiers_out,
        "needs": needs_out,
        "distances": distances,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("city", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    with open(args.city, "rb") as f:
        city = tomllib.load(f)
    base = args.city.resolve().parent
    if city.get("city", {}).get("measure", "ellipsoidal") != "ellipsoidal":
        sys.exit("peer: only measure = \"ellipsoidal\" is supported")
    t = Timer()
    t0 = time.perf_counter()
    out = {"peer": {"geopandas": gpd.__version__, "shapely": shapely.__version__,
                    "pyproj": pyproj.__version__, "proj": pyproj.proj_version_str,
                    "networkx": nx.__version__, "pandas": pd.__version__, "numpy": np.__version__}}
    if "road_density" in city:
        out["road_density"] = road_density(city, base, t)
    if "park_mix" in city:
        out["park_mix"] = park_mix(city, base, t)
    if "living_circle" in city:
        out["living_circle"] = living_circle(city, base, t)
    out["timings_s"] = t.stages
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    args.output.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    log(f"{out['wall_s']:8.2f} s  total; wrote {args.output}")


if __name__ == "__main__":
    main()
