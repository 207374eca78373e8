//! The four list methods (`tools/list`, `resources/list`, `resources/templates/list`,
//! `prompts/list`) through one helper: access filtering, paging with opaque cursors, shaping to
//! the peer's version, and the modern era's cache fields.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_core::types::*;
use mcp_core::{ErrorObject, Meta};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{
    PromptEntry, ResourceEntry, Server, ToolEntry, cache, caller_scope, modern_meta, raw,
    result_type,
};
use crate::admission::ItemPolicy;
use crate::context::Context;
use crate::handler::TemplateEntry;
use crate::shape::Shape;

/// A registered item as a list shows it: its definition, and the policy that decides who sees it.
pub(super) trait Listed {
    /// What the list carries.
    type Definition: Shape + Clone;
    fn definition(&self) -> &Self::Definition;
    fn policy(&self) -> &ItemPolicy;
}

impl Listed for ToolEntry {
    type Definition = Tool;
    fn definition(&self) -> &Tool {
        &self.definition
    }
    fn policy(&self) -> &ItemPolicy {
        &self.policy
    }
}

impl Listed for ResourceEntry {
    type Definition = Resource;
    fn definition(&self) -> &Resource {
        &self.definition
    }
    fn policy(&self) -> &ItemPolicy {
        &self.policy
    }
}

impl Listed for TemplateEntry {
    type Definition = ResourceTemplate;
    fn definition(&self) -> &ResourceTemplate {
        &self.definition
    }
    fn policy(&self) -> &ItemPolicy {
        &self.policy
    }
}

impl Listed for PromptEntry {
    type Definition = Prompt;
    fn definition(&self) -> &Prompt {
        &self.definition
    }
    fn policy(&self) -> &ItemPolicy {
        &self.policy
    }
}

/// One page of a list, with the fields every list result carries.
pub(super) struct Page<T> {
    pub(super) items: Vec<T>,
    pub(super) next_cursor: Option<String>,
    pub(super) ttl_ms: Option<u64>,
    pub(super) cache_scope: Option<CacheScope>,
    pub(super) result_type: Option<ResultType>,
    pub(super) meta: Option<Meta>,
}

/// The result of one list method, made from a page.
pub(super) trait ListResult: Serialize {
    type Item;
    fn from_page(page: Page<Self::Item>) -> Self;
}

macro_rules! list_result {
    ($result:ty, $item:ty, $field:ident) => {
        impl ListResult for $result {
            type Item = $item;
            fn from_page(page: Page<$item>) -> Self {
                Self {
                    $field: page.items,
                    next_cursor: page.next_cursor,
                    ttl_ms: page.ttl_ms,
                    cache_scope: page.cache_scope,
                    result_type: page.result_type,
                    meta: page.meta,
                }
            }
        }
    };
}

list_result!(ListToolsResult, Tool, tools);
list_result!(ListResourcesResult, Resource, resources);
list_result!(
    ListResourceTemplatesResult,
    ResourceTemplate,
    resource_templates
);
list_result!(ListPromptsResult, Prompt, prompts);

impl Server {
    /// Whether the caller may see an item (lists, completion): the same access check that
    /// admission applies to a call of it.
    pub(crate) fn visible(&self, cx: &Context, policy: &ItemPolicy) -> bool {
        policy.access(&self.inner.admission, cx.identity()).is_ok()
    }

    /// Answers a list method: the entries the caller may see, one page from `cursor`, each
    /// definition shaped to the peer's version and then passed to `adjust`.
    pub(super) fn list<E: Listed, R: ListResult<Item = E::Definition>>(
        &self,
        cx: &Context,
        entries: &[E],
        cursor: Option<&str>,
        mut adjust: impl FnMut(&mut E::Definition),
    ) -> Result<Box<RawValue>, ErrorObject> {
        let visible: Vec<&E::Definition> = entries
            .iter()
            .filter(|e| self.visible(cx, e.policy()))
            .map(Listed::definition)
            .collect();
        let (page, next_cursor) = page(&visible, cursor, self.inner.options.page_size)?;
        let version = cx.protocol_version();
        let items = page
            .into_iter()
            .map(|item| {
                let mut item = item.clone();
                item.shape(version);
                adjust(&mut item);
                item
            })
            .collect();
        let (ttl_ms, cache_scope) = cache(cx, self.inner.options.list_ttl_ms, caller_scope(cx));
        raw(&R::from_page(Page {
            items,
            next_cursor,
            ttl_ms,
            cache_scope,
            result_type: result_type(cx),
            meta: modern_meta(cx, self),
        }))
    }
}

/// One page of `items` from an opaque cursor, and the cursor of the next page.
pub(super) fn page<T: Clone>(
    items: &[T],
    cursor: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorObject> {
    let start = match cursor {
        None => 0,
        Some(c) => URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
            .filter(|&n| n <= items.len())
            .ok_or_else(|| ErrorObject::invalid_params("invalid cursor"))?,
    };
    let size = size.max(1);
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| URL_SAFE_NO_PAD.encode(format!("o:{end}")));
    Ok((items[start..end].to_vec(), next))
}

/// The cursor of a paginated request.
pub(super) fn cursor_of(p: &Option<PaginatedRequestParams>) -> Option<&str> {
    p.as_ref().and_then(|p| p.cursor.as_deref())
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_follow_their_cursors_to_the_end() {
        let items: Vec<u32> = (0..5).collect();
        let (first, next) = page(&items, None, 2).expect("first page");
        assert_eq!(first, vec![0, 1]);
        let (second, next) = page(&items, next.as_deref(), 2).expect("second page");
        assert_eq!(second, vec![2, 3]);
        let (last, next) = page(&items, next.as_deref(), 2).expect("last page");
        assert_eq!(last, vec![4]);
        assert_eq!(next, None);
        // A page size of 0 is taken as 1.
        assert_eq!(page(&items, None, 0).expect("a page").0, vec![0]);
    }

    #[test]
    fn a_bad_cursor_is_invalid_params() {
        let items = [1, 2];
        for cursor in ["not base64!", "bzo5", "eDox"] {
            // "bzo5" is `o:9` (beyond the end), "eDox" is `x:1` (not ours).
            let e = page(&items, Some(cursor), 10).expect_err(cursor);
            assert_eq!(e.code, mcp_core::ErrorCode::INVALID_PARAMS, "{cursor}");
            assert_eq!(e.message, "invalid cursor");
        }
        // The server still pages afterwards.
        assert_eq!(page(&items, None, 10).expect("a page").0, vec![1, 2]);
    }
}
