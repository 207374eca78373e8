//! Methods of one value as tools, resources and prompts, registered together; `&self` and
//! `self: Arc<Self>`, associated functions, `Self` in signatures, named markers.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_server::{Context, Error, Server, handlers, prompt, resource, tool};

pub struct Kpi {
    hits: AtomicU64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Query {
    metric: String,
}

impl Kpi {
    const LIMIT: u32 = 10;
}

#[handlers]
impl Kpi {
    /// Count a hit.
    #[tool(read_only)]
    pub async fn hit(&self, cx: Context, #[arg(default = Self::LIMIT)] limit: u32) -> u64 {
        let _ = (cx, limit);
        self.hits.fetch_add(1, Ordering::Relaxed)
    }

    /// Query.
    #[mcp_server::tool(marker = KpiQuery)]
    pub fn query(self: Arc<Self>, #[args] q: Query) -> Result<String, Error> {
        Ok(q.metric)
    }

    /// A pure function in the block.
    #[tool]
    fn version() -> &'static str {
        "1"
    }

    #[resource("kpi://hits/{n}")]
    fn hits(&self, n: u32) -> String {
        format!("{n} {}", self.hits.load(Ordering::Relaxed))
    }

    #[prompt]
    async fn explain(&self, metric: String) -> String {
        metric
    }

    fn not_a_handler(&self) -> Self {
        Kpi { hits: AtomicU64::new(self.hits.load(Ordering::Relaxed)) }
    }
}

struct Other;

#[handlers(crate = "::mcp_server")]
impl Other {
    #[tool(name = "other.ping")]
    fn ping(&self) {}
}

fn main() {
    let kpi = Arc::new(Kpi { hits: AtomicU64::new(0) });
    let _ = kpi.not_a_handler();
    let _server = Server::new("s", "1").handlers(kpi.clone()).handlers(Other);
    let _alone = Server::new("t", "1").tool(KpiQuery(kpi));
}
