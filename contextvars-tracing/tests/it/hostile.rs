//! Values that try to break or forge log lines: each event stays one line,
//! text values read back exactly, JSON stays valid.

use contextvars::{Context, ContextVar};
use contextvars_tracing::ContextFields;
use tracing::dispatcher::with_default;

use crate::common::{json, parse_json, parse_prefix, text};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&'static str> = ContextVar::new("user");

fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "abc\r\nrequest_id=forged user=root  INFO app: forged line",
        "abc\nuser=root",
        "abc user=root",
        "abc\" user=\"root",
        r#"say "hi""#,
        r"C:\path\",
        r#"\"#,
        "\u{0}",
        "nul\u{0}inside",
        "\u{1b}[31mred\u{1b}[0m",
        "\r",
        "tab\there",
        "vt\u{b}ff\u{c}bs\u{8}del\u{7f}",
        "nel\u{85}ls\u{2028}ps\u{2029}",
        "bidi\u{202e}desrever\u{202c}\u{2066}x\u{2069}",
        "ünïcødé 😀 日本語",
        "",
        " ",
        "=",
        "==",
        "a=b",
        "\"",
        "\u{feff}bom",
        "\u{a0}nbsp",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // 1 MiB, with a line break in the middle.
    let mut big = "x".repeat(1 << 19);
    big.push_str("\r\n");
    big.push_str(&"y".repeat(1 << 19));
    values.push(big);
    values.push("é".repeat(1 << 19));
    values
}

#[test]
fn text_values_stay_on_one_line_and_read_back_exactly() {
    let values = hostile_values();
    let (dispatch, out) = text(ContextFields::new().var(&REQUEST_ID).var(&USER));
    with_default(&dispatch, || {
        for value in &values {
            Context::new().run(|| {
                REQUEST_ID.set(value.clone());
                USER.set("ada");
                tracing::info!(target: "app", "e");
            });
        }
    });
    let lines = out.lines();
    assert_eq!(
        lines.len(),
        values.len(),
        "an event took more than one line"
    );
    for (line, value) in lines.iter().zip(&values) {
        assert!(!line.contains('\r'), "raw CR in {line:?}");
        let (fields, rest) = parse_prefix(line);
        assert_eq!(
            fields,
            [
                ("request_id".to_string(), value.clone()),
                ("user".to_string(), "ada".to_string())
            ],
            "line: {:.200}",
            line
        );
        assert_eq!(rest, " INFO app: e");
    }
}

#[test]
fn text_values_without_specials_are_bare_and_others_quoted() {
    let (dispatch, out) = text(ContextFields::new().var(&REQUEST_ID));
    with_default(&dispatch, || {
        for value in ["plain-id_1.2:3/4", "abc\r\nx", "", "a b", "\u{1b}[0m"] {
            Context::new().run(|| {
                REQUEST_ID.set(value.to_string());
                tracing::info!(target: "app", "e");
            });
        }
    });
    assert_eq!(
        out.lines(),
        [
            "request_id=plain-id_1.2:3/4  INFO app: e",
            r#"request_id="abc\r\nx"  INFO app: e"#,
            r#"request_id=""  INFO app: e"#,
            r#"request_id="a b"  INFO app: e"#,
            r#"request_id="\u{1b}[0m"  INFO app: e"#,
        ]
    );
}

#[test]
fn json_stays_valid_and_values_read_back_exactly() {
    let values = hostile_values();
    let (dispatch, out) = json(ContextFields::new().var(&REQUEST_ID).var(&USER));
    with_default(&dispatch, || {
        for value in &values {
            Context::new().run(|| {
                REQUEST_ID.set(value.clone());
                USER.set("ada\"\\\u{1}");
                tracing::info!(target: "app", "e");
            });
        }
    });
    let lines = out.lines();
    assert_eq!(
        lines.len(),
        values.len(),
        "an event took more than one line"
    );
    for (line, value) in lines.iter().zip(&values) {
        assert!(!line.contains('\r'), "raw CR in {line:?}");
        let object = parse_json(line);
        assert_eq!(object["request_id"].as_str(), Some(value.as_str()));
        assert_eq!(object["user"], "ada\"\\\u{1}");
        assert_eq!(object["fields"]["message"], "e");
        assert_eq!(object.len(), 5, "{:.200}", line);
    }
}
