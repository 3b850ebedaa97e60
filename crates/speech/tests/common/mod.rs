//! What the speech model's tests share.

pub mod candidate;
