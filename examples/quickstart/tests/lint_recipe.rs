//! The `clippy.toml` that flags spawns without the context is the same
//! everywhere it is shown or used: this example's, the demo's, the root
//! README, and contextvars-tokio's README and crate docs.

const RECIPE: &str = include_str!("../clippy.toml");

/// The `toml` block of `markdown` that holds a `disallowed-methods` list.
fn recipe_in(markdown: &str) -> String {
    let mut blocks = markdown.split("```toml\n").skip(1).filter_map(|rest| {
        let block = &rest[..rest.find("```")?];
        block.contains("disallowed-methods").then_some(block)
    });
    let block = blocks
        .next()
        .expect("a toml block with `disallowed-methods`");
    assert!(blocks.next().is_none(), "one recipe per document");
    block.to_string()
}

/// The crate docs (`//!` lines) of a Rust source file, as Markdown.
fn crate_docs(source: &str) -> String {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(line)))
        .collect()
}

#[test]
fn the_demo_carries_the_same_clippy_toml() {
    assert_eq!(include_str!("../../demo-service/clippy.toml"), RECIPE);
}

#[test]
fn the_readmes_show_the_clippy_toml() {
    assert_eq!(recipe_in(include_str!("../../../README.md")), RECIPE);
    assert_eq!(
        recipe_in(include_str!("../../../contextvars-tokio/README.md")),
        RECIPE
    );
}

#[test]
fn the_contextvars_tokio_docs_show_the_clippy_toml() {
    let docs = crate_docs(include_str!("../../../contextvars-tokio/src/lib.rs"));
    assert_eq!(recipe_in(&docs), RECIPE);
}

#[test]
fn the_recipe_names_a_replacement_for_each_spawn() {
    for path in [
        "tokio::spawn",
        "tokio::task::spawn",
        "tokio::task::spawn_blocking",
        "tokio::task::spawn_local",
    ] {
        let entry = RECIPE
            .lines()
            .find(|line| line.contains(&format!("path = \"{path}\"")))
            .unwrap_or_else(|| panic!("no entry for {path}"));
        assert!(entry.contains("use `contextvars"), "{entry}");
    }
}
