//! Layers read once per audit and shared by its indicators.
//!
//! An audit names the layers that several indicators read (the road layer of road density and
//! of the living circle), with the fields any of them may ask for. The first indicator to ask
//! reads such a layer once, with all those fields, and converts it; each asker gets a view holding
//! the attributes it asked for, as if it had read the layer itself; the last one takes the layer
//! without a copy. A layer read by one indicator only, or a request for a field that was not
//! declared, is read as before.

use std::collections::HashMap;

use super::load;
use crate::cli::CommonArgs;
use crate::ingest::{GeomKind, LayerSpec, RawFeature, RawLayer};
use crate::Result;

/// What makes two reads the same: the dataset and layer, the filter, the encoding, the
/// geometry role and the CRS override.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerKey {
    source: String,
    filter: Option<String>,
    encoding: Option<String>,
    geom: GeomKind,
    crs: Option<String>,
}

impl LayerKey {
    fn of(spec: &LayerSpec, crs: Option<&str>) -> LayerKey {
        LayerKey {
            source: spec.source.to_string(),
            filter: spec.filter.clone(),
            encoding: spec.encoding.clone(),
            geom: spec.geom,
            crs: crs.map(str::to_string),
        }
    }
}

struct Shared {
    /// Reads still to come.
    uses_left: usize,
    /// Fields the readings may ask for, beyond those of the first.
    fields: Vec<String>,
    /// The layer with the declared fields, once read, and the names of its attributes in order.
    read: Option<(RawLayer, Vec<String>)>,
}

/// The layers of one run; see the module documentation. Indicators running on several threads
/// share one: the first to ask for a shared layer reads it while the others wait for it.
#[derive(Default)]
pub struct Layers {
    shared: HashMap<LayerKey, std::sync::Mutex<Shared>>,
}

impl Layers {
    /// Declares that a layer will be read `uses` times in this run, asking for some of `fields`.
    #[allow(clippy::too_many_arguments)]
    pub fn share(
        &mut self,
        source: &str,
        filter: Option<&str>,
        encoding: Option<&str>,
        crs: Option<&str>,
        geom: GeomKind,
        uses: usize,
        fields: &[String],
    ) {
        let key = LayerKey {
            source: crate::ingest::LayerSource::parse(source).to_string(),
            filter: filter.map(str::to_string),
            encoding: encoding.map(str::to_string),
            geom,
            crs: crs.map(str::to_string),
        };
        let entry = self
            .shared
            .entry(key)
            .or_insert_with(|| std::sync::Mutex::new(Shared { uses_left: 0, fields: vec![], read: None }));
        let shared = entry.get_mut().unwrap_or_else(|e| e.into_inner());
        shared.uses_left += uses;
        for f in fields {
            if !shared.fields.contains(f) {
                shared.fields.push(f.clone());
            }
        }
    }

    /// Reads a layer into longitude/latitude, as [`load`] does, once per run for a shared layer.
    pub fn load(
        &self,
        spec: &LayerSpec,
        layer_crs: Option<&str>,
        common: &CommonArgs,
        option: &str,
    ) -> Result<RawLayer> {
        let key = LayerKey::of(spec, layer_crs.or(common.crs.as_deref()));
        let Some(entry) = self.shared.get(&key) else {
            return load(spec, layer_crs, common, option);
        };
        // Held while the layer is read: a second asker waits for the first read.
        let mut shared = entry.lock().unwrap_or_else(|e| e.into_inner());
        if shared.uses_left <= 1 && shared.read.is_none() {
            return load(spec, layer_crs, common, option);
        }
        if shared.read.is_none() {
            // The declared fields, beyond those asked for, as optional fields.
            let mut wide = spec.clone();
            for c in &shared.fields {
                if !wide.fields.contains(c) && !wide.optional_fields.contains(c) {
                    wide.optional_fields.push(c.clone());
                }
            }
            let layer = load(&wide, layer_crs, common, option)?;
            let names = wide.fields.iter().chain(&wide.optional_fields).cloned().collect();
            shared.read = Some((layer, names));
        }
        let covered = shared.read.as_ref().is_some_and(|(layer, names)| covers(layer, names, spec));
        shared.uses_left = shared.uses_left.saturating_sub(1);
        if !covered {
            // A field nobody declared, or a required field the layer lacks: read it as asked
            // (which names the fields the layer has in its error).
            if shared.uses_left == 0 {
                shared.read = None;
            }
            drop(shared);
            return load(spec, layer_crs, common, option);
        }
        if shared.uses_left == 0 {
            let (layer, names) = shared.read.take().expect("read above");
            drop(shared);
            Ok(view(layer, &names, spec))
        } else {
            // Under the lock: the copy takes only the geometries and the asked-for attributes.
            let (layer, names) = shared.read.as_ref().expect("read above");
            Ok(view_copy(layer, names, spec))
        }
    }
}

/// Which attribute of the shared read each requested field is: its index, or `None` for an
/// optional field the layer lacks.
fn positions(layer: &RawLayer, names: &[String], spec: &LayerSpec) -> Vec<Option<usize>> {
    let wide_required = names.len() - layer.optional_present.len();
    let present = |i: usize| i < wide_required || layer.optional_present[i - wide_required];
    spec.fields
        .iter()
        .chain(&spec.optional_fields)
        .map(|f| names.iter().position(|n| n == f).filter(|&i| present(i)))
        .collect()
}

/// Whether the shared read asked for every field `spec` asks for, and found the ones it requires
/// (a field the layer has as an OSM tag counts as found: the read resolved it).
fn covers(layer: &RawLayer, names: &[String], spec: &LayerSpec) -> bool {
    spec.optional_fields.iter().all(|f| names.contains(f))
        && positions(layer, names, spec)[..spec.fields.len()].iter().all(Option::is_some)
}

/// The layer as `spec` would have read it: its fields, then its optional fields, in order. Only
/// for a request the shared read [`covers`].
fn view(mut layer: RawLayer, names: &[String], spec: &LayerSpec) -> RawLayer {
    let at = positions(&layer, names, spec);
    if at.iter().enumerate().all(|(k, &i)| i == Some(k)) {
        // The fields asked for lead the read's: the others are dropped, nothing is copied.
        for f in &mut layer.features {
            f.attrs.truncate(at.len());
        }
    } else {
        for f in &mut layer.features {
            f.attrs = pick(&at, &f.attrs);
        }
    }
    layer.optional_present = at[spec.fields.len()..].iter().map(Option::is_some).collect();
    layer
}

/// [`view`] of a layer still shared: a copy of the geometries with the attributes `spec` asks
/// for, without copying the attributes it does not.
fn view_copy(layer: &RawLayer, names: &[String], spec: &LayerSpec) -> RawLayer {
    let at = positions(layer, names, spec);
    RawLayer {
        source: layer.source.clone(),
        layer_name: layer.layer_name.clone(),
        crs_wkt: layer.crs_wkt.clone(),
        features: layer
            .features
            .iter()
            .map(|f| RawFeature { fid: f.fid, geometry: f.geometry.clone(), attrs: pick(&at, &f.attrs) })
            .collect(),
        optional_present: at[spec.fields.len()..].iter().map(Option::is_some).collect(),
        report: layer.report.clone(),
        pending_crs: layer.pending_crs.clone(),
    }
}

/// The attributes at positions `at` (`None` for a field the layer lacks).
fn pick(at: &[Option<usize>], attrs: &[Option<String>]) -> Vec<Option<String>> {
    at.iter().map(|i| i.and_then(|i| attrs[i].clone())).collect()
}
