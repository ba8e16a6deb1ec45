//! `planaudit park-mix`: read land use and parks (or derive the parks), compute each park's
//! residential and service share, write GeoJSON.

use std::path::PathBuf;

use geo::{BoundingRect, Geometry};
use rayon::prelude::*;
use serde_json::{json, Value};

use super::layers::Layers;
use super::{choose_frame, finish_run, polygons, sibling, warn_if_apart, AreaFields, FieldChoice, ID_FIELDS};
use crate::cli::{CommonArgs, ParkMixArgs};
use crate::index::rtree::BoxIndex;
use crate::indicators::park_mix::{compute, derive_parks, Params, ParkMix, ParkResult};
use crate::ingest::{read_layer, GeomKind, LayerReport, LayerSource, LayerSpec, RawLayer, Within};
use crate::model::{Area, Parcel};
use crate::normalise::classes::{Category, ClassMemo, ClassTable, Classified};
use crate::normalise::project;
use crate::output::geojson::{write_collection, CollectionMeta};
use crate::output::park_mix::{park_features, park_properties, piece_features, table};
use crate::{Error, Result};

/// The default gap for `--parks-from-class`, in metres.
pub const DEFAULT_MERGE_GAP_M: f64 = 50.0;

/// What a run produced.
pub struct ParkMixRun {
    pub result: ParkMix,
    pub params: Params,
    /// How each park was derived, aligned with `result.parks` (`None` for parks read from a layer).
    pub derived_from: Vec<Option<String>>,
    /// The class table's name and the fields codes were read from.
    pub classes: String,
    pub class_fields: Vec<String>,
    pub reports: Vec<LayerReport>,
    pub measure: String,
    pub frame_crs: String,
    pub outputs: Vec<PathBuf>,
}

/// Parses `--band MIN-MAX` in percent (`20-30`, `20%-30%`) into shares from 0 to 1. A band whose
/// maximum is above 0 and at most 1% is refused: it is shares given for percent.
///
/// ```
/// use planaudit::cmd::park_mix::parse_band;
/// assert_eq!(parse_band("20-30").unwrap(), (0.2, 0.3));
/// assert_eq!(parse_band(" 15% - 25% ").unwrap(), (0.15, 0.25));
/// assert!(parse_band("30-20").is_err());
/// assert!(parse_band("0.2").is_err());
/// // Shares, not percent.
/// assert!(parse_band("0.2-0.3").is_err());
/// assert_eq!(parse_band("0-0").unwrap(), (0.0, 0.0));
/// ```
pub fn parse_band(text: &str) -> Result<(f64, f64)> {
    let bad = || {
        Error::Usage(format!(
            "--band {text}: expected MIN-MAX in percent with 0 <= MIN <= MAX <= 100, e.g. --band 20-30"
        ))
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let pct = |s: &str| s.trim().trim_end_matches('%').trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let (min, max) = (pct(a).ok_or_else(bad)?, pct(b).ok_or_else(bad)?);
    if !(0.0 <= min && min <= max && max <= 100.0) {
        return Err(bad());
    }
    // Shares given for percent (0.2-0.3 for 20–30%) would audit against a band of under 1%.
    if max > 0.0 && max <= 1.0 {
        return Err(Error::Usage(format!(
            "--band {text}: MIN-MAX is in percent, and a band of at most 1% is most likely given as shares, e.g. --band 20-30"
        )));
    }
    Ok((min / 100.0, max / 100.0))
}

/// The options of a run that need no data, checked.
struct Options {
    band_min: f64,
    band_max: f64,
    mix: Vec<Category>,
    from_class: Option<Category>,
    gap_m: f64,
    classes: ClassTable,
    landuse_src: LayerSource,
}

impl Options {
    fn of(args: &ParkMixArgs) -> Result<Options> {
        let (band_min, band_max) = parse_band(&args.band)?;
        let mix = match &args.mix {
            Some(m) => Category::parse_list(m, "--mix")?,
            None => Category::DEFAULT_MIX.to_vec(),
        };
        let from_class = match &args.parks_from_class {
            Some(c) => Some(Category::parse(c).ok_or_else(|| {
                Error::Usage(format!("--parks-from-class {c}: unknown category; categories: {}", Category::names()))
            })?),
            None => None,
        };
        if args.merge_gap_m.is_some() && from_class.is_none() {
            return Err(Error::Usage(
                "--merge-gap-m is only used with --parks-from-class (parks derived from parcels); a park layer is taken as it is"
                    .into(),
            ));
        }
        let gap_m = args.merge_gap_m.unwrap_or(DEFAULT_MERGE_GAP_M);
        if !(gap_m.is_finite() && gap_m >= 0.0) {
            return Err(Error::Usage(format!("--merge-gap-m {gap_m}: must be a non-negative number of metres")));
        }
        let landuse_src = LayerSource::parse(&args.landuse);
        let classes = match (&args.classes, landuse_src.is_osm()) {
            (Some(c), _) => ClassTable::load(c)?,
            (None, true) => ClassTable::load("osm")?,
            (None, false) => {
                return Err(Error::Usage(format!(
                    "--classes is needed for {}: a preset ({}) or a TOML file",
                    landuse_src,
                    crate::normalise::classes::preset_names()
                )))
            }
        };
        Ok(Options { band_min, band_max, mix, from_class, gap_m, classes, landuse_src })
    }
}

/// Checks the options that need no data (band, mix, categories, the class table), so that an
/// audit finds a bad one before any indicator writes, and `planaudit check` finds it at all.
pub fn check_options(args: &ParkMixArgs) -> Result<()> {
    Options::of(args).map(|_| ())
}

/// The warning a run gives when its class table knows the codes of fewer than half of the parcels
/// (see [`LOW_CLASSIFIED`]), of every parcel of `layer` (read by `planaudit check`, its attributes
/// named by `names`); `None` when the table knows enough of them, or no class field was read.
pub fn class_warning(args: &ParkMixArgs, layer: &RawLayer, names: &[String]) -> Result<Option<String>> {
    let classes = Options::of(args)?.classes;
    let class_fields = class_fields(args, &classes);
    let at: Vec<Option<usize>> = class_fields.iter().map(|f| names.iter().position(|n| n == f)).collect();
    if at.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut classified = ClassMemo::default();
    let mut unknown = Unclassified::default();
    for f in &layer.features {
        if !matches!(f.geometry, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
            continue;
        }
        let values: Vec<Option<String>> =
            at.iter().map(|i| i.and_then(|i| f.attrs.get(i).cloned().flatten())).collect();
        let c = classified.get(&classes, &class_fields, &values);
        unknown.count(&values, &c);
    }
    Ok(unknown.warning(&layer.label(), &classes, &class_fields))
}

/// The fields a run with `args` reads the land-use codes from: those `--class-field` names, else
/// the table's.
fn class_fields(args: &ParkMixArgs, classes: &ClassTable) -> Vec<String> {
    match &args.class_field {
        Some(f) => f.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None => classes.fields.clone(),
    }
}

/// [`class_fields`] of the table `args` names, for `planaudit check` to read.
pub fn class_fields_of(args: &ParkMixArgs) -> Result<Vec<String>> {
    let classes = Options::of(args)?.classes;
    Ok(class_fields(args, &classes))
}

/// Runs the indicator and writes its files; returns what it did.
pub fn execute(args: &ParkMixArgs) -> Result<ParkMixRun> {
    refuse_overwrite(args, &[], args.common.summary_json.as_slice())?;
    execute_with(args, &Layers::default())
}

/// The fields of a park's id when no option names one: its own `park_id`, then those of every
/// study layer ([`ID_FIELDS`]).
const PARK_ID_FIELDS: [&str; 4] = ["park_id", ID_FIELDS[0], ID_FIELDS[1], ID_FIELDS[2]];

/// Refuses outputs (the parks, their parcels and `more_outputs`) that would overwrite an input (the
/// layers and `more_inputs`).
pub(crate) fn refuse_overwrite(args: &ParkMixArgs, more_inputs: &[String], more_outputs: &[PathBuf]) -> Result<()> {
    let inputs: Vec<String> = std::iter::once(args.landuse.clone())
        .chain(args.parks.clone())
        .chain(more_inputs.iter().cloned())
        .chain(super::table_files([(args.classes.as_ref(), crate::normalise::classes::PRESETS)]))
        .collect();
    let outputs = [&[args.output.clone(), super::sibling(&args.output, "parcels")], more_outputs].concat();
    super::refuse_overwrite(&inputs, &outputs)
}

/// The fields the parks' ids and names are read from.
pub(crate) fn park_fields(args: &ParkMixArgs) -> AreaFields {
    AreaFields {
        id: FieldChoice { given: args.id_field.clone(), defaults: &PARK_ID_FIELDS },
        name: FieldChoice { given: args.name_field.clone(), defaults: &["name"] },
        kind: FieldChoice { given: None, defaults: &[] },
    }
}

/// [`execute`], reading layers through `layers` (shared with the other indicators of an audit).
pub fn execute_with(args: &ParkMixArgs, layers: &Layers) -> Result<ParkMixRun> {
    let Options { band_min, band_max, mix, from_class, gap_m, classes, landuse_src } = Options::of(args)?;
    let common = &args.common;

    // Class fields named on the command line must exist; the table's defaults are tried, and at
    // least one of them must exist.
    let given = args.class_field.is_some();
    let class_fields = class_fields(args, &classes);
    if class_fields.is_empty() {
        return Err(Error::Usage("--class-field: give at least one field name".into()));
    }
    let park_fields = park_fields(args);
    let parks_src = args.parks.as_deref().map(LayerSource::parse);
    let mut parks_read = match &parks_src {
        Some(src) => {
            let (fields, optional_fields) = park_fields.split();
            let spec = LayerSpec {
                source: src.clone(),
                filter: args.parks_where.clone(),
                encoding: common.encoding_for(src),
                role: "parks".into(),
                fields,
                optional_fields,
                alternatives: false,
                geom: GeomKind::Polygons,
                within: None,
            };
            let layer = layers.load(&spec, args.parks_crs.as_deref(), common, "--parks-crs")?;
            Some((spec, layer))
        }
        None => None,
    };

    let landuse_spec = LayerSpec {
        source: landuse_src.clone(),
        filter: args.landuse_where.clone(),
        encoding: common.encoding_for(&landuse_src),
        role: "land-use class".into(),
        fields: if given { class_fields.clone() } else { vec![] },
        optional_fields: if given { vec![] } else { class_fields.clone() },
        // A parcel's class is in the first of the class fields that has one.
        alternatives: true,
        geom: GeomKind::Polygons,
        within: parks_read.as_ref().and_then(|(_, parks)| parcels_within(parks, args, common)),
    };
    let mut landuse = layers.load(&landuse_spec, args.landuse_crs.as_deref(), common, "--landuse-crs")?;
    if !given && !landuse.optional_present.iter().any(|&p| p) {
        // None of the table's fields: ask ingest for a field by the names tried, so that the error
        // lists the fields the layer does have.
        let field = class_fields.join(" or ");
        let role = format!("land-use class, table {}; name one with --class-field", classes.name);
        let probe = LayerSpec {
            fields: vec![field.clone()],
            optional_fields: vec![],
            role: role.clone(),
            ..landuse_spec.clone()
        };
        return Err(read_layer(&probe).err().unwrap_or_else(|| Error::MissingField {
            layer: landuse.label(),
            field,
            role,
            available: "(see ogrinfo)".into(),
        }));
    }

    if let Some((_, parks)) = &mut parks_read {
        warn_if_apart(parks, &landuse, common, ["--parks-crs", "--landuse-crs"]);
    }

    let frame = choose_frame(common, parks_read.as_ref().map(|(_, l)| l).unwrap_or(&landuse))?;
    // Parcels without area are skipped and counted by `project`.
    project(&mut landuse, &frame)?;
    let mut reports = Vec::new();
    let parks_given = match parks_read {
        Some((spec, mut layer)) => {
            project(&mut layer, &frame)?;
            let parks = park_fields.areas(&spec, &mut layer);
            reports.push(layer.report);
            Some(parks)
        }
        None => None,
    };

    // Every parcel read is classified (and flagged when its code is unknown); when the parks are
    // given, only the parcels whose box meets a park's box can touch one, and only they are kept.
    // (With the parks' boxes in the layer's CRS and a spatial index, only those were read.)
    let near_a_park: Vec<bool> = match &parks_given {
        Some(parks) => {
            let index = BoxIndex::new(parks.iter().map(|p| &p.polygon));
            landuse.features.par_iter().map(|f| f.geometry.bounding_rect().is_some_and(|b| index.touches(&b))).collect()
        }
        None => vec![true; landuse.features.len()],
    };
    let mut classified = ClassMemo::default();
    let mut parcels = Vec::new();
    let mut unknown = Unclassified::default();
    for (f, near) in std::mem::take(&mut landuse.features).into_iter().zip(near_a_park) {
        if !matches!(f.geometry, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
            continue;
        }
        let c = classified.get(&classes, &class_fields, &f.attrs);
        unknown.count(&f.attrs, &c);
        if c.category.is_none() {
            let reason = match &c.field {
                Some(field) => {
                    format!("field '{field}': code '{}' is in no row of table {} (unclassified)", c.code, classes.name)
                }
                None => format!("fields {}: all empty (unclassified)", class_fields.join(", ")),
            };
            landuse.report.flag(f.fid, &reason);
        }
        if let (true, Some(polygon)) = (near, polygons(f.geometry)) {
            parcels.push(Parcel { fid: f.fid, code: c.code.clone(), category: c.category, polygon });
        }
    }
    // A stable order whatever the input order.
    parcels.sort_by_key(|p| p.fid);
    if let Some(w) = unknown.warning(&landuse.label(), &classes, &class_fields) {
        super::errln!("planaudit: warning: {w}");
        landuse.report.warnings.push(w);
    }

    let (parks, derived_from): (Vec<Area>, Vec<Option<String>>) = match (parks_given, from_class) {
        (Some(parks), _) => {
            let n = parks.len();
            (parks, vec![None; n])
        }
        (None, Some(category)) => {
            let derived = derive_parks(&parcels, category, gap_m);
            if derived.is_empty() {
                return Err(Error::EmptyLayer {
                    layer: landuse.label(),
                    reason: format!(
                        "no parcel of category {category} to derive parks from (table {}, fields {})",
                        classes.name,
                        class_fields.join(", ")
                    ),
                });
            }
            let label = landuse.label();
            derived
                .into_iter()
                .map(|d| {
                    let how = format!(
                        "{} {category} parcel(s) of {label} less than {gap_m} m apart, closed with radius {} m, holes filled",
                        d.parcels,
                        gap_m / 2.0
                    );
                    (d.area, Some(how))
                })
                .unzip()
        }
        (None, None) => return Err(Error::Usage("give --parks SRC or --parks-from-class CATEGORY".into())),
    };
    let params = Params { mix, band_min, band_max };
    let result = crate::timing::time(|| "compute park_mix".into(), || compute(&parks, &parcels, &frame, &params))?;
    for w in [cover_warning(&result.parks, &landuse.label()), overlap_warning(&result.parks, &landuse.label())]
        .into_iter()
        .flatten()
    {
        super::errln!("planaudit: warning: {w}");
        landuse.report.warnings.push(w);
    }
    reports.push(landuse.report);
    let measure = frame.describe();
    let osm = landuse_src.is_osm() || parks_src.as_ref().is_some_and(LayerSource::is_osm);
    let meta = |name| CollectionMeta { name, frame: &frame, osm };

    let pieces_path = sibling(&args.output, "parcels");
    write_collection(&args.output, &meta("park_mix"), &park_features(&result, &params, &derived_from, &measure))?;
    write_collection(&pieces_path, &meta("park_mix_parcels"), &piece_features(&result, &measure))?;
    Ok(ParkMixRun {
        result,
        params,
        derived_from,
        classes: classes.name.clone(),
        class_fields,
        reports,
        measure,
        frame_crs: frame.crs.clone(),
        outputs: vec![args.output.clone(), pieces_path],
    })
}

/// The machine-readable summary of a run.
pub fn summary_json(run: &ParkMixRun) -> Value {
    let parks: Vec<Value> = run
        .result
        .parks
        .iter()
        .zip(&run.derived_from)
        .map(|(p, d)| {
            let mut m = park_properties(p, &run.params, d.as_deref(), &run.measure);
            m.remove("measure");
            Value::Object(m)
        })
        .collect();
    let status_count = |s: &str| run.result.parks.iter().filter(|p| p.status.name() == s).count();
    json!({
        "indicator": "park_mix",
        "measure": run.measure,
        "frame_crs": run.frame_crs,
        "classes": run.classes,
        "class_fields": run.class_fields,
        "mix_categories": run.params.mix.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "band_min": run.params.band_min,
        "band_max": run.params.band_max,
        "parks_below": status_count("below"),
        "parks_within": status_count("within"),
        "parks_above": status_count("above"),
        "layers": run.reports,
        "parks": parks,
        "mix_pieces": run.result.pieces.len(),
        "outputs": run.outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}

/// `planaudit park-mix`.
pub fn run(args: &ParkMixArgs) -> Result<()> {
    let run = execute(args)?;
    out!("{}", table(&run.result, &run.params));
    outln!("classes: {} (fields {})", run.classes, run.class_fields.join(", "));
    finish_run(&run.measure, &run.reports, &run.outputs, args.common.summary_json.as_deref(), || summary_json(&run))
}

/// Below this share of a park covered by land-use parcels, its mix share is warned as resting on
/// missing land use.
const LOW_COVER: f64 = 0.5;

/// From this share of a park covered by two parcels or more, the overlap is warned: such land
/// counts in each parcel's category, and as mix land when one of them is of the mix.
const HIGH_OVERLAP: f64 = 0.1;

/// The share of the parcels read that the class table must know: with fewer, it is likely not the
/// table the layer is coded in, and the mix shares (which count unknown land as outside the mix)
/// say little.
const LOW_CLASSIFIED: f64 = 0.5;

/// The parcels read with a code and those whose codes the class table does not know, with their
/// class values (each list once, up to [`ClassMemo::CAPACITY`] lists), to try the other tables on.
/// Parcels without any code (OpenStreetMap's buildings among its land-use polygons) say nothing of
/// the table, and are left out.
#[derive(Default)]
struct Unclassified {
    read: u64,
    unknown: u64,
    values: std::collections::HashMap<Vec<Option<String>>, u64>,
}

impl Unclassified {
    fn count(&mut self, values: &[Option<String>], c: &Classified) {
        if c.field.is_none() {
            return;
        }
        self.read += 1;
        if c.category.is_some() {
            return;
        }
        self.unknown += 1;
        if let Some(n) = self.values.get_mut(values) {
            *n += 1;
        } else if self.values.len() < ClassMemo::CAPACITY {
            self.values.insert(values.to_vec(), 1);
        }
    }

    /// A warning when the table knows fewer than [`LOW_CLASSIFIED`] of the parcels read, naming
    /// the preset that knows most of the others, if one knows half of them or more; else `None`.
    fn warning(&self, landuse: &str, table: &ClassTable, fields: &[String]) -> Option<String> {
        if self.read == 0 || (self.read - self.unknown) as f64 >= LOW_CLASSIFIED * self.read as f64 {
            return None;
        }
        let tried: u64 = self.values.values().sum();
        let best = crate::normalise::classes::PRESETS
            .iter()
            .filter(|(name, _)| *name != table.name)
            .filter_map(|(name, _)| ClassTable::load(name).ok())
            .map(|other| {
                let known: u64 = self
                    .values
                    .iter()
                    .filter(|(values, _)| {
                        let pairs = fields.iter().map(String::as_str).zip(values.iter().map(Option::as_deref));
                        knows_as_a_code(&other, &other.classify(pairs))
                    })
                    .map(|(_, n)| n)
                    .sum();
                (known, other.name)
            })
            // The most known; among equals, the first preset.
            .fold(None, |best: Option<(u64, String)>, (known, name)| match best {
                Some((b, _)) if b >= known => best,
                _ => Some((known, name)),
            })
            .filter(|(known, _)| tried > 0 && 2 * known >= tried);
        // Rounded down: a share below half never reads as 50%.
        let percent = |k: u64, n: u64| (100.0 * k as f64 / n as f64).floor();
        let hint = match best {
            Some((known, name)) => format!(
                "the preset {name} knows {:.0}% of them: is the layer coded in it? (--classes {name}; classes = \"{name}\" in a city file's [park_mix])",
                percent(known, tried)
            ),
            None => "check the class fields and the table against the codes flagged in the layer report".to_string(),
        };
        Some(format!(
            "{landuse}: table {} knows the codes of only {} of the {} parcels read with a code ({:.0}%, fields {}): the others count as land outside the mix, so the mix shares say little; {hint}",
            table.name,
            self.read - self.unknown,
            self.read,
            percent(self.read - self.unknown, self.read),
            fields.join(", "),
        ))
    }
}

/// Whether `table` knows what `c` (its answer) read as a code: by a row that is the code itself or
/// at least two characters long. A one-letter class of GB 50137 (`R`) takes any word that begins
/// with its letter (`residential`, `school`), which says nothing of the layer's coding.
fn knows_as_a_code(table: &ClassTable, c: &Classified) -> bool {
    c.category.is_some()
        && table
            .lookup(&c.code)
            .is_some_and(|row| row.code.chars().count() >= 2 || row.code.eq_ignore_ascii_case(&c.code))
}

/// How many parks a warning names (the rest are counted).
const NAMED_PARKS: usize = 5;

/// The parks whose `share` of their area is flagged, named with it (`2 (74%)`), the first
/// [`NAMED_PARKS`] of them, the others counted; `None` when there are none.
fn flagged_parks(
    parks: &[ParkResult],
    share: impl Fn(&ParkResult) -> f64,
    flagged: impl Fn(f64) -> bool,
) -> Option<(usize, String)> {
    let listed: Vec<String> = parks
        .iter()
        .map(|p| (p, share(p) / p.park_area_km2))
        .filter(|(_, s)| flagged(*s))
        .map(|(p, s)| format!("{} ({:.0}%)", p.park_id, 100.0 * s))
        .collect();
    if listed.is_empty() {
        return None;
    }
    let more = listed.len().saturating_sub(NAMED_PARKS);
    let named = listed[..listed.len().min(NAMED_PARKS)].join(", ");
    Some((listed.len(), if more > 0 { format!("{named} and {more} more") } else { named }))
}

/// A warning naming the parks the land-use parcels cover less than half of (their shares count
/// the land without parcels as non-mix land); `None` when there are none.
fn cover_warning(parks: &[ParkResult], landuse: &str) -> Option<String> {
    let (n, named) = flagged_parks(parks, |p| p.covered_km2, |s| s < LOW_COVER)?;
    Some(format!(
        "{landuse}: its parcels cover less than {:.0}% of {n} park(s): {named}; their mix shares count the land without parcels as non-mix land (does the land-use layer reach them?); covered_share in the output",
        LOW_COVER * 100.0,
    ))
}

/// A warning naming the parks that parcels overlap on a tenth of their area or more (an
/// industrial parcel under a residential one): that land counts as mix land when one of its
/// parcels is of the mix, which can make a park all mix; `None` when there are none.
fn overlap_warning(parks: &[ParkResult], landuse: &str) -> Option<String> {
    let (n, named) = flagged_parks(parks, |p| p.overlap_km2, |s| s >= HIGH_OVERLAP)?;
    Some(format!(
        "{landuse}: parcels overlap on {:.0}% or more of {n} park(s): {named}; land under parcels of several categories counts in each, and as mix land when one of them is of the mix; overlap_km2 in the output",
        HIGH_OVERLAP * 100.0,
    ))
}

/// The parks' boxes, for reading only the parcels that may touch a park (see [`Within`]): when the
/// parks are still in their own coordinates and the land-use layer is in the same CRS, both
/// layers' own (the same WKT) or both given the same override; `None` otherwise (every parcel is
/// read, and those far from the parks are left out after).
fn parcels_within(parks: &RawLayer, args: &ParkMixArgs, common: &CommonArgs) -> Option<Within> {
    parks.pending_crs.as_ref()?;
    let landuse_crs = args.landuse_crs.as_deref().or(common.crs.as_deref());
    let parks_crs = args.parks_crs.as_deref().or(common.crs.as_deref());
    let crs_wkt = match (parks_crs, landuse_crs) {
        (None, None) => Some(parks.crs_wkt.clone()?),
        (Some(a), Some(b)) if a == b => None,
        _ => return None,
    };
    let boxes = parks.features.iter().filter_map(|f| f.geometry.bounding_rect()).collect();
    Some(Within { boxes, crs_wkt, reason: "outside every park's box, or without geometry".into() })
}
