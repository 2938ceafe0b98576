//! Types shared by the API, ingest and store layers.

pub mod encryption;
pub mod filter;
pub mod io;
pub mod paging;
pub mod prompt_refs;
pub mod time;
pub mod usage;
