//! Applying compiled rules to a result: texts, structured content, content blocks, resource
//! contents and prompt messages.

use std::ops::Range;

use mcp_core::types::{CallToolResult, ContentBlock, PromptMessage, ResourceContents};
use serde_json::Value;

use super::{Action, Detector, Filters, Find, Fired};

/// Why a result is withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Halt {
    /// A rule with [`Action::Block`] fired.
    Blocked(String),
    /// A rule failed at run time (fail closed): the rule, and the error (logged, not audited).
    Failed(String, String),
    /// The filtered structured content no longer matches the output schema.
    Invalid,
}

/// What becomes of an item (a text, a value, a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    Drop,
}

/// One filtering of one result: the rules in scope, what fired.
pub(crate) struct Pass<'f> {
    filters: &'f Filters,
    active: Vec<usize>,
    /// How many times each rule fired.
    pub(crate) fired: Fired,
    /// The approval rules that fired, and how many times.
    pub(crate) approve: Fired,
    /// Whether structured content changed.
    pub(crate) structured_changed: bool,
    /// How many texts were edited (redacted, truncated).
    edits: u64,
}

fn marker(rule: &str) -> String {
    format!("[redacted:{rule}]")
}

/// Replaces `ranges` (in order, not overlapping) of `text` with `with`.
fn replace(text: &mut String, ranges: &[Range<usize>], with: &str) {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in ranges {
        out.push_str(&text[at..r.start]);
        out.push_str(with);
        at = r.end;
    }
    out.push_str(&text[at..]);
    *text = out;
}

/// Checks what a custom detector returned.
fn well_formed(text: &str, ranges: &[Range<usize>]) -> Result<(), String> {
    let mut at = 0;
    for r in ranges {
        if r.start < at || r.end < r.start || r.end > text.len() {
            return Err(format!(
                "the range {r:?} is out of order, overlapping or past the text"
            ));
        }
        if !text.is_char_boundary(r.start) || !text.is_char_boundary(r.end) {
            return Err(format!("the range {r:?} is not on character boundaries"));
        }
        at = r.end;
    }
    Ok(())
}

impl<'f> Pass<'f> {
    pub(crate) fn new(filters: &'f Filters, active: Vec<usize>) -> Self {
        Pass {
            filters,
            active,
            fired: Fired::new(),
            approve: Fired::new(),
            structured_changed: false,
            edits: 0,
        }
    }

    /// Whether no rule applies.
    pub(crate) fn is_idle(&self) -> bool {
        self.active.is_empty()
    }

    fn fire(&mut self, rule: usize, times: usize) {
        let r = &self.filters.rules[rule];
        let times = times as u64;
        *self.fired.entry(r.name.clone()).or_default() += times;
        if r.action == Action::Approve {
            *self.approve.entry(r.name.clone()).or_default() += times;
        }
    }

    /// The ranges a text rule finds in `text`.
    fn find(
        regex: &regex::Regex,
        group: Option<usize>,
        detector: Option<Detector>,
        text: &str,
    ) -> Vec<Range<usize>> {
        let accepted = |m: &regex::Match<'_>| detector.is_none_or(|d| d.accepts(m.as_str()));
        match group {
            None => regex
                .find_iter(text)
                .filter(|m| accepted(m))
                .map(|m| m.range())
                .collect(),
            Some(g) => regex
                .captures_iter(text)
                .filter_map(|c| c.get(g).or_else(|| c.get(0)))
                .filter(|m| accepted(m))
                .map(|m| m.range())
                .collect(),
        }
    }

    /// Applies the text rules to one text.
    fn text(&mut self, text: &mut String) -> Result<Fate, Halt> {
        let filters = self.filters;
        let candidates = filters.set.matches(text);
        for n in 0..self.active.len() {
            let i = self.active[n];
            let rule = &filters.rules[i];
            let ranges = match &rule.find {
                Find::Text {
                    set_index,
                    regex,
                    group,
                    detector,
                    ..
                } => {
                    if !candidates.matched(*set_index) {
                        continue;
                    }
                    Self::find(regex, *group, *detector, text)
                }
                Find::Custom(custom) => custom
                    .find(text)
                    .and_then(|r| well_formed(text, &r).map(|()| r))
                    .map_err(|e| Halt::Failed(rule.name.clone(), e))?,
                Find::MaxBytes(max) => {
                    if text.len() <= *max {
                        continue;
                    }
                    self.fire(i, 1);
                    if rule.action == Action::Block {
                        return Err(Halt::Blocked(rule.name.clone()));
                    }
                    let mut cut = *max;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    let dropped = text.len() - cut;
                    text.truncate(cut);
                    self.edits += 1;
                    text.push_str(&format!("[truncated:{}: {dropped} bytes]", rule.name));
                    continue;
                }
                Find::Pointer(_) => continue,
            };
            if ranges.is_empty() {
                continue;
            }
            self.fire(i, ranges.len());
            match rule.action {
                Action::Redact => {
                    replace(text, &ranges, &marker(&rule.name));
                    self.edits += 1;
                }
                Action::Drop => return Ok(Fate::Drop),
                Action::Block => return Err(Halt::Blocked(rule.name.clone())),
                Action::Approve | Action::Truncate => {}
            }
        }
        Ok(Fate::Keep)
    }

    /// Applies the rules to a string of structured content under member `key`.
    fn string(&mut self, key: Option<&str>, s: &mut String) -> Result<Fate, Halt> {
        if let Some(key) = key {
            let filters = self.filters;
            for n in 0..self.active.len() {
                let i = self.active[n];
                let rule = &filters.rules[i];
                let Find::Text { key: Some(k), .. } = &rule.find else {
                    continue;
                };
                if s.is_empty() || !k.is_match(key) {
                    continue;
                }
                self.fire(i, 1);
                match rule.action {
                    Action::Redact => {
                        *s = marker(&rule.name);
                        self.structured_changed = true;
                        return Ok(Fate::Keep);
                    }
                    Action::Drop => return Ok(Fate::Drop),
                    Action::Block => return Err(Halt::Blocked(rule.name.clone())),
                    Action::Approve | Action::Truncate => {}
                }
            }
        }
        let before = self.edits;
        let fate = self.text(s)?;
        if self.edits != before {
            self.structured_changed = true;
        }
        Ok(fate)
    }

    /// Applies the rules to a structured value, member `key` of its parent.
    fn value(&mut self, key: Option<&str>, v: &mut Value) -> Result<Fate, Halt> {
        match v {
            Value::String(s) => self.string(key, s),
            Value::Array(items) => {
                let mut i = 0;
                while i < items.len() {
                    if self.value(None, &mut items[i])? == Fate::Drop {
                        items.remove(i);
                        self.structured_changed = true;
                    } else {
                        i += 1;
                    }
                }
                Ok(Fate::Keep)
            }
            Value::Object(members) => {
                let keys: Vec<String> = members.keys().cloned().collect();
                for k in keys {
                    let Some(member) = members.get_mut(&k) else {
                        continue;
                    };
                    if self.value(Some(&k), member)? == Fate::Drop {
                        members.remove(&k);
                        self.structured_changed = true;
                    }
                }
                Ok(Fate::Keep)
            }
            _ => Ok(Fate::Keep),
        }
    }

    /// Applies the rules to structured content: pointer rules, then every string.
    pub(crate) fn structured(&mut self, v: &mut Value) -> Result<(), Halt> {
        let filters = self.filters;
        for n in 0..self.active.len() {
            let i = self.active[n];
            let rule = &filters.rules[i];
            let Find::Pointer(pointer) = &rule.find else {
                continue;
            };
            if v.pointer(pointer).is_none() {
                continue;
            }
            self.fire(i, 1);
            match rule.action {
                Action::Redact => {
                    if let Some(target) = v.pointer_mut(pointer) {
                        *target = Value::String(marker(&rule.name));
                    }
                    self.structured_changed = true;
                }
                Action::Drop => {
                    remove(v, pointer);
                    self.structured_changed = true;
                }
                Action::Block => return Err(Halt::Blocked(rule.name.clone())),
                Action::Approve | Action::Truncate => {}
            }
        }
        self.value(None, v)?;
        Ok(())
    }

    /// Applies the rules to a content block.
    fn block(&mut self, block: &mut ContentBlock) -> Result<Fate, Halt> {
        match block {
            ContentBlock::Text(t) => self.text(&mut t.text),
            ContentBlock::Resource(r) => match &mut r.resource {
                ResourceContents::Text(t) => self.text(&mut t.text),
                _ => Ok(Fate::Keep),
            },
            _ => Ok(Fate::Keep),
        }
    }

    /// Applies the rules to a tool result: its content blocks and structured content. A text
    /// block that repeats the structured content is rewritten from the filtered one.
    pub(crate) fn tool_result(&mut self, result: &mut CallToolResult) -> Result<(), Halt> {
        let mut mirrors = Vec::new();
        if let Some(structured) = &result.structured_content {
            for (i, block) in result.content.iter().enumerate() {
                if let ContentBlock::Text(t) = block
                    && t.text.trim_start().starts_with(['{', '['])
                    && serde_json::from_str::<Value>(&t.text).is_ok_and(|v| &v == structured)
                {
                    mirrors.push(i);
                }
            }
        }
        if let Some(structured) = &mut result.structured_content {
            self.structured(structured)?;
        }
        let mut kept = Vec::with_capacity(result.content.len());
        for (i, mut block) in std::mem::take(&mut result.content).into_iter().enumerate() {
            let fate = if mirrors.contains(&i) {
                if self.structured_changed
                    && let (ContentBlock::Text(t), Some(s)) =
                        (&mut block, &result.structured_content)
                {
                    t.text = serde_json::to_string(s).unwrap_or_default();
                }
                Fate::Keep
            } else {
                self.block(&mut block)?
            };
            if fate == Fate::Keep {
                kept.push(block);
            }
        }
        result.content = kept;
        Ok(())
    }

    /// Applies the rules to the contents of a resource.
    pub(crate) fn contents(&mut self, contents: &mut Vec<ResourceContents>) -> Result<(), Halt> {
        let mut kept = Vec::with_capacity(contents.len());
        for mut c in std::mem::take(contents) {
            let fate = match &mut c {
                ResourceContents::Text(t) => self.text(&mut t.text)?,
                _ => Fate::Keep,
            };
            if fate == Fate::Keep {
                kept.push(c);
            }
        }
        *contents = kept;
        Ok(())
    }

    /// Applies the rules to the messages of a prompt.
    pub(crate) fn messages(&mut self, messages: &mut Vec<PromptMessage>) -> Result<(), Halt> {
        let mut kept = Vec::with_capacity(messages.len());
        for mut m in std::mem::take(messages) {
            if self.block(&mut m.content)? == Fate::Keep {
                kept.push(m);
            }
        }
        *messages = kept;
        Ok(())
    }
}

/// Removes the value at `pointer` from its parent object or array.
fn remove(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}
