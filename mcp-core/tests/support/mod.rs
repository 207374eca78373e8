//! Helpers shared by the test modules.

use std::path::PathBuf;

use serde_json::Value;

/// `../shared/spec` beside the repository (CI puts it there); `MCP_SPEC_DIR` overrides.
pub(crate) fn spec_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MCP_SPEC_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../shared/spec");
    assert!(
        dir.is_dir(),
        "the spec folder is missing: {} (set MCP_SPEC_DIR)",
        dir.display()
    );
    dir
}

/// JSON equality where numbers compare by value (`18` equals `18.0`, as in JSON itself).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
