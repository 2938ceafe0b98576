//! Types shared by the API, ingest and store layers.

pub mod io;
pub mod filter;
pub mod paging;
pub mod time;
pub mod usage;
