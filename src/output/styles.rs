//! Map styles for every output layer: a MapLibre GL style (JSON, style specification v8) and a
//! QGIS style (`.qml`, symbology only), both keyed on the property names the layer's GeoJSON
//! carries.
//!
//! The files live in `styles/` at the top of the repository and are compiled in, so the binary
//! writes them beside its outputs without needing the source tree. Each MapLibre style has one
//! `geojson` source named after the layer whose `data` is `<layer>.geojson` (a URL relative to the
//! page that loads the style) and no text layers, so it needs no glyphs or sprites and loads offline.
//!
//! The colours mean the same in every style and in the HTML report: red for a missed target or a
//! home without its facilities, green for a met target, grey where there is no target.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use crate::{Error, Result};

/// One layer's styles and the properties they read.
struct LayerStyle {
    layer: &'static str,
    maplibre: &'static str,
    qml: &'static str,
    fields: &'static [&'static str],
}

/// Every styled layer, in the order the outputs are described (issue 5: road density, park mix,
/// living circle).
const STYLES: &[LayerStyle] = &[
    LayerStyle {
        layer: "road_density",
        maplibre: include_str!("../../styles/road_density.maplibre.json"),
        qml: include_str!("../../styles/road_density.qml"),
        fields: &["meets_target"],
    },
    LayerStyle {
        layer: "road_density_grid",
        maplibre: include_str!("../../styles/road_density_grid.maplibre.json"),
        qml: include_str!("../../styles/road_density_grid.qml"),
        fields: &["density_km_per_km2", "target_km_per_km2"],
    },
    LayerStyle {
        layer: "wide_roads",
        maplibre: include_str!("../../styles/wide_roads.maplibre.json"),
        qml: include_str!("../../styles/wide_roads.qml"),
        fields: &["width_m"],
    },
    LayerStyle {
        layer: "park_mix",
        maplibre: include_str!("../../styles/park_mix.maplibre.json"),
        qml: include_str!("../../styles/park_mix.qml"),
        fields: &["status"],
    },
    LayerStyle {
        layer: "park_mix_parcels",
        maplibre: include_str!("../../styles/park_mix_parcels.maplibre.json"),
        qml: include_str!("../../styles/park_mix_parcels.qml"),
        fields: &["category"],
    },
    LayerStyle {
        layer: "living_circle",
        maplibre: include_str!("../../styles/living_circle.maplibre.json"),
        qml: include_str!("../../styles/living_circle.qml"),
        fields: &["missing_count"],
    },
    LayerStyle {
        layer: "living_circle_gaps",
        maplibre: include_str!("../../styles/living_circle_gaps.maplibre.json"),
        qml: include_str!("../../styles/living_circle_gaps.qml"),
        fields: &["missing_count"],
    },
    LayerStyle {
        layer: "living_circle_service_areas",
        maplibre: include_str!("../../styles/living_circle_service_areas.maplibre.json"),
        qml: include_str!("../../styles/living_circle_service_areas.qml"),
        fields: &["service_m"],
    },
];

/// The output layers that have styles, by layer name (the GeoJSON file stem).
pub const STYLED_LAYERS: &[&str] = &[
    "road_density",
    "road_density_grid",
    "wide_roads",
    "park_mix",
    "park_mix_parcels",
    "living_circle",
    "living_circle_gaps",
    "living_circle_service_areas",
];

fn find(layer: &str) -> Option<&'static LayerStyle> {
    STYLES.iter().find(|s| s.layer == layer)
}

/// The MapLibre GL style JSON of a layer.
pub fn maplibre(layer: &str) -> Option<&'static str> {
    find(layer).map(|s| s.maplibre)
}

/// The QGIS `.qml` style of a layer.
pub fn qml(layer: &str) -> Option<&'static str> {
    find(layer).map(|s| s.qml)
}

/// The property names a layer's styles read (empty for a layer without styles).
pub fn fields_used(layer: &str) -> Vec<&'static str> {
    find(layer).map(|s| s.fields.to_vec()).unwrap_or_default()
}

/// Writes `dir/styles/<layer>.maplibre.json` and `dir/styles/<layer>.qml` for each layer, each
/// atomically; returns the paths written, in order.
///
/// A layer name without styles is a usage error, reported before anything is written.
pub fn write_styles(dir: &Path, layers: &[&str], osm: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut chosen = Vec::with_capacity(layers.len());
    for layer in layers {
        let style = find(layer).ok_or_else(|| {
            Error::Usage(format!("no map style for layer '{layer}'; styled layers: {}", STYLED_LAYERS.join(", ")))
        })?;
        chosen.push(style);
    }
    let out = dir.join("styles");
    let mut written = Vec::with_capacity(2 * chosen.len());
    for style in chosen {
        // A map shows attribution from its sources: a layer derived from OpenStreetMap carries
        // the ODbL's in its style's source, as its GeoJSON does.
        let maplibre = if osm(style.layer) { with_attribution(style)? } else { style.maplibre.to_string() };
        for (ext, text) in [("maplibre.json", maplibre.as_str()), ("qml", style.qml)] {
            let path = out.join(format!("{}.{ext}", style.layer));
            write_atomic(&path, |w| w.write_all(text.as_bytes()))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A MapLibre style whose source carries the OpenStreetMap attribution.
fn with_attribution(style: &LayerStyle) -> Result<String> {
    let bad = |e: String| Error::Internal(format!("the map style of {}: {e}", style.layer));
    let mut json: serde_json::Value = serde_json::from_str(style.maplibre).map_err(|e| bad(e.to_string()))?;
    let source = json["sources"][style.layer].as_object_mut().ok_or_else(|| bad("no source of its name".into()))?;
    source.insert("attribution".into(), crate::output::geojson::OSM_ATTRIBUTION.into());
    serde_json::to_string_pretty(&json).map(|t| t + "\n").map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// Every `["get", NAME]` in a style's expressions.
    fn gets(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Array(items) => {
                if let [Value::String(op), Value::String(name), ..] = items.as_slice() {
                    if op == "get" {
                        out.insert(name.clone());
                    }
                }
                items.iter().for_each(|i| gets(i, out));
            }
            Value::Object(m) => m.values().for_each(|i| gets(i, out)),
            _ => {}
        }
    }

    #[test]
    fn every_layer_has_both_styles_and_the_table_is_complete() {
        let names: Vec<&str> = STYLES.iter().map(|s| s.layer).collect();
        assert_eq!(names, STYLED_LAYERS);
        for layer in STYLED_LAYERS {
            let style: Value = serde_json::from_str(maplibre(layer).unwrap()).unwrap();
            assert_eq!(style["version"], 8, "{layer}");
            let source = &style["sources"][*layer];
            assert_eq!(source["type"], "geojson", "{layer}");
            assert_eq!(source["data"], format!("{layer}.geojson"), "{layer}");
            assert!(style.get("glyphs").is_none() && style.get("sprite").is_none(), "{layer}: offline");
            for l in style["layers"].as_array().unwrap() {
                assert_ne!(l["type"], "symbol", "{layer}: no text layers");
                if l["type"] != "background" {
                    assert_eq!(l["source"], *layer, "{layer}: {}", l["id"]);
                }
            }
            // fields_used() is exactly what the expressions read.
            let mut read = BTreeSet::new();
            gets(&style, &mut read);
            let declared: BTreeSet<String> = fields_used(layer).iter().map(|s| s.to_string()).collect();
            assert_eq!(read, declared, "{layer}");
            assert!(qml(layer).unwrap().contains("<renderer-v2"), "{layer}");
        }
        assert!(fields_used("nope").is_empty());
    }

    #[test]
    fn writes_every_style_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_styles(dir.path(), STYLED_LAYERS, |_| false).unwrap();
        assert_eq!(paths.len(), 2 * STYLED_LAYERS.len());
        for (i, layer) in STYLED_LAYERS.iter().enumerate() {
            assert_eq!(paths[2 * i], dir.path().join(format!("styles/{layer}.maplibre.json")));
            assert_eq!(std::fs::read_to_string(&paths[2 * i]).unwrap(), maplibre(layer).unwrap());
            assert_eq!(std::fs::read_to_string(&paths[2 * i + 1]).unwrap(), qml(layer).unwrap());
        }
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("styles")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2 * STYLED_LAYERS.len(), "no temporary files left: {names:?}");
    }

    #[test]
    fn an_unknown_layer_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_styles(dir.path(), &["road_density", "roads"], |_| false).unwrap_err();
        assert!(err.to_string().contains("'roads'") && err.to_string().contains("living_circle"), "{err}");
        assert_eq!(err.exit_code(), 2);
        assert!(!dir.path().join("styles").exists());
    }
}
