use mcp_server::{handlers, tool};

struct Store<T>(T);

#[handlers]
impl<T: Send + Sync + 'static> Store<T> {
    #[tool]
    fn size(&self) -> usize {
        std::mem::size_of::<T>()
    }
}

fn main() {}
