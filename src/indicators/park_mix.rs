//! Residential and service land in industrial parks (产业园区生活配套用地占比), against the plan's
//! 20–30% band.
//!
//! # Definition
//! For a park P and land-use parcels p_i, each with an analysis category (see
//! [`crate::normalise::classes`]):
//! - the piece of a parcel in the park is q_i = p_i ∩ P, clipped in the frame;
//! - the land of a category c is L_c = ∪ { q_i : p_i is of category c }. Parcels of one category
//!   that overlap count once;
//! - the mix land is M = ∪ L_c over the mix categories (by default residential, community_service,
//!   public_service and commercial; DOMAIN.md §D6). Overlaps across the mix categories count once;
//! - `mix_share` = area(M) ÷ area(P);
//! - `construction_land` = area(P) − area(L_water ∪ L_agricultural ∪ L_other);
//!   `mix_share_of_construction_land` = area(M) ÷ construction_land;
//! - `covered` = area(∪ q_i), the land of the park that any parcel covers; `covered_share` =
//!   covered ÷ area(P). Land no parcel covers counts as non-mix land, so a low cover (the land-use
//!   layer does not reach the park) makes the share low for want of data, and is warned;
//! - `overlap` = Σ area(q_i) − area(∪ q_i) over all parcels. This is the area that a plain sum of
//!   the clipped parcels would count more than once. `mix_overlap` is the same sum over the mix
//!   parcels, and is what the dissolve removed from the mix area;
//! - `status` is `below` when mix_share < band_min, `above` when mix_share > band_max, and `within`
//!   otherwise. Both bounds count as within.
//!
//! Areas are in km², measured by the frame ([`Frame::area_m2`]: ellipsoidal by default). Shares are
//! fractions from 0 to 1.
//!
//! # Derived parks
//! When no park layer exists, [`derive_parks`] builds parks from the parcels of one category
//! (industrial):
//! 1. Two parcels belong to one park when they are less than the gap apart (parcels that touch
//!    always do). Candidate neighbours come from an R-tree query on each box grown by the gap, and
//!    a union-find joins the pairs, so the work grows with the number of near pairs, not with n².
//! 2. The park is the union of the group's parcels, closed morphologically with radius gap/2:
//!    `buffer(+gap/2)`, then `buffer(−gap/2)`. This bridges the roads and strips narrower than the
//!    gap that lie between the parcels.
//! 3. Holes are filled: land that the park encloses belongs to it.
//! 4. The parcels themselves are united back in. The arcs of the buffer are polygonal, so at corners
//!    the closing could fall a few millimetres short of a parcel. The land the closing bridges is
//!    approximate for the same reason: a derived park's area differs from an exact closing's by up
//!    to about 2e-4 of it (3e-5 to 1.7e-4 measured at a 50 m gap, on hand-made parks and Baltimore's).
//! 5. Parks that meet are one park: a group of parcels inside the land another park encloses (its
//!    filled hole) joins that park, and steps 2–4 are done again for it, until no two parks meet.
//!    Parks never overlap, and no land is counted in two.
//!
//! # Preconditions
//! All geometries are in the frame's metres. Polygons are valid (ingest repairs them), and a
//! multipolygon's parts do not overlap. Ring orientation does not matter.
//!
//! # Limitations
//! - No standard defines the numerator or the denominator (DOMAIN.md §D6, §G9); both shares are
//!   reported.
//! - `other` counts as non-construction land, as the issue defines it. This includes 特殊用地 and
//!   采矿, which are construction land in a land balance (§D6 excludes only 16 留白 and 23 其他土地).
//!   Unclassified land and land that no parcel covers count as construction land.
//! - `by_category` dissolves within each category only. A piece of land coded twice, once as
//!   residential and once as commercial, counts in both categories, and once in the mix.
//! - Land of a mix category that overlaps water, agricultural or other land counts in both the
//!   mix and the non-construction land. The mix share of construction land can then exceed 1.
//!
//! # Reference
//! DOMAIN.md §D6 (suggested numerator RES + 0702 + PUB + COM; denominators park area and park
//! construction land), §D1–D4 (class tables), §F (ellipsoidal areas).

use std::collections::BTreeMap;

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::orient::{Direction, Orient};
use geo::{
    unary_union, BooleanOps, BoundingRect, Buffer, Coord, Distance, Euclidean, Intersects, Line, LineString, LinesIter,
    MultiPolygon, Polygon, Rect,
};
use rayon::prelude::*;

use crate::index::rtree::{candidates, BoxIndex};
use crate::model::{Area, Parcel};
use crate::normalise::classes::Category;
use crate::normalise::crs::Frame;
use crate::units::{round6, KahanSum, M2_PER_KM2};
use crate::{Error, Result};

/// The plan's band for the residential and service share of a park: 20–30% (DOMAIN.md §0, §D6).
pub const PLAN_BAND: (f64, f64) = (0.20, 0.30);

/// What counts and where the band lies.
#[derive(Debug, Clone)]
pub struct Params {
    /// The mix categories (`--mix`).
    pub mix: Vec<Category>,
    /// Lower bound of the band, as a share from 0 to 1.
    pub band_min: f64,
    /// Upper bound of the band, as a share from 0 to 1.
    pub band_max: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { mix: Category::DEFAULT_MIX.to_vec(), band_min: PLAN_BAND.0, band_max: PLAN_BAND.1 }
    }
}

/// Where a park's mix share lies relative to the band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Below,
    Within,
    Above,
}

impl Status {
    /// The status of a share, judged as it is reported (to 6 decimals); both bounds count as within.
    /// A share clipping left a few parts in 1e10 off a bound is reported as the bound, and is
    /// within.
    ///
    /// ```
    /// use planaudit::indicators::park_mix::Status;
    /// assert_eq!(Status::of(0.2, 0.2, 0.3), Status::Within);
    /// assert_eq!(Status::of(0.31, 0.2, 0.3), Status::Above);
    /// assert_eq!(Status::of(0.2 - 3e-11, 0.2, 0.3), Status::Within);
    /// assert_eq!(Status::of(0.3 + 3e-11, 0.2, 0.3), Status::Within);
    /// assert_eq!(Status::of(0.199_999_4, 0.2, 0.3), Status::Below);
    /// assert_eq!(Status::of(0.300_000_6, 0.2, 0.3), Status::Above);
    /// ```
    pub fn of(share: f64, band_min: f64, band_max: f64) -> Status {
        let share = crate::units::round6(share);
        if share < band_min {
            Status::Below
        } else if share > band_max {
            Status::Above
        } else {
            Status::Within
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Below => "below",
            Status::Within => "within",
            Status::Above => "above",
        }
    }
}

/// One park's result.
#[derive(Debug, Clone)]
pub struct ParkResult {
    pub park_id: String,
    /// The park's feature id (for a derived park, the smallest feature id of its parcels).
    pub fid: u64,
    pub name: Option<String>,
    pub park_area_km2: f64,
    pub mix_area_km2: f64,
    pub mix_share: f64,
    pub construction_land_km2: f64,
    /// `None` when the park has no construction land.
    pub mix_share_of_construction_land: Option<f64>,
    pub status: Status,
    /// Dissolved km² of every category, in [`Category::ALL`] order; zero where there is none.
    pub by_category: BTreeMap<Category, f64>,
    /// Dissolved km² of parcels whose code no table knows.
    pub unclassified_km2: f64,
    /// Unknown code → dissolved km² in the park.
    pub unknown_codes: BTreeMap<String, f64>,
    /// Σ clipped parcel areas − their union, over all parcels.
    pub overlap_km2: f64,
    /// Σ clipped mix parcel areas − the mix area.
    pub mix_overlap_km2: f64,
    /// Land of the park that any parcel covers (∪ q_i), km²: well below the park's area when the
    /// land-use layer does not reach the park (another survey's extent, a park drawn too large).
    pub covered_km2: f64,
    pub polygon: MultiPolygon<f64>,
}

/// One mix parcel clipped to one park, for the map.
#[derive(Debug, Clone)]
pub struct MixPiece {
    pub park_id: String,
    pub parcel_fid: u64,
    pub code: String,
    pub category: Category,
    /// The piece's own area; pieces of overlapping parcels overlap.
    pub area_km2: f64,
    pub polygon: MultiPolygon<f64>,
}

/// The indicator's output: one result per park, in the parks' order, and the mix pieces.
#[derive(Debug, Clone, Default)]
pub struct ParkMix {
    pub parks: Vec<ParkResult>,
    pub pieces: Vec<MixPiece>,
}

/// The union of polygons, whatever their ring orientation.
///
/// `geo`'s `unary_union` needs one winding order throughout, and GDAL's OSM driver does not give
/// one. Every part is therefore oriented first: exteriors counter-clockwise, holes clockwise.
///
/// ```
/// use geo::{wkt, Area};
/// use planaudit::indicators::park_mix::dissolve;
/// let a = wkt!(MULTIPOLYGON(((0. 0., 2. 0., 2. 2., 0. 2., 0. 0.))));
/// let b = wkt!(MULTIPOLYGON(((1. 0., 1. 2., 3. 2., 3. 0., 1. 0.)))); // clockwise, overlaps a
/// assert!((dissolve([&a, &b]).unsigned_area() - 6.0).abs() < 1e-9);
/// ```
pub fn dissolve<'a>(parts: impl IntoIterator<Item = &'a MultiPolygon<f64>>) -> MultiPolygon<f64> {
    let polygons: Vec<Polygon<f64>> =
        parts.into_iter().flat_map(|mp| mp.0.iter().map(|p| p.orient(Direction::Default))).collect();
    if polygons.is_empty() {
        return MultiPolygon(vec![]);
    }
    unary_union(&polygons)
}

/// How far (metres) a vertex may lie from the line it turns back along and still be a spike's tip.
const SPIKE_WIDTH_M: f64 = 1e-2;

/// A clipped polygon without the zero-width spikes and zero-area rings an intersection leaves
/// where a parcel and a park share an edge: a ring that goes out along a line and comes back
/// along it (within [`SPIKE_WIDTH_M`]) loses the tip, repeated vertices go, and a ring left with
/// fewer than three vertices goes (a polygon whose exterior goes, holes and all). The area changes
/// by at most the spikes' width times their length; the map gets valid polygons.
pub fn without_spikes(mp: MultiPolygon<f64>) -> MultiPolygon<f64> {
    let clean = |ring: LineString<f64>| -> Option<LineString<f64>> {
        let mut pts: Vec<Coord<f64>> = ring.0;
        if pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        // Tips are taken off until none is left, across the ring's start too.
        loop {
            let before = pts.len();
            let mut out: Vec<Coord<f64>> = Vec::with_capacity(pts.len());
            for &p in &pts {
                loop {
                    match out.as_slice() {
                        [.., last] if *last == p => break,
                        [.., a, b] if turns_back(*a, *b, p) => {
                            out.pop();
                        }
                        _ => {
                            out.push(p);
                            break;
                        }
                    }
                }
            }
            // The ring's seam: its last vertices against its first.
            while out.len() >= 3 {
                let n = out.len();
                if out[n - 1] == out[0] || turns_back(out[n - 2], out[n - 1], out[0]) {
                    out.pop();
                } else if turns_back(out[n - 1], out[0], out[1]) {
                    out.remove(0);
                } else {
                    break;
                }
            }
            pts = out;
            if pts.len() == before || pts.len() < 3 {
                break;
            }
        }
        (pts.len() >= 3).then(|| {
            pts.push(pts[0]);
            LineString(pts)
        })
    };
    MultiPolygon(
        mp.0.into_iter()
            .filter_map(|p| {
                let (exterior, interiors) = p.into_inner();
                Some(Polygon::new(clean(exterior)?, interiors.into_iter().filter_map(clean).collect()))
            })
            .collect(),
    )
}

/// Whether the way a → b → c turns back along itself: c goes back towards a, no farther than
/// [`SPIKE_WIDTH_M`] from the line of the longer of the two legs.
fn turns_back(a: Coord<f64>, b: Coord<f64>, c: Coord<f64>) -> bool {
    let (u, v) = (b - a, c - b);
    let dot = u.x * v.x + u.y * v.y;
    let cross = u.x * v.y - u.y * v.x;
    let longer = u.x.hypot(u.y).max(v.x.hypot(v.y));
    dot < 0.0 && cross.abs() <= SPIKE_WIDTH_M * longer
}

/// A parcel clipped to the park in hand.
struct Piece<'a> {
    parcel: &'a Parcel,
    polygon: MultiPolygon<f64>,
    area_km2: f64,
}

/// How far, as a share of a park's area, the measured areas of land covering the whole park may
/// differ from the park's own: on the ellipsoid an edge is a geodesic, and a vertex that clipping
/// adds on a park's straight edge moves it. Measured up to 8e-8 (an 8 km park 140 km from the
/// Gauss–Krüger zone's central meridian); construction land below this share is none.
const AREA_NOISE: f64 = 1e-6;

/// Computes the mix of every park, in the parks' order.
///
/// Candidate parcels are those whose box meets a park's box ([`candidates`]: the parks in an
/// R-tree, the parcels scanned in parallel). Each candidate is clipped once
/// to the park, and each category, the mix and all the land are dissolved once per park. Parks
/// are computed in parallel, each on its own, and collected in their order: the result does not
/// depend on the number of threads.
pub fn compute(parks: &[Area], parcels: &[Parcel], frame: &Frame, params: &Params) -> Result<ParkMix> {
    let boxes: Vec<_> = parks.iter().map(|p| p.polygon.bounding_rect()).collect();
    let candidates = candidates(&boxes, parcels, |p| p.polygon.bounding_rect());
    let per_park: Vec<Result<(ParkResult, Vec<MixPiece>)>> = parks
        .par_iter()
        .zip(&candidates)
        .map(|(park, candidates)| compute_park(park, candidates, parcels, frame, params))
        .collect();
    let mut out = ParkMix::default();
    for r in per_park {
        let (park, pieces) = r?;
        out.parks.push(park);
        out.pieces.extend(pieces);
    }
    Ok(out)
}

/// The mix of one park, and its mix pieces.
fn compute_park(
    park: &Area,
    candidates: &[usize],
    parcels: &[Parcel],
    frame: &Frame,
    params: &Params,
) -> Result<(ParkResult, Vec<MixPiece>)> {
    let km2 = |mp: &MultiPolygon<f64>| -> Result<f64> { Ok(frame.area_m2(mp)? / M2_PER_KM2) };
    let park_area_km2 = km2(&park.polygon)?;
    let has_area = park_area_km2 > 0.0 && park.polygon.bounding_rect().is_some();
    if !has_area {
        return Err(Error::EmptyLayer {
            layer: format!("park {}", park.id),
            reason: format!("feature {}: the park polygon has no area", park.fid),
        });
    }

    // Candidates are clipped in parallel and kept in index order. A parcel whose box no edge of
    // the park meets lies wholly inside the park or wholly outside it, and needs no clipping.
    let edges = Edges::of(&park.polygon);
    let clipped: Vec<Result<Option<Piece<'_>>>> = candidates
        .par_iter()
        .map(|&i| {
            let parcel = &parcels[i];
            let polygon = match clear_of_edges(&park.polygon, &edges, &parcel.polygon) {
                Some(Side::Inside) => without_spikes(parcel.polygon.clone()),
                Some(Side::Outside) => return Ok(None),
                None => without_spikes(park.polygon.intersection(&parcel.polygon)),
            };
            if polygon.0.is_empty() {
                return Ok(None);
            }
            let area_km2 = km2(&polygon)?;
            Ok((area_km2 > 0.0).then_some(Piece { parcel, polygon, area_km2 }))
        })
        .collect();
    let mut pieces: Vec<Piece<'_>> = Vec::with_capacity(clipped.len());
    for piece in clipped {
        pieces.extend(piece?);
    }

    // Dissolve per category (None: unclassified), then across categories.
    let mut groups: BTreeMap<Option<Category>, Vec<&MultiPolygon<f64>>> = BTreeMap::new();
    for p in &pieces {
        groups.entry(p.parcel.category).or_default().push(&p.polygon);
    }
    let land: BTreeMap<Option<Category>, MultiPolygon<f64>> =
        groups.into_iter().map(|(c, polys)| (c, dissolve(polys))).collect();
    let land_of = |cats: &[Category]| dissolve(cats.iter().filter_map(|c| land.get(&Some(*c))));

    // Every piece lies inside the park, but the intersections are computed in floating point:
    // a piece covering the whole park can measure a few parts in 1e9 more than the park.
    // Capping at the park's area keeps that noise from showing as a share above 1.
    let in_park = |a: f64| a.min(park_area_km2);
    let mut by_category = BTreeMap::new();
    for c in Category::ALL {
        by_category.insert(c, in_park(land.get(&Some(c)).map(km2).transpose()?.unwrap_or(0.0)));
    }
    let unclassified_km2 = in_park(land.get(&None).map(km2).transpose()?.unwrap_or(0.0));
    let mix_area_km2 = in_park(km2(&land_of(&params.mix))?);
    let non_construction_km2 = in_park(km2(&land_of(&Category::NON_CONSTRUCTION))?);
    let all_km2 = in_park(km2(&dissolve(land.values()))?);

    // The differences below are zero up to rounding (1e-12 km²) when nothing overlaps; the
    // clamps keep that noise from showing as a negative area.
    let construction_land_km2 = (park_area_km2 - non_construction_km2).max(0.0);
    let pieces_km2: KahanSum = pieces.iter().map(|p| p.area_km2).collect();
    let overlap_km2 = (pieces_km2.total() - all_km2).max(0.0);
    let in_mix = |p: &Piece<'_>| p.parcel.category.is_some_and(|c| params.mix.contains(&c));
    let mix_pieces_km2: KahanSum = pieces.iter().filter(|p| in_mix(p)).map(|p| p.area_km2).collect();
    let mix_overlap_km2 = (mix_pieces_km2.total() - mix_area_km2).max(0.0);

    let mut unknown: BTreeMap<&str, Vec<&MultiPolygon<f64>>> = BTreeMap::new();
    for p in pieces.iter().filter(|p| p.parcel.category.is_none()) {
        unknown.entry(p.parcel.code.as_str()).or_default().push(&p.polygon);
    }
    let mut unknown_codes = BTreeMap::new();
    for (code, polys) in unknown {
        unknown_codes.insert(code.to_string(), km2(&dissolve(polys))?);
    }

    let mix_share = mix_area_km2 / park_area_km2;
    let result = ParkResult {
        park_id: park.id.clone(),
        fid: park.fid,
        name: park.name.clone(),
        park_area_km2,
        mix_area_km2,
        mix_share,
        construction_land_km2,
        // Only when there is construction land as written (to 1e-6 km²) and beyond the noise of
        // measuring: in a park that is all non-construction land the difference above is noise,
        // and a share of it came out in the billions.
        mix_share_of_construction_land: (round6(construction_land_km2) > 0.0
            && construction_land_km2 > AREA_NOISE * park_area_km2)
            .then(|| mix_area_km2 / construction_land_km2),
        status: Status::of(mix_share, params.band_min, params.band_max),
        by_category,
        unclassified_km2,
        unknown_codes,
        overlap_km2,
        mix_overlap_km2,
        covered_km2: all_km2,
        polygon: park.polygon.clone(),
    };
    let mut mix_pieces = Vec::new();
    for p in pieces.into_iter().filter(|p| in_mix(p)) {
        mix_pieces.push(MixPiece {
            park_id: park.id.clone(),
            parcel_fid: p.parcel.fid,
            code: p.parcel.code.clone(),
            category: p.parcel.category.expect("mix pieces have a category"),
            area_km2: p.area_km2,
            polygon: p.polygon,
        });
    }
    Ok((result, mix_pieces))
}

/// A park's edges, every ring's, for [`clear_of_edges`].
struct Edges {
    lines: Vec<Line<f64>>,
    boxes: BoxIndex,
}

impl Edges {
    fn of(park: &MultiPolygon<f64>) -> Edges {
        let lines: Vec<Line<f64>> = park.lines_iter().collect();
        let boxes = BoxIndex::of_boxes(lines.iter().map(|line| Some(line.bounding_rect())));
        Edges { lines, boxes }
    }
}

/// Where a polygon lies against a park none of whose edges meets the polygon's box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Inside,
    Outside,
}

/// Where `parcel` lies against `park` when no edge of the park meets the parcel's box (the closed
/// box and the closed edge, in exact arithmetic): the box, which is connected, then lies wholly in
/// the park's interior or wholly outside the park, as does the parcel in it, and one vertex tells
/// which. For a valid park (the module's precondition: its parts do not overlap) the parcel's
/// piece in the park is then the parcel itself, or nothing, exactly. `None` (an edge meets the
/// parcel's box, or the box is not finite) leaves the answer to clipping.
fn clear_of_edges(park: &MultiPolygon<f64>, edges: &Edges, parcel: &MultiPolygon<f64>) -> Option<Side> {
    let rect = parcel.bounding_rect()?;
    // Coordinates are finite (ingest skips a feature with a NaN or an infinity); a box that is
    // not, all the same, is left to clipping rather than to box tests with nothing to go by.
    let finite = [rect.min().x, rect.min().y, rect.max().x, rect.max().y].iter().all(|v| v.is_finite());
    if !finite || edges.boxes.any_touching(&rect, |i| rect.intersects(&edges.lines[i])) {
        return None;
    }
    let vertex = parcel.0.first()?.exterior().0.first()?;
    match park.coordinate_position(vertex) {
        CoordPos::Inside => Some(Side::Inside),
        CoordPos::Outside => Some(Side::Outside),
        // Not on an edge, as no edge meets the box; were it so, clipping decides.
        CoordPos::OnBoundary => None,
    }
}

/// A park derived from parcels of one category.
#[derive(Debug, Clone)]
pub struct DerivedPark {
    /// The park: id `1`, `2`, … in the order of each group's smallest parcel fid. Its fid is
    /// that smallest fid.
    pub area: Area,
    /// How many parcels it was built from.
    pub parcels: usize,
}

/// Derives parks from the parcels of `category` that lie less than `gap_m` apart. The method is
/// described in the module docs under "Derived parks". Parcels must be in ascending fid order.
///
/// ```
/// use geo::{wkt, Area as _};
/// use planaudit::indicators::park_mix::derive_parks;
/// use planaudit::model::Parcel;
/// use planaudit::normalise::classes::Category;
/// let parcel = |fid, polygon| Parcel { fid, code: "1001".into(), category: Some(Category::Industrial), polygon };
/// let parcels = [
///     parcel(1, wkt!(MULTIPOLYGON(((0. 0., 100. 0., 100. 100., 0. 100., 0. 0.))))),
///     parcel(2, wkt!(MULTIPOLYGON(((130. 0., 230. 0., 230. 100., 130. 100., 130. 0.))))),
///     parcel(3, wkt!(MULTIPOLYGON(((500. 0., 600. 0., 600. 100., 500. 100., 500. 0.))))),
/// ];
/// let parks = derive_parks(&parcels, Category::Industrial, 50.0);
/// assert_eq!(parks.len(), 2);
/// assert_eq!(parks[0].parcels, 2);
/// assert!(parks[0].area.polygon.unsigned_area() > 20_000.0);
/// ```
pub fn derive_parks(parcels: &[Parcel], category: Category, gap_m: f64) -> Vec<DerivedPark> {
    let members: Vec<&Parcel> = parcels.iter().filter(|p| p.category == Some(category)).collect();
    let index = BoxIndex::new(members.iter().map(|p| &p.polygon));
    // The near pairs of each parcel, found in parallel; joined in parcel order.
    let near: Vec<Vec<usize>> = members
        .par_iter()
        .enumerate()
        .map(|(i, parcel)| {
            let Some(b) = parcel.polygon.bounding_rect() else { return Vec::new() };
            let grown = Rect::new(
                geo::coord! { x: b.min().x - gap_m, y: b.min().y - gap_m },
                geo::coord! { x: b.max().x + gap_m, y: b.max().y + gap_m },
            );
            index
                .query(&grown)
                .into_iter()
                .filter(|&j| j > i && closer_than(&parcel.polygon, &members[j].polygon, gap_m))
                .collect()
        })
        .collect();
    let mut sets = UnionFind::new(members.len());
    for (i, js) in near.into_iter().enumerate() {
        for j in js {
            sets.union(i, j);
        }
    }
    // Groups in the order of their first member, which is their smallest fid.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..members.len() {
        groups.entry(sets.find(i)).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by_key(|g| g[0]);
    loop {
        let polygons: Vec<MultiPolygon<f64>> = groups
            .par_iter()
            .map(|group| close_gaps(&dissolve(group.iter().map(|&i| &members[i].polygon)), gap_m / 2.0))
            .collect();
        // A group inside the enclosed land of another (filled as its hole) is part of that park:
        // parks that meet are joined, and their land made again.
        let index = BoxIndex::new(polygons.iter());
        let mut parks = UnionFind::new(groups.len());
        let mut joined = false;
        for (i, p) in polygons.iter().enumerate() {
            let Some(b) = p.bounding_rect() else { continue };
            for j in index.query(&b).into_iter().filter(|&j| j > i) {
                if p.intersects(&polygons[j]) {
                    parks.union(i, j);
                    joined = true;
                }
            }
        }
        if !joined {
            return groups
                .into_iter()
                .zip(polygons)
                .enumerate()
                .map(|(n, (group, polygon))| DerivedPark {
                    area: Area { id: (n + 1).to_string(), fid: members[group[0]].fid, name: None, kind: None, polygon },
                    parcels: group.len(),
                })
                .collect();
        }
        let mut merged: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (g, group) in groups.into_iter().enumerate() {
            merged.entry(parks.find(g)).or_default().extend(group);
        }
        groups = merged
            .into_values()
            .map(|mut g| {
                g.sort_unstable();
                g
            })
            .collect();
        groups.sort_by_key(|g| g[0]);
    }
}

/// Whether two multipolygons are less than `gap_m` apart; touching or overlapping ones always are.
fn closer_than(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>, gap_m: f64) -> bool {
    a.0.iter().any(|pa| {
        b.0.iter().any(|pb| {
            let d = Euclidean.distance(pa, pb);
            d < gap_m || d <= 0.0
        })
    })
}

/// Morphological closing with `radius_m`, holes filled, the input united back in.
fn close_gaps(union: &MultiPolygon<f64>, radius_m: f64) -> MultiPolygon<f64> {
    let closed = if radius_m > 0.0 { union.buffer(radius_m).buffer(-radius_m) } else { union.clone() };
    let filled = MultiPolygon(closed.0.iter().map(|p| Polygon::new(p.exterior().clone(), vec![])).collect());
    dissolve([&filled, union])
}

/// Disjoint sets over `0..n`, with path halving and union by size.
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind { parent: (0..n).collect(), size: vec![1; n] }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
    }
}

#[cfg(test)]
#[path = "park_mix_tests.rs"]
mod tests;
