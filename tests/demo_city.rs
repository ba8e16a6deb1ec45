//! The demo city, written to disk and read back with GDAL: names, fields, CRS, encoding,
//! determinism, and the planar design of road density and park mix.

use std::path::Path;

use gdal::vector::{FieldValue, LayerAccess, OGRFieldType};
use gdal::Dataset;
use geo::{
    Area, BooleanOps, BoundingRect, Centroid, Distance, Euclidean, Geometry, Intersects, Length, MultiLineString,
    MultiPolygon, Point, Polygon, Validation,
};
use planaudit::demo_city::{
    self, DemoOptions, AREA_DESIGNS, COUNTY_RED_LINE_CAP_M, FACILITY_TYPES, MOTORWAY_GRADE, PARK_DESIGNS,
    PARK_SHARE_BAND, UNKNOWN_FACILITY_TYPE, UNKNOWN_LAND_CODE, URBAN_ROAD_GRADES,
};

/// One feature read back: geometry and attributes by field order.
#[derive(Debug, Clone, PartialEq)]
struct Feat {
    geom: Geometry<f64>,
    attrs: Vec<Option<FieldValue>>,
}

struct Layer {
    fields: Vec<(String, OGRFieldType::Type)>,
    epsg: Option<i32>,
    features: Vec<Feat>,
}

impl Layer {
    fn idx(&self, name: &str) -> usize {
        self.fields.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no field {name}"))
    }

    fn str(&self, f: &Feat, name: &str) -> String {
        f.attrs[self.idx(name)].clone().and_then(FieldValue::into_string).unwrap_or_default()
    }

    fn int(&self, f: &Feat, name: &str) -> i64 {
        f.attrs[self.idx(name)].clone().and_then(FieldValue::into_int64).unwrap()
    }

    fn real(&self, f: &Feat, name: &str) -> f64 {
        f.attrs[self.idx(name)].clone().and_then(FieldValue::into_real).unwrap()
    }
}

fn read(path: &Path, layer_name: &str) -> Layer {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut layer = ds.layer_by_name(layer_name).unwrap();
    let fields = layer.defn().fields().map(|f| (f.name(), f.field_type())).collect();
    let epsg = layer.spatial_ref().and_then(|s| s.auth_code().ok());
    let features = layer
        .features()
        .map(|f| Feat { geom: f.geometry().unwrap().to_geo().unwrap(), attrs: f.fields().map(|(_, v)| v).collect() })
        .collect();
    Layer { fields, epsg, features }
}

struct City {
    areas: Layer,
    roads: Layer,
    landuse: Layer,
    parks: Layer,
    facilities: Layer,
}

fn read_city(dir: &Path) -> City {
    City {
        areas: read(&dir.join(demo_city::AREAS_FILE), demo_city::AREAS_LAYER),
        roads: read(&dir.join(demo_city::ROADS_FILE), demo_city::ROADS_LAYER),
        landuse: read(&dir.join(demo_city::LANDUSE_FILE), demo_city::LANDUSE_LAYER),
        parks: read(&dir.join(demo_city::LANDUSE_FILE), demo_city::PARKS_LAYER),
        facilities: read(&dir.join(demo_city::FACILITIES_FILE), demo_city::FACILITIES_LAYER),
    }
}

fn polygons(g: &Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
        Geometry::MultiPolygon(m) => m.clone(),
        other => panic!("not a polygon: {other:?}"),
    }
}

fn line(g: &Geometry<f64>) -> MultiLineString<f64> {
    match g {
        Geometry::LineString(l) => MultiLineString(vec![l.clone()]),
        Geometry::MultiLineString(m) => m.clone(),
        other => panic!("not a line: {other:?}"),
    }
}

fn clipped_length(area: &MultiPolygon<f64>, l: &MultiLineString<f64>) -> f64 {
    area.clip(l, false).0.iter().map(|ls| Euclidean.length(ls)).sum()
}

fn generate(dir: &Path, seed: u64) -> demo_city::DemoManifest {
    demo_city::generate(dir, &DemoOptions { seed }).unwrap()
}

#[test]
fn layers_fields_crs_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = generate(dir.path(), DemoOptions::default().seed);
    for p in [&manifest.areas, &manifest.roads, &manifest.landuse, &manifest.facilities] {
        assert!(p.exists(), "{} missing", p.display());
    }
    for ext in ["shx", "dbf", "prj", "cpg"] {
        assert!(manifest.areas.with_extension(ext).exists(), ".{ext} missing");
    }
    let city = read_city(dir.path());
    use OGRFieldType::{OFTInteger, OFTReal, OFTString};
    let expect = |layer: &Layer, fields: &[(&str, u32)], count: usize| {
        let got: Vec<(&str, u32)> = layer.fields.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        assert_eq!(got, fields);
        assert_eq!(layer.epsg, Some(4527));
        assert!(count > 0);
        assert_eq!(layer.features.len(), count);
    };
    let c = manifest.counts;
    expect(&city.areas, &[("id", OFTInteger), ("name", OFTString), ("kind", OFTString)], c.built_up_areas);
    expect(
        &city.roads,
        &[("road_id", OFTInteger), ("name", OFTString), ("grade", OFTString), ("width_m", OFTReal)],
        c.roads,
    );
    expect(&city.landuse, &[("parcel_id", OFTInteger), ("dlbm", OFTString), ("dlmc", OFTString)], c.parcels);
    expect(&city.parks, &[("park_id", OFTInteger), ("name", OFTString)], c.parks);
    expect(&city.facilities, &[("fac_id", OFTInteger), ("name", OFTString), ("type", OFTString)], c.facilities);
    assert_eq!(c.built_up_areas, 2);
    assert_eq!(c.parks, 2);

    let ds = Dataset::open(&manifest.landuse).unwrap();
    let mut names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    names.sort();
    assert_eq!(names, ["landuse", "parks"]);

    // Built-up areas: names and kinds as designed, read back through the .cpg.
    for (f, design) in city.areas.features.iter().zip(AREA_DESIGNS) {
        assert_eq!(city.areas.int(f, "id"), design.id);
        assert_eq!(city.areas.str(f, "name"), design.name);
        assert_eq!(city.areas.str(f, "kind"), design.kind);
    }
    for (f, design) in city.parks.features.iter().zip(PARK_DESIGNS) {
        assert_eq!(city.parks.int(f, "park_id"), design.park_id);
        assert_eq!(city.parks.str(f, "name"), design.name);
    }
    println!("counts: {c:?}");
}

#[test]
fn geometry_valid_and_in_zone_39() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 7);
    let city = read_city(dir.path());
    for layer in [&city.areas, &city.roads, &city.landuse, &city.parks, &city.facilities] {
        for f in &layer.features {
            if let Geometry::Polygon(_) | Geometry::MultiPolygon(_) = f.geom {
                assert!(f.geom.is_valid(), "invalid polygon: {:?}", f.attrs);
            }
            let r = f.geom.bounding_rect().unwrap();
            // Easting first, with the zone prefix 39; northing around 31.4–31.8°N.
            assert!(r.min().x > 39_400_000.0 && r.max().x < 39_500_000.0, "{r:?}");
            assert!(r.min().y > 3_450_000.0 && r.max().y < 3_550_000.0, "{r:?}");
        }
    }
    let (central, county) = (&city.areas.features[0].geom, &city.areas.features[1].geom);
    let centre = |g: &Geometry<f64>| g.centroid().unwrap();
    // Central city near E 39 452 625 N 3 514 240, county town near E 39 435 329 N 3 475 523.
    assert!(Euclidean.distance(centre(central), Point::new(39_452_625.0, 3_514_240.0)) < 1500.0);
    assert!(Euclidean.distance(centre(county), Point::new(39_435_329.0, 3_475_523.0)) < 1500.0);
    // Not rectangles: more than four corners.
    for a in [central, county] {
        assert!(polygons(a).0[0].exterior().0.len() > 12);
    }
}

#[test]
fn shapefile_dbf_is_gbk_with_cpg() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = generate(dir.path(), 1);
    let cpg = std::fs::read_to_string(manifest.areas.with_extension("cpg")).unwrap();
    assert_eq!(cpg.trim(), demo_city::AREAS_ENCODING);
    let dbf = std::fs::read(manifest.areas.with_extension("dbf")).unwrap();
    let has = |needle: &[u8]| dbf.windows(needle.len()).any(|w| w == needle);
    // 中心城区 in GBK.
    assert!(has(&[0xd6, 0xd0, 0xd0, 0xc4, 0xb3, 0xc7, 0xc7, 0xf8]));
    // 县城 in GBK: CF D8 B3 C7.
    assert!(has(&[0xcf, 0xd8, 0xb3, 0xc7]));
    assert!(!has("中心城区".as_bytes()), "UTF-8 text in the .dbf");
}

#[test]
fn same_seed_same_city() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ma, mb) = (generate(a.path(), 42), generate(b.path(), 42));
    assert_eq!(ma.counts, mb.counts);
    let (ca, cb) = (read_city(a.path()), read_city(b.path()));
    for (la, lb) in [
        (&ca.areas, &cb.areas),
        (&ca.roads, &cb.roads),
        (&ca.landuse, &cb.landuse),
        (&ca.parks, &cb.parks),
        (&ca.facilities, &cb.facilities),
    ] {
        assert_eq!(la.features, lb.features);
    }
    // Another seed moves things.
    generate(c.path(), 43);
    let cc = read_city(c.path());
    assert_ne!(ca.roads.features, cc.roads.features);
    // Regenerating into the same directory replaces the outputs.
    let again = generate(a.path(), 43);
    assert_eq!(again.counts.parcels, read_city(a.path()).landuse.features.len());
    assert_eq!(read_city(a.path()).landuse.features, cc.landuse.features);
}

/// Measures the design with planar geometry for a few seeds.
#[test]
fn planar_design_holds() {
    for seed in [DemoOptions::default().seed, 1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), seed);
        let city = read_city(dir.path());
        check_density(&city, seed);
        check_parks(&city, seed);
        check_facilities(&city, seed);
    }
}

fn check_density(city: &City, seed: u64) {
    for (f, design) in city.areas.features.iter().zip(AREA_DESIGNS) {
        let area = polygons(&f.geom);
        let km2 = area.unsigned_area() / 1e6;
        let mut urban_km = 0.0;
        let mut motorway_km = 0.0;
        let mut widths = Vec::new();
        for r in &city.roads.features {
            let l = line(&r.geom);
            let grade = city.roads.str(r, "grade");
            let km = clipped_length(&area, &l) / 1e3;
            if URBAN_ROAD_GRADES.contains(&grade.as_str()) {
                urban_km += km;
                if grade == "主干路" && km > 0.0 {
                    widths.push(city.roads.real(r, "width_m"));
                }
            } else {
                assert_eq!(grade, MOTORWAY_GRADE);
                motorway_km += km;
            }
        }
        let density = urban_km / km2;
        println!(
            "seed {seed}: {} area {km2:.3} km², urban roads {urban_km:.2} km, density {density:.3} \
             km/km² (target {}), motorway {motorway_km:.2} km",
            design.name, design.target_density
        );
        assert!(motorway_km > 1.0, "the motorway crosses {}", design.name);
        let (lo, hi) = design.design_density;
        assert!(lo <= density && density <= hi, "{}: {density}", design.name);
        if design.meets_target {
            assert!(density >= design.target_density * 1.05, "{}: {density}", design.name);
        } else {
            assert!(density <= design.target_density * 0.9, "{}: {density}", design.name);
            // County-town arterials: some over the red-line cap, some within it.
            assert!(widths.iter().any(|w| *w > COUNTY_RED_LINE_CAP_M), "{widths:?}");
            assert!(widths.iter().any(|w| *w <= COUNTY_RED_LINE_CAP_M), "{widths:?}");
        }
    }
}

fn class_of(code: &str) -> Option<demo_city::LandClass> {
    demo_city::land_code(code).map(|c| c.class)
}

fn check_parks(city: &City, seed: u64) {
    for (f, design) in city.parks.features.iter().zip(PARK_DESIGNS) {
        let park = polygons(&f.geom);
        assert_eq!(!park.0[0].interiors().is_empty(), design.has_hole);
        let park_area = park.unsigned_area();
        let park_rect = park.bounding_rect().unwrap();
        let mut living = 0.0;
        for p in &city.landuse.features {
            let code = city.landuse.str(p, "dlbm");
            if !class_of(&code).is_some_and(|c| c.is_living_or_service()) {
                continue;
            }
            let parcel = polygons(&p.geom);
            if !parcel.bounding_rect().unwrap().intersects(&park_rect) {
                continue;
            }
            living += parcel.intersection(&park).unsigned_area();
        }
        let share = living / park_area;
        println!("seed {seed}: {} area {:.3} km², living/service share {share:.4}", design.name, park_area / 1e6);
        assert!((share - design.design_share).abs() <= design.tolerance, "{}: {share}", design.name);
        let within = PARK_SHARE_BAND.0 <= share && share <= PARK_SHARE_BAND.1;
        assert_eq!(within, design.within_band, "{}: {share}", design.name);
    }
}

fn check_facilities(city: &City, seed: u64) {
    let fac: Vec<(String, Point<f64>)> = city
        .facilities
        .features
        .iter()
        .map(|f| {
            let Geometry::Point(p) = f.geom else { panic!("not a point") };
            (city.facilities.str(f, "type"), p)
        })
        .collect();
    for ty in FACILITY_TYPES.iter().map(|t| t.name).chain([UNKNOWN_FACILITY_TYPE]) {
        assert!(fac.iter().any(|(t, _)| t == ty), "no {ty}");
    }
    // Residential parcels inside the built-up areas.
    let areas: Vec<MultiPolygon<f64>> = city.areas.features.iter().map(|f| polygons(&f.geom)).collect();
    let homes: Vec<Point<f64>> = city
        .landuse
        .features
        .iter()
        .filter(|p| class_of(&city.landuse.str(p, "dlbm")) == Some(demo_city::LandClass::Residential))
        .map(|p| polygons(&p.geom).centroid().unwrap())
        .filter(|c| areas.iter().any(|a| a.intersects(c)))
        .collect();
    // Every type reaches many homes in a straight line; the 300 m types leave some uncovered, so
    // the living circle has gaps to show.
    let mut uncovered_somewhere = false;
    for ty in &FACILITY_TYPES {
        let covered = homes
            .iter()
            .filter(|h| fac.iter().any(|(t, p)| t == ty.name && Euclidean.distance(**h, *p) <= ty.radius_m))
            .count();
        let share = covered as f64 / homes.len() as f64;
        println!("seed {seed}: {} within {} m of {:.3} of homes", ty.name, ty.radius_m, share);
        assert!((0.3..=1.0).contains(&share), "{}: {share}", ty.name);
        uncovered_somewhere |= share < 1.0;
    }
    assert!(uncovered_somewhere, "seed {seed}: every home covered by every type");
}

#[test]
fn parcels_tile_with_one_deliberate_overlap() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), DemoOptions::default().seed);
    let city = read_city(dir.path());
    let parcels: Vec<(i64, String, Polygon<f64>)> = city
        .landuse
        .features
        .iter()
        .map(|f| {
            let Geometry::Polygon(p) = &f.geom else { panic!("not a polygon") };
            (city.landuse.int(f, "parcel_id"), city.landuse.str(f, "dlbm"), p.clone())
        })
        .collect();
    let rects: Vec<_> = parcels.iter().map(|p| p.2.bounding_rect().unwrap()).collect();
    let mut overlaps = Vec::new();
    for a in 0..parcels.len() {
        for b in a + 1..parcels.len() {
            let (ra, rb) = (rects[a], rects[b]);
            let w = ra.max().x.min(rb.max().x) - ra.min().x.max(rb.min().x);
            let h = ra.max().y.min(rb.max().y) - ra.min().y.max(rb.min().y);
            if w <= 0.0 || h <= 0.0 {
                continue;
            }
            let shared = parcels[a].2.intersection(&parcels[b].2).unsigned_area();
            if shared > 0.01 {
                overlaps.push((parcels[a].0, parcels[b].0, shared));
            }
        }
    }
    println!("overlaps: {overlaps:?}");
    assert_eq!(overlaps.len(), 1, "{overlaps:?}");
    let (a, b, _) = overlaps[0];
    let park1 = polygons(&city.parks.features[0].geom);
    for id in [a, b] {
        let (_, code, poly) = parcels.iter().find(|p| p.0 == id).unwrap();
        assert_eq!(class_of(code), Some(demo_city::LandClass::Industrial));
        assert!(park1.intersection(poly).unsigned_area() > 0.99 * poly.unsigned_area());
    }
    // Unknown code present exactly once; every other code known.
    let unknown = parcels.iter().filter(|p| p.1 == UNKNOWN_LAND_CODE).count();
    assert_eq!(unknown, 1);
    assert!(parcels.iter().all(|p| p.1 == UNKNOWN_LAND_CODE || class_of(&p.1).is_some()));
}

/// `planaudit generate` at a small scale: counts in proportion to the city size, valid polygons,
/// EPSG:4527 everywhere, the same bytes for the same seed, and a city.toml that audits.
#[test]
fn scale_generator_small_city() {
    let dir = tempfile::tempdir().unwrap();
    let gen = |out: &Path| {
        crate::common::run_ok(&["generate", "--size", "city", "--scale", "0.05", "-o", out.to_str().unwrap()])
    };
    let out = dir.path().join("a");
    gen(&out);
    let city = read_city(&out);
    // 0.05 × city: 5 towns, 1 built-up area, 1 park, and parcels, road segments and facilities in
    // the proportions of the full size (100,000 : 60,000 : 5,000).
    const TOWNS: usize = 5;
    assert_eq!(city.areas.features.len(), 1);
    assert_eq!(city.parks.features.len(), 1);
    let parcels = city.landuse.features.len();
    assert!((4_500..6_000).contains(&parcels), "{parcels} parcels");
    let roads = city.roads.features.len();
    assert!((2_700..3_600).contains(&roads), "{roads} road segments");
    let ratio = parcels as f64 / roads as f64;
    assert!((1.45..1.9).contains(&ratio), "parcels / road segments {ratio}");
    let facilities = city.facilities.features.len();
    assert!((215..285).contains(&facilities), "{facilities} facilities (aim 250)");
    // The CRS as GDAL reads it back.
    for layer in [&city.areas, &city.roads, &city.landuse, &city.parks, &city.facilities] {
        assert_eq!(layer.epsg, Some(4527));
    }
    for f in city.areas.features.iter().chain(&city.landuse.features).chain(&city.parks.features) {
        for p in polygons(&f.geom) {
            assert!(p.is_valid(), "{:?}", p.validation_errors());
            assert!(p.unsigned_area() > 1.0);
        }
    }
    for f in &city.roads.features {
        let l = line(&f.geom);
        assert_eq!(l.0.len(), 1);
        assert_eq!(l.0[0].0.len(), 2, "one segment per feature");
        assert!(Euclidean.length(&l) > 0.5);
    }
    // Ids are unique and dense.
    let mut ids: Vec<i64> = city.roads.features.iter().map(|f| city.roads.int(f, "road_id")).collect();
    ids.sort_unstable();
    assert!(ids.iter().enumerate().all(|(k, id)| *id == k as i64 + 1));

    // Rivers: 1701 parcels, one river a town, each crossing its town (several kilometres long).
    let rivers: Vec<MultiPolygon<f64>> = city
        .landuse
        .features
        .iter()
        .filter(|f| city.landuse.str(f, "dlbm") == demo_city::RIVER_LAND_CODE)
        .map(|f| polygons(&f.geom))
        .collect();
    assert!(rivers.len() > 20 * TOWNS, "{} river parcels", rivers.len());
    let river = geo::unary_union(rivers.iter().flat_map(|m| m.0.iter()));
    let long: Vec<f64> = river
        .0
        .iter()
        .map(|p| {
            let r = p.bounding_rect().unwrap();
            r.width().max(r.height())
        })
        .filter(|&extent| extent > 1_500.0)
        .collect();
    assert_eq!(long.len(), TOWNS, "rivers longer than 1.5 km: {long:?} of {} pieces", river.0.len());
    assert!(city.landuse.features.iter().any(|f| ["1704", "1104"].contains(&city.landuse.str(f, "dlbm").as_str())));
    // Roads stop at the rivers except on a few bridges, all on arterial lines (or the motorway).
    let mut bridges = 0;
    for f in &city.roads.features {
        let l = line(&f.geom);
        let b = l.bounding_rect().unwrap();
        let inside: f64 = rivers
            .iter()
            .filter(|r| r.bounding_rect().is_some_and(|rb| rb.intersects(&b)))
            .map(|r| clipped_length(r, &l))
            .sum();
        if inside > 1.0 {
            let grade = city.roads.str(f, "grade");
            assert!(["快速路", "主干路", MOTORWAY_GRADE].contains(&grade.as_str()), "{grade} crosses a river");
            bridges += 1;
        }
    }
    assert!((TOWNS..=10 * TOWNS).contains(&bridges), "{bridges} road segments on bridges");
    // Dead ends: road ends shared by no other segment, inside the built-up area, other than the
    // dead-end lanes (巷): culs-de-sac where street segments were removed.
    let key = |c: geo::Coord<f64>| ((c.x * 1000.0).round() as i64, (c.y * 1000.0).round() as i64);
    let mut degree: std::collections::HashMap<(i64, i64), usize> = Default::default();
    for f in &city.roads.features {
        for c in &line(&f.geom).0[0].0 {
            *degree.entry(key(*c)).or_default() += 1;
        }
    }
    let area = polygons(&city.areas.features[0].geom);
    let mut culs_de_sac = 0;
    for f in &city.roads.features {
        if city.roads.str(f, "name").ends_with('巷') || city.roads.str(f, "grade") == MOTORWAY_GRADE {
            continue;
        }
        for c in &line(&f.geom).0[0].0 {
            if degree[&key(*c)] == 1 && area.intersects(&Point::from(*c)) {
                culs_de_sac += 1;
            }
        }
    }
    assert!(culs_de_sac >= 3, "{culs_de_sac} culs-de-sac");
    // Every facility type, in the town of the built-up area too.
    for ty in FACILITY_TYPES.iter().map(|t| t.name) {
        let of_type: Vec<&Feat> =
            city.facilities.features.iter().filter(|f| city.facilities.str(f, "type") == ty).collect();
        assert!(of_type.len() >= TOWNS, "{} × {ty}", of_type.len());
        assert!(of_type.iter().any(|f| area.intersects(&f.geom)), "no {ty} in the built-up area");
    }

    // Deterministic: the same seed gives the same features.
    let again = dir.path().join("b");
    gen(&again);
    let city2 = read_city(&again);
    assert_eq!(city.landuse.features, city2.landuse.features);
    assert_eq!(city.roads.features, city2.roads.features);
    assert_eq!(city.facilities.features, city2.facilities.features);
    // The written city file audits, with a partial 15-minute living-circle coverage.
    let audit_out = dir.path().join("out");
    crate::common::run_ok(&["audit", out.join("city.toml").to_str().unwrap(), "-o", audit_out.to_str().unwrap()]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(audit_out.join("summary.json")).unwrap()).unwrap();
    let tiers = summary["indicators"]["living_circle"]["coverage"]["tiers"].as_array().unwrap();
    let tier15 = tiers.iter().find(|t| t["tier"] == "within_15min").unwrap();
    for share in ["share_by_count", "share_by_area"] {
        let v = tier15[share].as_f64().unwrap();
        assert!(0.15 < v && v < 0.9, "15-minute coverage {share} {v}");
    }
}
