//! Cross-crate tests of the SDK live in `tests/` of this crate.
