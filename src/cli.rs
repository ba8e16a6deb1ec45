//! The command line: clap definitions and help text only, no logic.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// Audit a city's land-use and road layers against the spatial targets of its urbanization plan.
///
/// Layers are given as SRC = DATASET or DATASET#LAYER: any dataset GDAL opens (GeoPackage,
/// Shapefile, GeoJSON, FlatGeobuf, FileGDB, KML, CSV with WKT, OpenStreetMap .osm.pbf, PG:...).
/// planaudit reads and writes local files only; it makes no network request.
#[derive(Debug, Parser)]
#[command(name = "planaudit", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Road network density (km/km²) of each built-up area against the plan's targets.
    ///
    /// Each road is clipped to each area polygon (roads drawn on the boundary's vertices count in full) and measured;
    /// only the grades the table counts (快速路, 主干路, 次干路, 支路; with the osm preset trunk …
    /// living_street) enter the density. Targets: 中心城区 8.3, 县城 7.0 km/km² unless --target says
    /// otherwise. Writes OUT (one feature per area), OUT_grid with --grid, OUT_wide_roads with
    /// --width-field.
    ///
    /// Cost: one R-tree query per area and one clip per grade and area; --grid adds one clip per cell.
    RoadDensity(Box<RoadDensityArgs>),
    /// Residential and service land share (%) of each industrial park against the plan's 20–30% band.
    ///
    /// Land-use parcels are classified by a class table (code → category, longest prefix first) and
    /// clipped to each park. Parcels that overlap count once: each category is dissolved, then the
    /// mix categories together. The share of the mix in the park area, and in the park's
    /// construction land (the park less water, agricultural and other land), is checked against the
    /// band. OUT_parcels.geojson holds the mix parcels clipped to the parks.
    ///
    /// Class fields: a table lists the fields it reads (tdt2023, gbt21010, gb50137: dlbm or DLBM;
    /// osm: industrial, landuse, amenity, leisure, shop, office, tourism, natural, man_made, power,
    /// aeroway, place). Each parcel is classified by the first field whose code the table knows. For
    /// osm the code of a field is key=value (amenity=school), and tags that are not columns are read
    /// from other_tags. A code that no row knows counts as unclassified and is listed, not dropped.
    ///
    /// Without a park layer, --parks-from-class industrial makes one park of every group of
    /// industrial parcels less than --merge-gap-m apart: their union, closed with radius gap/2
    /// (buffered out, then back in) so that roads between the parcels belong to the park, holes
    /// filled. Each such park says so in its derived_from property.
    ///
    /// Cost: one R-tree query per park, one clip per parcel and park, and a few unions per park.
    /// --parks-from-class adds an R-tree query per parcel of that class and a buffer per derived park.
    ParkMix(Box<ParkMixArgs>),
    /// 15-minute living circle: walking distance from every home to each daily facility, and coverage.
    ///
    /// GB 50180-2018 tiers: for every origin (home, residential parcel) the walking distance to the
    /// nearest facility of each type, whether each 5/10/15-minute tier's needs are met, and coverage
    /// by count, residential area and population. --method buffer gives straight-line distances
    /// instead, labelled `buffer` in every output.
    ///
    /// One multi-source Dijkstra per facility type over the whole walking network (not one search per
    /// home): the cost grows with the number of facility types, not with the number of homes. Memory:
    /// the network, and one distance per origin and facility type. Writes OUT (one feature per origin),
    /// OUT_gaps (origins not covered at the largest tier, with what they miss) and, with
    /// --service-areas, OUT_service_areas.
    ///
    /// Facility types come from a table (--facility-types): `cn` keyed by the names bureaus use
    /// (幼儿园, 小学, 初中, 社区卫生服务中心, ...) or `osm` keyed by tags. Several type fields are tried in
    /// order (--type-field amenity,shop,leisure,social_facility): the first whose value the table knows
    /// (as field=value or value) decides. Types the table does not know are listed, not routed.
    LivingCircle(Box<LivingCircleArgs>),
    /// Build the demo city (Lu'an, CGCS2000 zone 39) and audit it into OUT_DIR.
    Demo(DemoArgs),
    /// Generate scale data for benchmarks (the demo city's towns repeated on a lattice) into
    /// OUT_DIR, with a `city.toml` to audit it.
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Run every indicator a city file configures; write GeoJSON, summary.json, summary.csv.
    Audit(AuditArgs),
    /// Validate a city file and its layers (fields, CRS, counts) without computing anything.
    Check(CheckArgs),
    /// Write a commented city-file template.
    Init(InitArgs),
    /// Audit many cities or counties from a manifest, in parallel; one combined summary.csv.
    Batch(BatchArgs),
}

/// How lengths and areas are measured.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MeasureArg {
    /// Geodesic on the WGS84/CGCS2000 ellipsoid (as 三调 reports areas).
    Ellipsoidal,
    /// Euclidean in --planar-crs (as a desktop GIS reports them).
    Planar,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// CRS override for every layer: EPSG code (EPSG:4527), gcj02, bd09, or a PROJ definition.
    #[arg(long, value_name = "CRS")]
    pub crs: Option<String>,
    /// Shapefile attribute encoding (GBK, UTF-8, ...), over a .cpg's; a .cpg is honoured without it.
    #[arg(long, value_name = "ENC")]
    pub encoding: Option<String>,
    /// Measurement method.
    #[arg(long, value_enum, default_value_t = MeasureArg::Ellipsoidal)]
    pub measure: MeasureArg,
    /// Projected CRS for --measure planar (the bureau's own, e.g. EPSG:4527).
    #[arg(long, value_name = "CRS")]
    pub planar_crs: Option<String>,
    /// Also write a machine-readable summary here.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// A city file's `[city] crs`: the CRS of layers that have none of their own (not an option).
    #[arg(skip)]
    pub fallback_crs: Option<String>,
    /// A city file's `encoding` of each layer, by source (not an option; `encoding` applies to the
    /// others).
    #[arg(skip)]
    pub layer_encodings: Vec<(String, String)>,
    /// Whether these options come from a city file (not an option): then messages name its keys,
    /// not command-line options.
    #[arg(skip)]
    pub from_city_file: bool,
}

impl CommonArgs {
    /// The Shapefile encoding for a layer source: its own from the city file (whatever the format:
    /// the reader warns of one that is not a Shapefile), else `--encoding` for a Shapefile, or a
    /// city file's `[city] encoding` for a Shapefile without a `.cpg`.
    pub fn encoding_for(&self, source: &crate::ingest::LayerSource) -> Option<String> {
        let key = source.to_string();
        if let Some((_, own)) = self.layer_encodings.iter().find(|(s, _)| *s == key) {
            return Some(own.clone());
        }
        match source.shapefile_has_cpg() {
            Some(has_cpg) if !(has_cpg && self.from_city_file) => self.encoding.clone(),
            _ => None,
        }
    }
}

/// The road layer and its grade table, shared by road-density and living-circle.
#[derive(Debug, Clone, Args)]
pub struct RoadsArgs {
    /// Road centrelines (SRC).
    #[arg(long, value_name = "SRC")]
    pub roads: String,
    /// OGR attribute filter on the roads, e.g. "highway IS NOT NULL".
    #[arg(long, value_name = "WHERE")]
    pub roads_where: Option<String>,
    /// CRS override for the roads layer.
    #[arg(long, value_name = "CRS")]
    pub roads_crs: Option<String>,
    /// Field holding the road grade [default: the grade table's field: grade, or highway for osm].
    #[arg(long, value_name = "F")]
    pub grade_field: Option<String>,
    /// Grade table (what counts in the density, what is walkable): a preset (cn, osm) or a TOML
    /// file [default: osm for .osm.pbf roads, else cn].
    #[arg(long, value_name = "PRESET|FILE")]
    pub grades: Option<String>,
}

/// Road network density per built-up area.
///
/// Each road is clipped to each area polygon (roads drawn on the boundary's vertices count in full) and measured;
/// only the grades the table counts (快速路, 主干路, 次干路, 支路; with the osm preset trunk … living_street)
/// enter the density. Cost: one R-tree query and one clip per grade per area.
#[derive(Debug, Clone, Args)]
pub struct RoadDensityArgs {
    #[command(flatten)]
    pub road: RoadsArgs,
    /// Built-up area polygons (SRC).
    #[arg(long, value_name = "SRC")]
    pub areas: String,
    /// OGR attribute filter on the areas, e.g. "admin_level = '8'".
    #[arg(long, value_name = "WHERE")]
    pub areas_where: Option<String>,
    /// CRS override for the areas layer.
    #[arg(long, value_name = "CRS")]
    pub areas_crs: Option<String>,
    /// Field holding the area kind (中心城区 / 县城) [default: kind, when present].
    #[arg(long, value_name = "F")]
    pub kind_field: Option<String>,
    /// Field holding the area name [default: name, when present].
    #[arg(long, value_name = "F")]
    pub name_field: Option<String>,
    /// Field holding the area id [default: id, osm_id or osm_way_id when present, else the feature id].
    #[arg(long, value_name = "F")]
    pub id_field: Option<String>,
    /// Target density in km/km²: KIND=VALUE for one kind, or VALUE for areas of any other kind.
    /// Defaults from the plan: 中心城区 8.3, 县城 7.0.
    #[arg(long, value_name = "KIND=VALUE")]
    pub target: Vec<String>,
    /// Also write square-cell densities with cells of this size in metres (OUT_grid.geojson).
    #[arg(long, value_name = "CELL_M")]
    pub grid: Option<f64>,
    /// Field holding the red-line width in metres; enables the width check (OUT_wide_roads.geojson).
    #[arg(long, value_name = "F")]
    pub width_field: Option<String>,
    /// Red-line width cap in metres for every area [default: 40 m for county towns only].
    #[arg(long, value_name = "M")]
    pub max_width: Option<f64>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output GeoJSON (one feature per area).
    #[arg(short, long, value_name = "OUT.geojson")]
    pub output: PathBuf,
}

/// Options of `planaudit park-mix` (the help text is on [`Command::ParkMix`]).
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("park_source").required(true).args(["parks", "parks_from_class"])))]
pub struct ParkMixArgs {
    /// Land-use parcels (SRC).
    #[arg(long, value_name = "SRC")]
    pub landuse: String,
    /// OGR attribute filter on the land use, e.g. "landuse IS NOT NULL OR amenity IS NOT NULL".
    #[arg(long, value_name = "WHERE")]
    pub landuse_where: Option<String>,
    /// CRS override for the land-use layer.
    #[arg(long, value_name = "CRS")]
    pub landuse_crs: Option<String>,
    /// Industrial park polygons (SRC).
    #[arg(long, value_name = "SRC")]
    pub parks: Option<String>,
    /// OGR attribute filter on the parks, e.g. "landuse = 'industrial'".
    #[arg(long, value_name = "WHERE", requires = "parks")]
    pub parks_where: Option<String>,
    /// CRS override for the parks layer.
    #[arg(long, value_name = "CRS", requires = "parks")]
    pub parks_crs: Option<String>,
    /// Field holding the park id [default: park_id, id, osm_id or osm_way_id when present, else the feature id].
    #[arg(long, value_name = "F", requires = "parks")]
    pub id_field: Option<String>,
    /// Field holding the park name [default: name, when present].
    #[arg(long, value_name = "F", requires = "parks")]
    pub name_field: Option<String>,
    /// Class table: a preset (tdt2023, gbt21010, gb50137, osm) or a TOML file; osm is the default
    /// for OpenStreetMap land use.
    #[arg(long, value_name = "PRESET|FILE")]
    pub classes: Option<String>,
    /// Class field(s), comma-separated, tried in order [default: the class table's fields].
    #[arg(long, value_name = "F[,F...]")]
    pub class_field: Option<String>,
    /// Categories of the mix, comma-separated
    /// [default: residential,community_service,public_service,commercial].
    #[arg(long, value_name = "CATEGORIES")]
    pub mix: Option<String>,
    /// Band for the mix share of the park area, in percent: MIN-MAX (bounds inclusive; a maximum
    /// of 1% or less is refused as shares given for percent).
    #[arg(long, value_name = "MIN-MAX", default_value = "20-30")]
    pub band: String,
    /// Without a park layer: derive parks from the parcels of this category (industrial).
    #[arg(long, value_name = "CATEGORY")]
    pub parks_from_class: Option<String>,
    /// With --parks-from-class: parcels less than this far apart form one park [default: 50].
    #[arg(long, value_name = "M", requires = "parks_from_class")]
    pub merge_gap_m: Option<f64>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output GeoJSON (one feature per park); the clipped mix parcels go to OUT_parcels.geojson.
    #[arg(short, long, value_name = "OUT.geojson")]
    pub output: PathBuf,
}

/// The built-in demo city.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Output folder: the demo city's layers go to OUT_DIR/demo_city, the audit beside them.
    #[arg(short, long, value_name = "OUT_DIR", default_value = "out")]
    pub output: PathBuf,
}

/// Sizes of `planaudit generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SizeArg {
    Demo,
    City,
    Province,
}

/// Scale data for benchmarks.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// demo (2 towns), city (~100k parcels, 60k road segments, 5k facilities) or province
    /// (~2M parcels, 1M road segments, 100k facilities).
    #[arg(long, value_enum, default_value = "city")]
    pub size: SizeArg,
    /// Multiplies the size's towns, built-up areas, parks and facilities (e.g. 0.05 for a quick test).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = crate::demo_city::DEFAULT_SEED)]
    pub seed: u64,
    /// Output folder: the layers and city.toml.
    #[arg(short, long, value_name = "OUT_DIR")]
    pub output: PathBuf,
}

/// Audit one city from its city file.
///
/// Exit codes: 0 when the audit ran (whatever the targets), 1 data error, 2 usage error, and with
/// --fail-on-miss 3 when any target is missed.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// The city file (see `planaudit init`).
    #[arg(value_name = "CITY.toml")]
    pub config: PathBuf,
    /// Output folder.
    #[arg(short, long, value_name = "OUT_DIR")]
    pub output: PathBuf,
    /// Exit with code 3 when any target is missed (for batch jobs).
    #[arg(long)]
    pub fail_on_miss: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Validate a city file.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[arg(value_name = "CITY.toml")]
    pub config: PathBuf,
}

/// Write a template city file.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(value_name = "CITY.toml", default_value = "city.toml")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Audit many cities.
///
/// Exit codes: 0 when every city ran; 1 when any city failed (the others still run); with
/// --fail-on-miss, 3 when none failed but some target was missed.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// The manifest: [[city]] entries with `name` and `config`, or a `template` and per-city `vars`.
    #[arg(value_name = "MANIFEST.toml")]
    pub manifest: PathBuf,
    /// Output folder: one sub-folder per city, plus the combined summary.csv, batch.csv, batch.json.
    #[arg(short, long, value_name = "OUT_DIR")]
    pub output: PathBuf,
    /// Cities audited at once [default: the number of cores]; each audit gets cores/N threads
    /// (`RAYON_NUM_THREADS`, unless set).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Rerun cities whose outputs are already up to date.
    #[arg(long)]
    pub force: bool,
    /// Exit with code 3 when no city failed but some target was missed.
    #[arg(long)]
    pub fail_on_miss: bool,
    /// Stop a city's audit after this many seconds and record it as failed (a layer on a hung
    /// network mount, a FIFO); no limit unless given.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Print nothing but errors (failed cities, an interruption).
    #[arg(short, long)]
    pub quiet: bool,
}

/// How points attach to the walking network.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SnapArg {
    /// Nearest point on the nearest walkable edge; the snap leg and the way along the edge count.
    Edge,
    /// Nearest graph node, no legs (as OSMnx and pandana do).
    Node,
}

/// How road lines become a network.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum NodingArg {
    /// Join lines where they share a vertex (OpenStreetMap: a bridge does not meet the road under it).
    Vertices,
    /// Also split lines where they cross, for data drawn without shared vertices (not where a
    /// `bridge`, `tunnel` or `layer` tag puts them at different levels).
    Planar,
}

/// How distances are measured.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DistanceArg {
    /// Walking distance along the road network.
    Network,
    /// Straight-line distance (service-radius buffers, as 城市体检 draws them); labelled in every output.
    Buffer,
}

/// Where service distances come from.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ThresholdsArg {
    /// Each need's own service distance in metres from the tier table (kindergarten 300 m, ...).
    Table,
    /// Every need of a tier within the tier's minutes at --walk-speed.
    Minutes,
}

/// Options of `planaudit living-circle` (help text on [`Command::LivingCircle`]).
#[derive(Debug, Clone, Args)]
pub struct LivingCircleArgs {
    /// The walking network (not read with --method buffer). OSM ways tagged foot=no or
    /// access=private are not walked.
    #[command(flatten)]
    pub road: RoadsArgs,
    /// Origins (SRC): residential parcels (polygons → centroid), buildings, or points.
    #[arg(long, value_name = "SRC")]
    pub origins: String,
    /// OGR attribute filter on the origins, e.g. "landuse = 'residential'".
    #[arg(long, value_name = "WHERE")]
    pub origins_where: Option<String>,
    /// CRS override for the origins layer.
    #[arg(long, value_name = "CRS")]
    pub origins_crs: Option<String>,
    /// Field holding the origin id [default: id, osm_id or osm_way_id when present, else the feature id].
    #[arg(long, value_name = "F")]
    pub id_field: Option<String>,
    /// Field holding each origin's population, for coverage by population.
    #[arg(long, value_name = "F")]
    pub population_field: Option<String>,
    /// Facilities (SRC): points or polygons (→ centroid). May be given more than once (OSM keeps
    /// facilities both as points and as polygons).
    #[arg(long, value_name = "SRC", required = true)]
    pub facilities: Vec<String>,
    /// OGR attribute filter applied to every facilities layer.
    #[arg(long, value_name = "WHERE")]
    pub facilities_where: Option<String>,
    /// CRS override for the facilities layers.
    #[arg(long, value_name = "CRS")]
    pub facilities_crs: Option<String>,
    /// Field(s) holding the facility type, comma-separated, tried in order
    /// [default: the facility-type table's: type for cn; amenity,shop,leisure,social_facility for osm].
    #[arg(long, value_name = "F[,F...]")]
    pub type_field: Option<String>,
    /// Facility-type table: a preset (cn, osm) or a TOML file [default: osm for .osm.pbf facilities, else cn].
    #[arg(long, value_name = "PRESET|FILE")]
    pub facility_types: Option<String>,
    /// Tier table: a preset (gb50180, osm) or a TOML file [default: osm for .osm.pbf facilities, else gb50180].
    #[arg(long, value_name = "PRESET|FILE")]
    pub tiers: Option<String>,
    /// Service distances: each need's own distance from the tier table, or the tier's minutes at --walk-speed.
    #[arg(long, value_enum, default_value_t = ThresholdsArg::Table)]
    pub thresholds: ThresholdsArg,
    /// Walking speed in metres per minute, for --thresholds minutes and the minutes in the summary.
    #[arg(long, value_name = "M_PER_MIN", default_value_t = 60.0)]
    pub walk_speed: f64,
    /// How points attach to the network (network method).
    #[arg(long, value_enum, default_value_t = SnapArg::Edge)]
    pub snap: SnapArg,
    /// Points farther than this many metres from the walking network are unreachable (and counted;
    /// network method).
    #[arg(long, value_name = "M", default_value_t = 500.0)]
    pub max_snap: f64,
    /// Search limit in metres: distances beyond it are reported as null [default: twice the largest
    /// service distance of the tier table].
    #[arg(long, value_name = "M")]
    pub max_walk: Option<f64>,
    /// How road lines are joined into a network (network method).
    #[arg(long, value_enum, default_value_t = NodingArg::Vertices)]
    pub noding: NodingArg,
    /// Walking distance along the network, or straight-line distance.
    #[arg(long, value_enum, default_value_t = DistanceArg::Network)]
    pub method: DistanceArg,
    /// Also write, per facility type, the network within its service distance (OUT_service_areas).
    #[arg(long)]
    pub service_areas: bool,
    /// Also write the walking network and the snaps as CSV (nodes.csv, edges.csv, snaps.csv) into
    /// DIR, to inspect it or check the distances with other tools on the same graph.
    #[arg(long, value_name = "DIR")]
    pub export_graph: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output GeoJSON (one feature per origin).
    #[arg(short, long, value_name = "OUT.geojson")]
    pub output: PathBuf,
}
