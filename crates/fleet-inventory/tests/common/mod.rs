//! Shared helpers for the integration tests.
#![allow(dead_code)]

use fleet_inventory::{load_str, Format, Inventory, InventoryError};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Secret values the fixtures read from the environment.
pub const PASSWORD: &str = "s3cret-pw";
pub const ENABLE: &str = "s3cret-enable";
pub const JUMP_PASSWORD: &str = "s3cret-jump";

static ENV: Once = Once::new();

/// Sets the environment every test reads, once, before any test reads it
/// (so no thread reads the environment while another writes it).
pub fn init_env() {
    ENV.call_once(|| {
        std::env::set_var("FLEET_TEST_PASSWORD", PASSWORD);
        std::env::set_var("FLEET_TEST_ENABLE", ENABLE);
        std::env::set_var("FLEET_TEST_JUMP_PASSWORD", JUMP_PASSWORD);
        std::env::remove_var("FLEET_TEST_UNSET");
    });
}

/// `fixtures/inventories/<rel>` in the workspace.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/inventories")
        .join(rel)
}

/// Loads `text` as if it were `<dir>/inventory.yaml`.
pub fn load_in(dir: &Path, text: &str, format: Format) -> Result<Inventory, InventoryError> {
    init_env();
    load_str(text, &dir.join("inventory.yaml"), format)
}

/// Loads fleet YAML text that must fail, returning the error.
pub fn fleet_err(text: &str) -> InventoryError {
    init_env();
    match load_str(text, Path::new("/inv/inventory.yaml"), Format::Fleet) {
        Ok(inv) => panic!("expected an error, loaded {} devices", inv.devices.len()),
        Err(e) => e,
    }
}

/// Asserts an error names the file, line and field and never leaks secrets.
pub fn assert_names(e: &InventoryError, line: usize, field: &str) {
    let s = e.to_string();
    assert_eq!(e.line, Some(line), "wrong line in: {s}");
    assert_eq!(e.field.as_deref(), Some(field), "wrong field in: {s}");
    assert!(
        s.starts_with(&format!("{}:{line}:", e.file.display())),
        "no file:line in: {s}"
    );
    assert!(s.contains(&format!("`{field}`")), "no field in: {s}");
    for secret in [PASSWORD, ENABLE, JUMP_PASSWORD] {
        assert!(!s.contains(secret), "secret leaked in: {s}");
    }
}
