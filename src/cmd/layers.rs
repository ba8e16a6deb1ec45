//! Layers read once per audit and shared by its indicators.
//!
//! An audit names the layers that several indicators read (the road layer of road density and
//! of the living circle), with the fields any of them may ask for. The first indicator to ask
//! reads such a layer once, with all those fields, and converts it. An asker that only reads the
//! features ([`Layers::load_shared`]) gets the read itself, with the positions of the attributes
//! it asked for: nothing is copied, and the layer is freed when the last one is done with it. An
//! asker that takes the features ([`Layers::load`]) gets a view holding the attributes it asked
//! for, as if it had read the layer itself: the last one takes the layer without a copy. A layer
//! read by one indicator only, or a request for a field that was not declared, is read as before.

use std::collections::HashMap;
use std::sync::Arc;

use super::load;
use crate::cli::CommonArgs;
use crate::ingest::{GeomKind, LayerSpec, RawFeature, RawLayer};
use crate::normalise::crs::Frame;
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
    read: Option<(Arc<RawLayer>, Vec<String>)>,
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
        match self.take_shared(spec, layer_crs, common, option)? {
            Taken::Own(layer) => Ok(*layer),
            Taken::Last(read, names) => Ok(match Arc::try_unwrap(read) {
                Ok(layer) => view(layer, &names, spec),
                // Still read by an asker of [`Layers::load_shared`].
                Err(read) => view_copy(&read, &names, spec),
            }),
            Taken::Shared(read, names) => Ok(view_copy(&read, &names, spec)),
        }
    }

    /// Reads a layer as [`Layers::load`] does, for an asker that only reads its features: a
    /// shared layer is not copied.
    pub fn load_shared(
        &self,
        spec: &LayerSpec,
        layer_crs: Option<&str>,
        common: &CommonArgs,
        option: &str,
    ) -> Result<LayerRef> {
        Ok(match self.take_shared(spec, layer_crs, common, option)? {
            Taken::Own(layer) => {
                let at = (0..spec.fields.len() + spec.optional_fields.len()).map(Some).collect();
                LayerRef { layer: Arc::new(*layer), at }
            }
            Taken::Last(read, names) | Taken::Shared(read, names) => {
                let at = positions(&read, &names, spec);
                LayerRef { layer: read, at }
            }
        })
    }

    /// One asker's share of a layer: a read of its own, or the shared read (the last asker's
    /// share, after which the run no longer holds it).
    fn take_shared(
        &self,
        spec: &LayerSpec,
        layer_crs: Option<&str>,
        common: &CommonArgs,
        option: &str,
    ) -> Result<Taken> {
        let key = LayerKey::of(spec, layer_crs.or(common.crs.as_deref()).or(common.fallback_crs.as_deref()));
        let Some(entry) = self.shared.get(&key) else {
            return Ok(Taken::Own(Box::new(load(spec, layer_crs, common, option)?)));
        };
        // Held while the layer is read: a second asker waits for the first read.
        let mut shared = entry.lock().unwrap_or_else(|e| e.into_inner());
        if shared.uses_left <= 1 && shared.read.is_none() {
            return Ok(Taken::Own(Box::new(load(spec, layer_crs, common, option)?)));
        }
        if shared.read.is_none() {
            // The declared fields, beyond those asked for, as optional fields; every feature,
            // whatever part this asker needs.
            let mut wide = spec.clone();
            wide.within = None;
            for c in &shared.fields {
                if !wide.fields.contains(c) && !wide.optional_fields.contains(c) {
                    wide.optional_fields.push(c.clone());
                }
            }
            let layer = load(&wide, layer_crs, common, option)?;
            let names = wide.fields.iter().chain(&wide.optional_fields).cloned().collect();
            shared.read = Some((Arc::new(layer), names));
        }
        let covered = shared.read.as_ref().is_some_and(|(layer, names)| covers(layer, names, spec));
        shared.uses_left = shared.uses_left.saturating_sub(1);
        let last = shared.uses_left == 0;
        if !covered {
            // A field nobody declared, or a required field the layer lacks: read it as asked
            // (which names the fields the layer has in its error).
            if last {
                shared.read = None;
            }
            drop(shared);
            return Ok(Taken::Own(Box::new(load(spec, layer_crs, common, option)?)));
        }
        let (read, names) =
            if last { shared.read.take().expect("read above") } else { shared.read.clone().expect("read above") };
        Ok(if last { Taken::Last(read, names) } else { Taken::Shared(read, names) })
    }
}

/// What [`Layers::take_shared`] hands out.
enum Taken {
    Own(Box<RawLayer>),
    /// The shared read, which the run no longer holds, and the names of its attributes.
    Last(Arc<RawLayer>, Vec<String>),
    /// The shared read, still held for askers to come.
    Shared(Arc<RawLayer>, Vec<String>),
}

/// A layer as an asker of [`Layers::load_shared`] reads it: a layer read for several indicators
/// (not copied), or of its own, with the attributes it asked for by position.
pub struct LayerRef {
    layer: Arc<RawLayer>,
    /// The attribute of the layer that each field asked for is (fields, then optional fields),
    /// `None` for an optional field the layer lacks.
    at: Vec<Option<usize>>,
}

impl LayerRef {
    /// The layer: its features (with the attributes of every asker), report and CRS.
    pub fn layer(&self) -> &RawLayer {
        &self.layer
    }

    /// The value of field `k` (of the fields, then the optional fields, asked for) of a feature;
    /// `None` when null, or when fewer fields were asked for.
    pub fn attr<'a>(&self, f: &'a RawFeature, k: usize) -> Option<&'a str> {
        self.at.get(k).copied().flatten().and_then(|i| f.attrs[i].as_deref())
    }

    /// [`crate::normalise::project`]: the layer as read when that leaves it as it is (a layer in
    /// the frame's CRS, no polygon without area), else a copy of its own, projected.
    pub fn project(&mut self, frame: &Frame) -> Result<()> {
        if crate::normalise::unchanged_by_project(&self.layer, frame) {
            return Ok(());
        }
        let own = Arc::make_mut(&mut self.layer);
        crate::normalise::project(own, frame)
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
        // A field this asker requires that the read found in no feature's OSM tags: its own read
        // says so, as it would without the sharing, whichever asker read first.
        && (spec.alternatives || !spec.fields.iter().any(|f| layer.absent_tags.contains(f)))
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
        absent_tags: layer.absent_tags.clone(),
        report: layer.report.clone(),
        pending_crs: layer.pending_crs.clone(),
        extent: layer.extent,
    }
}

/// The attributes at positions `at` (`None` for a field the layer lacks).
fn pick(at: &[Option<usize>], attrs: &[Option<String>]) -> Vec<Option<String>> {
    at.iter().map(|i| i.and_then(|i| attrs[i].clone())).collect()
}
