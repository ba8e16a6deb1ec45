//! `report.html` from the demo audit, opened in a real headless Chromium (Debian's `chromium`):
//! the page loads without a console message, the tables the browser built hold the summary's
//! numbers, and a screenshot shows maps in colour with the missed targets in red.
//!
//! The report and its screenshot are kept in `target/report-check/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use planaudit::output::report::{write_report, MapLayer, MapStyle, ReportInput};
use serde_json::{json, Value};

use crate::common::*;

/// The demo audit's own report and summary: `planaudit demo` writes report.html from summary.json
/// and every layer it wrote.
fn demo_report(dir: &Path) -> (PathBuf, Value) {
    let out = dir.join("out");
    run_ok(&["demo", "-o", out.to_str().unwrap()]);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    (out.join("report.html"), summary)
}

/// Debian's Chromium with a fresh profile inside `scratch`, or a failure saying how to install it.
fn chromium(scratch: &Path) -> Command {
    let ok = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "chromium not found: run `make deps` (Debian packages chromium, chromium-driver)");
    let profile = tempfile::tempdir_in(scratch).unwrap().keep();
    let mut c = Command::new("timeout");
    c.args(["120", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--disable-default-apps", "--disable-extensions", "--hide-scrollbars"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().unwrap().display())
}

/// Loads a page and returns Chromium's output with the serialised DOM on stdout.
fn dump_dom(scratch: &Path, page: &Path) -> Output {
    let out = chromium(scratch).arg("--dump-dom").arg(file_url(page)).output().expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The lines Chromium logs for the page's console (errors, CSP violations such as a refused request).
fn console_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}

/// The `<tr …>…</tr>` of an indicator row in the DOM.
fn dom_row<'a>(dom: &'a str, indicator: &str, area_id: &str) -> &'a str {
    let table = dom.find(&format!("data-indicator=\"{indicator}\"")).unwrap_or_else(|| panic!("no table {indicator}"));
    let key = format!("data-area-id=\"{area_id}\"");
    let start = table + dom[table..].find(&key).unwrap_or_else(|| panic!("no row for area {area_id} in the DOM"));
    let end = start + dom[start..].find("</tr>").unwrap();
    &dom[start..end]
}

#[test]
fn demo_report_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (page, summary) = demo_report(dir.path());
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: nothing that loads or runs anything.
    for banned in ["<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "https://"] {
        assert!(!html.contains(banned), "report.html contains {banned}");
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));

    // The check can fail: a page with a script error and a remote image is caught.
    let canary = dir.path().join("canary.html");
    std::fs::write(
        &canary,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>c</title></head><body><p>c</p>\
         <img src=\"http://127.0.0.1:9/x.png\"><script>undefinedFunction()</script></body></html>",
    )
    .unwrap();
    let caught = console_lines(&dump_dom(dir.path(), &canary).stderr);
    assert!(caught.iter().any(|l| l.contains("undefinedFunction")), "console errors are not seen: {caught:?}");

    // The report loads with no console message at all.
    let out = dump_dom(dir.path(), &page);
    let console = console_lines(&out.stderr);
    assert!(console.is_empty(), "console messages:\n{}", console.join("\n"));
    let dom = String::from_utf8(out.stdout).unwrap();

    // The tables the browser built hold the summary's numbers.
    let rows = summary["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "2 areas, 2 parks, 3 living-circle tiers");
    for r in rows {
        let row = dom_row(&dom, r["indicator"].as_str().unwrap(), r["area_id"].as_str().unwrap());
        let value = r["value"].as_f64().unwrap();
        assert!(row.contains(&format!("data-value=\"{}\"", r["value"])), "{row}");
        assert!(row.contains(&format!(">{value:.2}</td>")), "{row}");
        match (r["target"].as_f64(), r["target_max"].as_f64()) {
            // Targets as the city file gives them, not rounded for reading.
            (Some(t), Some(m)) => assert!(row.contains(&format!(">{t} – {m}</td>")), "{row}"),
            (Some(t), None) => assert!(row.contains(&format!(">≥ {t}</td>")), "{row}"),
            _ => {}
        }
        if let Some(name) = r["area_name"].as_str() {
            assert!(row.contains(name), "{row}");
        }
        match r["met"].as_bool() {
            Some(true) => assert!(row.contains("✓ 达标 met"), "{row}"),
            Some(false) => assert!(row.contains("✗ 未达标 missed"), "{row}"),
            None => assert!(row.contains("no target"), "{row}"),
        }
    }
    assert!(rows.iter().any(|r| r["met"] == true) && rows.iter().any(|r| r["met"] == false));
    for l in summary["layers"].as_array().unwrap() {
        let name = l["layer"].as_str().unwrap();
        // A layer read twice (by two indicators, with different filters) has a row each.
        let rows: Vec<&str> =
            dom.match_indices(name).map(|(at, _)| &dom[at..at + dom[at..].find("</tr>").unwrap()]).collect();
        assert!(!rows.is_empty(), "layer {name} not in the DOM");
        let matches = |row: &&str| {
            ["read", "used", "repaired"].iter().all(|k| row.contains(&format!("class=\"num {k}\">{}</td>", l[*k])))
        };
        assert!(rows.iter().any(matches), "{name}: {l} not in {rows:?}");
    }
    // One map per layer written; the county town (missed) is marked, and so are the grid cells
    // below target, the park below its band and the uncovered homes.
    assert_eq!(dom.matches("class=\"map-figure\"").count(), 7);
    assert!(dom.matches("<path class=\"miss\"").count() >= 3);

    // Panels are captioned with the names of what they show: the parks' parcels with their parks'
    // names, though the demo numbers its parks as it numbers its areas.
    let names_of = |indicator: &str| -> Vec<(&str, &str)> {
        rows.iter()
            .filter(|r| r["indicator"] == indicator)
            .map(|r| (r["area_id"].as_str().unwrap(), r["area_name"].as_str().unwrap()))
            .collect()
    };
    let (areas, parks) = (names_of("road_density"), names_of("park_mix"));
    assert!(areas.iter().any(|(id, _)| parks.iter().any(|(p, _)| p == id)), "no park shares an area's id");
    let maps = &dom[dom.find("<section id=\"maps\">").expect("a maps section")..];
    let captions = |title: &str| -> Vec<String> {
        let at = maps.find(&format!("<h3>{title}<")).unwrap_or_else(|| panic!("no map {title}"));
        let figure = &maps[at..at + maps[at..].find("</figure>").unwrap()];
        figure.split("panel-caption\">").skip(1).map(|c| c[..c.find('<').unwrap()].to_string()).collect()
    };
    for (title, named) in
        [("园区生活配套地块", &parks), ("产业园区生活配套用地占比", &parks), ("道路网密度达标情况", &areas)]
    {
        let shown = captions(title);
        let mut expected: Vec<&str> = named.iter().map(|(_, n)| *n).collect();
        expected.sort_unstable();
        let mut got: Vec<&str> = shown.iter().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, expected, "captions of the map {title}");
    }

    // Screenshot: decoded, it has many colours, much non-white, and the red of the missed areas.
    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-check");
    std::fs::create_dir_all(&keep).unwrap();
    let png_path = keep.join("report.png");
    let _ = std::fs::remove_file(&png_path);
    let shot = chromium(dir.path())
        .arg(format!("--screenshot={}", png_path.display()))
        .arg("--window-size=1280,3200")
        .arg(file_url(&page))
        .output()
        .expect("chromium runs");
    assert!(shot.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&shot.stderr));
    std::fs::copy(&page, keep.join("report.html")).unwrap();

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3 && info.bit_depth == png::BitDepth::Eight, "{:?} {:?}", info.color_type, info.bit_depth);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    assert_eq!(pixels.len(), (info.width * info.height) as usize);
    let distinct: std::collections::BTreeSet<[u8; 3]> = pixels.iter().copied().collect();
    let non_white = pixels.iter().filter(|p| p.iter().any(|&c| c < 240)).count();
    let reddish = pixels.iter().filter(|p| p[0] > 170 && p[1] < 110 && p[2] < 110).count();
    assert!(distinct.len() > 500, "{} distinct colours", distinct.len());
    assert!(non_white * 10 > pixels.len(), "{non_white} of {} pixels not white", pixels.len());
    assert!(reddish > 2000, "{reddish} red pixels: the missed targets should stand out");
}

/// A FeatureCollection from (geometry, properties) pairs.
fn collection(path: &Path, attribution: bool, features: Vec<(Value, Value)>) -> PathBuf {
    let mut fc = json!({
        "type": "FeatureCollection",
        "features": features.into_iter().map(|(g, p)| json!({"type": "Feature", "geometry": g, "properties": p})).collect::<Vec<_>>(),
    });
    if attribution {
        fc["attribution"] = json!("© OpenStreetMap contributors");
    }
    std::fs::write(path, fc.to_string()).unwrap();
    path.to_path_buf()
}

fn square(x: f64, y: f64, side: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]]})
}

#[test]
fn every_map_style_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (x0, y0) = (116.50, 31.75);
    // Two parks 10 km apart, one within the band and one below it (its name tries to inject markup).
    let parks = collection(
        &d.join("park_mix.geojson"),
        false,
        vec![
            (
                square(x0, y0, 0.02),
                json!({"park_id": "P1", "name": "六安经济技术开发区", "status": "within", "mix_share": 0.25}),
            ),
            (
                square(x0 + 0.1, y0, 0.02),
                json!({"park_id": "P2", "name": "<b>高新区</b>", "status": "below", "mix_share": 0.12}),
            ),
        ],
    );
    let categories = [
        "residential",
        "community_service",
        "public_service",
        "commercial",
        "industrial",
        "warehouse",
        "green",
        "mystery",
    ];
    let mut parcels = Vec::new();
    for (p, px) in [("P1", x0), ("P2", x0 + 0.1)] {
        for i in 0..4 {
            for j in 0..4 {
                let c = categories[(i * 4 + j + usize::from(p == "P2")) % categories.len()];
                parcels.push((
                    square(px + 0.005 * i as f64, y0 + 0.005 * j as f64, 0.0045),
                    json!({"park_id": p, "category": c}),
                ));
            }
        }
    }
    let parcels = collection(&d.join("park_mix_parcels.geojson"), false, parcels);
    // Homes on a grid: points that miss 0–3 facility types, as counts and as lists.
    let mut homes = Vec::new();
    let mut gaps = Vec::new();
    for i in 0..12 {
        for j in 0..8 {
            let n = (i * j + i) % 5 % 4;
            let missing: Vec<String> = (0..n).map(|k| format!("type{k}")).collect();
            let g = json!({"type": "Point", "coordinates": [x0 + 0.002 * i as f64, y0 + 0.002 * j as f64]});
            let props = if i % 2 == 0 {
                json!({"origin_id": format!("{i}-{j}"), "missing": missing, "missing_count": n})
            } else {
                json!({"origin_id": format!("{i}-{j}"), "missing": missing})
            };
            if n > 0 {
                gaps.push((g.clone(), props.clone()));
            }
            homes.push((g, props));
        }
    }
    let homes = collection(&d.join("living_circle.geojson"), true, homes);
    let gaps = collection(&d.join("living_circle_gaps.geojson"), true, gaps);
    let summary = json!({
        "rows": [
            {"indicator": "park_mix", "indicator_zh": "产业园区居住与服务用地占比", "area_id": "P1", "area_name": "六安经济技术开发区",
             "value": 0.25, "target": 0.2, "target_max": 0.3, "unit": "share", "met": true},
            {"indicator": "park_mix", "indicator_zh": "产业园区居住与服务用地占比", "area_id": "P2", "area_name": "<b>高新区</b>",
             "value": 0.12, "target": 0.2, "target_max": 0.3, "unit": "share", "met": false},
            {"indicator": "living_circle_15min", "indicator_zh": "15分钟生活圈覆盖率", "area_id": "city", "area_name": null,
             "value": 0.6354, "target": null, "target_max": null, "unit": "share", "met": null}
        ],
        "layers": [{"layer": "landuse.gpkg#landuse", "read": 120, "used": 118, "repaired": 3, "skipped": {"empty geometry": 1, "no category": 1}}],
        "measure": "ellipsoidal",
    });
    let map = |title: &str, path: &PathBuf, style| MapLayer {
        title: title.into(),
        title_zh: title.into(),
        path: path.clone(),
        style,
    };
    let input = ReportInput {
        title: "All map styles",
        summary: &summary,
        maps: vec![
            map("parks", &parks, MapStyle::ParkStatus),
            map("parcels", &parcels, MapStyle::ParkParcels),
            map("coverage", &homes, MapStyle::Coverage),
            map("gaps", &gaps, MapStyle::Gaps),
        ],
    };
    let page = d.join("all_styles.html");
    write_report(&page, &input).unwrap();

    let out = dump_dom(d, &page);
    let console = console_lines(&out.stderr);
    assert!(console.is_empty(), "console messages:\n{}", console.join("\n"));
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(!dom.contains("<b>高新区</b>") && dom.contains("&lt;b&gt;高新区&lt;/b&gt;"), "names are escaped");
    assert!(dom.contains("data-target=\"0.2\" data-target-max=\"0.3\">0.2 – 0.3</td>"));
    assert_eq!(dom.matches("class=\"map-figure\"").count(), 4);
    // Parks are drawn as two panels; the park below its band is marked; every uncovered home is marked
    // on the coverage map and again on the gaps map.
    assert!(dom.contains("<div class=\"panel-caption\">六安经济技术开发区</div>"));
    assert_eq!(dom.matches("<path class=\"miss\"").count(), 1);
    assert_eq!(dom.matches("<circle class=\"miss\"").count(), 2 * gaps_len(&gaps));
    assert_eq!(dom.matches("© OpenStreetMap contributors").count(), 2);

    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-check");
    std::fs::create_dir_all(&keep).unwrap();
    let png_path = keep.join("all_styles.png");
    let _ = std::fs::remove_file(&png_path);
    let shot = chromium(d)
        .arg(format!("--screenshot={}", png_path.display()))
        .arg("--window-size=1280,3400")
        .arg(file_url(&page))
        .output()
        .expect("chromium runs");
    assert!(shot.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&shot.stderr));
    assert!(std::fs::metadata(&png_path).unwrap().len() > 10_000);
}

fn gaps_len(path: &Path) -> usize {
    read_collection(path).features.len()
}
