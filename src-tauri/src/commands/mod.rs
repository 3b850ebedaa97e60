//! IPC commands, one file per concern. Each command is thin: it calls into the library crates.

pub mod account;
pub mod app;
pub mod diagnostics;
pub mod home;
pub mod live;
pub mod review;
pub mod save_dialog;
pub mod updates;
