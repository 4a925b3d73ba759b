//! The core's modules form layers: no module reaches, through the items it
//! uses from other modules of the crate, back to itself. A circle would let
//! a change anywhere on it ripple through all of its modules; this test
//! names the first one it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crate's modules (the `.rs` files of `src/` but `lib.rs`) and the
/// other modules each one names as `crate::module`, outside comments and
/// unit tests.
fn module_uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("the crate's src directory") {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(module) = name.strip_suffix(".rs").filter(|m| *m != "lib") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            sources.insert(module.to_owned(), text);
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .into_iter()
        .map(|(module, text)| {
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let mut uses = BTreeSet::new();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    let used = &rest[..end];
                    if used != module && modules.contains(used) {
                        uses.insert(used.to_owned());
                    }
                }
            }
            (module, uses)
        })
        .collect()
}

/// A circle through `module`, if the modules it reaches lead back to it.
fn circle_from(
    module: &str,
    uses: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(start) = path.iter().position(|m| m == module) {
        let mut circle = path[start..].to_vec();
        circle.push(module.to_owned());
        return Some(circle);
    }
    if done.contains(module) {
        return None;
    }
    path.push(module.to_owned());
    for used in &uses[module] {
        if let Some(circle) = circle_from(used, uses, path, done) {
            return Some(circle);
        }
    }
    path.pop();
    done.insert(module.to_owned());
    None
}

#[test]
#[cfg_attr(miri, ignore = "reads the sources; nothing here for Miri to check")]
fn the_modules_use_each_other_without_a_circle() {
    let uses = module_uses();
    // The scan sees the modules and their uses at all.
    assert!(uses["var"].contains("current"), "{uses:?}");
    assert!(uses["context"].contains("var"), "{uses:?}");
    let mut done = BTreeSet::new();
    for module in uses.keys() {
        if let Some(circle) = circle_from(module, &uses, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn a_circle_is_found() {
    let mut uses = BTreeMap::new();
    uses.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    uses.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    uses.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    let circle = circle_from("a", &uses, &mut Vec::new(), &mut BTreeSet::new());
    assert_eq!(circle.unwrap().join(" -> "), "a -> b -> c -> a");
}
