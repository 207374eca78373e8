//! Every `approval` level.
use mcp_server::policy::Approval;
use mcp_server::{Server, ToolHandler, tool};

/// Asks the server-side approver, else the caller's user.
#[tool(destructive, approval = "required")]
fn deploy() {}

/// Only the server-side approver may allow it: the caller cannot approve its own call.
#[tool(destructive, approval = "out_of_band")]
fn wipe() {}

/// Never asks.
#[tool(read_only, approval = "none")]
fn status() {}

fn main() {
    assert_eq!(Deploy.policy().approval, Approval::Required);
    assert_eq!(Wipe.policy().approval, Approval::OutOfBand);
    assert!(Wipe.policy().declared);
    assert_eq!(Status.policy().approval, Approval::None);
    let _server = Server::new("s", "1").tool(Deploy).tool(Wipe).tool(Status);
}
