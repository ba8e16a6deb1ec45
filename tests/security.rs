//! planaudit reads files and writes files; it makes no network request. No dependency is a
//! network client; URLs and GDAL's web drivers are refused before GDAL sees them, by every
//! command and in city files; outputs stay in the folder chosen.

use std::process::Command;

use crate::bad_inputs::world::{Cmd, Role, World};
use crate::common::{run_err, run_ok, walk};

/// Crates that open network connections (HTTP clients, async runtimes that carry one, TLS).
const NETWORK_CRATES: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper-util",
    "h2",
    "h3",
    "ureq",
    "curl",
    "curl-sys",
    "isahc",
    "surf",
    "attohttpc",
    "tokio",
    "async-std",
    "mio",
    "socket2",
    "rustls",
    "native-tls",
    "openssl",
    "openssl-sys",
    "quinn",
    "tungstenite",
];

#[test]
fn no_dependency_is_a_network_client() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "-e", "normal,build,dev", "--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let crates: std::collections::BTreeSet<&str> = text.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains("gdal") && crates.contains("proj"), "cargo tree listed {crates:?}");
    let found: Vec<&&str> = NETWORK_CRATES.iter().filter(|c| crates.contains(**c)).collect();
    assert!(found.is_empty(), "network crates in the dependency tree: {found:?}");
}

/// Dataset names that would make GDAL reach the network.
const NETWORK_SOURCES: &[&str] = &[
    "https://example.org/roads.geojson",
    "http://example.org/roads.gpkg#roads",
    "ftp://example.org/roads.shp",
    "/vsicurl/https://example.org/roads.gpkg",
    "/vsicurl_streaming/https://example.org/roads.geojson",
    "/vsis3/bucket/roads.gpkg",
    "/vsizip//vsicurl/https://example.org/roads.zip/roads.shp",
    "WFS:https://example.org/wfs#roads",
    "OAPIF:https://example.org/ogcapi",
    "GeoJSON:https://example.org/roads.geojson",
    "CARTO:account",
];

#[test]
fn every_command_refuses_network_sources() {
    let w = World::new();
    let out = w.path("o.geojson");
    let mut runs = 0;
    for cmd in Cmd::ALL {
        for &role in cmd.roles() {
            for src in NETWORK_SOURCES {
                let args = w.args(cmd, role, src, &out, &[]);
                let stderr = run_err(&args.iter().map(String::as_str).collect::<Vec<_>>(), 2, &["local files only"]);
                assert!(!stderr.contains("panicked"));
                runs += 1;
            }
        }
    }
    // `check` reads the same city files.
    let city = w.city_file(NETWORK_SOURCES[0], &w.good_path(Role::Road).display().to_string());
    run_err(&["check", &city], 2, &["local files only"]);
    assert!(!out.exists());
    assert!(runs >= 70, "{runs}");
}

/// A command writes beside its `-o` path and nowhere else.
#[test]
fn single_commands_write_only_beside_their_output() {
    let w = World::new();
    for cmd in [Cmd::RoadDensity, Cmd::ParkMix, Cmd::LivingCircle] {
        let dir = w.path(&format!("out_{}", cmd.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let before: Vec<_> = walk(w.dir.path());
        let good = w.good_path(Role::Area).display().to_string();
        let summary = dir.join("s.json").display().to_string();
        let args =
            w.args(cmd, Role::Area, &good, &dir.join("o.geojson"), &["--summary-json", &summary, "--grid", "500"]);
        let args: Vec<String> = if cmd == Cmd::RoadDensity {
            args
        } else {
            args.into_iter().filter(|a| a != "--grid" && a != "500").collect()
        };
        run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let new: Vec<_> = walk(w.dir.path()).into_iter().filter(|p| !before.contains(p)).collect();
        assert!(new.len() >= 2, "{new:?}");
        for p in new {
            assert!(p.starts_with(&dir), "{}: wrote {}", cmd.name(), p.display());
        }
    }
}
