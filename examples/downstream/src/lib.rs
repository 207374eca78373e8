//! A small notes server, written as an application crate would write it, and tested in
//! `tests/` with the SDK's testing kit (`mcp_client::testing`): an in-process client in both
//! eras, a recording handler, a contract snapshot and a breaking-change gate.

use std::sync::Mutex;

use mcp_server::{Context, Error, Result, Server, State, prompt, tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The notes, shared by every call.
#[derive(Debug, Default)]
pub struct Notes(Mutex<Vec<String>>);

impl Notes {
    /// Adds a note; returns how many there are.
    pub fn push(&self, note: String) -> usize {
        let mut notes = self.0.lock().expect("not poisoned");
        notes.push(note);
        notes.len()
    }

    /// Removes every note; returns how many there were.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut *self.0.lock().expect("not poisoned")).len()
    }
}

/// What an import did.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ImportReport {
    /// How many notes were imported.
    pub imported: u32,
    /// How many notes there are now.
    pub total: usize,
}

/// Imports `count` generated notes, reporting progress after each.
#[tool]
pub async fn import(
    cx: Context,
    notes: State<Notes>,
    /// How many notes to import.
    count: u32,
    /// A prefix for their text.
    prefix: Option<String>,
) -> Result<ImportReport> {
    let prefix = prefix.unwrap_or_else(|| "note".to_owned());
    let mut total = 0;
    for i in 1..=count {
        total = notes.push(format!("{prefix} {i}"));
        cx.progress(f64::from(i), Some(f64::from(count)), Some("importing"));
    }
    Ok(ImportReport {
        imported: count,
        total,
    })
}

/// The user's answer before everything is deleted.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Confirm {
    /// Yes, delete every note.
    pub confirm: bool,
}

/// Deletes every note, after asking the user.
#[tool(destructive)]
pub async fn clear(cx: Context, notes: State<Notes>) -> Result<String> {
    let answer = cx.elicit::<Confirm>("Delete every note?").await?.accepted();
    match answer {
        Some(Confirm { confirm: true }) => Ok(format!("deleted {} notes", notes.clear())),
        Some(_) | None => Err(Error::public("nothing deleted: the user did not confirm")),
    }
}

/// Summarize the notes in a given tone.
#[prompt]
pub fn summarize(
    /// How the summary should sound.
    tone: String,
) -> String {
    format!("Summarize my notes in a {tone} tone.")
}

/// The server, as the application's `main` would serve it.
pub fn server() -> Server {
    Server::new("notes", env!("CARGO_PKG_VERSION"))
        .state(Notes::default())
        .tool(Import)
        .tool(Clear)
        .prompt(Summarize)
}
