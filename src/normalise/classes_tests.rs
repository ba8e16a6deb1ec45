use super::*;
use Category::*;

fn cat(t: &ClassTable, code: &str) -> Option<Category> {
    t.lookup(code).map(|r| r.category)
}

#[test]
fn every_preset_parses_and_cites_domain() {
    for (name, _) in PRESETS {
        let t = ClassTable::load(name).unwrap();
        assert_eq!(t.name, *name);
        assert!(!t.fields.is_empty(), "{name}");
        assert!(t.rows().count() > 10, "{name}");
        for r in t.rows() {
            assert!(r.source.starts_with("DOMAIN.md §D"), "{name} {}: source '{}'", r.code, r.source);
        }
    }
}

#[test]
fn longest_prefix_wins() {
    let t = ClassTable::from_toml(
        "t",
        r#"fields = ["c"]
[[class]]
code = "07"
category = "residential"
[[class]]
code = "0702"
category = "community_service"
[[class]]
code = "070201"
category = "public_service"
"#,
    )
    .unwrap();
    assert_eq!(cat(&t, "07"), Some(Residential));
    assert_eq!(cat(&t, "0701"), Some(Residential));
    assert_eq!(cat(&t, "070101"), Some(Residential));
    assert_eq!(cat(&t, "0702"), Some(CommunityService));
    assert_eq!(cat(&t, "070202"), Some(CommunityService));
    assert_eq!(cat(&t, "070201"), Some(PublicService));
    assert_eq!(cat(&t, " 0702 "), Some(CommunityService));
    // A shorter code than any row, and a code sharing only a first digit, are unknown.
    assert_eq!(cat(&t, "0"), None);
    assert_eq!(cat(&t, "08"), None);
    assert_eq!(cat(&t, ""), None);
    // Non-ASCII codes do not split a character.
    assert_eq!(cat(&t, "07用地"), Some(Residential));
}

#[test]
fn tdt2023_pitfalls() {
    let t = ClassTable::load("tdt2023").unwrap();
    assert_eq!(t.fields, ["dlbm", "DLBM"]);
    assert_eq!(cat(&t, "070101"), Some(Residential));
    assert_eq!(cat(&t, "0702"), Some(CommunityService), "0702 is service use");
    assert_eq!(cat(&t, "0703"), Some(Residential));
    assert_eq!(cat(&t, "080403"), Some(PublicService));
    assert_eq!(cat(&t, "090101"), Some(Commercial));
    assert_eq!(cat(&t, "100101"), Some(Industrial));
    assert_eq!(cat(&t, "1002"), Some(Other));
    assert_eq!(cat(&t, "1101"), Some(Warehouse), "用地用海 1101 is 物流仓储");
    assert_eq!(cat(&t, "1207"), Some(Transport));
    assert_eq!(cat(&t, "120803"), Some(Transport));
    assert_eq!(cat(&t, "1310"), Some(Utilities));
    assert_eq!(cat(&t, "1401"), Some(Green));
    assert_eq!(cat(&t, "1503"), Some(Other));
    assert_eq!(cat(&t, "1701"), Some(Water));
    assert_eq!(cat(&t, "0505"), Some(Water));
    assert_eq!(cat(&t, "2303"), Some(Agricultural));
    assert_eq!(cat(&t, "2301"), Some(Other));
    assert_eq!(cat(&t, "0101"), Some(Agricultural));
    assert_eq!(cat(&t, "9999"), None);
    // 三调 codes that do not exist in 用地用海 (mixed layers) take their 三调 class, not a prefix's.
    assert_eq!(cat(&t, "05H1"), Some(Commercial));
    assert_eq!(cat(&t, "0508"), Some(Warehouse));
    assert_eq!(cat(&t, "08H2A"), Some(PublicService));
    assert_eq!(cat(&t, "0810A"), Some(Green));
    assert_eq!(cat(&t, "1004"), Some(Transport));
    assert_eq!(cat(&t, "1104A"), Some(Water));
    assert_eq!(cat(&t, "1109"), Some(Utilities));
    // Codes of both schemes keep their 用地用海 meaning here.
    assert_eq!(cat(&t, "0601"), Some(Agricultural));
    assert_eq!(cat(&t, "1102"), Some(Warehouse));
}

#[test]
fn gbt21010_pitfalls() {
    let t = ClassTable::load("gbt21010").unwrap();
    assert_eq!(cat(&t, "1101"), Some(Water), "GB/T 21010 1101 is a river");
    assert_eq!(cat(&t, "1104A"), Some(Water));
    assert_eq!(cat(&t, "1109"), Some(Utilities));
    assert_eq!(cat(&t, "05H1"), Some(Commercial));
    assert_eq!(cat(&t, "0501"), Some(Commercial));
    assert_eq!(cat(&t, "0508"), Some(Warehouse));
    assert_eq!(cat(&t, "0601"), Some(Industrial));
    assert_eq!(cat(&t, "0602"), Some(Other));
    assert_eq!(cat(&t, "0604"), Some(Warehouse));
    assert_eq!(cat(&t, "0701"), Some(Residential));
    assert_eq!(cat(&t, "0702"), Some(Residential), "GB/T 21010 0702 is 农村宅基地");
    assert_eq!(cat(&t, "08H1"), Some(PublicService));
    assert_eq!(cat(&t, "08H2A"), Some(PublicService));
    assert_eq!(cat(&t, "0809"), Some(Utilities));
    assert_eq!(cat(&t, "0810A"), Some(Green));
    assert_eq!(cat(&t, "0810a"), Some(Green), "case is ignored");
    assert_eq!(cat(&t, "1004"), Some(Transport));
    assert_eq!(cat(&t, "1006"), Some(Agricultural));
    assert_eq!(cat(&t, "0304"), Some(Water));
    assert_eq!(cat(&t, "0305"), Some(Agricultural));
    assert_eq!(cat(&t, "0402"), Some(Water));
    assert_eq!(cat(&t, "1201"), Some(Other));
    assert_eq!(cat(&t, "1202"), Some(Agricultural));
    assert_eq!(cat(&t, "06"), None, "工矿仓储 as a whole has no single category");
    // 用地用海 level-3 codes (mixed layers) take their 用地用海 class, not a GB/T 21010 prefix's.
    assert_eq!(cat(&t, "090101"), Some(Commercial));
    assert_eq!(cat(&t, "090301"), Some(Commercial), "the 2020 trial's 娱乐用地");
    assert_eq!(cat(&t, "090302"), Some(Commercial), "the 2020 trial's 康体用地");
    assert_eq!(cat(&t, "100102"), Some(Industrial));
    assert_eq!(cat(&t, "110101"), Some(Warehouse));
    assert_eq!(cat(&t, "120803"), Some(Transport));
    assert_eq!(cat(&t, "060101"), Some(Agricultural));
    assert_eq!(cat(&t, "070101"), Some(Residential));
}

#[test]
fn gb50137_letters() {
    let t = ClassTable::load("gb50137").unwrap();
    assert_eq!(cat(&t, "R11"), Some(Residential));
    assert_eq!(cat(&t, "R2"), Some(Residential));
    for c in ["R12", "R22", "R32", "r22"] {
        assert_eq!(cat(&t, c), Some(CommunityService), "{c}");
    }
    assert_eq!(cat(&t, "A33"), Some(PublicService));
    assert_eq!(cat(&t, "B41"), Some(Commercial));
    assert_eq!(cat(&t, "M2"), Some(Industrial));
    assert_eq!(cat(&t, "W1"), Some(Warehouse));
    assert_eq!(cat(&t, "S1"), Some(Transport));
    assert_eq!(cat(&t, "U12"), Some(Utilities));
    assert_eq!(cat(&t, "G1"), Some(Green));
    assert_eq!(cat(&t, "H21"), Some(Transport));
    assert_eq!(cat(&t, "E11"), Some(Water));
    assert_eq!(cat(&t, "E2"), Some(Agricultural));
    assert_eq!(cat(&t, "H11"), None, "aggregate construction land is not guessed");
    assert_eq!(cat(&t, "X1"), None);
}

#[test]
fn osm_key_value() {
    let t = ClassTable::load("osm").unwrap();
    assert_eq!(t.codes, CodeFormat::KeyValue);
    assert_eq!(&t.fields[..5], ["industrial", "landuse", "amenity", "leisure", "shop"]);
    assert_eq!(cat(&t, "landuse=residential"), Some(Residential));
    assert_eq!(cat(&t, "landuse = Retail"), Some(Commercial));
    assert_eq!(cat(&t, "shop=bakery"), Some(Commercial), "shop=* matches any shop");
    assert_eq!(cat(&t, "office=government"), Some(PublicService), "the exact row beats office=*");
    assert_eq!(cat(&t, "office=lawyer"), Some(Commercial));
    // Exact values, not character prefixes: amenity=parking does not cover parking_space.
    assert_eq!(cat(&t, "amenity=parking"), Some(Transport));
    assert_eq!(cat(&t, "amenity=parking_space"), None);
    assert_eq!(cat(&t, "amenity=school"), Some(PublicService));
    assert_eq!(cat(&t, "amenity"), None);

    // The first known field decides; unknown values fall through to the next field.
    let c = t.classify([("industrial", Some("warehouse")), ("landuse", Some("industrial"))]);
    assert_eq!((c.code.as_str(), c.category), ("industrial=warehouse", Some(Warehouse)));
    let c = t.classify([("industrial", Some("oil")), ("landuse", Some("industrial"))]);
    assert_eq!(
        (c.code.as_str(), c.field.as_deref(), c.category),
        ("landuse=industrial", Some("landuse"), Some(Industrial))
    );
    let c = t.classify([("landuse", Some("retail")), ("amenity", Some("parking"))]);
    assert_eq!(c.category, Some(Commercial));
    // Nothing known: the first non-empty code is reported; nothing at all: (empty).
    let c = t.classify([("landuse", Some("median")), ("amenity", Some("shelter"))]);
    assert_eq!(c, Classified { code: "landuse=median".into(), field: Some("landuse".into()), category: None });
    let c = t.classify([("landuse", Some(" ")), ("amenity", None)]);
    assert_eq!(c, Classified { code: EMPTY_CODE.into(), field: None, category: None });
}

#[test]
fn prefix_tables_classify_by_first_known_field() {
    let t = ClassTable::load("tdt2023").unwrap();
    let c = t.classify([("dlbm", None), ("DLBM", Some("0702"))]);
    assert_eq!(c, Classified { code: "0702".into(), field: Some("DLBM".into()), category: Some(CommunityService) });
    let c = t.classify([("dlbm", Some("9999"))]);
    assert_eq!(c, Classified { code: "9999".into(), field: Some("dlbm".into()), category: None });
}

#[test]
fn user_file_extends_and_overrides() {
    let t = ClassTable::from_toml(
        "mine.toml",
        r#"extends = "tdt2023"
fields = ["YDDM"]
[[class]]
code = "1101"
category = "industrial"
source = "local rule"
[[class]]
code = "99"
category = "green"
"#,
    )
    .unwrap();
    assert_eq!(t.name, "mine.toml");
    assert_eq!(t.fields, ["YDDM"]);
    assert_eq!(cat(&t, "1101"), Some(Industrial), "overridden");
    assert_eq!(cat(&t, "1102"), Some(Warehouse), "inherited");
    assert_eq!(cat(&t, "9901"), Some(Green), "added");
    assert_eq!(cat(&t, "0702"), Some(CommunityService));

    // Extending osm keeps key=value codes and the default fields.
    let o = ClassTable::from_toml(
        "o.toml",
        "extends = \"osm\"\n[[class]]\ncode = \"landuse=depot\"\ncategory = \"transport\"\n",
    )
    .unwrap();
    assert_eq!(o.codes, CodeFormat::KeyValue);
    assert_eq!(cat(&o, "landuse=depot"), Some(Transport));
    assert_eq!(o.fields[1], "landuse");
}

#[test]
fn errors_name_the_problem() {
    let e = ClassTable::load("nope").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    for p in ["tdt2023", "gbt21010", "gb50137", "osm", "nope"] {
        assert!(e.to_string().contains(p), "{e}");
    }
    let e = ClassTable::from_toml("bad.toml", "fields = [\"c\"]\n[[class]]\ncode = \"07\"\ncategory = \"housing\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("bad.toml") && e.to_string().contains("housing"), "{e}");
    let e = ClassTable::from_toml("x.toml", "extends = \"tdt2020\"\n").unwrap_err();
    assert!(e.to_string().contains("tdt2020") && e.to_string().contains("tdt2023"), "{e}");
    let e = ClassTable::from_toml("x.toml", "[[class]]\ncode = \"07\"\ncategory = \"residential\"\n").unwrap_err();
    assert!(e.to_string().contains("fields"), "{e}");
    let dup = "fields = [\"c\"]\n[[class]]\ncode = \"07\"\ncategory = \"residential\"\n[[class]]\ncode = \"07\"\ncategory = \"green\"\n";
    assert!(ClassTable::from_toml("d.toml", dup).unwrap_err().to_string().contains("twice"));
    let kv = "extends = \"osm\"\n[[class]]\ncode = \"depot\"\ncategory = \"transport\"\n";
    assert!(ClassTable::from_toml("k.toml", kv).unwrap_err().to_string().contains("key=value"));
}

#[test]
fn category_lists() {
    assert_eq!(Category::ALL.len(), 12);
    assert_eq!(
        Category::parse_list("public_service,Residential,public_service", "--mix").unwrap(),
        [PublicService, Residential]
    );
    let e = Category::parse_list("residential,housing", "--mix").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("housing") && e.to_string().contains("community_service"), "{e}");
    assert!(Category::parse_list(" , ", "--mix").is_err());
}

/// Past its capacity the memo still answers as the table does, remembered or not.
#[test]
fn memo_answers_as_the_table_beyond_its_capacity() {
    let t = ClassTable::load("tdt2023").unwrap();
    let fields = ["dlbm".to_string(), "other".to_string()];
    let mut memo = ClassMemo::default();
    for round in 0..2 {
        for k in 0..ClassMemo::CAPACITY + 500 {
            // Known and unknown codes, some in the second field only.
            let code = format!("{}{k}", ["07", "0901", "99", "1001"][k % 4]);
            let values =
                if k % 3 == 0 { [None, Some(code.clone())] } else { [Some(code.clone()), Some("0702".to_string())] };
            let direct = t.classify(fields.iter().map(String::as_str).zip(values.iter().map(|v| v.as_deref())));
            assert_eq!(*memo.get(&t, &fields, &values), direct, "round {round}, {values:?}");
        }
    }
}
