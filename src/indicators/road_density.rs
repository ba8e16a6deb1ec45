//! Road network density (道路网密度) of each built-up area.
//!
//! # Definition
//! density = Σ centreline length of urban roads inside the area (km) ÷ area (km²), in km/km².
//! Urban roads are the grades a [`GradeTable`] marks `counted` (快速路, 主干路, 次干路, 支路 by default;
//! DOMAIN.md §C3). Each road is clipped to the closed area polygon: a road lying on the boundary
//! counts in full (in every area whose boundary it lies on; see Limitations for what "on" means).
//! Roads drawn over one another count once (step 3 of §C3: the union of the counted centrelines),
//! whatever their grades and whichever way each was drawn; the lengths by grade then add up to
//! more than the total.
//!
//! The shortfall is the road length still needed to reach the target:
//! `max(0, target × area_km2 − road_length_km)`, and 0 when the target is met as reported.
//!
//! # Preconditions
//! Geometries are in the frame's metres; polygons are valid (ingest repairs them).
//!
//! # Limitations
//! Dual carriageways digitised as two one-way lines count twice (DOMAIN.md §C3 step 3); roads
//! inside gated compounds count when the grade field says they are urban roads.
//!
//! "On the boundary" is exact: a road drawn on the area's own boundary vertices counts in full.
//! A road drawn along the boundary through other vertices, or converted from another CRS than the
//! area's, lies within rounding of it (nanometres to centimetres) and counts where rounding puts it:
//! in full, in part or not at all. GEOS clips such roads the same way; draw boundary roads on the
//! boundary's vertices, in the areas' CRS.
//!
//! # Reference
//! DOMAIN.md §C (中发〔2016〕6号; 中国主要城市道路网密度监测报告 method: centreline mileage in the
//! built-up area ÷ that area).

use std::collections::BTreeMap;

use geo::{BooleanOps, BoundingRect, Intersects, LineString, MultiLineString, MultiPolygon, Polygon, Rect};
use rayon::prelude::*;

use crate::index::rtree::candidates;
use crate::model::{Area, Road};
use crate::normalise::crs::Frame;
use crate::normalise::grades::GradeTable;
use crate::normalise::kinds::Kinds;
use crate::units::{KahanSum, M2_PER_KM2, M_PER_KM};
use crate::{Error, Result};

/// The value reported for a road whose grade field is null or empty.
pub const EMPTY_GRADE: &str = "(empty)";

/// Targets and options.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// `--target KIND=VALUE`: km/km² per kind, matched like the kinds table matches.
    pub targets: Vec<(String, f64)>,
    /// `--target VALUE`: for areas that no kind-specific target covers.
    pub default_target: Option<f64>,
    /// `--max-width M`: red-line cap for every area. Without it, the kinds table's caps apply
    /// (county towns 40 m).
    pub max_width_m: Option<f64>,
    /// Whether the roads carry a width field at all.
    pub has_width: bool,
    /// `--grid CELL_M`: also compute square-cell densities.
    pub grid_cell_m: Option<f64>,
}

/// One area's result.
#[derive(Debug, Clone)]
pub struct AreaDensity {
    pub area_id: String,
    pub name: Option<String>,
    /// Canonical kind (`central_city`) when the kinds table knows the value, else the value.
    pub kind: Option<String>,
    /// The kind as written in the data.
    pub kind_label: Option<String>,
    pub road_length_km: f64,
    pub area_km2: f64,
    pub density_km_per_km2: f64,
    pub target_km_per_km2: Option<f64>,
    pub meets_target: Option<bool>,
    pub shortfall_km: Option<f64>,
    /// Counted km per canonical grade.
    pub by_grade: BTreeMap<String, f64>,
    /// Km of roads the table knows but does not count, per value.
    pub excluded_by_value: BTreeMap<String, f64>,
    /// Km of roads whose value the table does not know (not counted), per value.
    pub unknown_grades: BTreeMap<String, f64>,
    pub max_width_m: Option<f64>,
    pub roads_over_max_width_km: Option<f64>,
    pub polygon: MultiPolygon<f64>,
}

/// A road piece wider than its area's cap.
#[derive(Debug, Clone)]
pub struct WideRoad {
    pub area_id: String,
    pub road_fid: u64,
    pub grade: String,
    pub width_m: f64,
    pub max_width_m: f64,
    pub length_km: f64,
    pub line: MultiLineString<f64>,
}

/// One grid cell clipped to an area.
#[derive(Debug, Clone)]
pub struct GridCell {
    pub area_id: String,
    /// `col_row` of the cell in the frame grid (column = floor(x / cell), row = floor(y / cell)).
    pub cell_id: String,
    pub cell_m: f64,
    pub area_km2: f64,
    pub road_length_km: f64,
    pub density_km_per_km2: f64,
    pub target_km_per_km2: Option<f64>,
    pub polygon: MultiPolygon<f64>,
}

/// The indicator's output.
#[derive(Debug, Clone, Default)]
pub struct RoadDensity {
    pub areas: Vec<AreaDensity>,
    pub wide_roads: Vec<WideRoad>,
    pub grid: Vec<GridCell>,
}

/// Clips lines to a polygon; parts on the boundary are kept.
pub fn clip_lines(polygon: &MultiPolygon<f64>, lines: &MultiLineString<f64>) -> MultiLineString<f64> {
    if lines.0.is_empty() {
        return MultiLineString(vec![]);
    }
    polygon.clip(lines, false)
}

/// The segments of a line, each from its lower end to its higher (by x, then by y), zero-length
/// ones left out. The clip merges segments that lie on one another only where they run the same
/// way: two roads drawn over one another in opposite directions counted twice until their
/// segments were all turned one way. Collinear segments are ordered alike along their common line
/// (by x, or by y on a line of constant x), so overlapping ones always end up running one way.
fn segments_one_way(line: &LineString<f64>) -> impl Iterator<Item = LineString<f64>> + '_ {
    line.lines().filter(|s| s.start != s.end).map(|s| {
        let (a, b) = (s.start, s.end);
        let forward = a.x < b.x || (a.x == b.x && a.y < b.y);
        LineString(if forward { vec![a, b] } else { vec![b, a] })
    })
}

/// Computes the density of every area, in the areas' order.
///
/// Areas are computed in parallel, each on its own, and collected in their order: the result
/// does not depend on the number of threads.
pub fn compute(
    areas: &[Area],
    roads: &[Road],
    grades: &GradeTable,
    kinds: &Kinds,
    frame: &Frame,
    params: &Params,
) -> Result<RoadDensity> {
    let boxes: Vec<_> = areas.iter().map(|a| a.polygon.bounding_rect()).collect();
    let candidates =
        candidates(&boxes, roads, |r| r.line.iter().filter_map(|l| l.bounding_rect()).reduce(crate::units::rect_union));
    let per_area: Vec<Result<Option<AreaOutput>>> = areas
        .par_iter()
        .zip(&candidates)
        .map(|(area, candidates)| compute_area(area, candidates, roads, grades, kinds, frame, params))
        .collect();
    let mut out = RoadDensity::default();
    for r in per_area {
        let Some((area, wide, grid)) = r? else { continue };
        out.areas.push(area);
        out.wide_roads.extend(wide);
        out.grid.extend(grid);
    }
    Ok(out)
}

/// One area's density, its wide road pieces and its grid cells.
type AreaOutput = (AreaDensity, Vec<WideRoad>, Vec<GridCell>);

/// The density of one area; `None` for an area without a bounding box (empty).
fn compute_area(
    area: &Area,
    candidates: &[usize],
    roads: &[Road],
    grades: &GradeTable,
    kinds: &Kinds,
    frame: &Frame,
    params: &Params,
) -> Result<Option<AreaOutput>> {
    if area.polygon.bounding_rect().is_none() {
        return Ok(None);
    }

    // Group candidate roads by what they are, so each group is clipped in one call.
    let mut counted: BTreeMap<String, Vec<LineString<f64>>> = BTreeMap::new();
    let mut excluded: BTreeMap<String, Vec<LineString<f64>>> = BTreeMap::new();
    let mut unknown: BTreeMap<String, Vec<LineString<f64>>> = BTreeMap::new();
    let kind_row = area.kind.as_deref().and_then(|k| kinds.find(k));
    let cap = params.max_width_m.or_else(|| kind_row.and_then(|r| r.max_road_width_m)).filter(|_| params.has_width);
    let mut wide: Vec<&Road> = Vec::new();
    for &i in candidates {
        let road = &roads[i];
        let value = if road.grade_value.trim().is_empty() { EMPTY_GRADE } else { road.grade_value.trim() };
        let bucket = match grades.get(value) {
            Some(row) if row.counted => counted.entry(row.grade.clone()).or_default(),
            Some(_) => excluded.entry(value.to_string()).or_default(),
            None => unknown.entry(value.to_string()).or_default(),
        };
        bucket.extend(road.line.iter().flat_map(segments_one_way));
        if let (Some(cap), Some(w)) = (cap, road.width_m) {
            if w > cap && grades.get(value).is_some_and(|r| r.counted) {
                wide.push(road);
            }
        }
    }

    // Roads drawn over one another count once (DOMAIN.md §C3 step 3): a clip keeps the union of its
    // lines (given as segments that all run one way: `segments_one_way`), so with several counted
    // grades their roads are also clipped together, for the total and the grid. The grades'
    // lengths then add up to more than the total where roads of two grades lie on one another.
    let all_counted: Option<Vec<LineString<f64>>> =
        (counted.len() > 1).then(|| counted.values().flatten().cloned().collect());
    let mut by_grade = BTreeMap::new();
    let mut one_grade = None;
    for (grade, lines) in counted {
        let clipped = clip_lines(&area.polygon, &MultiLineString(lines));
        let km = frame.length_m(&clipped)? / M_PER_KM;
        // A grade whose roads only come near the area (their boxes meet it) is not listed.
        if km > 0.0 {
            by_grade.insert(grade, km);
        }
        one_grade = Some(clipped);
    }
    let counted_pieces = match all_counted {
        Some(lines) => clip_lines(&area.polygon, &MultiLineString(lines)),
        None => one_grade.unwrap_or(MultiLineString(vec![])),
    };
    let road_length_m = frame.length_m(&counted_pieces)?;
    let measure_groups = |groups: BTreeMap<String, Vec<LineString<f64>>>| -> Result<BTreeMap<String, f64>> {
        let mut m = BTreeMap::new();
        for (value, lines) in groups {
            let clipped = clip_lines(&area.polygon, &MultiLineString(lines));
            let km = frame.length_m(&clipped)? / M_PER_KM;
            if km > 0.0 {
                m.insert(value, km);
            }
        }
        Ok(m)
    };
    let excluded_by_value = measure_groups(excluded)?;
    let unknown_grades = measure_groups(unknown)?;

    let road_length_km = road_length_m / M_PER_KM;
    let area_km2 = frame.area_m2(&area.polygon)? / M2_PER_KM2;
    if area_km2 <= 0.0 {
        return Err(Error::EmptyLayer {
            layer: format!("area {}", area.id),
            reason: format!("feature {}: the area polygon has no area", area.fid),
        });
    }
    let density = road_length_km / area_km2;
    let target = target_for(area.kind.as_deref(), kinds, params);
    // Judged on the density as reported, to 6 decimals.
    let meets = target.map(|t| crate::units::reaches(density, t));
    // Zero when the target is met (as reported), whatever rounding the density left.
    let shortfall = target.map(|t| if meets == Some(true) { 0.0 } else { (t * area_km2 - road_length_km).max(0.0) });

    // Each wide road is listed with its own length and their total, both counting a road drawn
    // over another, or back over itself, once, as the road length does.
    let over_km = match wide.len() {
        0 | 1 => None,
        _ => {
            let lines = wide.iter().flat_map(|r| r.line.iter().flat_map(segments_one_way)).collect();
            Some(frame.length_m(&clip_lines(&area.polygon, &MultiLineString(lines)))? / M_PER_KM)
        }
    };
    let mut over = KahanSum::default();
    let mut wide_roads = Vec::new();
    for road in wide {
        let piece = clip_lines(&area.polygon, &MultiLineString(road.line.to_vec()));
        if piece.0.is_empty() {
            continue;
        }
        let one_way = road.line.iter().flat_map(segments_one_way).collect();
        let km = frame.length_m(&clip_lines(&area.polygon, &MultiLineString(one_way)))? / M_PER_KM;
        if km <= 0.0 {
            continue;
        }
        over.add(km);
        wide_roads.push(WideRoad {
            area_id: area.id.clone(),
            road_fid: road.fid,
            grade: road.grade_value.trim().to_string(),
            width_m: road.width_m.unwrap_or(f64::NAN),
            max_width_m: cap.unwrap_or(f64::NAN),
            length_km: km,
            line: piece,
        });
    }

    let grid = match params.grid_cell_m {
        Some(cell_m) => grid_cells(area, &counted_pieces.0, cell_m, target, frame)?,
        None => Vec::new(),
    };

    let density_row = AreaDensity {
        area_id: area.id.clone(),
        name: area.name.clone(),
        kind: area.kind.as_deref().map(|k| kinds.canonical(k)),
        kind_label: area.kind.clone(),
        road_length_km,
        area_km2,
        density_km_per_km2: density,
        target_km_per_km2: target,
        meets_target: meets,
        shortfall_km: shortfall,
        by_grade,
        excluded_by_value,
        unknown_grades,
        max_width_m: cap,
        roads_over_max_width_km: cap.map(|_| over_km.unwrap_or(over.total())),
        polygon: area.polygon.clone(),
    };
    Ok(Some((density_row, wide_roads, grid)))
}

/// The target for an area: a `--target KIND=VALUE` that names its kind, else the kinds table's
/// target, else `--target VALUE`.
fn target_for(kind: Option<&str>, kinds: &Kinds, params: &Params) -> Option<f64> {
    if let Some(k) = kind {
        if let Some((_, v)) = params.targets.iter().find(|(user, _)| kinds.same(user, k)) {
            return Some(*v);
        }
        if let Some(v) = kinds.find(k).and_then(|r| r.road_density_km_per_km2) {
            return Some(v);
        }
    }
    params.default_target
}

/// A grid cell clipped to an area: its column, the clipped square and its area in m².
type ClippedCell = (i64, MultiPolygon<f64>, f64);

/// A length in metres in the grid cell (row, column).
type CellLength = ((i64, i64), f64);

/// Square cells of `cell_m` aligned on the frame's origin, clipped to the area.
///
/// Each counted road piece is split where it crosses a grid line and every sub-segment goes to
/// the cell that holds its midpoint, with cells half-open (`[x0, x1) × [y0, y1)`), or the nearest
/// cell of the area when that one has none of it ([`cell_of`]): a road lying on a cell edge counts
/// in exactly one cell, so the cells' lengths add up to the area's length.
fn grid_cells(
    area: &Area,
    pieces: &[LineString<f64>],
    cell_m: f64,
    target: Option<f64>,
    frame: &Frame,
) -> Result<Vec<GridCell>> {
    let Some(bbox) = area.polygon.bounding_rect() else { return Ok(vec![]) };
    let (c0, c1) = ((bbox.min().x / cell_m).floor() as i64, (bbox.max().x / cell_m).ceil() as i64);
    let (r0, r1) = ((bbox.min().y / cell_m).floor() as i64, (bbox.max().y / cell_m).ceil() as i64);

    // The cells: each square clipped to the area, keyed by (row, col) for a stable order. Rows
    // are clipped in parallel.
    let rows: Vec<Result<Vec<ClippedCell>>> = (r0..r1)
        .into_par_iter()
        .map(|row| {
            let mut out = Vec::new();
            for col in c0..c1 {
                let rect = Rect::new(
                    geo::coord! { x: col as f64 * cell_m, y: row as f64 * cell_m },
                    geo::coord! { x: (col + 1) as f64 * cell_m, y: (row + 1) as f64 * cell_m },
                );
                if !rect.intersects(&area.polygon) {
                    continue;
                }
                let square: Polygon<f64> = rect.to_polygon();
                let clipped = area.polygon.intersection(&square);
                let area_m2 = frame.area_m2(&clipped)?;
                if area_m2 > 0.0 {
                    out.push((col, clipped, area_m2));
                }
            }
            Ok(out)
        })
        .collect();
    let mut cells: BTreeMap<(i64, i64), (MultiPolygon<f64>, f64)> = BTreeMap::new();
    for (row, cols) in (r0..r1).zip(rows) {
        for (col, clipped, area_m2) in cols? {
            cells.insert((row, col), (clipped, area_m2));
        }
    }

    // Road length per cell: the sub-segments of each piece are measured in parallel, then added
    // in piece order, so every cell's sum runs in the same order whatever the number of threads.
    let measured: Vec<Result<Vec<CellLength>>> =
        pieces.par_iter().map(|piece| piece_lengths(piece, &cells, cell_m, frame)).collect();
    let mut lengths: BTreeMap<(i64, i64), KahanSum> = BTreeMap::new();
    for piece in measured {
        for (key, length_m) in piece? {
            lengths.entry(key).or_default().add(length_m);
        }
    }

    Ok(cells
        .into_iter()
        .map(|((row, col), (polygon, area_m2))| {
            let km = lengths.get(&(row, col)).map_or(0.0, |s| s.total()) / M_PER_KM;
            let area_km2 = area_m2 / M2_PER_KM2;
            GridCell {
                area_id: area.id.clone(),
                cell_id: format!("{col}_{row}"),
                cell_m,
                area_km2,
                road_length_km: km,
                density_km_per_km2: km / area_km2,
                target_km_per_km2: target,
                polygon,
            }
        })
        .collect())
}

/// How far (metres) a point may lie outside every cell of its area and still be given to the
/// nearest: clipping to the area moves a road on the area's boundary by a fraction of a
/// micrometre, which can take it across a grid line the boundary lies on.
const CELL_SNAP_M: f64 = 1e-3;

/// The cell of the area that a sub-segment's midpoint goes to: the half-open cell holding it, or,
/// when that cell has no area inside, the nearest cell of the area within [`CELL_SNAP_M`] (a
/// midpoint on a cell edge is at distance 0 from the cells on both sides), the cells west and
/// south first at equal distance; `None` when no cell of the area is that near.
fn cell_of(
    mid: geo::Coord<f64>,
    cells: &BTreeMap<(i64, i64), (MultiPolygon<f64>, f64)>,
    cell_m: f64,
) -> Option<(i64, i64)> {
    let (col, row) = ((mid.x / cell_m).floor() as i64, (mid.y / cell_m).floor() as i64);
    if cells.contains_key(&(row, col)) {
        return Some((row, col));
    }
    let distance_m = |(r, c): (i64, i64)| {
        let dx = (c as f64 * cell_m - mid.x).max(mid.x - (c + 1) as f64 * cell_m).max(0.0);
        let dy = (r as f64 * cell_m - mid.y).max(mid.y - (r + 1) as f64 * cell_m).max(0.0);
        dx.hypot(dy)
    };
    [(0, -1), (-1, 0), (-1, -1), (0, 1), (1, 0), (1, 1), (-1, 1), (1, -1)]
        .into_iter()
        .map(|(dr, dc)| (row + dr, col + dc))
        .filter(|k| cells.contains_key(k))
        .map(|k| (distance_m(k), k))
        .filter(|(d, _)| *d <= CELL_SNAP_M)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The cell and length in metres of every sub-segment of a road piece split at the grid lines, in
/// order along the piece; sub-segments in no cell of the area are left out.
fn piece_lengths(
    piece: &LineString<f64>,
    cells: &BTreeMap<(i64, i64), (MultiPolygon<f64>, f64)>,
    cell_m: f64,
    frame: &Frame,
) -> Result<Vec<CellLength>> {
    let mut out = Vec::new();
    for seg in piece.lines() {
        for (a, b) in split_at_grid(seg.start, seg.end, cell_m) {
            let mid = geo::coord! { x: (a.x + b.x) / 2.0, y: (a.y + b.y) / 2.0 };
            if let Some(key) = cell_of(mid, cells, cell_m) {
                out.push((key, frame.line_length_m(&LineString::from(vec![a, b]))?));
            }
        }
    }
    Ok(out)
}

/// Splits a segment where it crosses the lines x = k·cell and y = k·cell.
fn split_at_grid(a: geo::Coord<f64>, b: geo::Coord<f64>, cell_m: f64) -> Vec<(geo::Coord<f64>, geo::Coord<f64>)> {
    let mut ts = vec![0.0, 1.0];
    for (p, q) in [(a.x, b.x), (a.y, b.y)] {
        if (q - p).abs() > 0.0 {
            let (lo, hi) = (p.min(q), p.max(q));
            let mut k = (lo / cell_m).floor() + 1.0;
            while k * cell_m < hi {
                ts.push((k * cell_m - p) / (q - p));
                k += 1.0;
            }
        }
    }
    ts.sort_by(f64::total_cmp);
    ts.dedup_by(|x, y| (*x - *y).abs() < 1e-12);
    let at = |t: f64| geo::coord! { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
    ts.windows(2).map(|w| (at(w[0]), at(w[1]))).collect()
}

#[cfg(test)]
#[path = "road_density_tests.rs"]
mod tests;
