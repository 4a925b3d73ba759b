//! The root README's quick start is this example: its Rust block is
//! `src/main.rs`, and its `[dependencies]` name the crates this package
//! depends on.

const README: &str = include_str!("../../../README.md");
const MAIN: &str = include_str!("../src/main.rs");
const MANIFEST: &str = include_str!("../Cargo.toml");

/// The first block that opens with `fence` after the `## Quick start`
/// heading.
fn quick_start_block(fence: &str) -> &'static str {
    let section = README
        .split_once("\n## Quick start\n")
        .expect("the README has a `## Quick start` section")
        .1;
    let start = section
        .find(&format!("\n{fence}\n"))
        .unwrap_or_else(|| panic!("no {fence} block in the quick start"))
        + fence.len()
        + 2;
    let len = section[start..]
        .find("\n```\n")
        .expect("the block is closed")
        + 1;
    &section[start..start + len]
}

/// The names in a `[dependencies]` table, one `name = …` a line.
fn dependency_names(toml: &str) -> Vec<&str> {
    let table = toml
        .split_once("[dependencies]\n")
        .expect("a [dependencies] table")
        .1;
    let mut names: Vec<&str> = table
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_once(" = ").expect("`name = …`").0)
        .collect();
    names.sort_unstable();
    names
}

#[test]
fn the_readme_shows_main_rs() {
    let block = quick_start_block("```rust,no_run");
    if block != MAIN {
        let line = block
            .lines()
            .zip(MAIN.lines())
            .position(|(a, b)| a != b)
            .map_or(block.lines().count().min(MAIN.lines().count()), |i| i);
        panic!(
            "the README's quick start differs from examples/quickstart/src/main.rs \
             from line {} of the file on: copy the file into the README",
            line + 1
        );
    }
}

#[test]
fn the_readme_depends_on_what_the_example_does() {
    let block = quick_start_block("```toml");
    assert_eq!(dependency_names(block), dependency_names(MANIFEST));
}
