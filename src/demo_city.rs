//! A deterministic synthetic city for demonstrations and tests, laid out where Lu'an (六安) is and
//! stored the way a municipal planning bureau keeps its data.
//!
//! [`generate`] writes four datasets into a directory:
//!
//! | File | Layer | Geometry | Fields |
//! |---|---|---|---|
//! | `built_up_areas.shp` (+ `.shx .dbf .prj .cpg`, `.dbf` in GBK) | `built_up_areas` | Polygon | `id` Integer, `name` String, `kind` String (`中心城区` / `县城`) |
//! | `roads.gpkg` | `roads` | LineString | `road_id` Integer, `name` String, `grade` String, `width_m` Real |
//! | `landuse.gpkg` | `landuse` | Polygon | `parcel_id` Integer, `dlbm` String, `dlmc` String |
//! | `landuse.gpkg` | `parks` | Polygon | `park_id` Integer, `name` String |
//! | `facilities.gpkg` | `facilities` | Point | `fac_id` Integer, `name` String, `type` String |
//!
//! Every layer is in CGCS2000 3-degree Gauss–Krüger zone 39 with the zone prefix, EPSG:4527,
//! with the easting written as X (≈ 39 43x xxx – 39 45x xxx m) and the northing as Y
//! (≈ 3 47x xxx – 3 51x xxx m). The central city is centred near 116.50°E 31.75°N
//! (E 39 452 625, N 3 514 240), the county town near 116.32°E 31.40°N (E 39 435 329, N 3 475 523);
//! the constants were taken once from PROJ (`cs2cs EPSG:4490 EPSG:4527`), the generator itself
//! works in projected metres only.
//!
//! # How the city is built
//!
//! Each town is described compactly (a private `AreaSpec`): a block grid (block counts, mean spacing),
//! a grade plan per grid line, a built-up outline and an industrial park given in grid indices.
//! Everything else is derived from that description and a keyed hash of the seed, so the output
//! depends only on the seed and memory stays linear in the number of blocks.
//!
//! - Grid lines have jittered spacing and every grid node is jittered, so lines are gently
//!   bent polylines and blocks are irregular quadrilaterals. Expressways and arterials run across
//!   the whole grid; secondary roads and branch roads stop one or two blocks beyond the built-up
//!   area. Roads share their vertices at every crossing. Some blocks have a dead-end 支路 (the
//!   road it leaves gets a vertex at the junction). One 高速公路 crosses each town without
//!   junctions.
//! - Blocks are the areas between road red lines (road centreline ± half the red-line width).
//!   They are cut into strip parcels; the road space between them is cut into road-land
//!   parcels (one per road segment between crossings and one per crossing), so the parcels
//!   tile the whole grid without gaps. The only overlap is deliberate: one industrial parcel in
//!   park 1 reaches 6 m into its neighbour (also industrial, so the park mix is unchanged).
//! - The built-up outline runs through block centres (a notched, partly diagonal outline), so
//!   roads cross it rather than run along it, and clipping matters.
//! - Industrial parks are bounded by road centrelines. Park 1 has a hole: an excluded village
//!   enclave coded as rural housing (`0703`), which must not count towards the park's mix.
//!   Parcels inside parks are assigned greedily, nearest to the park's living corner first, until
//!   the residential + service share of the park area reaches the design share.
//! - Facilities sit in residential blocks chosen on a per-type lattice whose spacing is about
//!   twice the type's service radius, so many but not all residential parcels are within reach
//!   of each type. Most types get a strip of their own coded for their use (幼儿园 on `080404` or
//!   `08H2`, ...), as long as the block keeps one residential strip; 老年人日间照料中心 and any
//!   facility without a free strip sit inside the block's first strip.
//!
//! # Design targets
//!
//! Road density is the centreline length of 快速路 + 主干路 + 次干路 + 支路 inside a built-up area
//! divided by its area (planar metres, EPSG:4527); see [`AREA_DESIGNS`]:
//!
//! | id | Area | kind | Plan target | Design density | Outcome |
//! |---|---|---|---|---|---|
//! | 1 | 六安中心城区 (~3 km × 2.5 km, notched) | 中心城区 | 8.3 km/km² | 8.8–10.8 | meets |
//! | 2 | 舒城县城 (~2 km × 2 km) | 县城 | 7.0 km/km² | 4.8–6.2 | misses |
//!
//! In the county town some 主干路 are 50 m wide (over the 40 m red-line cap), the others ≤ 40 m.
//!
//! Park mix is the area of residential + community service + public service + commercial
//! parcels inside the park divided by the park area (holes excluded); see [`PARK_DESIGNS`]:
//!
//! | park_id | Park | In | Design share | Plan band 20–30% |
//! |---|---|---|---|---|
//! | 1 | 六安经济技术开发区 (with an enclave hole) | central city | 25% ± 2% | within |
//! | 2 | 舒城杭埠产业园 | county town | 10% ± 2% | below |
//!
//! # Land-use codes
//!
//! `dlbm` mixes 三调 working codes (GB/T 21010-2017 plus the 三调 merged classes such as
//! `05H1`, `08H1`) and 国土空间用地用海分类 codes, as bureau data does; `dlmc` always holds the name
//! from the scheme the code was taken from. Several codes mean different things in the two
//! schemes; [`LAND_CODES`] records the scheme used here and the meaning in the other scheme.
//! Water is always `1701`/`1704` (用地用海) or `1104` (三调), never `1101`: here `1101` is only
//! 用地用海 物流仓储用地. Inside parks only unambiguous codes are used for the residential/service
//! classes, so the park mix does not depend on how ambiguous codes are resolved. One parcel
//! carries the unknown code [`UNKNOWN_LAND_CODE`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use geo::{Coord, LineString, Point, Polygon};

use crate::ingest::write::{self, FieldKind, FieldValue, GeometryKind, LayerData};
use crate::{Error, Result};

/// CRS of every demo layer: CGCS2000 / 3-degree Gauss–Krüger zone 39 (with zone prefix).
pub const EPSG: u32 = 4527;
/// Seed used by [`DemoOptions::default`].
pub const DEFAULT_SEED: u64 = 20_260_101;

/// Built-up areas: a Shapefile with a GBK `.dbf`.
pub const AREAS_FILE: &str = "built_up_areas.shp";
/// Layer name of the built-up areas (the Shapefile's stem).
pub const AREAS_LAYER: &str = "built_up_areas";
/// Encoding of the built-up areas' `.dbf` (written to the `.cpg`).
pub const AREAS_ENCODING: &str = "GBK";
/// Road centrelines.
pub const ROADS_FILE: &str = "roads.gpkg";
/// Layer of road centrelines in [`ROADS_FILE`].
pub const ROADS_LAYER: &str = "roads";
/// Land-use parcels and industrial parks.
pub const LANDUSE_FILE: &str = "landuse.gpkg";
/// Layer of land-use parcels in [`LANDUSE_FILE`].
pub const LANDUSE_LAYER: &str = "landuse";
/// Layer of industrial parks in [`LANDUSE_FILE`].
pub const PARKS_LAYER: &str = "parks";
/// Public service facilities.
pub const FACILITIES_FILE: &str = "facilities.gpkg";
/// Layer of facility points in [`FACILITIES_FILE`].
pub const FACILITIES_LAYER: &str = "facilities";

/// The road grades that count towards road network density.
pub const URBAN_ROAD_GRADES: [&str; 4] = ["快速路", "主干路", "次干路", "支路"];
/// The grade of the inter-city motorway that crosses each town (not an urban road).
pub const MOTORWAY_GRADE: &str = "高速公路";
/// Red-line width cap for county-town roads, in metres.
pub const COUNTY_RED_LINE_CAP_M: f64 = 40.0;
/// The plan's band for the residential + service share of industrial parks.
pub const PARK_SHARE_BAND: (f64, f64) = (0.20, 0.30);

/// The design of one built-up area's road network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AreaDesign {
    /// Value of the `id` field.
    pub id: i64,
    /// Value of the `name` field.
    pub name: &'static str,
    /// Value of the `kind` field.
    pub kind: &'static str,
    /// The plan's road-density target, km/km².
    pub target_density: f64,
    /// The band the generated planar density falls in, km/km².
    pub design_density: (f64, f64),
    /// Whether the area meets its target.
    pub meets_target: bool,
}

/// The two built-up areas and their road-density design.
pub const AREA_DESIGNS: [AreaDesign; 2] = [
    AreaDesign {
        id: 1,
        name: "六安中心城区",
        kind: "中心城区",
        target_density: 8.3,
        design_density: (8.8, 10.8),
        meets_target: true,
    },
    AreaDesign {
        id: 2,
        name: "舒城县城",
        kind: "县城",
        target_density: 7.0,
        design_density: (4.8, 6.2),
        meets_target: false,
    },
];

/// The design of one industrial park's land mix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParkDesign {
    /// Value of the `park_id` field.
    pub park_id: i64,
    /// Value of the `name` field.
    pub name: &'static str,
    /// `id` of the built-up area the park belongs to.
    pub area_id: i64,
    /// Share of residential + community service + public service + commercial land in the park
    /// area (holes excluded) that the generator aims at.
    pub design_share: f64,
    /// The generated share is within `design_share ± tolerance`.
    pub tolerance: f64,
    /// Whether the share is inside [`PARK_SHARE_BAND`].
    pub within_band: bool,
    /// Whether the park polygon has a hole (an excluded enclave).
    pub has_hole: bool,
}

/// The two industrial parks and their land-mix design.
pub const PARK_DESIGNS: [ParkDesign; 2] = [
    ParkDesign {
        park_id: 1,
        name: "六安经济技术开发区",
        area_id: 1,
        design_share: 0.25,
        tolerance: 0.02,
        within_band: true,
        has_hole: true,
    },
    ParkDesign {
        park_id: 2,
        name: "舒城杭埠产业园",
        area_id: 2,
        design_share: 0.10,
        tolerance: 0.02,
        within_band: false,
        has_hole: false,
    },
];

/// Analysis class of a land-use code, as used by the demo's design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LandClass {
    Residential,
    CommunityService,
    PublicService,
    Commercial,
    Industrial,
    Warehouse,
    Green,
    Water,
    Transport,
    Agricultural,
    Other,
}

impl LandClass {
    /// Whether the class counts towards the industrial-park residential + service share.
    pub fn is_living_or_service(self) -> bool {
        matches!(
            self,
            LandClass::Residential | LandClass::CommunityService | LandClass::PublicService | LandClass::Commercial
        )
    }
}

/// Which classification a code is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeScheme {
    /// Same code and meaning in both schemes.
    Both,
    /// 三调 working classification / GB/T 21010-2017.
    Sandiao,
    /// 国土空间调查、规划、用途管制用地用海分类.
    Yongdi,
}

/// One land-use code used by the demo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LandCode {
    /// `dlbm`.
    pub code: &'static str,
    /// `dlmc`: the name in [`LandCode::scheme`].
    pub name: &'static str,
    /// Analysis class.
    pub class: LandClass,
    /// The scheme the code is taken from.
    pub scheme: CodeScheme,
    /// Meaning and class of the same code in the other scheme, where it means something else.
    pub other_meaning: Option<(&'static str, LandClass)>,
}

const fn lc(code: &'static str, name: &'static str, class: LandClass, scheme: CodeScheme) -> LandCode {
    LandCode { code, name, class, scheme, other_meaning: None }
}

const fn ambiguous(
    code: &'static str,
    name: &'static str,
    class: LandClass,
    scheme: CodeScheme,
    other: &'static str,
    other_class: LandClass,
) -> LandCode {
    LandCode { code, name, class, scheme, other_meaning: Some((other, other_class)) }
}

use CodeScheme::{Both, Sandiao, Yongdi};
use LandClass as C;

/// Every land-use code the demo writes (besides [`UNKNOWN_LAND_CODE`]), with the scheme it is
/// taken from and, for codes that exist in both schemes with different meanings, the other one.
pub const LAND_CODES: &[LandCode] = &[
    lc("0101", "水田", C::Agricultural, Both),
    lc("0103", "旱地", C::Agricultural, Both),
    lc("0701", "城镇住宅用地", C::Residential, Both),
    lc("070101", "一类城镇住宅用地", C::Residential, Yongdi),
    lc("070102", "二类城镇住宅用地", C::Residential, Yongdi),
    ambiguous("0702", "城镇社区服务设施用地", C::CommunityService, Yongdi, "GB/T 21010: 农村宅基地", C::Residential),
    lc("0703", "农村宅基地", C::Residential, Yongdi),
    lc("05H1", "商业服务业设施用地", C::Commercial, Sandiao),
    ambiguous("0901", "商业用地", C::Commercial, Yongdi, "GB/T 21010: 军事设施用地", C::Other),
    lc("090101", "零售商业用地", C::Commercial, Yongdi),
    lc("08H1", "机关团体新闻出版用地", C::PublicService, Sandiao),
    lc("08H2", "科教文卫用地", C::PublicService, Sandiao),
    ambiguous("0804", "教育用地", C::PublicService, Yongdi, "GB/T 21010: 科研用地", C::PublicService),
    lc("080302", "文化活动用地", C::PublicService, Yongdi),
    lc("080403", "中小学用地", C::PublicService, Yongdi),
    lc("080404", "幼儿园用地", C::PublicService, Yongdi),
    lc("080602", "基层医疗卫生设施用地", C::PublicService, Yongdi),
    lc("080701", "老年人社会福利用地", C::PublicService, Yongdi),
    ambiguous("0805", "体育用地", C::PublicService, Yongdi, "GB/T 21010: 医疗卫生用地", C::PublicService),
    ambiguous(
        "0601",
        "工业用地",
        C::Industrial,
        Sandiao,
        "用地用海: 乡村道路用地 (06 农业设施建设用地)",
        C::Agricultural,
    ),
    ambiguous("1001", "工业用地", C::Industrial, Yongdi, "GB/T 21010: 铁路用地", C::Transport),
    lc("100101", "一类工业用地", C::Industrial, Yongdi),
    lc("0508", "物流仓储用地", C::Warehouse, Sandiao),
    ambiguous("1101", "物流仓储用地", C::Warehouse, Yongdi, "GB/T 21010: 河流水面", C::Water),
    lc("0810", "公园与绿地", C::Green, Sandiao),
    lc("1401", "公园绿地", C::Green, Yongdi),
    lc("1402", "防护绿地", C::Green, Yongdi),
    lc("1104", "坑塘水面", C::Water, Sandiao),
    lc("1701", "河流水面", C::Water, Yongdi),
    lc("1704", "坑塘水面", C::Water, Yongdi),
    lc("1004", "城镇村道路用地", C::Transport, Sandiao),
    ambiguous("1207", "城镇村道路用地", C::Transport, Yongdi, "GB/T 21010: 裸岩石砾地", C::Other),
];

/// The code of river parcels in scaled towns (用地用海 河流水面; the bridges' road space too).
pub const RIVER_LAND_CODE: &str = "1701";

/// The code of the one parcel whose class is unknown.
pub const UNKNOWN_LAND_CODE: &str = "9999";
/// `dlmc` of the parcel with the unknown code.
pub const UNKNOWN_LAND_NAME: &str = "待核实";

/// Looks a demo code up in [`LAND_CODES`].
pub fn land_code(code: &str) -> Option<&'static LandCode> {
    LAND_CODES.iter().find(|c| c.code == code)
}

/// Facilities of a type sit on a lattice this many service radii apart: dense enough that most
/// homes reach each type within its radius along the streets, sparse enough that some do not.
pub const LATTICE_FACTOR: f64 = 0.9;

/// A facility type: its name as bureaus write it, the service radius used to space it (GB 50180
/// Appendix C values), and the land-use code of its parcel in each scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacilityType {
    /// Value of the `type` field.
    pub name: &'static str,
    /// Service radius in metres; facilities are spaced about [`LATTICE_FACTOR`] times this far apart.
    pub radius_m: f64,
    /// Parcel code when the parcel is coded in 用地用海.
    pub code_yongdi: &'static str,
    /// Parcel code when the parcel is coded in 三调.
    pub code_sandiao: &'static str,
    /// Whether the facility has a parcel of its own; small community facilities sit inside a
    /// residential parcel.
    pub own_parcel: bool,
}

const fn ft(
    name: &'static str,
    radius_m: f64,
    code_yongdi: &'static str,
    code_sandiao: &'static str,
    own_parcel: bool,
) -> FacilityType {
    FacilityType { name, radius_m, code_yongdi, code_sandiao, own_parcel }
}

/// The eleven facility types of the demo.
pub const FACILITY_TYPES: [FacilityType; 11] = [
    ft("幼儿园", 300.0, "080404", "08H2", true),
    ft("小学", 500.0, "080403", "08H2", true),
    ft("初中", 1000.0, "0804", "08H2", true),
    ft("社区卫生服务中心", 1000.0, "080602", "08H2", true),
    ft("菜市场", 500.0, "090101", "05H1", true),
    ft("养老院", 1000.0, "080701", "08H2", true),
    ft("老年人日间照料中心", 300.0, "0702", "08H1", false),
    ft("社区服务站", 300.0, "0702", "08H1", true),
    ft("文化活动中心", 1000.0, "080302", "08H2", true),
    ft("文化活动站", 500.0, "080302", "08H2", false),
    ft("运动场地", 500.0, "0805", "08H2", true),
];

/// The facility types of each living-circle tier in scaled towns, with the walking distance a
/// community centre of the tier is meant to serve (GB 50180-2018 Appendix C radii): together they
/// meet every need of the `gb50180` tiers (运动场地 meets all three sports needs).
/// The last number is the share of a town's facilities the tier may take at most (the 5-minute
/// tier takes the rest). 文化活动站 (500 m) sits in the 10-minute centres.
const CENTRE_TIERS: [(f64, &[&str], f64); 3] = [
    (1000.0, &["初中", "社区卫生服务中心", "养老院", "文化活动中心"], 0.15),
    (500.0, &["小学", "菜市场", "文化活动站"], 0.25),
    (300.0, &["幼儿园", "社区服务站", "老年人日间照料中心", "运动场地"], 1.0),
];

/// A community centre is taken to serve the blocks whose centre lies within this share of its
/// tier's walk (Manhattan distance from the crossing): walks start at a parcel's centroid and run
/// along the streets.
const WALK_SHARE: f64 = 0.8;

/// A facility type no lookup table knows (one point, in the central city).
pub const UNKNOWN_FACILITY_TYPE: &str = "公共厕所X";

/// Options of the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// Seed of every random choice: the same seed gives the same city.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { seed: DEFAULT_SEED }
    }
}

/// Number of features written to each layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoCounts {
    pub built_up_areas: usize,
    pub roads: usize,
    pub parcels: usize,
    pub parks: usize,
    pub facilities: usize,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoManifest {
    /// `built_up_areas.shp`.
    pub areas: PathBuf,
    /// `roads.gpkg` (layer `roads`).
    pub roads: PathBuf,
    /// `landuse.gpkg` (layers `landuse` and `parks`).
    pub landuse: PathBuf,
    /// `facilities.gpkg` (layer `facilities`).
    pub facilities: PathBuf,
    /// Feature counts per layer.
    pub counts: DemoCounts,
}

/// The demo layers in memory, before writing.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoLayers {
    pub areas: LayerData,
    pub roads: LayerData,
    pub landuse: LayerData,
    pub parks: LayerData,
    pub facilities: LayerData,
}

impl DemoLayers {
    /// Feature counts per layer.
    pub fn counts(&self) -> DemoCounts {
        DemoCounts {
            built_up_areas: self.areas.features.len(),
            roads: self.roads.features.len(),
            parcels: self.landuse.features.len(),
            parks: self.parks.features.len(),
            facilities: self.facilities.features.len(),
        }
    }
}

/// Generates the demo city into `dir` (created if missing). Existing outputs of the same names
/// are deleted first, so the directory ends up holding exactly what this seed produces.
pub fn generate(dir: &Path, opts: &DemoOptions) -> Result<DemoManifest> {
    write_layers(dir, build(opts))
}

fn write_layers(dir: &Path, layers: DemoLayers) -> Result<DemoManifest> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let manifest = DemoManifest {
        areas: dir.join(AREAS_FILE),
        roads: dir.join(ROADS_FILE),
        landuse: dir.join(LANDUSE_FILE),
        facilities: dir.join(FACILITIES_FILE),
        counts: layers.counts(),
    };
    write::remove_dataset(&manifest.areas, "ESRI Shapefile")?;
    for path in [&manifest.roads, &manifest.landuse, &manifest.facilities] {
        write::remove_dataset(path, "GPKG")?;
    }
    let encoding = format!("ENCODING={AREAS_ENCODING}");
    write::write_layer(&manifest.areas, "ESRI Shapefile", &layers.areas, &[encoding.as_str()])?;
    write::write_layer(&manifest.roads, "GPKG", &layers.roads, &[])?;
    write::write_layer(&manifest.landuse, "GPKG", &layers.landuse, &[])?;
    write::write_layer(&manifest.landuse, "GPKG", &layers.parks, &[])?;
    write::write_layer(&manifest.facilities, "GPKG", &layers.facilities, &[])?;
    Ok(manifest)
}

/// Builds every demo layer in memory.
pub fn build(opts: &DemoOptions) -> DemoLayers {
    let rng = Rng::new(opts.seed);
    let mut out = Output::new();
    for (index, spec) in AREA_SPECS.iter().enumerate() {
        let inst =
            Instance { index, offset: (0.0, 0.0), area: true, park: true, unknowns: spec.unknowns, scaled: false };
        Town::new(spec, rng, inst).emit(&mut out);
    }
    out.layers
}

// ---------------------------------------------------------------------------------------------
// Scale data
// ---------------------------------------------------------------------------------------------

/// Named sizes of the scale generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The two-town demo city (as [`build`], roads as whole lines).
    Demo,
    /// About 100,000 parcels, 60,000 road segments, 5,000 facilities, 10 built-up areas, 20 parks.
    City,
    /// About 2,000,000 parcels, 1,000,000 road segments, 100,000 facilities, 100 built-up areas,
    /// 300 parks.
    Province,
}

impl Size {
    /// `(towns, built-up areas, parks, facilities aimed at)` at scale 1.
    fn plan(self) -> (usize, usize, usize, usize) {
        match self {
            Size::Demo => (2, 2, 2, usize::MAX),
            Size::City => (102, 10, 20, 5_000),
            Size::Province => (2_040, 100, 300, 100_000),
        }
    }

    /// Share of road segments cut once more at their midpoint, for the size's segment count.
    fn midpoint_share(self) -> f64 {
        match self {
            Size::Demo => 0.0,
            Size::City => 0.6,
            Size::Province => 0.34,
        }
    }

    /// The size's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Size::Demo => "demo",
            Size::City => "city",
            Size::Province => "province",
        }
    }
}

/// Options of the scale generator.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleOptions {
    pub seed: u64,
    pub size: Size,
    /// Multiplies the number of towns, built-up areas, parks and facilities (at least two towns).
    pub scale: f64,
}

/// Distance between the origins of neighbouring towns on the lattice, metres.
const TOWN_PITCH: (f64, f64) = (6_500.0, 6_000.0);
const K_THIN: u64 = 15;
/// Share of the blocks along a scaled town's river where it moves one block sideways.
const RIVER_STEP: f64 = 0.3;
/// Probability that an arterial or expressway line crossing the river gets a bridge.
const BRIDGE_SHARE: f64 = 0.5;
/// Probability that a crossing of two branch roads in the built-up area becomes a cul-de-sac.
const CUL_DE_SAC_RATE: f64 = 0.3;
/// Probability that a branch-road segment in the built-up area is missing.
const GAP_RATE: f64 = 0.06;

/// Builds the layers of a scaled city: towns alternating between the central-city and the
/// county-town design, laid out on a lattice of [`TOWN_PITCH`] eastwards and northwards of the
/// central city (town `k` gets area id `k + 1`). Only the first towns get a built-up area
/// polygon and an industrial park polygon; the others are the surrounding towns a city or a
/// province also holds.
///
/// At the `city` and `province` sizes each town gets the structure of real data: a river one
/// block wide (用地用海 `1701` parcels, [`RIVER_LAND_CODE`]) meanders across it, and streets
/// stop at its banks except for a few bridges on arterial lines (the bridges' road space stays
/// river surface); some branch-road crossings become culs-de-sac and some branch-road segments
/// are missing; urban blocks mix residential districts with commerce, public services, industry,
/// warehouses, green space and ponds; and facilities sit in community centres placed for the
/// 15-, 10- and 5-minute living circles, the size's facility count shared among the towns by
/// their residential blocks. Roads are written one segment (between two shared vertices) per
/// feature. `Size::Demo` at another scale repeats the demo's towns as they are.
pub fn build_scaled(opts: &ScaleOptions) -> DemoLayers {
    let (towns, areas, parks, facilities) = opts.size.plan();
    if opts.size == Size::Demo && opts.scale == 1.0 {
        return build(&DemoOptions { seed: opts.seed });
    }
    let scaled = |n: usize, min: usize| ((n as f64 * opts.scale).round() as usize).max(min);
    let (towns, areas, parks) = (scaled(towns, 2), scaled(areas, 1), scaled(parks, 1));
    let structured = opts.size != Size::Demo;
    let cols = (towns as f64).sqrt().ceil() as usize;
    let rng = Rng::new(opts.seed);
    let base = AREA_SPECS[0].origin;
    let town = |index: usize| {
        let spec = &AREA_SPECS[index % AREA_SPECS.len()];
        let (col, row) = (index % cols, index / cols);
        let offset =
            (base.0 + col as f64 * TOWN_PITCH.0 - spec.origin.0, base.1 + row as f64 * TOWN_PITCH.1 - spec.origin.1);
        let inst = Instance {
            index,
            offset,
            area: index < areas,
            park: index < parks,
            unknowns: index == 0,
            scaled: structured,
        };
        Town::new(spec, rng, inst)
    };
    let mut out = Output::new();
    if !structured {
        for index in 0..towns {
            town(index).emit(&mut out);
        }
        return out.layers;
    }
    // The facility count is shared among the towns by their residential blocks.
    let homes: Vec<usize> = (0..towns).map(|index| town(index).homes()).collect();
    let all_homes = homes.iter().sum::<usize>().max(1) as f64;
    let aim = scaled(facilities, 1) as f64;
    for (index, h) in homes.into_iter().enumerate() {
        let mut t = town(index);
        t.place_centres((aim * h as f64 / all_homes).round() as usize);
        t.finish_uses();
        t.emit(&mut out);
    }
    let mut layers = out.layers;
    split_roads(&mut layers.roads, rng, opts.size.midpoint_share());
    layers
}

/// Cuts every road into its two-vertex segments, numbered again from 1; a keyed share of the
/// segments (`midpoint_share`) is cut once more at its midpoint (a survey break, as bureau road
/// layers have).
fn split_roads(roads: &mut LayerData, rng: Rng, midpoint_share: f64) {
    let old = std::mem::take(&mut roads.features);
    let mut id = 0;
    let mut push = |a: Coord, b: Coord, values: &[FieldValue]| {
        id += 1;
        let mut v = values.to_vec();
        v[0] = FieldValue::Integer(id);
        roads.features.push((LineString::from(vec![a, b]).into(), v));
    };
    for (k, (g, values)) in old.into_iter().enumerate() {
        let geo::Geometry::LineString(line) = g else { continue };
        for (s, seg) in line.0.windows(2).enumerate() {
            if rng.unit(&[K_THIN, 1 << 32 | k as u64, s as u64]) < midpoint_share {
                let m = lerp(seg[0], seg[1], 0.5);
                let m = Coord { x: mm(m.x), y: mm(m.y) };
                push(seg[0], m, &values);
                push(m, seg[1], &values);
            } else {
                push(seg[0], seg[1], &values);
            }
        }
    }
}

/// What [`generate_scaled`] wrote: the dataset paths and counts, as for the demo city.
pub fn generate_scaled(dir: &Path, opts: &ScaleOptions) -> Result<DemoManifest> {
    write_layers(dir, build_scaled(opts))
}

// ---------------------------------------------------------------------------------------------
// Town descriptions
// ---------------------------------------------------------------------------------------------

/// Road grades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grade {
    Expressway,
    Arterial,
    Secondary,
    Branch,
    Motorway,
}

impl Grade {
    fn name(self) -> &'static str {
        match self {
            Grade::Expressway => URBAN_ROAD_GRADES[0],
            Grade::Arterial => URBAN_ROAD_GRADES[1],
            Grade::Secondary => URBAN_ROAD_GRADES[2],
            Grade::Branch => URBAN_ROAD_GRADES[3],
            Grade::Motorway => MOTORWAY_GRADE,
        }
    }
}

/// How far a grid line carries a road.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// Across the whole grid.
    Full,
    /// Only within this many grid lines of the built-up area's bounding box.
    Core(usize),
}

/// The road on one grid line.
#[derive(Debug, Clone, Copy)]
struct LinePlan {
    grade: Grade,
    width: f64,
    reach: Reach,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    /// A line of constant column index (runs south–north).
    Vertical,
    /// A line of constant row index (runs west–east).
    Horizontal,
}

const fn plan(grade: Grade, width: f64, reach: Reach) -> Option<LinePlan> {
    Some(LinePlan { grade, width, reach })
}

/// A compact description of one town.
struct AreaSpec {
    /// Index into [`AREA_DESIGNS`].
    design: usize,
    /// Short place name used in facility names.
    short: &'static str,
    /// Easting, northing (EPSG:4527) of the unjittered grid origin.
    origin: (f64, f64),
    /// Number of blocks west–east and south–north.
    blocks: (usize, usize),
    /// Mean block spacing west–east and south–north, metres.
    spacing: (f64, f64),
    /// Scaled towns multiply the mean block spacing by this (street blocks of 200–250 m).
    scaled_spacing: f64,
    /// Spacing jitter as a fraction of the mean spacing.
    spacing_jitter: f64,
    /// Node jitter as a fraction of the mean spacing.
    node_jitter: f64,
    /// Built-up outline, counter-clockwise, on the lattice of block centres (column, row).
    outline: &'static [(i32, i32)],
    /// Road plan of grid line `index` (1..n-1; the outer frame never carries a road).
    lines: fn(Axis, usize) -> Option<LinePlan>,
    /// Names of the south–north roads by column line (index 1 first), space-separated.
    names_x: &'static str,
    /// Names of the west–east roads by row line (index 1 first), space-separated.
    names_y: &'static str,
    /// Name of the urban expressway, if the plan has one.
    expressway_name: &'static str,
    /// Motorway name and vertices as fractions of the grid extent.
    motorway: (&'static str, &'static [(f64, f64)]),
    /// The industrial park.
    park: ParkSpec,
    /// Probability that a parcel is coded in 用地用海 rather than 三调.
    yongdi_share: f64,
    /// Probability that a residential block gets a dead-end branch road.
    stub_rate: f64,
    /// Strips per residential block: minimum and maximum.
    residential_strips: (usize, usize),
    /// Strips per park block.
    park_strips: usize,
    /// Whether this town holds the unknown land-use code and the unknown facility type.
    unknowns: bool,
}

/// An industrial park, bounded by road centrelines.
struct ParkSpec {
    /// Index into [`PARK_DESIGNS`].
    design: usize,
    /// Outline, counter-clockwise, on the lattice of grid nodes (column line, row line).
    ring: &'static [(i32, i32)],
    /// A block excluded from the park (a hole in its polygon), kept as a village.
    enclave: Option<(usize, usize)>,
    /// The corner (node lattice) where residential and service parcels cluster.
    living_corner: (f64, f64),
    /// Whether one industrial parcel overlaps its neighbour.
    overlap: bool,
}

impl AreaSpec {
    /// Mean block spacing west–east and south–north, metres.
    fn spacing(&self, scaled: bool) -> (f64, f64) {
        let f = if scaled { self.scaled_spacing } else { 1.0 };
        (self.spacing.0 * f, self.spacing.1 * f)
    }
}

fn central_lines(axis: Axis, index: usize) -> Option<LinePlan> {
    use Grade::*;
    match (axis, index) {
        (Axis::Vertical, 10) => plan(Expressway, 60.0, Reach::Full),
        (Axis::Vertical, 3 | 17) | (Axis::Horizontal, 3 | 11) => plan(Arterial, 50.0, Reach::Full),
        (Axis::Vertical, 7 | 13) | (Axis::Horizontal, 7 | 15) => plan(Arterial, 45.0, Reach::Full),
        (Axis::Vertical, 5 | 15) | (Axis::Horizontal, 5 | 9 | 13) => plan(Secondary, 30.0, Reach::Core(2)),
        (_, i) if i % 2 == 0 => plan(Branch, 20.0, Reach::Core(1)),
        _ => plan(Branch, 16.0, Reach::Core(1)),
    }
}

fn county_lines(axis: Axis, index: usize) -> Option<LinePlan> {
    use Grade::*;
    match (axis, index) {
        // Two arterials over the county-town red-line cap, the others within it.
        (Axis::Vertical, 5) | (Axis::Horizontal, 5) => plan(Arterial, 50.0, Reach::Full),
        (Axis::Vertical, 2) | (Axis::Horizontal, 8) => plan(Arterial, 40.0, Reach::Full),
        (Axis::Vertical, 8) | (Axis::Horizontal, 2) => plan(Arterial, 36.0, Reach::Full),
        (_, 3 | 7) => plan(Secondary, 24.0, Reach::Core(2)),
        (_, i) if i % 2 == 0 => plan(Branch, 18.0, Reach::Core(1)),
        _ => plan(Branch, 14.0, Reach::Core(1)),
    }
}

const AREA_SPECS: [AreaSpec; 2] = [
    AreaSpec {
        design: 0,
        short: "六安",
        origin: (39_450_400.0, 3_512_300.0),
        blocks: (20, 18),
        spacing: (225.0, 205.0),
        scaled_spacing: 0.8,
        spacing_jitter: 0.18,
        node_jitter: 0.04,
        outline: &[
            (3, 3),
            (10, 3),
            (10, 5),
            (16, 5),
            (16, 11),
            (14, 15),
            (7, 15),
            (7, 13),
            (5, 13),
            (5, 15),
            (3, 15),
        ],
        lines: central_lines,
        names_x: "淠河路 解放路 人民路 梅山路 佛子岭路 长安路 齐云路 紫竹林路 磨子潭路 皖西大道 裕安路 振华路 云路街 南屏路 光明路 龙河路 安丰路 新安路 晶秀路",
        names_y: "皋城路 寿春路 长江路 大别山路 朝阳路 清水河路 鼓楼街 文庙街 红街 北门街 南门街 东大街 西大街 健康路 先生店路 平桥路 小华山路",
        expressway_name: "皖西大道",
        motorway: ("G40沪陕高速", &[(-0.05, 0.22), (0.45, 0.42), (1.05, 0.72)]),
        park: ParkSpec {
            design: 0,
            ring: &[(11, 6), (18, 6), (18, 8), (16, 8), (16, 10), (11, 10)],
            enclave: Some((13, 7)),
            living_corner: (11.0, 10.0),
            overlap: true,
        },
        yongdi_share: 0.6,
        stub_rate: 0.3,
        residential_strips: (2, 3),
        park_strips: 2,
        unknowns: true,
    },
    AreaSpec {
        design: 1,
        short: "舒城",
        origin: (39_433_300.0, 3_473_550.0),
        blocks: (11, 11),
        spacing: (370.0, 360.0),
        scaled_spacing: 0.5,
        spacing_jitter: 0.15,
        node_jitter: 0.03,
        outline: &[
            (2, 2),
            (8, 2),
            (8, 6),
            (7, 8),
            (4, 8),
            (4, 7),
            (2, 7),
            (2, 5),
            (1, 5),
            (1, 3),
            (2, 3),
        ],
        lines: county_lines,
        names_x: "城关路 舒州路 龙舒路 桃溪路 春秋路 梅河路 南港路 晓天路 万佛湖路 杭埠路",
        names_y: "鼓楼街 新街 古城路 舒城路 三里河路 环城路 阙店路 张母桥路 干汊河路 五显路",
        expressway_name: "",
        motorway: ("G3京台高速", &[(-0.05, 0.80), (0.50, 0.50), (1.05, 0.12)]),
        park: ParkSpec {
            design: 1,
            ring: &[(6, 2), (10, 2), (10, 6), (7, 6), (7, 4), (6, 4)],
            enclave: None,
            living_corner: (7.0, 6.0),
            overlap: false,
        },
        yongdi_share: 0.35,
        stub_rate: 0.15,
        residential_strips: (3, 4),
        park_strips: 3,
        unknowns: false,
    },
];

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

/// A keyed SplitMix64 hash: every random value is a pure function of the seed and a key, so values
/// do not depend on the order in which they are drawn.
#[derive(Debug, Clone, Copy)]
struct Rng(u64);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// Keys of the random draws.
const K_SPACING_X: u64 = 1;
const K_SPACING_Y: u64 = 2;
const K_NODE_X: u64 = 3;
const K_NODE_Y: u64 = 4;
const K_USE: u64 = 5;
const K_STRIPS: u64 = 6;
const K_CUT: u64 = 7;
const K_SCHEME: u64 = 8;
const K_STUB: u64 = 10;
const K_LATTICE: u64 = 11;
const K_TOILET: u64 = 12;
const K_PARK_USE: u64 = 13;
const K_ROAD_SCHEME: u64 = 14;
const K_RIVER: u64 = 16;
const K_CUL_DE_SAC: u64 = 17;
const K_GAP: u64 = 18;
const K_DISTRICT: u64 = 19;
const K_CENTRE: u64 = 20;

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(splitmix(seed))
    }

    fn hash(self, key: &[u64]) -> u64 {
        key.iter().fold(self.0, |h, k| splitmix(h ^ splitmix(*k)))
    }

    /// Uniform in [0, 1).
    fn unit(self, key: &[u64]) -> f64 {
        (self.hash(key) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn signed(self, key: &[u64]) -> f64 {
        2.0 * self.unit(key) - 1.0
    }
}

// ---------------------------------------------------------------------------------------------
// Geometry helpers (local metres)
// ---------------------------------------------------------------------------------------------

fn sub(a: Coord, b: Coord) -> Coord {
    Coord { x: a.x - b.x, y: a.y - b.y }
}

fn add(a: Coord, b: Coord) -> Coord {
    Coord { x: a.x + b.x, y: a.y + b.y }
}

fn scale(a: Coord, s: f64) -> Coord {
    Coord { x: a.x * s, y: a.y * s }
}

fn cross(a: Coord, b: Coord) -> f64 {
    a.x * b.y - a.y * b.x
}

fn dot(a: Coord, b: Coord) -> f64 {
    a.x * b.x + a.y * b.y
}

fn unit(a: Coord) -> Coord {
    scale(a, 1.0 / a.x.hypot(a.y))
}

/// Linear interpolation, exactly `a` at 0 and exactly `b` at 1.
fn lerp(a: Coord, b: Coord, t: f64) -> Coord {
    Coord { x: (1.0 - t) * a.x + t * b.x, y: (1.0 - t) * a.y + t * b.y }
}

fn distance(a: Coord, b: Coord) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// Signed shoelace area of a ring given without its closing point.
fn ring_area(ring: &[Coord]) -> f64 {
    let n = ring.len();
    (0..n).map(|k| cross(ring[k], ring[(k + 1) % n])).sum::<f64>() / 2.0
}

/// Intersection of the lines through `p1 + s·d1` and `p2 + t·d2`.
fn intersect(p1: Coord, d1: Coord, p2: Coord, d2: Coord) -> Coord {
    let s = cross(sub(p2, p1), d2) / cross(d1, d2);
    add(p1, scale(d1, s))
}

/// The corner of a block at node `n` between the arms towards `a` and `b`, each arm's road
/// centreline offset by its half red-line width towards the block.
fn corner(n: Coord, (a, half_a): (Coord, f64), (b, half_b): (Coord, f64)) -> Coord {
    let ua = unit(sub(a, n));
    let ub = unit(sub(b, n));
    let mut na = Coord { x: -ua.y, y: ua.x };
    if dot(na, ub) < 0.0 {
        na = scale(na, -1.0);
    }
    let mut nb = Coord { x: -ub.y, y: ub.x };
    if dot(nb, ua) < 0.0 {
        nb = scale(nb, -1.0);
    }
    intersect(add(n, scale(na, half_a)), ua, add(n, scale(nb, half_b)), ub)
}

/// Point-in-polygon by crossing number.
fn inside(ring: &[(f64, f64)], (x, y): (f64, f64)) -> bool {
    let mut odd = false;
    let n = ring.len();
    for k in 0..n {
        let (x1, y1) = ring[k];
        let (x2, y2) = ring[(k + 1) % n];
        if (y1 > y) != (y2 > y) && x < x1 + (y - y1) * (x2 - x1) / (y2 - y1) {
            odd = !odd;
        }
    }
    odd
}

/// Expands a lattice ring: every axis-parallel edge gets a vertex at each lattice point it passes,
/// diagonal edges stay single segments. The result is not closed.
fn expand_ring(verts: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for (k, &a) in verts.iter().enumerate() {
        let b = verts[(k + 1) % verts.len()];
        out.push(a);
        if a.0 == b.0 || a.1 == b.1 {
            let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs());
            let (dx, dy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
            for s in 1..steps {
                out.push((a.0 + s * dx, a.1 + s * dy));
            }
        }
    }
    out
}

/// Chinese numerals for street and facility names (1 → 一, 12 → 十二, 105 → 一百零五).
fn chinese_number(n: usize) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n < 10 {
        return DIGITS[n].to_string();
    }
    if n < 20 {
        return format!("十{}", if n % 10 > 0 { DIGITS[n % 10] } else { "" });
    }
    if n >= 10_000 {
        return n.to_string();
    }
    let mut out = String::new();
    let mut zero = false;
    for (value, unit) in [(n / 1000, "千"), (n / 100 % 10, "百"), (n / 10 % 10, "十"), (n % 10, "")] {
        if value == 0 {
            zero = !out.is_empty();
        } else {
            if zero {
                out.push('零');
                zero = false;
            }
            out.push_str(DIGITS[value]);
            out.push_str(unit);
        }
    }
    out
}

/// Rounds a coordinate to the millimetre.
fn mm(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// One town
// ---------------------------------------------------------------------------------------------

/// What a parcel is meant to be; turned into a code when written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Use {
    Residential,
    Community,
    Public,
    Commercial,
    Industrial,
    Warehouse,
    Green,
    Water,
    /// River surface, always 用地用海 `1701` (scaled towns).
    River,
    Farm,
    Village,
    Facility(usize),
    Unknown,
}

/// The order in which living and service uses fill an industrial park.
const PARK_LIVING_CYCLE: [Use; 7] = [
    Use::Residential,
    Use::Residential,
    Use::Commercial,
    Use::Residential,
    Use::Community,
    Use::Residential,
    Use::Public,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// A block of the river (scaled towns).
    River,
    Rural,
    Urban,
    Park,
    Enclave,
}

#[derive(Debug, Clone)]
struct Block {
    zone: Zone,
    /// Inset quadrilateral: SW, SE, NE, NW corners.
    quad: [Coord; 4],
    /// Strip cut positions along the west–east edges, from 0 to 1.
    cuts: Vec<f64>,
    /// Use of each strip.
    uses: Vec<Use>,
    /// Facility types hosted in strip 0.
    hosts: Vec<usize>,
    /// Whether a dead-end branch road enters from the south.
    stub: bool,
    /// Strip 0 reaches this fraction further east (the deliberate overlap).
    overlap: f64,
    /// Scaled towns: the corner (SW, SE, NE, NW as 0–3) at the street crossing where the block's
    /// facilities stand.
    corner: Option<usize>,
}

impl Block {
    /// West and east edge positions of strip `k`, as fractions along the south and north edges.
    fn strip_span(&self, k: usize) -> (f64, f64) {
        (self.cuts[k], self.cuts[k + 1] + if k == 0 { self.overlap } else { 0.0 })
    }

    /// Strip `k` as a quadrilateral (SW, SE, NE, NW).
    fn strip(&self, k: usize) -> [Coord; 4] {
        let [sw, se, ne, nw] = self.quad;
        let (t0, t1) = self.strip_span(k);
        [lerp(sw, se, t0), lerp(sw, se, t1), lerp(nw, ne, t1), lerp(nw, ne, t0)]
    }

    /// Every vertex position on the south and north edges: the strip cuts and the overlap.
    fn edge_fractions(&self) -> Vec<f64> {
        let mut f = self.cuts.clone();
        if self.overlap > 0.0 {
            f.push(self.strip_span(0).1);
        }
        f.sort_by(f64::total_cmp);
        f
    }

    fn primary_use(&self) -> Use {
        self.uses.last().copied().unwrap_or(Use::Farm)
    }
}

/// Bilinear point in a quadrilateral (SW, SE, NE, NW) at (u west–east, v south–north).
fn bilinear(q: &[Coord; 4], u: f64, v: f64) -> Coord {
    lerp(lerp(q[0], q[1], u), lerp(q[3], q[2], u), v)
}

#[derive(Debug, Clone)]
struct RoadLine {
    plan: LinePlan,
    name: String,
    /// First and last node index along the line.
    span: (usize, usize),
    /// Segments (by their first node index) without a road: river crossings without a bridge and
    /// missing street segments. Empty in the demo.
    removed: Vec<bool>,
}

impl RoadLine {
    fn has(&self, seg: usize) -> bool {
        self.span.0 <= seg && seg < self.span.1 && !self.removed.get(seg).copied().unwrap_or(false)
    }

    /// The stretches of the line that carry a road, as (first, last) node indices: the whole span
    /// unless segments were removed.
    fn runs(&self) -> Vec<(usize, usize)> {
        if self.removed.is_empty() {
            return vec![self.span];
        }
        let mut out = Vec::new();
        let mut start = None;
        for seg in self.span.0..=self.span.1 {
            match (start, seg < self.span.1 && self.has(seg)) {
                (None, true) => start = Some(seg),
                (Some(a), false) => {
                    out.push((a, seg));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    fn half_width_on(&self, seg: usize) -> f64 {
        if self.has(seg) {
            self.plan.width / 2.0
        } else {
            0.0
        }
    }
}

// Quadrants around a node.
const BL: usize = 0;
const BR: usize = 1;
const TR: usize = 2;
const TL: usize = 3;

/// Where one copy of a town description goes and what it carries.
#[derive(Debug, Clone, Copy)]
struct Instance {
    /// Position among the towns: the area id is `index + 1`.
    index: usize,
    /// Added to the description's origin, metres.
    offset: (f64, f64),
    /// Whether the built-up area polygon is written.
    area: bool,
    /// Whether the industrial park polygon is written.
    park: bool,
    /// Whether this town holds the unknown land-use code and facility type.
    unknowns: bool,
    /// Whether the town is built with the scale generator's structure: a river crossed by few
    /// bridges, culs-de-sac and missing street segments, a mixed urban land use and facilities in
    /// community centres (see [`build_scaled`]).
    scaled: bool,
}

struct Town<'a> {
    spec: &'a AreaSpec,
    inst: Instance,
    rng: Rng,
    area_key: u64,
    nx: usize,
    ny: usize,
    /// Unjittered line positions.
    xs: Vec<f64>,
    ys: Vec<f64>,
    nodes: Vec<Coord>,
    vlines: Vec<Option<RoadLine>>,
    hlines: Vec<Option<RoadLine>>,
    /// Corner of the block in each quadrant of each node.
    corners: Vec<[Coord; 4]>,
    blocks: Vec<Block>,
    /// Whether each block lies in the river (scaled towns only; empty otherwise).
    river: Vec<bool>,
}

impl<'a> Town<'a> {
    fn new(spec: &'a AreaSpec, rng: Rng, inst: Instance) -> Self {
        let (nx, ny) = spec.blocks;
        let area_key = inst.index as u64 + 1;
        let positions = |n: usize, mean: f64, key: u64| {
            let mut v = vec![0.0];
            for k in 0..n {
                let s = mean * (1.0 + spec.spacing_jitter * rng.signed(&[area_key, key, k as u64]));
                v.push(v[k] + s);
            }
            v
        };
        let spacing = spec.spacing(inst.scaled);
        let xs = positions(nx, spacing.0, K_SPACING_X);
        let ys = positions(ny, spacing.1, K_SPACING_Y);
        let jitter = spec.node_jitter * (spacing.0 + spacing.1) / 2.0;
        let mut nodes = Vec::with_capacity((nx + 1) * (ny + 1));
        for (j, y) in ys.iter().enumerate() {
            for (i, x) in xs.iter().enumerate() {
                let key = |k| [area_key, k, i as u64, j as u64];
                nodes.push(Coord {
                    x: x + jitter * rng.signed(&key(K_NODE_X)),
                    y: y + jitter * rng.signed(&key(K_NODE_Y)),
                });
            }
        }
        let mut town = Town {
            spec,
            inst,
            rng,
            area_key,
            nx,
            ny,
            xs,
            ys,
            nodes,
            vlines: Vec::new(),
            hlines: Vec::new(),
            corners: Vec::new(),
            blocks: Vec::new(),
            river: Vec::new(),
        };
        town.plan_lines();
        if inst.scaled {
            town.plan_river();
            town.thin_streets();
        }
        town.corners = town.compute_corners();
        town.blocks = town.make_blocks();
        town.assign_park();
        if !inst.scaled {
            // Scaled towns get their facilities from `place_centres`, once the budget is known.
            town.place_facilities();
            town.finish_uses();
        }
        town
    }

    fn node(&self, i: usize, j: usize) -> Coord {
        self.nodes[j * (self.nx + 1) + i]
    }

    fn block_index(&self, bi: usize, bj: usize) -> usize {
        bj * self.nx + bi
    }

    fn block_centre(&self, bi: usize, bj: usize) -> Coord {
        let c = [self.node(bi, bj), self.node(bi + 1, bj), self.node(bi + 1, bj + 1), self.node(bi, bj + 1)];
        scale(c.iter().fold(Coord::zero(), |s, p| add(s, *p)), 0.25)
    }

    /// Half red-line width of the vertical road on line `i` between rows `j` and `j + 1`.
    fn v_half(&self, i: usize, j: usize) -> f64 {
        self.vlines[i].as_ref().map_or(0.0, |l| l.half_width_on(j))
    }

    /// Half red-line width of the horizontal road on line `j` between columns `i` and `i + 1`.
    fn h_half(&self, i: usize, j: usize) -> f64 {
        self.hlines[j].as_ref().map_or(0.0, |l| l.half_width_on(i))
    }

    /// Node bounding box of the built-up outline: (column lines, row lines).
    fn core(&self) -> ((usize, usize), (usize, usize)) {
        let xs = self.spec.outline.iter().map(|p| p.0 as usize);
        let ys = self.spec.outline.iter().map(|p| p.1 as usize);
        let (x0, x1) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0) + 1);
        let (y0, y1) = (ys.clone().min().unwrap_or(0), ys.max().unwrap_or(0) + 1);
        ((x0, x1), (y0, y1))
    }

    fn plan_lines(&mut self) {
        let (core_x, core_y) = self.core();
        let make = |axis: Axis,
                    index: usize,
                    n: usize,
                    across: (usize, usize),
                    along: (usize, usize),
                    n_along: usize|
         -> Option<RoadLine> {
            if index == 0 || index == n {
                return None;
            }
            let plan = (self.spec.lines)(axis, index)?;
            let span = match plan.reach {
                Reach::Full => (0, n_along),
                Reach::Core(m) => {
                    if index + m < across.0 || index > across.1 + m {
                        return None;
                    }
                    (along.0.saturating_sub(m), (along.1 + m).min(n_along))
                }
            };
            let (names, prefix) = match axis {
                Axis::Vertical => (self.spec.names_x, "经"),
                Axis::Horizontal => (self.spec.names_y, "纬"),
            };
            let name = if plan.grade == Grade::Expressway && !self.spec.expressway_name.is_empty() {
                self.spec.expressway_name.to_string()
            } else {
                names
                    .split_whitespace()
                    .nth(index - 1)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("{prefix}{}路", chinese_number(index)))
            };
            Some(RoadLine { plan, name, span, removed: Vec::new() })
        };
        let (nx, ny) = (self.nx, self.ny);
        let vlines = (0..=nx).map(|i| make(Axis::Vertical, i, nx, core_x, core_y, ny)).collect();
        let hlines = (0..=ny).map(|j| make(Axis::Horizontal, j, ny, core_y, core_x, nx)).collect();
        self.vlines = vlines;
        self.hlines = hlines;
    }

    /// Scaled towns: a river one block wide meanders across the whole grid (west–east or
    /// south–north), moving at most one block sideways per block downstream. Street segments
    /// between two river blocks are removed, except on a few arterial lines (the bridges).
    fn plan_river(&mut self) {
        let (nx, ny) = (self.nx, self.ny);
        let draw = |k: &[u64]| self.rng.unit(&[&[self.area_key, K_RIVER], k].concat());
        let west_east = draw(&[0]) < 0.5;
        let (across, along) = if west_east { (ny, nx) } else { (nx, ny) };
        let mut pos = across / 3 + (draw(&[1]) * (across / 3).max(1) as f64) as usize;
        let mut path = Vec::with_capacity(along);
        for k in 0..along {
            path.push(pos);
            let u = draw(&[2, k as u64]);
            if u < RIVER_STEP / 2.0 && pos > 1 {
                pos -= 1;
            } else if u > 1.0 - RIVER_STEP / 2.0 && pos + 2 < across {
                pos += 1;
            }
        }
        self.river = vec![false; nx * ny];
        for k in 0..along {
            let next = path[(k + 1).min(along - 1)];
            for p in path[k].min(next)..=path[k].max(next) {
                let (bi, bj) = if west_east { (k, p) } else { (p, k) };
                let idx = self.block_index(bi, bj);
                self.river[idx] = true;
            }
        }
        // Every line segment with river blocks on both sides, by line.
        let mut crossings: Vec<(Axis, usize, Vec<usize>)> = Vec::new();
        for i in 1..nx {
            let segs: Vec<usize> = (0..ny)
                .filter(|&j| self.v_half(i, j) > 0.0 && self.is_river(i - 1, j) && self.is_river(i, j))
                .collect();
            if !segs.is_empty() {
                crossings.push((Axis::Vertical, i, segs));
            }
        }
        for j in 1..ny {
            let segs: Vec<usize> = (0..nx)
                .filter(|&i| self.h_half(i, j) > 0.0 && self.is_river(i, j - 1) && self.is_river(i, j))
                .collect();
            if !segs.is_empty() {
                crossings.push((Axis::Horizontal, j, segs));
            }
        }
        let grade = |axis: Axis, index: usize| {
            let lines = if axis == Axis::Vertical { &self.vlines } else { &self.hlines };
            lines[index].as_ref().map(|l| l.plan.grade)
        };
        let mut bridged: Vec<bool> = crossings
            .iter()
            .map(|&(axis, index, _)| {
                matches!(grade(axis, index), Some(Grade::Expressway | Grade::Arterial))
                    && draw(&[3, axis as u64, index as u64]) < BRIDGE_SHARE
            })
            .collect();
        if !bridged.contains(&true) {
            // At least one bridge: on the highest-grade line that crosses.
            let rank = |g: Option<Grade>| match g {
                Some(Grade::Expressway) => 0,
                Some(Grade::Arterial) => 1,
                Some(Grade::Secondary) => 2,
                _ => 3,
            };
            if let Some(k) = (0..crossings.len()).min_by_key(|&k| rank(grade(crossings[k].0, crossings[k].1))) {
                bridged[k] = true;
            }
        }
        for ((axis, index, segs), bridge) in crossings.into_iter().zip(bridged) {
            if !bridge {
                for seg in segs {
                    self.remove_segment(axis, index, seg);
                }
            }
        }
    }

    /// Scaled towns: an irregular street grid. Some branch-road crossings in the built-up area
    /// become culs-de-sac (three of their four arms removed), and some branch-road segments are
    /// missing, merging two blocks into one. No removal leaves a neighbouring node with fewer
    /// than two arms, so the only new dead ends are the culs-de-sac.
    fn thin_streets(&mut self) {
        let (nx, ny) = (self.nx, self.ny);
        let outline = self.outline_lattice();
        let park = self.park_lattice();
        let urban = |t: &Self, bi: usize, bj: usize| {
            !t.is_river(bi, bj)
                && inside(&outline, (bi as f64 + 0.137, bj as f64 + 0.071))
                && !inside(&park, (bi as f64 + 0.5, bj as f64 + 0.5))
        };
        let branch = |l: &Option<RoadLine>| l.as_ref().is_some_and(|l| l.plan.grade == Grade::Branch);
        for j in 1..ny {
            for i in 1..nx {
                let quadrants = [(i - 1, j - 1), (i, j - 1), (i, j), (i - 1, j)];
                if !(branch(&self.vlines[i]) && branch(&self.hlines[j]))
                    || self.arms(i, j).len() != 4
                    || !quadrants.iter().all(|&(bi, bj)| urban(self, bi, bj))
                    || self.rng.unit(&[self.area_key, K_CUL_DE_SAC, i as u64, j as u64]) >= CUL_DE_SAC_RATE
                {
                    continue;
                }
                let keep = (self.rng.hash(&[self.area_key, K_CUL_DE_SAC, i as u64, j as u64, 1]) % 4) as usize;
                let arms = self.arms(i, j);
                let others: Vec<(Axis, usize, usize, (usize, usize))> =
                    arms.iter().enumerate().filter(|&(k, _)| k != keep).map(|(_, a)| *a).collect();
                if others.iter().all(|a| self.arms(a.3 .0, a.3 .1).len() >= 3) {
                    for (axis, line, seg, _) in others {
                        self.remove_segment(axis, line, seg);
                    }
                }
            }
        }
        for axis in [Axis::Vertical, Axis::Horizontal] {
            let (lines, segs) = if axis == Axis::Vertical { (nx, ny) } else { (ny, nx) };
            for line in 1..lines {
                let l = if axis == Axis::Vertical { &self.vlines[line] } else { &self.hlines[line] };
                if !branch(l) {
                    continue;
                }
                for seg in 0..segs {
                    // The segment, its two blocks and its two end nodes.
                    let (blocks, ends) = match axis {
                        Axis::Vertical => ([(line - 1, seg), (line, seg)], [(line, seg), (line, seg + 1)]),
                        Axis::Horizontal => ([(seg, line - 1), (seg, line)], [(seg, line), (seg + 1, line)]),
                    };
                    let present = match axis {
                        Axis::Vertical => self.v_half(line, seg) > 0.0,
                        Axis::Horizontal => self.h_half(seg, line) > 0.0,
                    };
                    if present
                        && blocks.iter().all(|&(bi, bj)| urban(self, bi, bj))
                        && ends.iter().all(|&(i, j)| self.arms(i, j).len() >= 3)
                        && self.rng.unit(&[self.area_key, K_GAP, axis as u64, line as u64, seg as u64]) < GAP_RATE
                    {
                        self.remove_segment(axis, line, seg);
                    }
                }
            }
        }
    }

    /// The road arms at node (i, j): (axis, line, segment, node at the other end).
    fn arms(&self, i: usize, j: usize) -> Vec<(Axis, usize, usize, (usize, usize))> {
        let mut out = Vec::with_capacity(4);
        if j > 0 && self.v_half(i, j - 1) > 0.0 {
            out.push((Axis::Vertical, i, j - 1, (i, j - 1)));
        }
        if j < self.ny && self.v_half(i, j) > 0.0 {
            out.push((Axis::Vertical, i, j, (i, j + 1)));
        }
        if i > 0 && self.h_half(i - 1, j) > 0.0 {
            out.push((Axis::Horizontal, j, i - 1, (i - 1, j)));
        }
        if i < self.nx && self.h_half(i, j) > 0.0 {
            out.push((Axis::Horizontal, j, i, (i + 1, j)));
        }
        out
    }

    fn remove_segment(&mut self, axis: Axis, line: usize, seg: usize) {
        let lines = if axis == Axis::Vertical { &mut self.vlines } else { &mut self.hlines };
        if let Some(l) = lines[line].as_mut() {
            if l.removed.len() <= seg {
                l.removed.resize(seg + 1, false);
            }
            l.removed[seg] = true;
        }
    }

    fn is_river(&self, bi: usize, bj: usize) -> bool {
        self.river.get(self.block_index(bi, bj)).copied().unwrap_or(false)
    }

    /// Whether the road segment between two river blocks is a bridge (vertical line `i` between
    /// rows `j` and `j + 1`, or horizontal line `j` between columns `i` and `i + 1`).
    fn is_bridge(&self, axis: Axis, i: usize, j: usize) -> bool {
        match axis {
            Axis::Vertical => self.v_half(i, j) > 0.0 && self.is_river(i - 1, j) && self.is_river(i, j),
            Axis::Horizontal => self.h_half(i, j) > 0.0 && self.is_river(i, j - 1) && self.is_river(i, j),
        }
    }

    /// Land use of an urban block in a scaled town: residential blocks cluster in residential
    /// districts (cells of 3 × 3 blocks), the rest is a mix of commerce, public services,
    /// industry, warehouses, green space and ponds (GB 50137: residential land 25–40% of
    /// urban construction land).
    fn scaled_urban_use(&self, bi: usize, bj: usize, u: f64) -> (Use, usize) {
        let district = self.rng.unit(&[self.area_key, K_DISTRICT, bi as u64 / 3, bj as u64 / 3]) < 0.22;
        let residential = |t: &Self| {
            let (lo, hi) = t.spec.residential_strips;
            let extra = (t.rng.unit(&[t.area_key, K_STRIPS, bi as u64, bj as u64]) * (hi - lo + 1) as f64) as usize;
            (Use::Residential, lo + extra.min(hi - lo))
        };
        match (district, u) {
            (true, u) if u < 0.80 => residential(self),
            (true, u) if u < 0.88 => (Use::Commercial, 2),
            (true, u) if u < 0.94 => (Use::Public, 2),
            (true, _) => (Use::Green, 1),
            (false, u) if u < 0.05 => residential(self),
            (false, u) if u < 0.35 => (Use::Commercial, 2),
            (false, u) if u < 0.48 => (Use::Public, 2),
            (false, u) if u < 0.66 => (Use::Industrial, 2),
            (false, u) if u < 0.74 => (Use::Warehouse, 1),
            (false, u) if u < 0.93 => (Use::Green, 1),
            (false, _) => (Use::Water, 1),
        }
    }

    /// Block corners around every node. Where no road separates two neighbouring blocks, their
    /// corners are merged into one point so that blocks and road pieces tile without slivers.
    fn compute_corners(&self) -> Vec<[Coord; 4]> {
        let (nx, ny) = (self.nx, self.ny);
        let mut all = Vec::with_capacity(self.nodes.len());
        for j in 0..=ny {
            for i in 0..=nx {
                let n = self.node(i, j);
                let exists = [i > 0 && j > 0, i < nx && j > 0, i < nx && j < ny, i > 0 && j < ny];
                let left = (i > 0).then(|| (self.node(i - 1, j), self.h_half(i - 1, j)));
                let right = (i < nx).then(|| (self.node(i + 1, j), self.h_half(i, j)));
                let down = (j > 0).then(|| (self.node(i, j - 1), self.v_half(i, j - 1)));
                let up = (j < ny).then(|| (self.node(i, j + 1), self.v_half(i, j)));
                let mut raw = [n; 4];
                let arms = [(left, down), (right, down), (right, up), (left, up)];
                for (q, (a, b)) in arms.into_iter().enumerate() {
                    if let (true, Some(a), Some(b)) = (exists[q], a, b) {
                        raw[q] = corner(n, a, b);
                    }
                }
                let absent = |arm: Option<(Coord, f64)>| arm.is_some_and(|(_, h)| h == 0.0);
                let mut rep = [BL, BR, TR, TL];
                let find = |rep: &[usize; 4], mut q: usize| {
                    while rep[q] != q {
                        q = rep[q];
                    }
                    q
                };
                let merges =
                    [(BL, TL, absent(left)), (BR, TR, absent(right)), (BL, BR, absent(down)), (TL, TR, absent(up))];
                for (a, b, merge) in merges {
                    if merge && exists[a] && exists[b] {
                        let (ra, rb) = (find(&rep, a), find(&rep, b));
                        rep[ra.max(rb)] = ra.min(rb);
                    }
                }
                if self.inst.scaled {
                    // Merged corners sit at the mean of their raw corners, so that a dead end's
                    // road space narrows symmetrically onto its centreline.
                    all.push([0, 1, 2, 3].map(|q| {
                        let r = find(&rep, q);
                        let members: Vec<Coord> = (0..4).filter(|&p| find(&rep, p) == r).map(|p| raw[p]).collect();
                        scale(members.iter().fold(Coord::zero(), |s, p| add(s, *p)), 1.0 / members.len() as f64)
                    }));
                } else {
                    all.push([0, 1, 2, 3].map(|q| raw[find(&rep, q)]));
                }
            }
        }
        all
    }

    fn corner_at(&self, i: usize, j: usize, q: usize) -> Coord {
        self.corners[j * (self.nx + 1) + i][q]
    }

    fn outline_lattice(&self) -> Vec<(f64, f64)> {
        self.spec.outline.iter().map(|&(a, b)| (a as f64, b as f64)).collect()
    }

    fn park_lattice(&self) -> Vec<(f64, f64)> {
        self.spec.park.ring.iter().map(|&(a, b)| (a as f64, b as f64)).collect()
    }

    fn make_blocks(&self) -> Vec<Block> {
        let outline = self.outline_lattice();
        let park = self.park_lattice();
        let mut blocks = Vec::with_capacity(self.nx * self.ny);
        for bj in 0..self.ny {
            for bi in 0..self.nx {
                let zone = if self.river.get(self.block_index(bi, bj)).copied().unwrap_or(false) {
                    Zone::River
                } else if self.spec.park.enclave == Some((bi, bj)) {
                    Zone::Enclave
                } else if inside(&park, (bi as f64 + 0.5, bj as f64 + 0.5)) {
                    Zone::Park
                } else if inside(&outline, (bi as f64 + 0.137, bj as f64 + 0.071)) {
                    // Blocks on the outline (it runs through block centres) count as urban when
                    // their centre lies on its south or west side.
                    Zone::Urban
                } else {
                    Zone::Rural
                };
                let quad = [
                    self.corner_at(bi, bj, TR),
                    self.corner_at(bi + 1, bj, TL),
                    self.corner_at(bi + 1, bj + 1, BL),
                    self.corner_at(bi, bj + 1, BR),
                ];
                let key = |k: u64| [self.area_key, k, bi as u64, bj as u64];
                let u = self.rng.unit(&key(K_USE));
                let (uses, strips): (Use, usize) = match zone {
                    Zone::River => (Use::River, 1),
                    Zone::Urban if self.inst.scaled => self.scaled_urban_use(bi, bj, u),
                    Zone::Enclave => (Use::Village, 1),
                    Zone::Park => (Use::Industrial, self.spec.park_strips),
                    Zone::Rural if u < 0.07 => (Use::Water, 1),
                    // Scaled towns: fewer villages, so that homes are mostly in towns.
                    Zone::Rural if self.inst.scaled && u < 0.085 => (Use::Village, 1),
                    Zone::Rural if self.inst.scaled => (Use::Farm, 2),
                    Zone::Rural if u < 0.13 => (Use::Village, 1),
                    Zone::Rural => (Use::Farm, 2),
                    Zone::Urban if u < 0.07 => (Use::Green, 1),
                    Zone::Urban if u < 0.10 => (Use::Water, 1),
                    Zone::Urban if u < 0.20 => (Use::Commercial, 2),
                    Zone::Urban => {
                        let (lo, hi) = self.spec.residential_strips;
                        let extra = (self.rng.unit(&key(K_STRIPS)) * (hi - lo + 1) as f64) as usize;
                        (Use::Residential, lo + extra.min(hi - lo))
                    }
                };
                let mut cuts = vec![0.0];
                for k in 1..strips {
                    let jitter = 0.3 * self.rng.signed(&[self.area_key, K_CUT, bi as u64, bj as u64, k as u64]);
                    cuts.push((k as f64 + 0.5 * jitter) / strips as f64);
                }
                cuts.push(1.0);
                let stub = zone == Zone::Urban
                    && uses == Use::Residential
                    && strips >= 2
                    && self.h_half(bi, bj) > 0.0
                    && self.rng.unit(&key(K_STUB)) < self.spec.stub_rate;
                blocks.push(Block {
                    zone,
                    quad,
                    cuts,
                    uses: vec![uses; strips],
                    hosts: Vec::new(),
                    stub,
                    overlap: 0.0,
                    corner: None,
                });
            }
        }
        blocks
    }

    /// Fills the park greedily from its living corner until the living/service share reaches
    /// the design share, and places the deliberate overlap.
    fn assign_park(&mut self) {
        let park = &self.spec.park;
        let design = &PARK_DESIGNS[park.design];
        let (exterior, holes) = self.park_rings();
        let area = ring_area(&exterior).abs() - holes.iter().map(|h| ring_area(h).abs()).sum::<f64>();
        let target = design.design_share * area;
        let mut order: Vec<(f64, usize, usize)> = Vec::new();
        for bj in 0..self.ny {
            for bi in 0..self.nx {
                if self.blocks[self.block_index(bi, bj)].zone == Zone::Park {
                    let dx = bi as f64 + 0.5 - park.living_corner.0;
                    let dy = bj as f64 + 0.5 - park.living_corner.1;
                    order.push((dx * dx + dy * dy, bi, bj));
                }
            }
        }
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
        let mut sum = 0.0;
        let mut cycle = 0;
        for &(_, bi, bj) in &order {
            let idx = self.block_index(bi, bj);
            for k in 0..self.blocks[idx].uses.len() {
                let a = ring_area(&self.blocks[idx].strip(k)).abs();
                let u = self.rng.unit(&[self.area_key, K_PARK_USE, bi as u64, bj as u64, k as u64]);
                self.blocks[idx].uses[k] = if (sum + a - target).abs() < (sum - target).abs() {
                    sum += a;
                    cycle += 1;
                    PARK_LIVING_CYCLE[(cycle - 1) % PARK_LIVING_CYCLE.len()]
                } else if u < 0.2 {
                    Use::Warehouse
                } else if u < 0.27 {
                    Use::Green
                } else {
                    Use::Industrial
                };
            }
        }
        if park.overlap {
            let found = order.iter().rev().map(|&(_, bi, bj)| self.block_index(bi, bj)).find(|&idx| {
                let b = &self.blocks[idx];
                b.uses.len() >= 2 && b.uses[..2].iter().all(|u| *u == Use::Industrial)
            });
            if let Some(idx) = found {
                let b = &mut self.blocks[idx];
                b.overlap = 6.0 / distance(b.quad[0], b.quad[1]);
            }
        }
    }

    /// Park exterior ring (counter-clockwise) and hole rings (clockwise), local metres.
    fn park_rings(&self) -> (Vec<Coord>, Vec<Vec<Coord>>) {
        let exterior: Vec<Coord> =
            expand_ring(self.spec.park.ring).into_iter().map(|(i, j)| self.node(i as usize, j as usize)).collect();
        let holes = self
            .spec
            .park
            .enclave
            .iter()
            .map(|&(bi, bj)| {
                vec![self.node(bi, bj), self.node(bi, bj + 1), self.node(bi + 1, bj + 1), self.node(bi + 1, bj)]
            })
            .collect();
        (exterior, holes)
    }

    fn is_host_candidate(&self, bi: i64, bj: i64) -> bool {
        if bi < 0 || bj < 0 || bi >= self.nx as i64 || bj >= self.ny as i64 {
            return false;
        }
        let b = &self.blocks[self.block_index(bi as usize, bj as usize)];
        b.zone == Zone::Urban && b.primary_use() == Use::Residential
    }

    /// Puts facilities of each type on a lattice about [`LATTICE_FACTOR`] radii apart, each in the
    /// nearest residential block.
    fn place_facilities(&mut self) {
        let mean = (self.spec.spacing.0 + self.spec.spacing.1) / 2.0;
        const NEIGHBOURS: [(i64, i64); 9] =
            [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (-1, -1), (1, -1)];
        for (t, ty) in FACILITY_TYPES.iter().enumerate() {
            let period = ((LATTICE_FACTOR * ty.radius_m / mean).round() as usize).max(1);
            let offset =
                |axis: u64| (self.rng.unit(&[self.area_key, K_LATTICE, t as u64, axis]) * period as f64) as usize;
            let (ox, oy) = (offset(0), offset(1));
            let mut placed = 0;
            for bj in (oy..self.ny).step_by(period) {
                for bi in (ox..self.nx).step_by(period) {
                    let host = NEIGHBOURS
                        .iter()
                        .map(|(dx, dy)| (bi as i64 + dx, bj as i64 + dy))
                        .find(|&(x, y)| self.is_host_candidate(x, y));
                    if let Some((x, y)) = host {
                        let idx = self.block_index(x as usize, y as usize);
                        if !self.blocks[idx].hosts.contains(&t) {
                            self.blocks[idx].hosts.push(t);
                            placed += 1;
                        }
                    }
                }
            }
            if placed == 0 {
                // Every town gets at least one facility of each type: the residential block
                // nearest to the middle of the built-up area.
                let ((x0, x1), (y0, y1)) = self.core();
                let mid = ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0);
                let best = (0..self.ny)
                    .flat_map(|bj| (0..self.nx).map(move |bi| (bi, bj)))
                    .filter(|&(bi, bj)| self.is_host_candidate(bi as i64, bj as i64))
                    .min_by(|a, b| {
                        let d = |p: &(usize, usize)| {
                            (p.0 as f64 + 0.5 - mid.0).powi(2) + (p.1 as f64 + 0.5 - mid.1).powi(2)
                        };
                        d(a).total_cmp(&d(b))
                    });
                if let Some((bi, bj)) = best {
                    let idx = self.block_index(bi, bj);
                    self.blocks[idx].hosts.push(t);
                }
            }
        }
        self.assign_facility_strips();
    }

    /// Facilities with their own parcel take strips from the west, the widest-serving first,
    /// leaving at least one residential strip; the others sit in strip 0.
    fn assign_facility_strips(&mut self) {
        for b in &mut self.blocks {
            b.hosts.sort_by(|&a, &c| FACILITY_TYPES[c].radius_m.total_cmp(&FACILITY_TYPES[a].radius_m).then(a.cmp(&c)));
            let slots = b.uses.len().saturating_sub(1);
            let own = b.hosts.iter().filter(|&&t| FACILITY_TYPES[t].own_parcel);
            for (k, &t) in own.take(slots).enumerate() {
                b.uses[k] = Use::Facility(t);
            }
        }
    }

    /// Number of residential blocks that can host facilities (the homes of the living circle).
    fn homes(&self) -> usize {
        (0..self.ny)
            .flat_map(|bj| (0..self.nx).map(move |bi| (bi, bj)))
            .filter(|&(bi, bj)| self.is_host_candidate(bi as i64, bj as i64))
            .count()
    }

    /// Scaled towns: facilities in community centres at street corners, as 15-, 10- and 5-minute
    /// living circles are planned. For each tier (widest first), centres are chosen greedily among
    /// the street crossings, each time the one that serves the most residential blocks not yet
    /// served: blocks on the same bank whose centre is within the tier's walk plus half a block
    /// (Manhattan distance) of the crossing. The 15- and 10-minute tiers stop when every home is
    /// served or at their share of the town's `budget`, the 5-minute centres when the budget is
    /// spent. Every tier has at least one centre, so every facility type is in every town. A
    /// centre's facilities sit in one block at the crossing, preferably a residential one.
    fn place_centres(&mut self, budget: usize) {
        let (nx, ny) = (self.nx, self.ny);
        let homes: Vec<(usize, usize)> = (0..ny)
            .flat_map(|bj| (0..nx).map(move |bi| (bi, bj)))
            .filter(|&(bi, bj)| self.is_host_candidate(bi as i64, bj as i64))
            .collect();
        // Crossings with a road, each with its host block (a home, else an urban block, else any
        // dry one) and the host's corner at the crossing.
        let rank = |bi: usize, bj: usize| {
            let b = &self.blocks[self.block_index(bi, bj)];
            if self.is_host_candidate(bi as i64, bj as i64) {
                0
            } else if b.zone == Zone::Urban {
                1
            } else if b.zone != Zone::River && (homes.is_empty() || b.zone != Zone::Park) {
                2
            } else {
                3
            }
        };
        let mut crossings: Vec<((usize, usize), usize, usize)> = Vec::new();
        for j in 1..ny {
            for i in 1..nx {
                if self.arms(i, j).is_empty() {
                    continue;
                }
                let around = [(i - 1, j - 1, TR), (i, j - 1, TL), (i, j, BL), (i - 1, j, BR)];
                let best = around.iter().min_by_key(|&&(bi, bj, _)| rank(bi, bj));
                if let Some(&(bi, bj, corner)) = best.filter(|&&(bi, bj, _)| rank(bi, bj) < 3) {
                    crossings.push(((i, j), self.block_index(bi, bj), corner));
                }
            }
        }
        // Without homes in the town only urban hosts are used if there are any.
        if homes.is_empty() && crossings.iter().any(|c| self.blocks[c.1].zone == Zone::Urban) {
            crossings.retain(|c| self.blocks[c.1].zone == Zone::Urban);
        }
        if crossings.is_empty() {
            return;
        }
        let bank = self.banks();
        let serves = |c: &((usize, usize), usize, usize), h: (usize, usize), reach: f64| {
            let ((i, j), host, _) = *c;
            let (cx, cy) = ((self.xs[h.0] + self.xs[h.0 + 1]) / 2.0, (self.ys[h.1] + self.ys[h.1 + 1]) / 2.0);
            bank[host] == bank[self.block_index(h.0, h.1)]
                && (self.xs[i] - cx).abs() + (self.ys[j] - cy).abs() <= WALK_SHARE * reach
        };
        let mut spent = 0;
        let mut hosting: Vec<(usize, usize, usize)> = Vec::new();
        let mut hub = vec![false; crossings.len()];
        for (tier, &(reach, names, share)) in CENTRE_TIERS.iter().enumerate() {
            let mut hub_next = hub.clone();
            let types: Vec<usize> =
                names.iter().filter_map(|n| FACILITY_TYPES.iter().position(|t| t.name == *n)).collect();
            let n = types.len().max(1);
            let max = if tier + 1 == CENTRE_TIERS.len() {
                ((budget.saturating_sub(spent) as f64 / n as f64).round() as usize).max(1)
            } else {
                ((share * budget as f64) as usize / n).max(1)
            };
            let reached: Vec<Vec<usize>> =
                crossings.iter().map(|c| (0..homes.len()).filter(|&k| serves(c, homes[k], reach)).collect()).collect();
            let mut served = vec![false; homes.len()];
            let mut picked = vec![false; crossings.len()];
            let mut picks = 0;
            let mut fresh = true;
            while picks < max {
                let gain = |c: usize| if picked[c] { 0 } else { reached[c].iter().filter(|&&k| !served[k]).count() };
                // Ties go to crossings that already hold a wider tier's centre.
                let tie = |c: usize| {
                    let (i, j) = crossings[c].0;
                    (!picked[c], hub[c], self.rng.hash(&[self.area_key, K_CENTRE, tier as u64, i as u64, j as u64]))
                };
                let Some(best) = (0..crossings.len()).max_by_key(|&c| (gain(c), tie(c))) else { break };
                if gain(best) == 0 && picks > 0 {
                    // Every home is served: while the tier's share lasts, a new round serves
                    // them a second time (walks are longer than the estimate).
                    if fresh || homes.is_empty() {
                        break;
                    }
                    served.iter_mut().for_each(|s| *s = false);
                    fresh = true;
                    continue;
                }
                fresh = false;
                picked[best] = true;
                hub_next[best] = true;
                for &k in &reached[best] {
                    served[k] = true;
                }
                let (_, host, corner) = crossings[best];
                for &t in &types {
                    if !hosting.iter().any(|h| h.0 == host && h.1 == t) {
                        hosting.push((host, t, corner));
                        spent += 1;
                    }
                }
                picks += 1;
            }
            hub = hub_next;
        }
        for (host, t, corner) in hosting {
            let b = &mut self.blocks[host];
            b.hosts.push(t);
            b.corner.get_or_insert(corner);
        }
        self.assign_facility_strips();
    }

    /// A label per block: blocks with the same label are connected without crossing the river
    /// (river blocks get their own labels).
    fn banks(&self) -> Vec<usize> {
        let mut label = vec![usize::MAX; self.nx * self.ny];
        let mut next = 0;
        for start in 0..label.len() {
            if label[start] != usize::MAX {
                continue;
            }
            let river = self.river.get(start).copied().unwrap_or(false);
            let mut stack = vec![start];
            label[start] = next;
            while let Some(k) = stack.pop() {
                let (bi, bj) = (k % self.nx, k / self.nx);
                let mut around = Vec::with_capacity(4);
                if bi > 0 {
                    around.push(k - 1);
                }
                if bi + 1 < self.nx {
                    around.push(k + 1);
                }
                if bj > 0 {
                    around.push(k - self.nx);
                }
                if bj + 1 < self.ny {
                    around.push(k + self.nx);
                }
                for m in around {
                    if label[m] == usize::MAX && self.river.get(m).copied().unwrap_or(false) == river {
                        label[m] = next;
                        stack.push(m);
                    }
                }
            }
            next += 1;
        }
        label
    }

    /// Places the unknown land-use code.
    fn finish_uses(&mut self) {
        if !self.inst.unknowns {
            return;
        }
        // A residential strip at the end of an urban block that keeps at least one other
        // residential strip (facilities may take strips of their own).
        let fits = |b: &Block, keep: usize| {
            b.zone == Zone::Urban
                && b.uses.len() >= 2
                && !b.stub
                && b.uses.last() == Some(&Use::Residential)
                && b.uses.iter().filter(|u| **u == Use::Residential).count() > keep
        };
        let pick = self.blocks.iter().position(|b| fits(b, 1)).or_else(|| self.blocks.iter().position(|b| fits(b, 0)));
        if let Some(b) = pick.map(|i| &mut self.blocks[i]) {
            let last = b.uses.len() - 1;
            b.uses[last] = Use::Unknown;
        }
    }

    /// The dead-end road into block (bi, bj): from the road south of it along the first strip
    /// boundary, 55% of the way into the block.
    fn stub(&self, bi: usize, bj: usize) -> (Coord, Coord) {
        let b = &self.blocks[self.block_index(bi, bj)];
        let [sw, se, ne, nw] = b.quad;
        let c = b.cuts[1];
        let (bottom, top) = (lerp(sw, se, c), lerp(nw, ne, c));
        let (n0, n1) = (self.node(bi, bj), self.node(bi + 1, bj));
        let p = intersect(bottom, sub(top, bottom), n0, sub(n1, n0));
        (p, lerp(bottom, top, 0.55))
    }

    fn world(&self, c: Coord) -> Coord {
        let (ox, oy) = (self.spec.origin.0 + self.inst.offset.0, self.spec.origin.1 + self.inst.offset.1);
        Coord { x: mm(ox + c.x), y: mm(oy + c.y) }
    }

    fn world_ring(&self, ring: &[Coord]) -> LineString {
        LineString::from(ring.iter().map(|c| self.world(*c)).collect::<Vec<_>>())
    }

    /// The code and name of a parcel. The scheme is drawn at random; where a scheme offers
    /// several codes for a use, `seen` cycles through them so that every one of them appears.
    fn code(
        &self,
        u: Use,
        in_park: bool,
        key: &[u64],
        seen: &mut HashMap<(Use, bool), usize>,
    ) -> (&'static str, &'static str) {
        let yongdi = self.rng.unit(&[key, &[K_SCHEME]].concat()) < self.spec.yongdi_share;
        let n = seen.entry((u, yongdi)).or_insert(0);
        *n += 1;
        let nth = *n - 1;
        let pick = |options: &[&'static str]| options[nth % options.len()];
        let code = match (u, yongdi) {
            (Use::Residential, true) => pick(&["070101", "070102", "0701"]),
            (Use::Residential, false) => "0701",
            (Use::Community, true) => "0702",
            (Use::Community, false) => "08H1",
            (Use::Public, true) => pick(&["0804", "080403", "080302"]),
            (Use::Public, false) => pick(&["08H1", "08H2"]),
            (Use::Commercial, true) => pick(&["0901", "090101"]),
            (Use::Commercial, false) => "05H1",
            (Use::Industrial, true) => pick(&["1001", "100101"]),
            (Use::Industrial, false) => "0601",
            (Use::Warehouse, true) => "1101",
            (Use::Warehouse, false) => "0508",
            (Use::Green, true) => pick(&["1401", "1402"]),
            (Use::Green, false) => "0810",
            // Scaled towns keep 1701 for the river: their ponds are 1704.
            (Use::Water, true) if self.inst.scaled => "1704",
            (Use::Water, true) => pick(&["1701", "1704"]),
            (Use::River, _) => RIVER_LAND_CODE,
            (Use::Water, false) => "1104",
            (Use::Farm, _) => pick(&["0101", "0103"]),
            (Use::Village, _) => "0703",
            (Use::Facility(t), true) => FACILITY_TYPES[t].code_yongdi,
            (Use::Facility(t), false) => FACILITY_TYPES[t].code_sandiao,
            (Use::Unknown, _) => return (UNKNOWN_LAND_CODE, UNKNOWN_LAND_NAME),
        };
        // Inside parks no parcel's code may switch between living/service and other land
        // with the scheme, so that the park mix does not depend on resolving ambiguous codes.
        let code = match land_code(code) {
            Some(LandCode { class, other_meaning: Some((_, other)), .. })
                if in_park && class.is_living_or_service() != other.is_living_or_service() =>
            {
                match u {
                    Use::Commercial => "090101",
                    _ => "080403",
                }
            }
            _ => code,
        };
        let name = land_code(code).map_or(UNKNOWN_LAND_NAME, |c| c.name);
        (code, name)
    }

    fn emit(&self, out: &mut Output) {
        let design = &AREA_DESIGNS[self.spec.design];
        // Built-up area.
        let outline: Vec<Coord> = expand_ring(self.spec.outline)
            .into_iter()
            .map(|(a, b)| self.block_centre(a as usize, b as usize))
            .collect();
        // Towns beyond the demo's two repeat its designs under numbered names.
        let suffix = if self.inst.index < AREA_DESIGNS.len() { String::new() } else { self.inst.index.to_string() };
        if self.inst.area {
            out.layers.areas.features.push((
                Polygon::new(self.world_ring(&outline), vec![]).into(),
                vec![
                    FieldValue::Integer(self.area_key as i64),
                    FieldValue::String(format!("{}{suffix}", design.name)),
                    FieldValue::String(design.kind.into()),
                ],
            ));
        }

        // Park.
        if self.inst.park {
            let park = &PARK_DESIGNS[self.spec.park.design];
            let (exterior, holes) = self.park_rings();
            out.layers.parks.features.push((
                Polygon::new(self.world_ring(&exterior), holes.iter().map(|h| self.world_ring(h)).collect()).into(),
                vec![FieldValue::Integer(self.area_key as i64), FieldValue::String(format!("{}{suffix}", park.name))],
            ));
        }

        self.emit_parcels(out);
        self.emit_roads(out);
        self.emit_facilities(out);
    }

    fn emit_parcels(&self, out: &mut Output) {
        let push = |out: &mut Output, ring: &[Coord], code: (&str, &str)| {
            out.parcel_id += 1;
            out.layers.landuse.features.push((
                Polygon::new(self.world_ring(ring), vec![]).into(),
                vec![
                    FieldValue::Integer(out.parcel_id),
                    FieldValue::String(code.0.into()),
                    FieldValue::String(code.1.into()),
                ],
            ));
        };
        let mut seen = HashMap::new();
        for bj in 0..self.ny {
            for bi in 0..self.nx {
                let b = &self.blocks[self.block_index(bi, bj)];
                let in_park = b.zone == Zone::Park;
                for (k, u) in b.uses.iter().enumerate() {
                    let key = [self.area_key, bi as u64, bj as u64, k as u64];
                    let code = self.code(*u, in_park, &key, &mut seen);
                    push(out, &self.strip_ring(bi, bj, k), code);
                }
            }
        }
        // Road space: one parcel per road segment between crossings, one per crossing. Pieces
        // at the outer frame pass through the frame node so that the parcels fill the frame.
        let road_code = |key: [u64; 3]| {
            let yongdi =
                self.rng.unit(&[self.area_key, K_ROAD_SCHEME, key[0], key[1], key[2]]) < self.spec.yongdi_share;
            let code = if yongdi { "1207" } else { "1004" };
            (code, land_code(code).map_or("", |c| c.name))
        };
        // Under a bridge the parcel stays river surface, as 三调 maps it.
        let river_code = || (RIVER_LAND_CODE, land_code(RIVER_LAND_CODE).map_or("", |c| c.name));
        let (nx, ny) = (self.nx, self.ny);
        for i in 1..nx {
            for j in 0..ny {
                if self.v_half(i, j) > 0.0 {
                    let mut ring = vec![self.corner_at(i, j, TL)];
                    if j == 0 {
                        ring.push(self.node(i, 0));
                    }
                    ring.extend([self.corner_at(i, j, TR), self.corner_at(i, j + 1, BR)]);
                    if j + 1 == ny {
                        ring.push(self.node(i, ny));
                    }
                    ring.push(self.corner_at(i, j + 1, BL));
                    if let Some(ring) = clean_ring(&ring) {
                        let code = if self.is_bridge(Axis::Vertical, i, j) {
                            river_code()
                        } else {
                            road_code([0, i as u64, j as u64])
                        };
                        push(out, &ring, code);
                    }
                }
            }
        }
        for j in 1..ny {
            for i in 0..nx {
                if self.h_half(i, j) > 0.0 {
                    // The edges along the blocks carry the blocks' strip vertices.
                    let below = &self.blocks[self.block_index(i, j - 1)];
                    let above = &self.blocks[self.block_index(i, j)];
                    let (bf, af) = (below.edge_fractions(), above.edge_fractions());
                    let [_, _, bne, bnw] = below.quad;
                    let [asw, ase, _, _] = above.quad;
                    let mut ring: Vec<Coord> = bf.iter().map(|t| lerp(bnw, bne, *t)).collect();
                    if i + 1 == nx {
                        ring.push(self.node(nx, j));
                    }
                    ring.extend(af.iter().rev().map(|t| lerp(asw, ase, *t)));
                    if i == 0 {
                        ring.push(self.node(0, j));
                    }
                    if let Some(ring) = clean_ring(&ring) {
                        let code = if self.is_bridge(Axis::Horizontal, i, j) {
                            river_code()
                        } else {
                            road_code([1, i as u64, j as u64])
                        };
                        push(out, &ring, code);
                    }
                }
            }
        }
        for j in 1..ny {
            for i in 1..nx {
                let ring = [BL, BR, TR, TL].map(|q| self.corner_at(i, j, q));
                if let Some(ring) = clean_ring(&ring) {
                    push(out, &ring, road_code([2, i as u64, j as u64]));
                }
            }
        }
    }

    /// Vertex positions along the south (or north) edge of a block: its own, and those of the
    /// neighbouring block when no road separates them (both edges then have the same end points).
    fn edge_vertices(&self, bi: usize, bj: usize, north: bool) -> Vec<f64> {
        let mut f = self.blocks[self.block_index(bi, bj)].edge_fractions();
        let neighbour = if north {
            (bj + 1 < self.ny && self.h_half(bi, bj + 1) == 0.0).then(|| bj + 1)
        } else {
            (bj > 0 && self.h_half(bi, bj) == 0.0).then(|| bj - 1)
        };
        if let Some(nj) = neighbour {
            f.extend(self.blocks[self.block_index(bi, nj)].edge_fractions());
            f.sort_by(f64::total_cmp);
            f.dedup();
        }
        f
    }

    /// Strip `k` of block (bi, bj) with every vertex its neighbours have on its edges, so that
    /// neighbouring parcels share vertices and edges exactly.
    fn strip_ring(&self, bi: usize, bj: usize, k: usize) -> Vec<Coord> {
        let b = &self.blocks[self.block_index(bi, bj)];
        let [sw, se, ne, nw] = b.quad;
        let (t0, t1) = b.strip_span(k);
        let within = |t: &&f64| t0 <= **t && **t <= t1;
        let south = self.edge_vertices(bi, bj, false);
        let north = self.edge_vertices(bi, bj, true);
        let mut ring: Vec<Coord> = south.iter().filter(within).map(|t| lerp(sw, se, *t)).collect();
        ring.extend(north.iter().rev().filter(within).map(|t| lerp(nw, ne, *t)));
        ring
    }

    fn emit_roads(&self, out: &mut Output) {
        let push = |out: &mut Output, coords: Vec<Coord>, name: &str, grade: Grade, width: f64| {
            out.road_id += 1;
            let line: LineString = coords.iter().map(|c| self.world(*c)).collect::<Vec<_>>().into();
            out.layers.roads.features.push((
                line.into(),
                vec![
                    FieldValue::Integer(out.road_id),
                    FieldValue::String(name.into()),
                    FieldValue::String(grade.name().into()),
                    FieldValue::Real(width),
                ],
            ));
        };
        for (i, line) in self.vlines.iter().enumerate() {
            if let Some(l) = line {
                for (a, b) in l.runs() {
                    let coords = (a..=b).map(|j| self.node(i, j)).collect();
                    push(out, coords, &l.name, l.plan.grade, l.plan.width);
                }
            }
        }
        let mut stubs = Vec::new();
        for (j, line) in self.hlines.iter().enumerate() {
            let Some(l) = line else { continue };
            let mut count = 0;
            for (a, b) in l.runs() {
                let mut coords = Vec::new();
                for i in a..=b {
                    coords.push(self.node(i, j));
                    if i < b && j < self.ny && self.blocks[self.block_index(i, j)].stub {
                        let (p, q) = self.stub(i, j);
                        coords.push(p);
                        count += 1;
                        let base = l.name.trim_end_matches("大道").trim_end_matches(['路', '街']);
                        stubs.push((p, q, format!("{base}{}巷", chinese_number(count))));
                    }
                }
                push(out, coords, &l.name, l.plan.grade, l.plan.width);
            }
        }
        for (p, q, name) in stubs {
            push(out, vec![p, q], &name, Grade::Branch, 12.0);
        }
        let (name, fractions) = self.spec.motorway;
        let (x0, x1) = (self.xs[0], self.xs[self.nx]);
        let (y0, y1) = (self.ys[0], self.ys[self.ny]);
        let coords =
            fractions.iter().map(|(fx, fy)| Coord { x: x0 + fx * (x1 - x0), y: y0 + fy * (y1 - y0) }).collect();
        push(out, coords, name, Grade::Motorway, 35.0);
    }

    fn emit_facilities(&self, out: &mut Output) {
        let mut used: HashMap<String, usize> = HashMap::new();
        let mut push = |out: &mut Output, at: Coord, road: &str, ty: &str| {
            let n = used.entry(format!("{road}{ty}")).or_insert(0);
            *n += 1;
            let name = if *n == 1 { format!("{road}{ty}") } else { format!("{road}第{}{ty}", chinese_number(*n)) };
            out.fac_id += 1;
            out.layers.facilities.features.push((
                Point::from(self.world(at)).into(),
                vec![FieldValue::Integer(out.fac_id), FieldValue::String(name), FieldValue::String(ty.into())],
            ));
        };
        let road_name = |bi: usize, bj: usize| -> String {
            let by_row = self.hlines[bj].as_ref().filter(|l| l.half_width_on(bi) > 0.0);
            let by_col = self.vlines[bi].as_ref().filter(|l| l.half_width_on(bj) > 0.0);
            by_row.or(by_col).map_or_else(|| self.spec.short.to_string(), |l| l.name.clone())
        };
        // The unknown facility goes to the candidate block with the fewest facilities (ties by hash).
        let mut toilet: Option<((usize, u64), usize, usize)> = None;
        for bj in 0..self.ny {
            for bi in 0..self.nx {
                let b = &self.blocks[self.block_index(bi, bj)];
                let m = b.hosts.len();
                // Each facility in its own strip, or spread along strip 0.
                let strip_of = |t: usize| b.uses.iter().position(|u| *u == Use::Facility(t));
                let shared: Vec<usize> = b.hosts.iter().copied().filter(|&t| strip_of(t).is_none()).collect();
                for (n, &t) in b.hosts.iter().enumerate() {
                    let at = match (strip_of(t), b.corner) {
                        // Scaled towns: along the street edge from the centre's corner.
                        (_, Some(c)) => {
                            let step = 0.02 + 0.012 * n as f64;
                            let u = if c == BL || c == TL { step } else { 1.0 - step };
                            let v = if c == BL || c == BR { 0.04 } else { 0.96 };
                            bilinear(&b.quad, u, v)
                        }
                        (Some(k), None) => bilinear(&b.strip(k), 0.5, 0.5),
                        (None, None) => {
                            let k = shared.iter().position(|&s| s == t).unwrap_or(0);
                            let v = (k + 1) as f64 / (shared.len() + 1) as f64;
                            bilinear(&b.strip(0), 0.5, v)
                        }
                    };
                    push(out, at, &road_name(bi, bj), FACILITY_TYPES[t].name);
                }
                if self.inst.unknowns && self.is_host_candidate(bi as i64, bj as i64) {
                    let key = (m, self.rng.hash(&[self.area_key, K_TOILET, bi as u64, bj as u64]));
                    if toilet.is_none_or(|(best, _, _)| key < best) {
                        toilet = Some((key, bi, bj));
                    }
                }
            }
        }
        if let Some((_, bi, bj)) = toilet {
            let b = &self.blocks[self.block_index(bi, bj)];
            let at = bilinear(&b.strip(0), 0.5, 0.5);
            push(out, at, &road_name(bi, bj), UNKNOWN_FACILITY_TYPE);
        }
    }
}

/// Drops repeated points (merged corners); `None` when fewer than three remain or the ring has
/// (almost) no area.
fn clean_ring(ring: &[Coord]) -> Option<Vec<Coord>> {
    let mut out: Vec<Coord> = Vec::with_capacity(ring.len());
    for &c in ring {
        if out.last() != Some(&c) && out.first() != Some(&c) {
            out.push(c);
        }
    }
    (out.len() >= 3 && ring_area(&out).abs() > 1.0).then_some(out)
}

/// The layers being filled and the running ids.
struct Output {
    layers: DemoLayers,
    parcel_id: i64,
    road_id: i64,
    fac_id: i64,
}

impl Output {
    fn new() -> Self {
        use FieldKind::{Integer, Real, String};
        Output {
            layers: DemoLayers {
                areas: LayerData::new(
                    AREAS_LAYER,
                    EPSG,
                    GeometryKind::Polygon,
                    &[("id", Integer), ("name", String), ("kind", String)],
                ),
                roads: LayerData::new(
                    ROADS_LAYER,
                    EPSG,
                    GeometryKind::LineString,
                    &[("road_id", Integer), ("name", String), ("grade", String), ("width_m", Real)],
                ),
                landuse: LayerData::new(
                    LANDUSE_LAYER,
                    EPSG,
                    GeometryKind::Polygon,
                    &[("parcel_id", Integer), ("dlbm", String), ("dlmc", String)],
                ),
                parks: LayerData::new(
                    PARKS_LAYER,
                    EPSG,
                    GeometryKind::Polygon,
                    &[("park_id", Integer), ("name", String)],
                ),
                facilities: LayerData::new(
                    FACILITIES_LAYER,
                    EPSG,
                    GeometryKind::Point,
                    &[("fac_id", Integer), ("name", String), ("type", String)],
                ),
            },
            parcel_id: 0,
            road_id: 0,
            fac_id: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::line_intersection::{line_intersection, LineIntersection};
    use geo::{Area, BooleanOps, LinesIter, Validation};

    fn polygons(layer: &LayerData) -> Vec<&Polygon> {
        layer
            .features
            .iter()
            .map(|(g, _)| match g {
                geo::Geometry::Polygon(p) => p,
                other => panic!("{}: not a polygon: {other:?}", layer.name),
            })
            .collect()
    }

    fn text(layer: &LayerData, values: &[FieldValue], field: &str) -> String {
        match &values[layer.field_index(field).unwrap()] {
            FieldValue::String(s) => s.clone(),
            other => panic!("{field}: {other:?}"),
        }
    }

    #[test]
    fn chinese_numerals() {
        let cases = [
            (1, "一"),
            (10, "十"),
            (12, "十二"),
            (20, "二十"),
            (35, "三十五"),
            (100, "一百"),
            (105, "一百零五"),
            (110, "一百一十"),
            (1005, "一千零五"),
            (2020, "二千零二十"),
        ];
        for (n, s) in cases {
            assert_eq!(chinese_number(n), s, "{n}");
        }
    }

    #[test]
    fn same_seed_same_layers() {
        let a = build(&DemoOptions::default());
        assert_eq!(a, build(&DemoOptions::default()));
        let b = build(&DemoOptions { seed: 1 });
        assert_ne!(a.roads, b.roads);
        assert_ne!(a.landuse, b.landuse);
        assert_eq!(a.areas.features.len(), 2);
        assert_eq!(a.parks.features.len(), 2);
    }

    #[test]
    fn polygons_valid_and_parcels_tile_the_grid() {
        for seed in [DEFAULT_SEED, 5] {
            let layers = build(&DemoOptions { seed });
            for layer in [&layers.areas, &layers.landuse, &layers.parks] {
                for p in polygons(layer) {
                    assert!(p.is_valid(), "{}: {:?}", layer.name, p.validation_errors());
                }
            }
            // Parcels cover each grid exactly once, except for the deliberate overlap.
            let rng = Rng::new(seed);
            for (index, spec) in AREA_SPECS.iter().enumerate() {
                let inst = Instance {
                    index,
                    offset: (0.0, 0.0),
                    area: true,
                    park: true,
                    unknowns: spec.unknowns,
                    scaled: false,
                };
                let t = Town::new(spec, rng, inst);
                let local = |p: &Polygon| p.unsigned_area();
                let mut out = Output::new();
                t.emit_parcels(&mut out);
                let parcels: f64 = polygons(&out.layers.landuse).into_iter().map(local).sum();
                let (nx, ny) = (t.nx as i32, t.ny as i32);
                let frame: Vec<Coord> = expand_ring(&[(0, 0), (nx, 0), (nx, ny), (0, ny)])
                    .into_iter()
                    .map(|(i, j)| t.node(i as usize, j as usize))
                    .collect();
                let grid = local(&Polygon::new(t.world_ring(&frame), vec![]));
                let mut overlap = 0.0;
                for b in t.blocks.iter().filter(|b| b.overlap > 0.0) {
                    let poly = |q: [Coord; 4]| Polygon::new(q.to_vec().into(), vec![]);
                    overlap += poly(b.strip(0)).intersection(&poly(b.strip(1))).unsigned_area();
                }
                assert_eq!(overlap > 500.0, spec.park.overlap, "one overlap of several hundred m²");
                // Corners on the outer frame are rounded to the millimetre off the frame's straight
                // edges: sub-square-metre slivers in total.
                assert!((parcels - grid - overlap).abs() < 1.0, "{parcels} vs {grid} + {overlap}");
            }
        }
    }

    #[test]
    fn scaled_towns_tile_their_grid_with_a_river() {
        let rng = Rng::new(DEFAULT_SEED);
        for index in 0..6 {
            let spec = &AREA_SPECS[index % AREA_SPECS.len()];
            let inst = Instance { index, offset: (0.0, 0.0), area: true, park: true, unknowns: false, scaled: true };
            let mut t = Town::new(spec, rng, inst);
            t.place_centres(60);
            let mut out = Output::new();
            t.emit(&mut out);
            let mut parcels = 0.0;
            for p in polygons(&out.layers.landuse) {
                assert!(p.is_valid(), "town {index}: {:?}", p.validation_errors());
                parcels += p.unsigned_area();
            }
            let (nx, ny) = (t.nx as i32, t.ny as i32);
            let frame: Vec<Coord> = expand_ring(&[(0, 0), (nx, 0), (nx, ny), (0, ny)])
                .into_iter()
                .map(|(i, j)| t.node(i as usize, j as usize))
                .collect();
            let grid = Polygon::new(t.world_ring(&frame), vec![]).unsigned_area();
            // The park's deliberate overlap is kept in scaled towns too.
            let mut overlap = 0.0;
            for b in t.blocks.iter().filter(|b| b.overlap > 0.0) {
                let poly = |q: [Coord; 4]| Polygon::new(q.to_vec().into(), vec![]);
                overlap += poly(b.strip(0)).intersection(&poly(b.strip(1))).unsigned_area();
            }
            assert!((parcels - grid - overlap).abs() < 1.0, "town {index}: {parcels} vs {grid} + {overlap}");
            // The river crosses the grid; at least one bridge; some segments removed.
            assert!(t.river.iter().filter(|r| **r).count() >= nx.min(ny) as usize);
            let bridges = (1..t.nx)
                .flat_map(|i| (0..t.ny).map(move |j| (i, j)))
                .filter(|&(i, j)| t.is_bridge(Axis::Vertical, i, j))
                .count()
                + (1..t.ny)
                    .flat_map(|j| (0..t.nx).map(move |i| (i, j)))
                    .filter(|&(i, j)| t.is_bridge(Axis::Horizontal, i, j))
                    .count();
            assert!((1..=8).contains(&bridges), "town {index}: {bridges} bridge segments");
            let removed = t.vlines.iter().chain(&t.hlines).flatten().flat_map(|l| &l.removed).filter(|r| **r).count();
            assert!(removed > 5, "town {index}: {removed} removed segments");
            // Every facility type is in the town.
            for (ty, facility) in FACILITY_TYPES.iter().enumerate() {
                assert!(t.blocks.iter().any(|b| b.hosts.contains(&ty)), "town {index}: no {}", facility.name);
            }
        }
    }

    #[test]
    fn centre_tiers_name_known_types() {
        let mut all: Vec<&str> = CENTRE_TIERS.iter().flat_map(|t| t.1.iter().copied()).collect();
        all.sort_unstable();
        let mut known: Vec<&str> = FACILITY_TYPES.iter().map(|t| t.name).collect();
        known.sort_unstable();
        assert_eq!(all, known);
    }

    #[test]
    fn roads_meet_at_shared_vertices() {
        let layers = build(&DemoOptions::default());
        let roads: Vec<(String, &LineString)> = layers
            .roads
            .features
            .iter()
            .map(|(g, v)| match g {
                geo::Geometry::LineString(l) => (text(&layers.roads, v, "grade"), l),
                other => panic!("not a line: {other:?}"),
            })
            .collect();
        let mut motorway_crossings = 0;
        let mut junctions = 0;
        for (a, (grade_a, la)) in roads.iter().enumerate() {
            for (grade_b, lb) in &roads[a + 1..] {
                let motorway = grade_a == MOTORWAY_GRADE || grade_b == MOTORWAY_GRADE;
                for sa in la.lines_iter() {
                    for sb in lb.lines_iter() {
                        match line_intersection(sa, sb) {
                            None => {}
                            Some(LineIntersection::SinglePoint { is_proper, .. }) => {
                                if motorway {
                                    // A motorway crosses on bridges: never a shared vertex.
                                    assert!(is_proper, "motorway junction");
                                    motorway_crossings += 1;
                                } else {
                                    assert!(!is_proper, "crossing without a shared vertex");
                                    junctions += 1;
                                }
                            }
                            Some(LineIntersection::Collinear { .. }) => panic!("collinear roads"),
                        }
                    }
                }
            }
        }
        assert!(motorway_crossings > 10, "{motorway_crossings}");
        assert!(junctions > 100, "{junctions}");
        // Every road is in a known grade; dead-end branch roads exist.
        let stubs =
            layers.roads.features.iter().filter(|(_, v)| text(&layers.roads, v, "name").ends_with('巷')).count();
        assert!(stubs > 5, "{stubs}");
        for (grade, _) in &roads {
            assert!(URBAN_ROAD_GRADES.contains(&grade.as_str()) || grade == MOTORWAY_GRADE);
        }
    }

    #[test]
    fn land_codes_are_consistent() {
        for (k, c) in LAND_CODES.iter().enumerate() {
            assert!(LAND_CODES[k + 1..].iter().all(|d| d.code != c.code), "duplicate {}", c.code);
        }
        for t in &FACILITY_TYPES {
            assert!(land_code(t.code_yongdi).is_some() && land_code(t.code_sandiao).is_some());
        }
        let layers = build(&DemoOptions::default());
        let mut unknown = 0;
        let mut classes = std::collections::HashSet::new();
        let mut codes = std::collections::HashSet::new();
        for (_, v) in &layers.landuse.features {
            let (code, name) = (text(&layers.landuse, v, "dlbm"), text(&layers.landuse, v, "dlmc"));
            match land_code(&code) {
                Some(c) => {
                    assert_eq!(c.name, name, "{code}");
                    classes.insert(c.class);
                    codes.insert(c.code);
                }
                None => {
                    assert_eq!((code.as_str(), name.as_str()), (UNKNOWN_LAND_CODE, UNKNOWN_LAND_NAME));
                    unknown += 1;
                }
            }
        }
        assert_eq!(unknown, 1);
        // With the default seed every code of the table is used at least once.
        for c in LAND_CODES {
            assert!(codes.contains(c.code), "{} unused", c.code);
        }
        for class in [
            LandClass::Residential,
            LandClass::CommunityService,
            LandClass::PublicService,
            LandClass::Commercial,
            LandClass::Industrial,
            LandClass::Warehouse,
            LandClass::Green,
            LandClass::Water,
            LandClass::Transport,
            LandClass::Agricultural,
        ] {
            assert!(classes.contains(&class), "no {class:?} parcel");
        }
    }

    #[test]
    fn every_town_has_every_facility_type() {
        let layers = build(&DemoOptions::default());
        for town in [true, false] {
            for ty in FACILITY_TYPES.iter().map(|t| t.name) {
                let found = layers.facilities.features.iter().any(|(g, v)| {
                    let geo::Geometry::Point(p) = g else { panic!("not a point") };
                    // The county town lies west of E 39 440 000, the central city east of it.
                    (p.x() > 39_440_000.0) == town && text(&layers.facilities, v, "type") == ty
                });
                assert!(found, "{ty} missing (central city: {town})");
            }
        }
        let unknown = layers
            .facilities
            .features
            .iter()
            .filter(|(_, v)| text(&layers.facilities, v, "type") == UNKNOWN_FACILITY_TYPE)
            .count();
        assert_eq!(unknown, 1);
    }
}
