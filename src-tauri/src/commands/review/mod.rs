//! Review's IPC commands, one file per concern; the policy behind them is `viva-review`'s.

pub mod export;
pub mod list;
pub mod open;
pub mod schedule;
pub mod search;
