#![doc = include_str!("../README.md")]

pub mod codec;
pub mod contract;
pub mod jsonrpc;
pub mod messages;
pub mod meta;
mod meta_apart;
pub mod schema;
pub mod sse;
pub mod types;
pub mod uri_template;
pub mod version;

pub use jsonrpc::{
    ErrorCode, ErrorObject, JsonRpcError, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest,
    JsonRpcResponse, RequestId,
};
pub use meta::Meta;
pub use version::{Era, Feature, ProtocolVersion};
