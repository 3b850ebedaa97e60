//! The Supabase-style backend client for Viva: authentication and refresh, edge functions and
//! tables over HTTPS (reqwest), and the token vault over the OS keyring.
//!
//! Refresh tokens live only in the OS keyring and access tokens only in memory; this crate never
//! writes a token to a file. It does not own local storage (`viva-store`).
