//! Shapes outgoing results to the peer's protocol version: a field or content type the version
//! does not know is never sent (a 2025-03-26 client never sees `structuredContent`).

use mcp_core::types::*;
use mcp_core::{Era, Feature, ProtocolVersion};

/// Removes what `version` does not know.
pub(crate) trait Shape {
    fn shape(&mut self, version: ProtocolVersion);
}

fn has(v: ProtocolVersion, f: Feature) -> bool {
    v.supports(f)
}

impl Shape for Implementation {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::Titles) {
            self.title = None;
        }
        if !has(v, Feature::Icons) {
            self.icons = None;
            self.description = None;
            self.website_url = None;
        }
    }
}

impl Shape for Tool {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::Titles) {
            self.title = None;
            self.meta = None;
        }
        if !has(v, Feature::ToolAnnotations) {
            self.annotations = None;
        }
        if !has(v, Feature::StructuredOutput) {
            self.output_schema = None;
        }
        if !has(v, Feature::Icons) {
            self.icons = None;
        }
        if !has(v, Feature::LegacyTasks) {
            self.execution = None;
        }
    }
}

impl Shape for Resource {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::Titles) {
            self.title = None;
            self.meta = None;
        }
        if !has(v, Feature::Icons) {
            self.icons = None;
        }
    }
}

impl Shape for ResourceTemplate {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::Titles) {
            self.title = None;
            self.meta = None;
        }
        if !has(v, Feature::Icons) {
            self.icons = None;
        }
    }
}

impl Shape for Prompt {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::Titles) {
            self.title = None;
            self.meta = None;
            for a in self.arguments.iter_mut().flatten() {
                a.title = None;
            }
        }
        if !has(v, Feature::Icons) {
            self.icons = None;
        }
    }
}

impl Shape for ResourceContents {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::Titles) {
            match self {
                ResourceContents::Text(t) => t.meta = None,
                ResourceContents::Blob(b) => b.meta = None,
            }
        }
    }
}

impl Shape for ContentBlock {
    fn shape(&mut self, v: ProtocolVersion) {
        let replacement = match self {
            ContentBlock::Audio(a) if !has(v, Feature::AudioContent) => Some(format!(
                "[audio content ({}) not shown: the client's protocol version has no audio]",
                a.mime_type
            )),
            ContentBlock::ResourceLink(l) if !has(v, Feature::ResourceLink) => {
                Some(format!("Resource: {} ({})", l.name, l.uri))
            }
            _ => None,
        };
        if let Some(text) = replacement {
            *self = ContentBlock::text(text);
        }
        let old = !has(v, Feature::Titles);
        match self {
            ContentBlock::Text(t) if old => t.meta = None,
            ContentBlock::Image(i) if old => i.meta = None,
            ContentBlock::Audio(a) if old => a.meta = None,
            ContentBlock::Resource(r) => {
                if old {
                    r.meta = None;
                }
                r.resource.shape(v);
            }
            _ => {}
        }
    }
}

impl Shape for CallToolResult {
    fn shape(&mut self, v: ProtocolVersion) {
        self.content.iter_mut().for_each(|c| c.shape(v));
        if !has(v, Feature::StructuredOutput) {
            self.structured_content = None;
        }
        if v.era() == Era::Legacy {
            self.result_type = None;
        }
    }
}

impl Shape for GetPromptResult {
    fn shape(&mut self, v: ProtocolVersion) {
        self.messages.iter_mut().for_each(|m| m.content.shape(v));
        if v.era() == Era::Legacy {
            self.result_type = None;
        }
    }
}

impl Shape for ReadResourceResult {
    fn shape(&mut self, v: ProtocolVersion) {
        self.contents.iter_mut().for_each(|c| c.shape(v));
    }
}

impl Shape for ServerCapabilities {
    fn shape(&mut self, v: ProtocolVersion) {
        if !has(v, Feature::CompletionsCapability) {
            self.completions = None;
        }
        if !has(v, Feature::LegacyTasks) {
            self.tasks = None;
        }
        if !has(v, Feature::Extensions) {
            self.extensions = None;
        }
        if let Some(r) = &mut self.resources
            && !has(v, Feature::ResourceSubscribe)
        {
            r.subscribe = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_clients_see_no_new_fields() {
        let mut r = CallToolResult::structured(serde_json::json!({"a": 1}));
        r.content.push(ContentBlock::audio("AAA", "audio/wav"));
        r.result_type = Some(ResultType::Complete);
        let mut old = r.clone();
        old.shape(ProtocolVersion::V2024_11_05);
        assert_eq!(old.structured_content, None);
        assert_eq!(old.result_type, None);
        assert!(matches!(old.content[1], ContentBlock::Text(_)));
        let mut new = r.clone();
        new.shape(ProtocolVersion::V2026_07_28);
        assert_eq!(new, r);
    }
}
