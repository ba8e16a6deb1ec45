//! Broken files of every format: truncated, corrupt, incomplete Shapefiles, wrong encodings.
//! Each is refused with a message naming the file; none is read in part.

use std::path::Path;

use super::world::*;
use crate::common::{ogr2ogr, shared};

/// The role's good layer converted by ogr2ogr to `name` (driver from the extension).
fn converted(w: &World, role: Role, name: &str, extra: &[&str]) -> String {
    let p = w.path(name);
    let (dst, src) = (p.display().to_string(), w.good_path(role).display().to_string());
    let mut args = vec![dst.as_str(), src.as_str()];
    args.extend_from_slice(extra);
    ogr2ogr(&args);
    p.display().to_string()
}

fn truncate_copy(from: &Path, to: &Path, keep: usize) {
    let bytes = std::fs::read(from).unwrap();
    std::fs::write(to, &bytes[..keep.min(bytes.len())]).unwrap();
}

#[test]
fn truncated_and_corrupt_files() {
    let w = World::new();
    let mut cases = Vec::new();
    for role in Role::ALL {
        let r = format!("{role:?}").to_lowercase();
        // A GeoPackage cut in half: SQLite refuses it.
        let gpkg = converted(&w, role, &format!("{r}.gpkg"), &[]);
        let cut = w.path(&format!("{r}_cut.gpkg"));
        truncate_copy(Path::new(&gpkg), &cut, std::fs::metadata(&gpkg).unwrap().len() as usize / 2);
        cases.push((
            format!("truncated GeoPackage ({r})"),
            role,
            cut.display().to_string(),
            fail(1, &[&format!("{r}_cut.gpkg")]),
        ));
        // Random bytes named .gpkg, and an empty file.
        let noise = w.path(&format!("{r}_noise.gpkg"));
        let bytes: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(&noise, bytes).unwrap();
        cases.push((
            format!("random bytes as GeoPackage ({r})"),
            role,
            noise.display().to_string(),
            fail(1, &[&format!("{r}_noise.gpkg"), "GDAL recognises no vector format"]),
        ));
        let empty = w.path(&format!("{r}_empty.gpkg"));
        std::fs::write(&empty, b"").unwrap();
        cases.push((
            format!("empty file ({r})"),
            role,
            empty.display().to_string(),
            fail(1, &[&format!("{r}_empty.gpkg"), "empty (0 bytes)"]),
        ));
        // GeoJSON cut mid-feature.
        let text = std::fs::read_to_string(w.good_path(role)).unwrap();
        let at = text.find("\"properties\"").unwrap() + 20;
        let cutj = w.path(&format!("{r}_cut.geojson"));
        std::fs::write(&cutj, &text[..at]).unwrap();
        cases.push((
            format!("GeoJSON cut mid-feature ({r})"),
            role,
            cutj.display().to_string(),
            fail(1, &[&format!("{r}_cut.geojson")]),
        ));
        // A Shapefile without its .dbf, and one without its .shx (origins mix points and
        // polygons, which a Shapefile cannot hold).
        for side in ["dbf", "shx"].into_iter().filter(|_| role != Role::Origin) {
            let shp = converted(&w, role, &format!("{r}_no{side}.shp"), &["-lco", "ENCODING=UTF-8"]);
            std::fs::remove_file(Path::new(&shp).with_extension(side)).unwrap();
            cases.push((
                format!("Shapefile without .{side} ({r})"),
                role,
                shp,
                fail(1, &[&format!("{r}_no{side}.shp"), &format!(".{side}"), "missing"]),
            ));
        }
    }
    run_all(&w, &cases);
}

/// A GeoPackage whose pages are damaged after the first: GDAL opens it, reads some features and
/// then fails. The run must stop, not go on with the features read so far.
#[test]
fn geopackage_damaged_in_the_middle_is_never_read_in_part() {
    let w = World::new();
    // Enough roads for several SQLite pages.
    let mut roads = good(Role::Road);
    for i in 0..3000 {
        let x = 4000.0 + (i % 100) as f64 * 10.0;
        let y = (i / 100) as f64 * 10.0;
        roads.push((
            line(&[(x, y), (x + 5.0, y + 5.0)]),
            serde_json::json!({"grade": "支路", "width_m": 20.0, "note": "填充".repeat(20)}),
        ));
    }
    let src = w.path("many_roads.geojson");
    write_geojson(&src, Some(4527), &roads);
    let gpkg = w.path("many_roads.gpkg");
    ogr2ogr(&[gpkg.to_str().unwrap(), src.to_str().unwrap(), "-nln", "roads"]);
    let mut bytes = std::fs::read(&gpkg).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n * 2 / 3..n * 2 / 3 + 20_000] {
        *b = 0xA5;
    }
    let bad = w.path("damaged.gpkg");
    std::fs::write(&bad, bytes).unwrap();
    let cases = vec![(
        "GeoPackage damaged in the middle".to_string(),
        Role::Road,
        format!("{}#roads", bad.display()),
        fail(1, &["damaged.gpkg#roads", "cannot read the layer", "truncated or corrupt"]),
    )];
    run_all(&w, &cases);
}

/// An .osm.pbf cut short (a copy of the shared Baltimore extract, truncated in a temporary folder).
#[test]
fn osm_pbf_cut_short() {
    let w = World::new();
    let pbf = shared("osm/baltimore-2015.osm.pbf");
    let mut failures = Vec::new();
    for (i, frac) in [0.3, 0.6, 0.95].into_iter().enumerate() {
        let cut = w.path(&format!("cut{i}.osm.pbf"));
        truncate_copy(&pbf, &cut, (std::fs::metadata(&pbf).unwrap().len() as f64 * frac) as usize);
        let c = cut.display().to_string();
        let o = w.path(&format!("o{i}.geojson")).display().to_string();
        let runs: Vec<Vec<String>> = vec![
            vec![
                "road-density".into(),
                "--roads".into(),
                format!("{c}#lines"),
                "--areas".into(),
                format!("{}#multipolygons", pbf.display()),
                "--areas-where".into(),
                "landuse='industrial'".into(),
                "-o".into(),
                o.clone(),
            ],
            vec![
                "park-mix".into(),
                "--landuse".into(),
                format!("{c}#multipolygons"),
                "--parks-from-class".into(),
                "industrial".into(),
                "-o".into(),
                o.clone(),
            ],
            vec![
                "living-circle".into(),
                "--roads".into(),
                format!("{c}#lines"),
                "--origins".into(),
                format!("{}#points", pbf.display()),
                "--origins-where".into(),
                "other_tags LIKE '%amenity%'".into(),
                "--facilities".into(),
                format!("{}#points", pbf.display()),
                "-o".into(),
                o.clone(),
            ],
        ];
        for args in runs {
            let out = crate::common::run(&args.iter().map(String::as_str).collect::<Vec<_>>());
            let stderr = String::from_utf8_lossy(&out.stderr);
            let ok = out.status.code() == Some(1)
                && stderr.contains(&format!("cut{i}.osm.pbf"))
                && stderr.contains("cannot read the layer")
                && !stderr.contains("panicked");
            if !ok {
                failures.push(format!("{args:?}: exit {:?}\n{stderr}", out.status.code()));
            }
            assert!(!Path::new(&o).exists());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// GBK text in a .dbf without a .cpg, and with a .cpg that lies: a data error naming the file,
/// layer, feature and field, and saying what to do (or, where GDAL cannot tell, a warning).
#[test]
fn gbk_dbf_without_cpg_or_with_a_lying_cpg() {
    let w = World::new();
    let mut cases = Vec::new();
    for role in [Role::Area, Role::Facility] {
        let r = format!("{role:?}").to_lowercase();
        let field = if role == Role::Area { "field 'name'" } else { "field 'type'" };
        let nocpg = converted(&w, role, &format!("{r}_gbk_nocpg.shp"), &["-lco", "ENCODING=GBK"]);
        std::fs::remove_file(Path::new(&nocpg).with_extension("cpg")).unwrap();
        cases.push((
            format!("GBK .dbf without .cpg ({r})"),
            role,
            nocpg,
            fail(
                1,
                &[
                    &format!("{r}_gbk_nocpg.shp#{r}_gbk_nocpg"),
                    "feature 0",
                    field,
                    "no .cpg",
                    "encoding with",
                    "GBK",
                    "Chinese data",
                ],
            ),
        ));
        let utf8 = converted(&w, role, &format!("{r}_gbk_utf8cpg.shp"), &["-lco", "ENCODING=GBK"]);
        std::fs::write(Path::new(&utf8).with_extension("cpg"), "UTF-8").unwrap();
        cases.push((
            format!("GBK .dbf with a .cpg saying UTF-8 ({r})"),
            role,
            utf8,
            fail(
                1,
                &[
                    &format!("{r}_gbk_utf8cpg.shp"),
                    "feature 0",
                    field,
                    "the .cpg says 'UTF-8'",
                    "encoding with",
                    "GBK",
                    "Chinese data",
                ],
            ),
        ));
    }
    // A .cpg saying a single-byte code page decodes anything: the text comes out as Latin-1
    // mojibake, which is flagged with a warning; the kind is then unknown, so no target applies.
    let latin = converted(&w, Role::Area, "area_gbk_1252cpg.shp", &["-lco", "ENCODING=GBK"]);
    std::fs::write(Path::new(&latin).with_extension("cpg"), "1252").unwrap();
    let n = good(Role::Area).len() as u64;
    cases.push((
        "GBK .dbf with a .cpg saying 1252".to_string(),
        Role::Area,
        latin,
        Expect::Counted {
            read: n,
            used: n,
            skipped: None,
            repaired: None,
            flagged: None,
            stderr: vec!["warning".into(), "looks like Chinese (GBK) text decoded as Latin-1".into()],
        },
    ));
    run_all(&w, &cases);

    // With the right encoding given, the same file reads.
    let nocpg = w.path("area_gbk_nocpg.shp");
    let out = w.path("gbk_ok.geojson");
    let args = w.args(Cmd::RoadDensity, Role::Area, nocpg.to_str().unwrap(), &out, &["--encoding", "GBK"]);
    crate::common::run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let fc = crate::common::read_collection(&out);
    assert_eq!(crate::common::text(&fc.features[0], "kind_label"), "中心城区");
}
