//! Property tests (proptest), run by `cargo test`: parsers never panic and fail with the right
//! error kind; GCJ-02/BD-09 round trips; the GeoJSON writer's output is RFC 7946; clipping and
//! measurement give finite, bounded results on random polygons.
//!
//! These stand in for `cargo fuzz` targets: cargo-fuzz needs a nightly toolchain (for
//! `-Zsanitizer`), which this project's machines cannot fetch. Each property runs a few hundred
//! cases by default, in a second or so; set `PROPTEST_CASES` to run more (the note on issue 6
//! records long runs). Failing inputs are kept in `proptest-regressions/` and replayed first.

use std::collections::BTreeMap;

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Polygon};
use proptest::prelude::*;
use proptest::test_runner::Config;

use planaudit::normalise::crs::{Frame, Method};
use planaudit::Error;

/// Cases per property: `PROPTEST_CASES`, or `default`. Failing cases are kept in
/// `proptest-regressions/properties.txt` and replayed first.
fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/properties.txt");
    Config {
        cases,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(file))),
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers.

/// Text that is TOML-ish: the real presets and the city template with a random line dropped or
/// a random character replaced, or arbitrary text.
fn tomlish() -> impl Strategy<Value = String> {
    let bases: Vec<&'static str> = planaudit::normalise::grades::PRESETS
        .iter()
        .chain(planaudit::normalise::classes::PRESETS)
        .chain(planaudit::normalise::facility_types::PRESETS)
        .chain(planaudit::normalise::tiers::PRESETS)
        .map(|(_, t)| *t)
        .chain([planaudit::config::TEMPLATE])
        .collect();
    let mutated = (
        proptest::sample::select(bases),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        "[=\\[\\]\"{}#,.0-9a-z\n -]{0,3}",
    )
        .prop_map(|(text, line, at, insert)| {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                lines.remove(line.index(lines.len()));
            }
            let mut s = lines.join("\n");
            let chars: Vec<char> = s.chars().collect();
            if !chars.is_empty() {
                let i = at.index(chars.len());
                s = chars[..i].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(&chars[i + 1..]).collect();
            }
            s
        });
    prop_oneof![
        mutated,
        any::<String>(),
        "(\\[[a-z_.]{0,12}\\]\n|[a-z_]{1,10} = (\"[^\"\n]{0,8}\"|[0-9.e+-]{1,8}|true|\\[\\]|\\{\\})\n){0,12}"
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn city_file_parser_never_panics(text in tomlish()) {
        match planaudit::config::parse(&text, "city.toml") {
            Ok(_) | Err(Error::Usage(_)) => {}
            Err(e) => prop_assert!(false, "not a usage error: {e:?}"),
        }
    }

    #[test]
    fn preset_parsers_never_panic(text in tomlish()) {
        let kinds = [
            planaudit::normalise::grades::GradeTable::from_toml("t", &text).err(),
            planaudit::normalise::classes::ClassTable::from_toml("t", &text).err(),
            planaudit::normalise::facility_types::FacilityTypes::from_toml("t", &text).err(),
            planaudit::normalise::tiers::Tiers::from_toml("t", &text).err(),
        ];
        for e in kinds.into_iter().flatten() {
            prop_assert!(matches!(e, Error::Table { .. } | Error::Usage(_)), "{e:?}");
        }
    }

    #[test]
    fn other_tags_parser_never_panics(text in any::<String>()) {
        let _ = planaudit::ingest::parse_other_tags(&text);
    }

    #[test]
    fn other_tags_round_trip(tags in prop::collection::btree_map("[a-z:_\"\\\\ 路=>,]{1,8}", "[a-zA-Z0-9\"\\\\ ,=>路\\n]{0,10}", 0..8)) {
        let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let text: Vec<String> = tags.iter().map(|(k, v)| format!("\"{}\"=>\"{}\"", escape(k), escape(v))).collect();
        let parsed = planaudit::ingest::parse_other_tags(&text.join(","));
        prop_assert_eq!(parsed, tags);
    }
}

// ---------------------------------------------------------------------------------------------
// GCJ-02 / BD-09.

/// Metres between two longitude/latitude points close to each other.
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let m_per_deg = 111_320.0;
    let dx = (a.0 - b.0) * m_per_deg * a.1.to_radians().cos();
    let dy = (a.1 - b.1) * m_per_deg;
    dx.hypot(dy)
}

proptest! {
    #![proptest_config(config(2000))]

    /// Inside China (kept a few km from the edges of the box where the shift applies), every
    /// conversion and its inverse return to the start within 0.01 m.
    #[test]
    fn offsets_round_trip_inside_china(lon in 73.5f64..134.5, lat in 18.0f64..53.0) {
        use planaudit::normalise::crs::offsets::*;
        let p = (lon, lat);
        let g = wgs84_to_gcj02(lon, lat);
        prop_assert!(metres(gcj02_to_wgs84(g.0, g.1), p) < 0.01);
        let b = gcj02_to_bd09(lon, lat);
        prop_assert!(metres(bd09_to_gcj02(b.0, b.1), p) < 0.01);
        let b = wgs84_to_bd09(lon, lat);
        prop_assert!(metres(bd09_to_wgs84(b.0, b.1), p) < 0.01);
    }

    /// Any input, NaN, infinite or absurd: no panic.
    #[test]
    fn offsets_never_panic(lon in any::<f64>(), lat in any::<f64>()) {
        use planaudit::normalise::crs::offsets::*;
        let _ = (gcj02_to_wgs84(lon, lat), bd09_to_wgs84(lon, lat), wgs84_to_gcj02(lon, lat), wgs84_to_bd09(lon, lat));
    }
}

// ---------------------------------------------------------------------------------------------
// Random geometry in the frame at Lu'an (EPSG:4527, metres).

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;

/// A simple polygon: a star around a centre, vertices at increasing angles with random radii.
fn star(cx: f64, cy: f64, radii: &[f64], turn: f64) -> Polygon<f64> {
    let n = radii.len();
    let mut pts: Vec<Coord<f64>> = radii
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let a = turn + i as f64 / n as f64 * std::f64::consts::TAU;
            Coord { x: X0 + cx + r * a.cos(), y: Y0 + cy + r * a.sin() }
        })
        .collect();
    pts.push(pts[0]);
    Polygon::new(LineString(pts), vec![])
}

prop_compose! {
    /// A star polygon within 2 km of the corner, of 3–24 vertices and radii from 1 cm to 1 km,
    /// either orientation, sometimes with a star hole well inside it.
    fn polygon()(cx in 0.0..2000.0f64, cy in 0.0..2000.0f64, radii in prop::collection::vec(0.01f64..1000.0, 3..24),
                 turn in 0.0..6.3f64, cw in any::<bool>(), hole in any::<bool>()) -> Polygon<f64> {
        let mut p = star(cx, cy, &radii, turn);
        let min_r = radii.iter().cloned().fold(f64::INFINITY, f64::min);
        if hole && min_r > 1.0 {
            let h = star(cx, cy, &[min_r * 0.3, min_r * 0.5, min_r * 0.4], 0.0);
            p = Polygon::new(p.exterior().clone(), vec![h.exterior().clone()]);
        }
        if cw {
            let mut ext = p.exterior().clone();
            ext.0.reverse();
            p = Polygon::new(ext, p.interiors().to_vec());
        }
        p
    }
}

prop_compose! {
    fn lines()(lines in prop::collection::vec(prop::collection::vec((-500.0..2500.0f64, -500.0..2500.0f64), 2..6), 1..6)) -> MultiLineString<f64> {
        MultiLineString(lines.into_iter().map(|l| LineString(l.into_iter().map(|(x, y)| Coord { x: X0 + x, y: Y0 + y }).collect())).collect())
    }
}

thread_local! {
    /// The planar and the ellipsoidal frame in EPSG:4527, built once per thread (PROJ takes a
    /// while to set up a transformation).
    static FRAMES: [Frame; 2] =
        [Frame::new("EPSG:4527", Method::Planar).unwrap(), Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap()];
}

/// Runs `f` with the planar and the ellipsoidal frame.
fn with_frames<T>(f: impl FnOnce(&[Frame; 2]) -> T) -> T {
    FRAMES.with(f)
}

proptest! {
    #![proptest_config(config(128))]

    /// Clipped lengths are finite, non-negative and never more than the input's length, up to the
    /// rounding of the intersection points (a long run found 2 µm over 1 km: 2e-9 relative, at
    /// Gauss–Krüger coordinates of 4e7 m whose spacing is 7e-9 m).
    #[test]
    fn clipping_and_measurement(p in polygon(), q in polygon(), l in lines()) {
        use planaudit::indicators::road_density::clip_lines;
        let mp = MultiPolygon(vec![p, q]);
        let clipped = clip_lines(&mp, &l);
        with_frames(|frames| -> Result<(), TestCaseError> { for f in frames {
            let (all, inside) = (f.length_m(&l).unwrap(), f.length_m(&clipped).unwrap());
            prop_assert!(all.is_finite() && inside.is_finite() && inside >= 0.0);
            prop_assert!(inside <= all * (1.0 + 1e-8) + 1e-6, "{inside} > {all}");
            let a = f.area_m2(&mp).unwrap();
            prop_assert!(a.is_finite() && a >= 0.0);
        } Ok(()) })?;
    }

    /// Park shares lie within [0, 1]; areas are finite and non-negative; the mix is no larger
    /// than the park.
    #[test]
    fn park_mix_shares_are_bounded(park in polygon(), parcels in prop::collection::vec((polygon(), 0usize..13), 1..6)) {
        use planaudit::indicators::park_mix::{compute, Params};
        use planaudit::model::{Area, Parcel};
        use planaudit::normalise::classes::Category;
        let parks = [Area { id: "P".into(), fid: 1, name: None, kind: None, polygon: MultiPolygon(vec![park]) }];
        let parcels: Vec<Parcel> = parcels
            .into_iter()
            .enumerate()
            .map(|(i, (p, c))| Parcel { fid: i as u64, code: c.to_string(), category: Category::ALL.get(c).copied(), polygon: MultiPolygon(vec![p]) })
            .collect();
        with_frames(|frames| -> Result<(), TestCaseError> { for f in frames {
            let r = match compute(&parks, &parcels, f, &Params::default()) {
                Ok(r) => r,
                // A park that measures no area is refused with a message, never a panic.
                Err(Error::EmptyLayer { .. }) => continue,
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            for p in &r.parks {
                prop_assert!((0.0..=1.0).contains(&p.mix_share), "mix_share {}", p.mix_share);
                prop_assert!(p.mix_area_km2 <= p.park_area_km2);
                for v in [p.park_area_km2, p.mix_area_km2, p.construction_land_km2, p.unclassified_km2, p.overlap_km2] {
                    prop_assert!(v.is_finite() && v >= 0.0, "{v}");
                }
                for v in p.by_category.values() {
                    prop_assert!(v.is_finite() && *v >= 0.0 && *v <= p.park_area_km2);
                }
                if let Some(s) = p.mix_share_of_construction_land {
                    prop_assert!(s.is_finite() && s >= 0.0);
                }
            }
        } Ok(()) })?;
    }

    /// The GeoJSON writer's output always parses and is RFC 7946: longitude/latitude in range,
    /// closed rings, exterior rings counter-clockwise and holes clockwise, at most 7 decimals.
    #[test]
    fn geojson_writer_is_rfc7946(polys in prop::collection::vec(polygon(), 1..4), l in lines(), name in "[a-z中 \"\\\\]{0,6}", prop in any::<String>()) {
        use planaudit::output::geojson::{write_collection, CollectionMeta, OutFeature};
        let mut props = serde_json::Map::new();
        props.insert("text".into(), prop.into());
        let mut features: Vec<OutFeature> = polys.iter().map(|p| OutFeature { geometry: Geometry::Polygon(p.clone()), properties: props.clone() }).collect();
        features.push(OutFeature { geometry: Geometry::MultiPolygon(MultiPolygon(polys.clone())), properties: props.clone() });
        features.push(OutFeature { geometry: Geometry::MultiLineString(l), properties: BTreeMap::<String, serde_json::Value>::new().into_iter().collect() });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.geojson");
        with_frames(|f| write_collection(&path, &CollectionMeta { name: &name, frame: &f[1], osm: false }, &features)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let gj: geojson::GeoJson = text.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let geojson::GeoJson::FeatureCollection(fc) = gj else { return Err(TestCaseError::fail("not a collection")) };
        prop_assert_eq!(fc.features.len(), features.len());
        for f in &fc.features {
            let g: Geometry<f64> = f.geometry.clone().unwrap().try_into().unwrap();
            let polygons: Vec<Polygon<f64>> = match g.clone() {
                Geometry::Polygon(p) => vec![p],
                Geometry::MultiPolygon(mp) => mp.0,
                _ => vec![],
            };
            for p in &polygons {
                use geo::Winding;
                for (i, r) in std::iter::once(p.exterior()).chain(p.interiors()).enumerate() {
                    prop_assert!(r.is_closed());
                    // A ring rounded to 7 decimals may collapse to no area (a star arm of 1 cm);
                    // the winding of every ring with area is right.
                    use geo::Area;
                    if Polygon::new(r.clone(), vec![]).unsigned_area() > 0.0 {
                        prop_assert!(if i == 0 { r.is_ccw() } else { r.is_cw() }, "ring {i} wrongly wound: {r:?}");
                    }
                }
            }
            use geo::CoordsIter;
            for c in g.coords_iter() {
                prop_assert!((-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y));
            }
        }
        // No number in the coordinates has more than 7 decimals.
        for line in text.lines().skip(1) {
            let Some(start) = line.find("\"coordinates\":") else { continue };
            let coords = &line[start..];
            let coords = &coords[..coords.find("]]").map_or(coords.len(), |e| e + 2)];
            for num in coords.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e')).filter(|s| s.contains('.')) {
                let decimals = num.split('.').nth(1).unwrap().split('e').next().unwrap().len();
                prop_assert!(decimals <= 7 && !num.contains('e'), "{num}");
            }
        }
    }
}
