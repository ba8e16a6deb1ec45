//! `report.html`: one self-contained page that states the audit for a planning bureau.
//!
//! The page holds the indicators against their targets (Chinese and English labels), the input
//! layer counts (read, used, repaired, skipped) and one map per output layer, drawn here as inline
//! SVG from planaudit's GeoJSON files ([`map`]). Everything is inline: CSS in a `<style>` element,
//! no script, no external font, image or tile. A Content-Security-Policy of `default-src 'none'`
//! makes the browser refuse any request the page might still try to make, so it opens offline and
//! never reaches the network.
//!
//! All text that comes from data (area names, layer paths, the method line) is HTML-escaped. The
//! same input gives the same bytes: no clock, no hash-ordered maps, fixed number formats.

mod map;

pub use map::{MapData, MapPart};

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::atomic::write_atomic;
use crate::Result;

/// How a map colours its features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapStyle {
    /// Areas by `meets_target`: green met, red missed, grey without a target.
    MeetsTarget,
    /// Grid cells by `density_km_per_km2` ÷ `target_km_per_km2` (red below the target).
    DensityGrid,
    /// Road pieces over the red-line width cap, red, thicker for wider roads (`width_m`).
    WideRoads,
    /// Parks by `status`: red below the band, green within, purple above.
    ParkStatus,
    /// Park parcels by land-use `category`.
    ParkParcels,
    /// Homes by `missing_count` (or the length of `missing`): green covered, red missing three or more.
    Coverage,
    /// Uncovered homes, red, larger for more missing facility types.
    Gaps,
}

/// One map of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct MapLayer {
    pub title: String,
    pub title_zh: String,
    /// An RFC 7946 GeoJSON FeatureCollection written by planaudit.
    pub path: PathBuf,
    pub style: MapStyle,
}

/// What the report states.
///
/// `summary` carries `rows` (one per area and indicator: `indicator`, `indicator_zh`, `area_id`,
/// `area_name`, `value`, `target`, `target_max`, `unit`, `met`), `layers` (per input layer:
/// `layer`, `role`, `read`, `used`, `repaired`, `skipped` and `not_read` as reason → count, `warnings`)
/// and `measure` (text).
/// Missing members are shown as absent, not errors.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    pub title: &'a str,
    pub summary: &'a Value,
    pub maps: Vec<MapLayer>,
}

/// HTML-escapes text for an element or a quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// [`fmt_num`], with the decimals a value needs not to show on the other side of its target
/// or band bounds, or on one ([`crate::units::shown_against`]).
fn fmt_num_against(v: f64, bounds: impl Iterator<Item = f64>) -> String {
    let bounds: Vec<f64> = bounds.collect();
    let shown = fmt_num(v);
    if !v.is_finite() || bounds.is_empty() {
        return shown;
    }
    let decimals = shown.split_once('.').map_or(0, |(_, d)| d.len());
    crate::units::shown_against(v, &bounds, decimals, 1.0)
}

/// A target or band bound as the plan or the city file gives it (to the 6 decimals verdicts are
/// judged at): rounded for reading, a target of 9.92807 would show as 9.93 beside a value of
/// 9.92807 that meets it.
fn fmt_target(v: f64) -> String {
    if v.is_finite() {
        format!("{}", crate::units::round6(v))
    } else {
        fmt_num(v)
    }
}

/// A number for reading: 2 decimals below 100, 1 below 1000, none above.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let s = if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    // No "-0.00".
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// English labels of the indicators planaudit computes.
fn indicator_en(indicator: &str) -> String {
    if let Some(base) = indicator.strip_suffix("_buffer").filter(|b| b.starts_with("living_circle")) {
        return format!("{}, by straight-line distance", indicator_en(base));
    }
    match indicator {
        "road_density" => "Road network density".into(),
        "park_mix" => "Residential and service land in industrial parks".into(),
        "living_circle" | "living_circle_15min" => "15-minute living circle coverage".into(),
        "living_circle_10min" => "10-minute living circle coverage".into(),
        "living_circle_5min" => "5-minute living circle coverage".into(),
        other => {
            let words = other.replace('_', " ");
            let mut c = words.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The page's stylesheet.
const CSS: &str = r#"
:root{--ink:#1d2733;--muted:#5f6b76;--line:#d8dee4;--bg:#f4f6f8;--red:#d73027;--green:#1a9850;--navy:#1f3a5f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.55 "Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{background:var(--navy);color:#fff;padding:28px 40px 24px}
header h1{margin:0 0 4px;font-size:26px;font-weight:700;letter-spacing:.5px}
header .sub{margin:0;color:#c9d6e6;font-size:14px}
header .method{margin:14px 0 0;color:#e5edf6;font-size:13px}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}
.kpi{background:rgba(255,255,255,.1);border:1px solid rgba(255,255,255,.25);border-radius:6px;padding:6px 14px;font-size:13px}
.kpi b{font-size:18px;margin-right:6px}
.kpi.bad b{color:#ff9b8f}.kpi.good b{color:#8fe0a8}
main{max-width:1180px;margin:0 auto;padding:8px 32px 32px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;margin:22px 0;padding:20px 24px}
h2{margin:0 0 14px;font-size:19px;border-left:4px solid var(--navy);padding-left:10px}
h2 .en,h3 .en,th .en{color:var(--muted);font-weight:400;font-size:.85em;margin-left:6px}
h3{margin:18px 0 8px;font-size:16px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef2f6;font-weight:600;font-size:13px;white-space:nowrap}
td.num,th.num{text-align:right}
td .id{color:var(--muted);font-size:12px;margin-left:6px}
tr.missed td{background:#fdf1f0}
td.met{font-weight:700;white-space:nowrap}
td.met.yes{color:var(--green)}td.met.no{color:var(--red)}td.met.na{color:var(--muted);font-weight:400}
td.layer{word-break:break-all;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
td.layer .role{font-family:system-ui,sans-serif;color:#555}
.none{color:var(--muted)}
figure{margin:0 0 28px}
figure h3{margin-top:6px}
.panels{display:grid;grid-template-columns:1fr;gap:12px}
.panels.multi{grid-template-columns:repeat(auto-fit,minmax(340px,1fr))}
.panel{border:1px solid var(--line);border-radius:6px;overflow:hidden;background:#fff}
.panel-caption{font-size:13px;font-weight:600;padding:6px 10px;border-bottom:1px solid var(--line);background:#f8fafb}
svg.map{display:block;width:100%;height:auto}
svg.map .sea{fill:#f7f5ef}
svg.map text{font-family:inherit;font-size:12px;fill:#333}
svg.map text.label{font-size:14px;font-weight:700;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3.5px;stroke-linejoin:round}
svg.map text.label.value{font-size:12.5px;font-weight:400}
svg.map .north text{text-anchor:middle;font-weight:700}
.legend{list-style:none;margin:10px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:12.5px;color:var(--ink)}
.legend li{display:flex;align-items:center}
.swatch{display:inline-block;width:16px;height:12px;border:1px solid rgba(0,0,0,.35);border-radius:2px;margin-right:6px}
.swatch.line{height:5px;border:none;border-radius:2px}
.swatch.dot{border-radius:50%;border-color:#7f0000}
.legend .count{color:var(--muted);margin-left:3px}
.attribution{font-size:12px;color:var(--muted);margin:6px 0 0}
footer{max-width:1180px;margin:0 auto;padding:0 32px 36px;color:var(--muted);font-size:12px}
"#;

/// The maps of a report, by path: read from their files by [`read_maps`], or given
/// ([`read_maps_but`]).
pub struct ReadMaps(Vec<(PathBuf, Result<map::MapData>)>);

/// Reads the files of `maps`, in parallel, for [`render_read`]: apart from the rest of the report,
/// so that they can be read while what the report states is put together.
pub fn read_maps(maps: &[MapLayer]) -> ReadMaps {
    read_maps_but(maps, Vec::new())
}

/// [`read_maps`], but the maps of the files in `known` are taken as they are given (made while
/// the files were written, [`MapData::from_parts`]) rather than read back.
pub fn read_maps_but(maps: &[MapLayer], mut known: Vec<(PathBuf, map::MapData)>) -> ReadMaps {
    let to_read: Vec<&MapLayer> = maps.iter().filter(|m| !known.iter().any(|(p, _)| *p == m.path)).collect();
    let mut read = crate::timing::time(
        || "report.html: read maps".into(),
        || parallel(&to_read, |m| (m.path.clone(), map::MapData::read(&m.path))),
    )
    .into_iter();
    ReadMaps(
        maps.iter()
            .filter_map(|m| match known.iter().position(|(p, _)| *p == m.path) {
                Some(i) => Some((m.path.clone(), Ok(known.swap_remove(i).1))),
                None => read.next(),
            })
            .collect(),
    )
}

/// Renders the report as one HTML page.
pub fn render(input: &ReportInput) -> Result<String> {
    render_read(input, read_maps(&input.maps))
}

/// [`render`], the maps read already: `read` is [`read_maps`] (or [`read_maps_but`]) of `input.maps`.
pub fn render_read(input: &ReportInput, read: ReadMaps) -> Result<String> {
    let summary = input.summary;
    let rows: Vec<&Value> =
        summary.get("rows").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let layers: Vec<&Value> =
        summary.get("layers").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    // Names of areas and parks, for map captions: park mix's rows are the parks'.
    let mut names = map::Names::default();
    for r in &rows {
        if let (Some(id), Some(name)) = (text(r, "area_id"), text(r, "area_name")) {
            let table =
                if text(r, "indicator").as_deref() == Some("park_mix") { &mut names.parks } else { &mut names.areas };
            table.entry(id).or_insert(name);
        }
    }
    // Every map read first, so a bad file fails before anything is written (the first bad one in
    // the order of the maps).
    if read.0.len() != input.maps.len() || read.0.iter().zip(&input.maps).any(|((path, _), m)| *path != m.path) {
        return Err(crate::Error::Internal("report.html: maps read for another list of maps".into()));
    }
    let mut maps = Vec::with_capacity(input.maps.len());
    for (m, (_, data)) in input.maps.iter().zip(read.0) {
        maps.push((m, data?));
    }

    let mut h = String::with_capacity(1 << 16);
    h.push_str("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    let _ = writeln!(h, "<meta name=\"generator\" content=\"planaudit {}\">", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(h, "<title>{}</title>", escape(input.title));
    let _ = writeln!(h, "<style>{CSS}</style>\n</head>\n<body>");

    // Header: title, method, the count of targets met and missed.
    let met = rows.iter().filter(|r| r.get("met") == Some(&Value::Bool(true))).count();
    let missed = rows.iter().filter(|r| r.get("met") == Some(&Value::Bool(false))).count();
    h.push_str("<header>\n");
    let _ = writeln!(h, "<h1>{}</h1>", escape(input.title));
    h.push_str("<p class=\"sub\">城市规划指标体检报告 · Planning indicator audit</p>\n");
    if let Some(m) = summary.get("measure").and_then(Value::as_str) {
        let _ = writeln!(h, "<p class=\"method\"><b>测算方法 Method:</b> {}</p>", escape(m));
    }
    let living_circle = summary.pointer("/indicators/living_circle/method_description").and_then(Value::as_str);
    if let Some(m) = living_circle {
        let _ = writeln!(h, "<p class=\"method\"><b>生活圈 Living circle:</b> {}</p>", escape(m));
    }
    // Rows without a target are neither: counted apart, so that the figures add up.
    let untargeted = rows.len() - met - missed;
    let untargeted = if untargeted > 0 {
        format!("<span class=\"kpi\" id=\"kpi-untargeted\"><b>{untargeted}</b>无目标 without a target</span>")
    } else {
        String::new()
    };
    let _ = writeln!(
        h,
        "<div class=\"kpis\"><span class=\"kpi\" id=\"kpi-rows\"><b>{}</b>项指标 indicator rows</span><span class=\"kpi good\" id=\"kpi-met\"><b>{met}</b>达标 met</span><span class=\"kpi bad\" id=\"kpi-missed\"><b>{missed}</b>未达标 missed</span>{untargeted}</div>",
        rows.len()
    );
    h.push_str("</header>\n<main>\n");

    indicator_tables(&mut h, &rows);

    // Maps.
    h.push_str("<section id=\"maps\">\n<h2>地图<span class=\"en\">Maps</span></h2>\n");
    if maps.is_empty() {
        h.push_str("<p class=\"none\">无地图 No maps.</p>\n");
    }
    // The maps' SVG, drawn side by side.
    let drawn = crate::timing::time(
        || "report.html: draw maps".into(),
        || parallel(&maps, |(m, data)| draw_map(m, data, &maps, &names)),
    );
    for (i, ((m, data), svg)) in maps.iter().zip(drawn).enumerate() {
        let _ = writeln!(
            h,
            "<figure class=\"map-figure\" id=\"map-{}\">\n<h3>{}<span class=\"en\">{}</span></h3>",
            i + 1,
            escape(&m.title_zh),
            escape(&m.title)
        );
        match svg {
            None => h.push_str("<p class=\"none\">无要素 No features.</p>\n"),
            Some(svg) => {
                h.push_str(&svg);
                h.push('\n');
            }
        }
        if let Some(a) = &data.attribution {
            let _ = writeln!(h, "<p class=\"attribution\">{}</p>", escape(a));
        }
        h.push_str("</figure>\n");
    }
    h.push_str("</section>\n");

    layer_table(&mut h, &layers);

    h.push_str("</main>\n<footer>");
    let _ = write!(h, "planaudit {} · ", env!("CARGO_PKG_VERSION"));
    h.push_str("地图为等距圆柱投影示意图（按地图平均纬度缩放）· Maps: equirectangular at the map's mean latitude, for orientation only.");
    h.push_str("</footer>\n</body>\n</html>\n");
    Ok(h)
}

/// A map's panels and legend as HTML, over a map of another layer for context; `None` when it
/// has nothing to draw.
fn draw_map(
    m: &MapLayer,
    data: &map::MapData,
    maps: &[(&MapLayer, map::MapData)],
    names: &map::Names,
) -> Option<String> {
    // A map of lines or points is easier to read over the areas or homes of another map.
    let context_style = match m.style {
        MapStyle::WideRoads => Some((MapStyle::MeetsTarget, "建成区范围 built-up areas")),
        MapStyle::ParkParcels => Some((MapStyle::ParkStatus, "园区范围 park boundaries")),
        MapStyle::Gaps => Some((MapStyle::Coverage, "全部居住地 all homes")),
        _ => None,
    };
    let context = context_style.and_then(|(cs, label)| {
        maps.iter().find(|(o, _)| o.style == cs).map(|(_, d)| map::Context { map: d, label: label.to_string() })
    });
    (!data.is_empty()).then(|| data.render(m.style, names, context.as_ref()))
}

/// `f` of every item, on as many threads as the machine runs at once, in the order of the items.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { return out };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// One table per indicator, in the order the rows first name them.
fn indicator_tables(h: &mut String, rows: &[&Value]) {
    h.push_str("<section id=\"indicators\">\n<h2>指标<span class=\"en\">Indicators against targets</span></h2>\n");
    if rows.is_empty() {
        h.push_str("<p class=\"none\">无指标 No indicators.</p>\n");
    }
    let mut order: Vec<String> = Vec::new();
    for r in rows {
        let ind = text(r, "indicator").unwrap_or_default();
        if !order.contains(&ind) {
            order.push(ind);
        }
    }
    for ind in &order {
        let group: Vec<&&Value> = rows.iter().filter(|r| text(r, "indicator").unwrap_or_default() == *ind).collect();
        let zh = group.iter().find_map(|r| text(r, "indicator_zh")).unwrap_or_default();
        let _ = writeln!(h, "<h3>{}<span class=\"en\">{}</span></h3>", escape(&zh), escape(&indicator_en(ind)));
        let _ = writeln!(h, "<table class=\"indicator\" data-indicator=\"{}\">", escape(ind));
        h.push_str("<thead><tr><th>区域<span class=\"en\">Area</span></th><th class=\"num\">数值<span class=\"en\">Value</span></th><th class=\"num\">目标<span class=\"en\">Target</span></th><th>单位<span class=\"en\">Unit</span></th><th>达标<span class=\"en\">Met</span></th></tr></thead>\n<tbody>\n");
        for r in group {
            let id = text(r, "area_id").unwrap_or_default();
            let name = text(r, "area_name");
            let value = r.get("value").and_then(Value::as_f64);
            let target = r.get("target").and_then(Value::as_f64);
            let target_max = r.get("target_max").and_then(Value::as_f64);
            let met = r.get("met").and_then(Value::as_bool);
            let (row_class, met_cell) = match met {
                Some(true) => (" class=\"met\"", "<td class=\"met yes\">✓ 达标 met</td>"),
                Some(false) => (" class=\"missed\"", "<td class=\"met no\">✗ 未达标 missed</td>"),
                None => ("", "<td class=\"met na\">— 无目标 no target</td>"),
            };
            let _ = write!(h, "<tr{row_class} data-area-id=\"{}\">", escape(&id));
            match name {
                Some(n) => {
                    let _ =
                        write!(h, "<td class=\"area\">{}<span class=\"id\">{}</span></td>", escape(&n), escape(&id));
                }
                None => {
                    let _ = write!(h, "<td class=\"area\">{}</td>", escape(&id));
                }
            }
            // The exact figure rides along in data-*, as summary.json states it.
            let raw = |k: &str| r.get(k).filter(|v| v.is_number()).map(|v| v.to_string()).unwrap_or_default();
            let _ = write!(
                h,
                "<td class=\"num value\" data-value=\"{}\">{}</td>",
                raw("value"),
                value.map(|v| fmt_num_against(v, target.into_iter().chain(target_max))).unwrap_or_else(|| "—".into())
            );
            let target_text = match (target, target_max) {
                (Some(t), Some(m)) => format!("{} – {}", fmt_target(t), fmt_target(m)),
                (Some(t), None) => format!("≥ {}", fmt_target(t)),
                (None, Some(m)) => format!("≤ {}", fmt_target(m)),
                (None, None) => "—".into(),
            };
            let _ = write!(
                h,
                "<td class=\"num target\" data-target=\"{}\" data-target-max=\"{}\">{}</td>",
                raw("target"),
                raw("target_max"),
                escape(&target_text)
            );
            let _ =
                writeln!(h, "<td class=\"unit\">{}</td>{met_cell}</tr>", escape(&text(r, "unit").unwrap_or_default()));
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

/// Read, used, repaired and skipped features per input layer.
fn layer_table(h: &mut String, layers: &[&Value]) {
    h.push_str("<section id=\"layers\">\n<h2>输入图层<span class=\"en\">Input layers</span></h2>\n");
    if layers.is_empty() {
        h.push_str("<p class=\"none\">无 None.</p>\n</section>\n");
        return;
    }
    h.push_str("<table class=\"layers\">\n<thead><tr><th>图层<span class=\"en\">Layer</span></th><th class=\"num\">读取<span class=\"en\">Read</span></th><th class=\"num\">使用<span class=\"en\">Used</span></th><th class=\"num\">修复<span class=\"en\">Repaired</span></th><th class=\"num\">跳过<span class=\"en\">Skipped</span></th><th>说明<span class=\"en\">Skipped, not read, flagged</span></th></tr></thead>\n<tbody>\n");
    for l in layers {
        let count = |k: &str| l.get(k).and_then(Value::as_u64);
        let cell = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
        let (skipped, reasons) = match l.get("skipped") {
            Some(Value::Object(m)) => {
                let total: u64 = m.values().filter_map(Value::as_u64).sum();
                let list: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}: {}", escape(k), v.as_u64().map(|n| n.to_string()).unwrap_or_default()))
                    .collect();
                (Some(total), list.join("<br>"))
            }
            Some(v) => (v.as_u64(), String::new()),
            None => (None, String::new()),
        };
        // Features left unread because the computation does not need them, and features used but
        // flagged (codes or types the tables do not know).
        let mut reasons = reasons;
        for (key, words) in [("not_read", "未读取 not read"), ("flagged", "标记 flagged")] {
            if let Some(Value::Object(m)) = l.get(key) {
                for (k, v) in m {
                    if !reasons.is_empty() {
                        reasons.push_str("<br>");
                    }
                    let n = v.as_u64().map(|n| n.to_string()).unwrap_or_default();
                    let _ = write!(reasons, "{words}, {}: {n}", escape(k));
                }
            }
        }
        let _ = writeln!(
            h,
            "<tr><td class=\"layer\">{}</td><td class=\"num read\">{}</td><td class=\"num used\">{}</td><td class=\"num repaired\">{}</td><td class=\"num skipped\">{}</td><td class=\"reasons\">{}</td></tr>",
            escape(&text(l, "layer").unwrap_or_default())
                + &text(l, "role").map(|r| format!(" <span class=\"role\">{}</span>", escape(&r))).unwrap_or_default(),
            cell(count("read")),
            cell(count("used")),
            cell(count("repaired")),
            cell(skipped),
            reasons
        );
    }
    h.push_str("</tbody>\n</table>\n");
    // Doubts about whole layers (layers that do not overlap, text that looks wrongly decoded).
    let warnings: Vec<(String, &str)> = layers
        .iter()
        .flat_map(|l| {
            let layer = text(l, "layer").unwrap_or_default();
            l.get("warnings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(move |w| (layer.clone(), w))
        })
        .collect();
    if !warnings.is_empty() {
        h.push_str("<h3>警告<span class=\"en\">Warnings</span></h3>\n<ul class=\"warnings\">\n");
        for (layer, w) in warnings {
            // A warning that begins with its layer's name says it once.
            let w = w.strip_prefix(&format!("{layer}: ")).unwrap_or(w);
            let _ = writeln!(h, "<li><b>{}</b>: {}</li>", escape(&layer), escape(w));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

/// Writes the report atomically.
pub fn write_report(path: &Path, input: &ReportInput) -> Result<()> {
    write_report_read(path, input, read_maps(&input.maps))
}

/// [`write_report`], the maps read already: `read` is [`read_maps`] (or [`read_maps_but`]) of
/// `input.maps`.
pub fn write_report_read(path: &Path, input: &ReportInput, read: ReadMaps) -> Result<()> {
    let html = render_read(input, read)?;
    write_atomic(path, |w| w.write_all(html.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary() -> Value {
        json!({
            "measure": "ellipsoidal <geodesic>",
            "rows": [
                {"indicator": "road_density", "indicator_zh": "道路网密度", "area_id": "1", "area_name": "六安中心城区",
                 "value": 9.92807, "target": 8.3, "target_max": null, "unit": "km/km²", "met": true},
                {"indicator": "road_density", "indicator_zh": "道路网密度", "area_id": "2", "area_name": "<script>alert('x')</script> & Co",
                 "value": 5.487443, "target": 7.0, "target_max": null, "unit": "km/km²", "met": false},
                {"indicator": "park_mix", "indicator_zh": "产业园区居住与服务用地占比", "area_id": "p1", "area_name": null,
                 "value": 0.25, "target": 0.2, "target_max": 0.3, "unit": "share", "met": null}
            ],
            "layers": [{"layer": "roads.gpkg#roads\"><u>", "role": "roads", "read": 81, "used": 80, "repaired": 2, "skipped": {"empty geometry": 1},
                        "warnings": ["areas & <roads> do not overlap at all", "roads.gpkg#roads\"><u>: a warning naming its layer"]}]
        })
    }

    fn polygons(dir: &Path) -> PathBuf {
        let p = dir.join("areas.geojson");
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","name":"road_density","attribution":"© OpenStreetMap <contributors>","features":[
            {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[116.5,31.7],[116.52,31.7],[116.52,31.72],[116.5,31.72],[116.5,31.7]]]},
             "properties":{"area_id":"2","name":"A&B <i>","meets_target":false,"density_km_per_km2":5.5}}]}"#,
        )
        .unwrap();
        p
    }

    #[test]
    fn escapes_everything_from_data() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let dir = tempfile::tempdir().unwrap();
        let s = summary();
        let input = ReportInput {
            title: "审计 <Audit> & \"report\"",
            summary: &s,
            maps: vec![MapLayer {
                title: "Areas <1>".into(),
                title_zh: "区域 & 目标".into(),
                path: polygons(dir.path()),
                style: MapStyle::MeetsTarget,
            }],
        };
        let html = render(&input).unwrap();
        for raw in ["<script>", "<Audit>", "<u>", "<i>", "<contributors>", "<geodesic>", "<1>"] {
            assert!(!html.contains(raw), "{raw} unescaped");
        }
        for escaped in [
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co",
            "审计 &lt;Audit&gt; &amp; &quot;report&quot;",
            "roads.gpkg#roads&quot;&gt;&lt;u&gt;",
            "A&amp;B &lt;i&gt;",
            "© OpenStreetMap &lt;contributors&gt;",
            "ellipsoidal &lt;geodesic&gt;",
            "区域 &amp; 目标",
        ] {
            assert!(html.contains(escaped), "{escaped} missing");
        }
        // Nothing that could fetch or run anything.
        for banned in ["<script", "<link", "<img", "src=", "url(", "@import", "http://", "https://"] {
            let allowed = if banned == "http://" { html.matches("http://www.w3.org/2000/svg").count() } else { 0 };
            assert_eq!(html.matches(banned).count(), allowed, "{banned}");
        }
    }

    #[test]
    fn tables_state_the_numbers() {
        let s = summary();
        let html = render(&ReportInput { title: "t", summary: &s, maps: vec![] }).unwrap();
        assert!(html.contains("data-value=\"9.92807\">9.93</td>"));
        assert!(html.contains("data-target=\"8.3\" data-target-max=\"\">≥ 8.3</td>"));
        assert!(html.contains("data-target=\"0.2\" data-target-max=\"0.3\">0.2 – 0.3</td>"));
        assert!(html.contains("<tr class=\"missed\" data-area-id=\"2\">"));
        assert!(html.contains("✓ 达标 met") && html.contains("✗ 未达标 missed") && html.contains("— 无目标 no target"));
        assert!(html.contains("<td class=\"num skipped\">1</td><td class=\"reasons\">empty geometry: 1</td>"));
        assert!(html.contains("roads.gpkg#roads&quot;&gt;&lt;u&gt; <span class=\"role\">roads</span></td>"), "{html}");
        assert!(html.contains("<b>1</b>达标 met") && html.contains("<b>1</b>未达标 missed"));
        assert!(html.contains("<b>1</b>无目标 without a target"), "the row without a target is counted");
        assert_eq!(html.matches("<table class=\"indicator\"").count(), 2);
        assert!(html.contains("<ul class=\"warnings\">\n<li><b>roads.gpkg#roads&quot;&gt;&lt;u&gt;</b>: areas &amp; &lt;roads&gt; do not overlap at all</li>"), "{html}");
        // A warning that names its layer first says it once.
        assert!(
            html.contains("<li><b>roads.gpkg#roads&quot;&gt;&lt;u&gt;</b>: a warning naming its layer</li>"),
            "{html}"
        );
    }

    #[test]
    fn same_input_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary();
        let input = ReportInput {
            title: "t",
            summary: &s,
            maps: vec![MapLayer {
                title: "a".into(),
                title_zh: "甲".into(),
                path: polygons(dir.path()),
                style: MapStyle::MeetsTarget,
            }],
        };
        let (a, b) = (dir.path().join("a.html"), dir.path().join("b.html"));
        write_report(&a, &input).unwrap();
        write_report(&b, &input).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn a_missing_map_file_fails_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary();
        let input = ReportInput {
            title: "t",
            summary: &s,
            maps: vec![MapLayer {
                title: "a".into(),
                title_zh: "甲".into(),
                path: dir.path().join("nope.geojson"),
                style: MapStyle::Gaps,
            }],
        };
        let out = dir.path().join("report.html");
        let err = write_report(&out, &input).unwrap_err();
        assert!(err.to_string().contains("nope.geojson"), "{err}");
        assert!(!out.exists());
    }

    /// A map given is taken as it is, its file not read (here there is none); the others are read.
    #[test]
    fn maps_given_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.geojson");
        let layer = MapLayer { title: "a".into(), title_zh: "甲".into(), path: gone.clone(), style: MapStyle::Gaps };
        let read = read_maps_but(std::slice::from_ref(&layer), vec![(gone.clone(), MapData::from_parts(vec![], None))]);
        assert!(matches!(&read.0[..], [(p, Ok(_))] if *p == gone));
        let read = read_maps(&[layer]);
        assert!(matches!(&read.0[..], [(p, Err(_))] if *p == gone));
    }

    /// Maps read ahead of the report are the maps it names: one read for another list is refused,
    /// and writes nothing.
    #[test]
    fn maps_read_ahead_match_the_maps() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary();
        let map =
            MapLayer { title: "a".into(), title_zh: "甲".into(), path: polygons(dir.path()), style: MapStyle::Gaps };
        let input = ReportInput { title: "t", summary: &s, maps: vec![map.clone()] };
        let out = dir.path().join("report.html");
        let other = MapLayer { path: dir.path().join("other.geojson"), ..map.clone() };
        std::fs::copy(&map.path, &other.path).unwrap();
        for wrong in [vec![map.clone(), map.clone()], vec![other]] {
            let err = write_report_read(&out, &input, read_maps(&wrong)).unwrap_err();
            assert!(err.to_string().contains("another list"), "{err}");
            assert!(!out.exists());
        }
        write_report_read(&out, &input, read_maps(&input.maps)).unwrap();
        assert!(out.exists());
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(9.92807), "9.93");
        assert_eq!(fmt_target(9.92807), "9.92807");
        assert_eq!(fmt_target(8.3), "8.3");
        assert_eq!(fmt_target(0.1508), "0.1508");
        assert_eq!(fmt_target(30.0 / 100.0), "0.3");
        assert_eq!(fmt_target(14.1 / 100.0), "0.141");
        // Beside such a target, a value shows the digits that keep it on its side.
        assert_eq!(fmt_num_against(0.150736, [0.1508].into_iter()), "0.15");
        assert_eq!(fmt_num_against(9.92807, [9.92807].into_iter()), "9.92807");
        assert_eq!(fmt_num_against(0.248141, [0.248141, 0.3].into_iter()), "0.248141");
        assert_eq!(fmt_num(-0.001), "0.00");
        assert_eq!(fmt_num(123.456), "123.5");
        assert_eq!(fmt_num(12345.6), "12346");
        assert_eq!(fmt_num(f64::NAN), "—");
    }
}
