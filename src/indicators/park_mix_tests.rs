use super::*;
use crate::normalise::classes::ClassTable;
use crate::normalise::crs::Method;
use geo::{Area as _, Contains, LineString};
use Category::*;

const X0: f64 = 39_480_000.0;
const Y0: f64 = 3_515_000.0;
const TOL: f64 = 1e-9;

fn planar() -> Frame {
    Frame::new("EPSG:4527", Method::Planar).unwrap()
}

/// A rectangle in metres from (X0, Y0).
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    Polygon::new(
        LineString::from(vec![(X0 + x0, Y0 + y0), (X0 + x1, Y0 + y0), (X0 + x1, Y0 + y1), (X0 + x0, Y0 + y1)]),
        vec![],
    )
}

fn park(id: &str, polys: Vec<Polygon<f64>>) -> Area {
    Area { id: id.into(), fid: 0, name: Some(format!("park {id}")), kind: None, polygon: MultiPolygon(polys) }
}

fn parcel(table: &ClassTable, fid: u64, code: &str, p: Polygon<f64>) -> Parcel {
    let c = table.classify([("dlbm", Some(code))]);
    Parcel { fid, code: c.code, category: c.category, polygon: MultiPolygon(vec![p]) }
}

/// Park A: 1 km² with a 200 m square hole (0.96 km²); park B: two 500 m squares (0.5 km²);
/// park C: 200 m square wholly residential.
fn fixture() -> (Vec<Area>, Vec<Parcel>) {
    let t = ClassTable::load("tdt2023").unwrap();
    let mut a = rect(0.0, 0.0, 1000.0, 1000.0);
    a.interiors_push(rect(600.0, 600.0, 800.0, 800.0).exterior().clone());
    let parks = vec![
        park("A", vec![a]),
        park("B", vec![rect(2000.0, 0.0, 2500.0, 500.0), rect(3000.0, 0.0, 3500.0, 500.0)]),
        park("C", vec![rect(5000.0, 0.0, 5200.0, 200.0)]),
    ];
    let parcels = vec![
        // A: fully inside, 0.04.
        parcel(&t, 1, "070101", rect(100.0, 100.0, 300.0, 300.0)),
        // A: half outside, 0.01 inside.
        parcel(&t, 2, "0901", rect(900.0, 100.0, 1100.0, 200.0)),
        // A: two overlapping, of two mix categories: 0.04 + 0.04, union 0.06.
        parcel(&t, 3, "0702", rect(100.0, 400.0, 300.0, 600.0)),
        parcel(&t, 4, "0804", rect(200.0, 400.0, 400.0, 600.0)),
        // A: over the hole: 0.16 − 0.04 = 0.12.
        parcel(&t, 5, "070102", rect(500.0, 500.0, 900.0, 900.0)),
        // A: inside parcel 1, same category: 0.01 of overlap.
        parcel(&t, 6, "0701", rect(150.0, 150.0, 250.0, 250.0)),
        // A: an unknown code, 0.01.
        parcel(&t, 7, "9999", rect(400.0, 100.0, 500.0, 200.0)),
        // A: water, 0.03.
        parcel(&t, 8, "1701", rect(700.0, 0.0, 1000.0, 100.0)),
        // A: industrial strip, 0.1.
        parcel(&t, 9, "100101", rect(0.0, 900.0, 1000.0, 1000.0)),
        // B: spans both parts and the gap between them: 0.01 + 0.01.
        parcel(&t, 10, "0901", rect(2400.0, 0.0, 3100.0, 100.0)),
        // B: 0.05.
        parcel(&t, 11, "0801", rect(3000.0, 400.0, 3500.0, 500.0)),
        // C: covers it and more.
        parcel(&t, 12, "07", rect(4900.0, -100.0, 5300.0, 300.0)),
        // Outside every park; touches A only along its edge.
        parcel(&t, 13, "0701", rect(-200.0, 0.0, 0.0, 1000.0)),
    ];
    (parks, parcels)
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < TOL, "{what}: {a} vs {b}");
}

#[test]
fn hand_computed_parks() {
    let (parks, parcels) = fixture();
    let r = compute(&parks, &parcels, &planar(), &Params::default()).unwrap();
    assert_eq!(r.parks.len(), 3);

    let a = &r.parks[0];
    close(a.park_area_km2, 0.96, "A area");
    close(a.by_category[&Residential], 0.04 + 0.12, "A residential");
    close(a.by_category[&CommunityService], 0.04, "A community service");
    close(a.by_category[&PublicService], 0.04, "A public service");
    close(a.by_category[&Commercial], 0.01, "A commercial");
    close(a.by_category[&Water], 0.03, "A water");
    close(a.by_category[&Industrial], 0.1, "A industrial");
    close(a.by_category[&Green], 0.0, "A green");
    assert_eq!(a.by_category.len(), 12);
    close(a.mix_area_km2, 0.16 + 0.06 + 0.01, "A mix");
    close(a.mix_share, 0.23 / 0.96, "A share");
    close(a.construction_land_km2, 0.93, "A construction land");
    close(a.mix_share_of_construction_land.unwrap(), 0.23 / 0.93, "A share of construction land");
    close(a.unclassified_km2, 0.01, "A unclassified");
    assert_eq!(a.unknown_codes.len(), 1);
    close(a.unknown_codes["9999"], 0.01, "A 9999");
    // 0.01 (parcel 6 inside 1) + 0.02 (parcels 3 and 4).
    close(a.overlap_km2, 0.03, "A overlap");
    close(a.mix_overlap_km2, 0.03, "A mix overlap");
    assert_eq!(a.status, Status::Within);

    let b = &r.parks[1];
    close(b.park_area_km2, 0.5, "B area");
    close(b.mix_area_km2, 0.07, "B mix");
    close(b.by_category[&Commercial], 0.02, "B commercial");
    assert_eq!(b.status, Status::Below);
    close(b.overlap_km2, 0.0, "B overlap");

    let c = &r.parks[2];
    close(c.mix_share, 1.0, "C share");
    assert_eq!(c.status, Status::Above);

    // Pieces: the mix parcels clipped, one per parcel and park; parcel 13 only touches A.
    let fids: Vec<(&str, u64)> = r.pieces.iter().map(|p| (p.park_id.as_str(), p.parcel_fid)).collect();
    assert_eq!(fids, [("A", 1), ("A", 2), ("A", 3), ("A", 4), ("A", 5), ("A", 6), ("B", 10), ("B", 11), ("C", 12)]);
    let p2 = r.pieces.iter().find(|p| p.parcel_fid == 2).unwrap();
    close(p2.area_km2, 0.01, "piece of parcel 2");
    assert_eq!(p2.category, Commercial);
    assert_eq!(p2.code, "0901");
    let p10 = r.pieces.iter().find(|p| p.parcel_fid == 10).unwrap();
    assert_eq!(p10.polygon.0.len(), 2, "clipped to both parts of B");
}

#[test]
fn mix_and_band_from_params() {
    let (parks, parcels) = fixture();
    let params = Params { mix: vec![Residential], band_min: 0.0, band_max: 0.1 };
    let r = compute(&parks, &parcels, &planar(), &params).unwrap();
    close(r.parks[0].mix_area_km2, 0.16, "residential only");
    close(r.parks[0].mix_overlap_km2, 0.01, "parcel 6 inside parcel 1");
    assert_eq!(r.parks[0].status, Status::Above);
    assert_eq!(r.parks[1].status, Status::Within, "B has no residential land: 0 is inside [0, 0.1]");
    assert!(r.pieces.iter().all(|p| p.category == Residential));
}

#[test]
fn ellipsoidal_areas_keep_the_shares() {
    let (parks, parcels) = fixture();
    let ellipsoidal = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let e = compute(&parks, &parcels, &ellipsoidal, &Params::default()).unwrap();
    let p = compute(&parks, &parcels, &planar(), &Params::default()).unwrap();
    for (a, b) in e.parks.iter().zip(&p.parks) {
        // 20 km west of the central meridian the Gauss–Krüger area factor is about 1 + 1e-5.
        assert!((a.park_area_km2 / b.park_area_km2 - 1.0).abs() < 1e-4);
        assert!(a.park_area_km2 != b.park_area_km2, "ellipsoidal areas differ from planar ones");
        assert!((a.mix_share - b.mix_share).abs() < 1e-6, "{} {}", a.mix_share, b.mix_share);
    }
}

/// Parks that are all farmland, with homes on the farmland: no construction land, so no share
/// of it, whatever the rounding of the farmland's clipped area against the park's (which left a
/// remainder of some 1e-14 km² and shares of construction land in the billions).
#[test]
fn no_share_of_construction_land_a_park_lacks() {
    let t = ClassTable::load("tdt2023").unwrap();
    let ellipsoidal = Frame::new("EPSG:4527", Method::Ellipsoidal).unwrap();
    let mut next = crate::testing::uniform(0x5eed_00c1);
    let (mut parks, mut parcels) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let (x, y) = (i as f64 * 300.0, 0.0);
        let mut j = |r: f64| r + next() * 37.3;
        let quad = Polygon::new(
            LineString::from(vec![
                (X0 + x + j(0.0), Y0 + y + j(0.0)),
                (X0 + x + j(150.0), Y0 + y + j(0.0)),
                (X0 + x + j(150.0), Y0 + y + j(150.0)),
                (X0 + x + j(0.0), Y0 + y + j(150.0)),
            ]),
            vec![],
        );
        parks.push(park(&format!("P{i}"), vec![quad]));
        parcels.push(parcel(&t, 2 * i, "0101", rect(x - 50.0, y - 50.0, x + 250.0, y + 250.0)));
        parcels.push(parcel(&t, 2 * i + 1, "0701", rect(x + 40.0, y + 40.0, x + 90.0, y + 90.0)));
    }
    // Large parks far from the central meridian, covered by strips of farmland: each strip's
    // boundary adds vertices on the park's long, slightly slanted edges, and the geodesic edges
    // between them measure up to a few m² apart from the park's own.
    for (i, (east_m, side_m, strips)) in
        [(-100_000.0, 6000.0, 7), (-120_000.0, 8000.0, 9), (0.0, 3000.0, 5)].into_iter().enumerate()
    {
        let h = side_m * 0.8;
        let quad = Polygon::new(
            LineString::from(vec![
                (X0 + east_m, Y0),
                (X0 + east_m + side_m, Y0 + 0.3),
                (X0 + east_m + side_m + 7.3, Y0 + h),
                (X0 + east_m + 3.1, Y0 + h + 0.2),
            ]),
            vec![],
        );
        parks.push(park(&format!("L{i}"), vec![quad]));
        let step = h / strips as f64;
        for k in 0..strips {
            let y0 = if k == 0 { -10.0 } else { k as f64 * step };
            let y1 = if k + 1 == strips { h + 10.0 } else { (k + 1) as f64 * step };
            let tilt = |last: bool| if last { 0.0 } else { 0.37 };
            let strip = Polygon::new(
                LineString::from(vec![
                    (X0 + east_m - 10.0, Y0 + y0),
                    (X0 + east_m + side_m + 20.0, Y0 + y0 + tilt(k == 0)),
                    (X0 + east_m + side_m + 20.0, Y0 + y1 + tilt(k + 1 == strips)),
                    (X0 + east_m - 10.0, Y0 + y1),
                ]),
                vec![],
            );
            parcels.push(parcel(&t, 1000 + 100 * i as u64 + k as u64, "0101", strip));
        }
        parcels.push(parcel(&t, 2000 + i as u64, "0701", rect(east_m + 40.0, 40.0, east_m + 90.0, 90.0)));
    }
    let got = compute(&parks, &parcels, &ellipsoidal, &Params::default()).unwrap();
    for p in &got.parks {
        assert!(p.mix_share > 0.0, "{}: homes on the farmland", p.park_id);
        assert!(p.construction_land_km2 < 1e-5, "{}: {}", p.park_id, p.construction_land_km2);
        assert_eq!(p.mix_share_of_construction_land, None, "{}: {:?}", p.park_id, p.mix_share_of_construction_land);
    }
}

/// Seeded random axis-parallel parcels in a park with a hole, checked against an exact brute-force
/// union by coordinate compression.
#[test]
fn random_rectangles_against_brute_force() {
    let mut xorshift = crate::testing::xorshift(0x2545f4914f6cdd1d);
    let mut next = |n: u64| (xorshift() % n) as f64;
    let t = ClassTable::load("tdt2023").unwrap();
    let codes = ["0701", "0702", "0801", "0901", "1001", "1701", "9999"];
    let mut rects = Vec::new();
    let mut parcels = Vec::new();
    for fid in 0..150u64 {
        let (x, y) = (next(1100) - 50.0, next(1100) - 50.0);
        let (w, h) = (10.0 + next(150), 10.0 + next(150));
        let code = codes[next(codes.len() as u64) as usize];
        rects.push((x, y, x + w, y + h, t.classify([("dlbm", Some(code))]).category));
        parcels.push(parcel(&t, fid, code, rect(x, y, x + w, y + h)));
    }
    let mut a = rect(0.0, 0.0, 1000.0, 1000.0);
    a.interiors_push(rect(300.0, 300.0, 500.0, 700.0).exterior().clone());
    let parks = vec![park("A", vec![a])];
    let r = compute(&parks, &parcels, &planar(), &Params::default()).unwrap();
    let got = &r.parks[0];

    // Brute force on the grid of all rectangle edges: a cell is mix land when its centre is in the
    // park and in some mix parcel.
    let mut xs: Vec<f64> = vec![0.0, 1000.0, 300.0, 500.0];
    let mut ys: Vec<f64> = vec![0.0, 1000.0, 300.0, 700.0];
    for &(x0, y0, x1, y1, _) in &rects {
        xs.extend([x0, x1]);
        ys.extend([y0, y1]);
    }
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    let in_park = |x: f64, y: f64| {
        (0.0..1000.0).contains(&x)
            && (0.0..1000.0).contains(&y)
            && !((300.0..500.0).contains(&x) && (300.0..700.0).contains(&y))
    };
    let (mut mix_m2, mut any_m2, mut sum_m2) = (0.0, 0.0, 0.0);
    for wx in xs.windows(2) {
        for wy in ys.windows(2) {
            let (cx, cy) = ((wx[0] + wx[1]) / 2.0, (wy[0] + wy[1]) / 2.0);
            if !in_park(cx, cy) {
                continue;
            }
            let cell = (wx[1] - wx[0]) * (wy[1] - wy[0]);
            let covering: Vec<_> =
                rects.iter().filter(|r| (r.0..r.2).contains(&cx) && (r.1..r.3).contains(&cy)).collect();
            if covering.iter().any(|r| r.4.is_some_and(|c| Category::DEFAULT_MIX.contains(&c))) {
                mix_m2 += cell;
            }
            if !covering.is_empty() {
                any_m2 += cell;
            }
            sum_m2 += cell * covering.len() as f64;
        }
    }
    assert!(mix_m2 > 1e5, "the fixture puts real mix land in the park: {mix_m2}");
    assert!((got.mix_area_km2 - mix_m2 / 1e6).abs() < 1e-8, "mix {} vs brute force {}", got.mix_area_km2, mix_m2 / 1e6);
    let overlap = (sum_m2 - any_m2) / 1e6;
    assert!(overlap > 0.01, "the fixture has overlaps: {overlap}");
    assert!((got.overlap_km2 - overlap).abs() < 1e-8, "overlap {} vs brute force {overlap}", got.overlap_km2);
}

#[test]
fn zero_area_park_is_an_error_naming_it() {
    let p = park("Z", vec![rect(0.0, 0.0, 100.0, 0.0)]);
    let e = compute(&[p], &[], &planar(), &Params::default()).unwrap_err();
    assert!(e.to_string().contains("park Z"), "{e}");
}

fn industrial(fid: u64, p: Polygon<f64>) -> Parcel {
    Parcel { fid, code: "1001".into(), category: Some(Industrial), polygon: MultiPolygon(vec![p]) }
}

#[test]
fn derived_parks_merge_near_parcels_only() {
    let parcels = vec![
        industrial(1, rect(0.0, 0.0, 100.0, 100.0)),
        // 30 m east of 1.
        industrial(2, rect(130.0, 0.0, 230.0, 100.0)),
        // 80 m east of 2: apart with a 50 m gap.
        industrial(3, rect(310.0, 0.0, 410.0, 100.0)),
        // Touches 3.
        industrial(4, rect(410.0, 0.0, 510.0, 100.0)),
        // Not industrial: ignored, even where it bridges.
        Parcel {
            fid: 5,
            code: "0701".into(),
            category: Some(Residential),
            polygon: MultiPolygon(vec![rect(230.0, 0.0, 310.0, 100.0)]),
        },
    ];
    let parks = derive_parks(&parcels, Industrial, 50.0);
    assert_eq!(parks.len(), 2);
    assert_eq!((parks[0].area.id.as_str(), parks[0].area.fid, parks[0].parcels), ("1", 1, 2));
    assert_eq!((parks[1].area.id.as_str(), parks[1].area.fid, parks[1].parcels), ("2", 3, 2));
    let first = &parks[0].area.polygon;
    assert_eq!(first.0.len(), 1, "the 30 m gap is bridged");
    for p in &parcels[..2] {
        assert!(first.contains(&p.polygon), "park contains parcel {}", p.fid);
    }
    // The closing fills most of the 30 m × 100 m strip between the parcels, and nothing outside
    // their joint box.
    let a = first.unsigned_area();
    assert!(a > 20_000.0 + 2_000.0 && a <= 23_000.0 + 1e-6, "area {a}");
    // Touching parcels form one polygon of exactly their union (their joint box).
    assert!((parks[1].area.polygon.unsigned_area() - 20_000.0).abs() < 1.0);

    // With a 100 m gap all four are one park.
    assert_eq!(derive_parks(&parcels, Industrial, 100.0).len(), 1);
    // Another category derives nothing here but its own parcel.
    assert_eq!(derive_parks(&parcels, Residential, 50.0).len(), 1);
}

/// Four industrial strips, fids 1 to 4, `width_m` wide, around the square courtyard of a `side_m`
/// square at the origin.
fn industrial_ring(side_m: f64, width_m: f64) -> Vec<Parcel> {
    let (w, s) = (width_m, side_m);
    vec![
        industrial(1, rect(0.0, 0.0, s, w)),
        industrial(2, rect(0.0, s - w, s, s)),
        industrial(3, rect(0.0, w, w, s - w)),
        industrial(4, rect(s - w, w, s, s - w)),
    ]
}

#[test]
fn derived_park_encloses_what_it_surrounds() {
    // A ring of four industrial strips around a 200 m residential square.
    let mut parcels = industrial_ring(400.0, 100.0);
    let t = ClassTable::load("tdt2023").unwrap();
    parcels.push(parcel(&t, 5, "0701", rect(100.0, 100.0, 300.0, 300.0)));
    let parks = derive_parks(&parcels, Industrial, 50.0);
    assert_eq!(parks.len(), 1);
    assert!(parks[0].area.polygon.0.iter().all(|p| p.interiors().is_empty()), "holes are filled");
    let areas: Vec<Area> = parks.into_iter().map(|d| d.area).collect();
    let r = compute(&areas, &parcels, &planar(), &Params::default()).unwrap();
    close(r.parks[0].park_area_km2, 0.16, "the ring's outline");
    close(r.parks[0].mix_share, 0.25, "the enclosed housing counts");
}

#[test]
fn parcels_in_the_enclosed_land_of_a_park_join_it() {
    // A ring of industrial strips around a 600 m courtyard, an industrial block in the middle of
    // the courtyard, far beyond the gap from the ring.
    let mut parcels = industrial_ring(1000.0, 200.0);
    parcels.push(industrial(5, rect(400.0, 400.0, 600.0, 600.0)));
    let parks = derive_parks(&parcels, Industrial, 50.0);
    assert_eq!(parks.len(), 1, "one park, not the block again");
    assert_eq!((parks[0].area.fid, parks[0].parcels), (1, 5));
    assert!((parks[0].area.polygon.unsigned_area() - 1_000_000.0).abs() < 1e-3);
    // A block outside the ring stays a park of its own, numbered by its smallest fid.
    parcels.insert(0, industrial(0, rect(2000.0, 0.0, 2100.0, 100.0)));
    let parks = derive_parks(&parcels, Industrial, 50.0);
    let summary: Vec<(&str, u64, usize)> = parks.iter().map(|p| (p.area.id.as_str(), p.area.fid, p.parcels)).collect();
    assert_eq!(summary, [("1", 0, 1), ("2", 1, 5)]);
}

/// A clip's zero-width spikes go (a tip out and back, one that comes back to another point of its
/// line, one across the ring's seam); a sliver wider than the tolerance stays; a ring of spikes
/// alone goes with its polygon.
#[test]
fn spikes_go_and_slivers_stay() {
    let ring = |pts: &[(f64, f64)]| LineString::from(pts.iter().map(|&(x, y)| (X0 + x, Y0 + y)).collect::<Vec<_>>());
    let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)];
    let with_spikes = ring(&[
        (-5.0, 1e-9), // a tip at the ring's seam
        (0.0, 0.0),
        (10.0, 0.0),
        (30.0, 0.0), // out along the bottom edge and back
        (10.0, 0.0),
        (10.0, 5.0),
        (10.0, 5.0), // repeated
        (10.0, 10.0),
        (10.0, 20.0), // out along the right edge, back to a point short of the tip's start
        (10.0, 15.0),
        (10.0, 10.0),
        (0.0, 10.0),
        (0.0, 0.0),
        (-5.0, 1e-9),
    ]);
    let hole_of_spikes = ring(&[(2.0, 2.0), (4.0, 2.0), (2.0, 2.0), (2.0, 2.0)]);
    let cleaned = without_spikes(MultiPolygon(vec![Polygon::new(with_spikes, vec![hole_of_spikes])]));
    assert_eq!(cleaned.0.len(), 1);
    let mut coords: Vec<(f64, f64)> = cleaned.0[0].exterior().0.iter().map(|c| (c.x - X0, c.y - Y0)).collect();
    coords.dedup();
    assert_eq!(coords.len(), 6, "{coords:?}");
    for c in &coords {
        assert!(square.contains(c) || *c == (10.0, 5.0), "{c:?} is a spike's point: {coords:?}");
    }
    assert!(cleaned.0[0].interiors().is_empty(), "a hole of spikes alone goes");
    assert!((cleaned.unsigned_area() - 100.0).abs() < TOL);

    // A sliver 5 cm wide is land, not a spike.
    let sliver = ring(&[(0.0, 0.0), (10.0, 0.0), (0.0, 0.05), (0.0, 0.0)]);
    let kept = without_spikes(MultiPolygon(vec![Polygon::new(sliver.clone(), vec![])]));
    assert_eq!(kept.0[0].exterior(), &sliver);
    // A polygon that is spikes alone goes.
    let spike = ring(&[(0.0, 0.0), (10.0, 0.0), (0.0, 0.0), (0.0, 0.0)]);
    assert!(without_spikes(MultiPolygon(vec![Polygon::new(spike, vec![])])).0.is_empty());
}

/// A parcel that no edge of the park meets is told inside or outside without clipping, and the
/// answer is clipping's: the whole parcel, or nothing. Parcels on a lattice that lands some of them
/// exactly on the edges and corners of the park's two parts and of its hole, and triangles near
/// its diagonal edge, against the clipped area.
#[test]
fn parcels_clear_of_the_edges_need_no_clipping() {
    let ring = |pts: &[(f64, f64)]| LineString::from(pts.iter().map(|&(x, y)| (X0 + x, Y0 + y)).collect::<Vec<_>>());
    // A park of two parts: one with a diagonal edge, a notch and a hole, and a square.
    let park = MultiPolygon(vec![
        Polygon::new(
            ring(&[
                (0.0, 0.0),
                (1000.0, 0.0),
                (1000.0, 600.0),
                (600.0, 1000.0),
                (0.0, 1000.0),
                (0.0, 500.0),
                (200.0, 500.0),
                (200.0, 400.0),
                (0.0, 400.0),
                (0.0, 0.0),
            ]),
            vec![ring(&[(300.0, 300.0), (500.0, 300.0), (500.0, 500.0), (300.0, 500.0), (300.0, 300.0)])],
        ),
        rect(1200.0, 0.0, 1600.0, 400.0),
    ]);
    let edges = Edges::of(&park);
    let mut xorshift = crate::testing::xorshift(0x9e3779b97f4a7c15);
    let mut next = |n: u64| (xorshift() % n) as f64;
    let mut parcels = Vec::new();
    // Squares on a 50 m lattice (edges of the park and its hole lie on it), 25 to 100 m wide.
    for _ in 0..600 {
        let (x, y, w) = (next(36) * 50.0 - 50.0, next(24) * 50.0 - 50.0, 25.0 * (1.0 + next(4)));
        parcels.push(MultiPolygon(vec![rect(x, y, x + w, y + w)]));
    }
    // Triangles near the diagonal x + y = 1600, from 600 to 1000.
    for _ in 0..400 {
        let t = 600.0 + next(400);
        let off = next(80) - 40.0;
        let (x, y) = (t + off / 2.0, 1600.0 - t + off / 2.0);
        parcels.push(MultiPolygon(vec![Polygon::new(ring(&[(x, y), (x + 10.0, y), (x, y + 10.0), (x, y)]), vec![])]));
    }
    let (mut inside, mut outside, mut clipped) = (0, 0, 0);
    for parcel in &parcels {
        let clip_m2 = park.intersection(parcel).unsigned_area();
        match clear_of_edges(&park, &edges, parcel) {
            Some(Side::Inside) => {
                inside += 1;
                assert!(
                    (clip_m2 - parcel.unsigned_area()).abs() < TOL,
                    "{parcel:?} is not wholly inside: {clip_m2} m²"
                );
            }
            Some(Side::Outside) => {
                outside += 1;
                assert!(clip_m2 < TOL, "{parcel:?} is not wholly outside: {clip_m2} m²");
            }
            None => clipped += 1,
        }
    }
    assert!(inside > 100 && outside > 50 && clipped > 100, "{inside} inside, {outside} outside, {clipped} clipped");

    // A parcel whose corner touches an edge, or that shares an edge, is clipped; one in the hole
    // is outside; one whose box the diagonal edge misses by a centimetre is inside.
    let one =
        |x0: f64, y0: f64, x1: f64, y1: f64| clear_of_edges(&park, &edges, &MultiPolygon(vec![rect(x0, y0, x1, y1)]));
    assert_eq!(one(500.0, 500.0, 550.0, 550.0), None, "a corner on the hole's corner");
    assert_eq!(one(100.0, 0.0, 150.0, 50.0), None, "an edge on the park's edge");
    assert_eq!(one(350.0, 350.0, 400.0, 400.0), Some(Side::Outside), "in the hole");
    assert_eq!(one(1100.0, 0.0, 1150.0, 50.0), Some(Side::Outside));
    assert_eq!(one(700.0, 800.0, 750.0, 849.99), Some(Side::Inside), "below the diagonal");
    assert_eq!(one(700.0, 800.0, 750.0, 850.0), None, "a corner on the diagonal");
    assert_eq!(one(1300.0, 100.0, 1350.0, 150.0), Some(Side::Inside), "in the second part");
    assert_eq!(one(1550.0, 100.0, 1650.0, 150.0), None, "across the second part's edge");
    assert_eq!(one(1100.0, 100.0, 1150.0, 150.0), Some(Side::Outside), "between the parts");
}
