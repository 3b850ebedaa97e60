//! Leases in PostgreSQL (`viva_proxy.leases`, supabase/migrations/20261208000000_proxy_leases.sql),
//! so that every instance sharing the database keeps the same one live connection per
//! interview, with the rules of the module above.
//!
//! # A row with an expiry, not an advisory lock
//!
//! Each live interview has one row naming its holder (this instance, random per start, and the
//! socket), the user and the sign-in holding it, and until when: `expires_at`, on the
//! database's clock. A live instance renews all its rows every [`LEASE_RENEW_EVERY`] in one
//! statement; a row whose `expires_at` has passed is free. An advisory lock would have been
//! shorter, but:
//! - a lost machine or a network partition leaves a session-level lock held until the server
//!   notices the dead TCP connection (keepalive: hours), so the interview stays locked out;
//! - poolers in transaction mode (Supabase's Supavisor, pgbouncer) hand the server connection
//!   to other clients between transactions, so a session lock is leaked to, or released by,
//!   someone else;
//! - a row names its holder, which the rules need (the same sign-in replaces its own
//!   connection; the new holder takes over the interview's call), and it expires on the
//!   database's own clock, whatever the instances' clocks say.
//!
//! # Timing
//!
//! - A crashed or cut-off instance's rows are free [`LEASE_TTL`] (12 s) after their last
//!   renewal: another instance takes them then.
//! - Fencing: an instance that could not confirm a hold for `LEASE_TTL − 2 s` (the database
//!   unreachable, or this instance partitioned from it) tells the holding socket
//!   [`LeaseLoss::Unconfirmed`]; it closes 1011 `lease_unavailable` and stops using the
//!   upstream before anyone else can have taken the interview. The time is counted from when
//!   the last successful renewal was *sent*, so it always ends before the database's expiry.
//! - A replaced connection (the same sign-in reconnected, on any instance) learns it at its
//!   instance's next renewal (within [`LEASE_RENEW_EVERY`]), or at once when the new
//!   connection came to the same instance.
//! - Rows that expired over an hour ago are deleted now and then.
//!
//! # Behind a pooler
//!
//! Every statement is a single statement sent with the unnamed prepared statement
//! (`query_typed`: parse, bind and execute in one round trip); nothing is kept in the server
//! session between statements (no named statements, no `SET`, no `LISTEN`, no locks), so it
//! runs unchanged behind a pooler in transaction mode.
//!
//! # Connecting
//!
//! The URL is libpq's (`postgres://user:password@host:port/db?sslmode=...`). TLS (rustls, the
//! certificate verified against the Mozilla roots, or only `sslrootcert=FILE`'s when given) is
//! used for `sslmode=require`, `verify-ca` and `verify-full`, and for any host that is not
//! loopback unless `sslmode=disable` says otherwise; a loopback host is plain by default.
//! A hosted database whose certificate comes from its own authority (Supabase's does) needs
//! `sslrootcert=/path/to/its-ca.crt`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};
use viva_contract::proxy::{LEASE_RENEW_EVERY, LEASE_TTL};

use super::{Acquired, Claim, Grant, LeaseError, LeaseLoss, Leases};
use crate::auth::BoxFuture;
use crate::upstream::UpstreamCall;

/// The lease's timing; [`Timing::default`] is the contract's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a hold lasts without renewal.
    pub ttl: Duration,
    /// How often this instance renews its holds.
    pub renew_every: Duration,
    /// How long after the last confirmed renewal a holder is told [`LeaseLoss::Unconfirmed`]
    /// (less than `ttl`, so it stops before anyone else may take over).
    pub fence_after: Duration,
    /// The longest one statement may take (the pool's wait included).
    pub statement_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ttl: LEASE_TTL,
            renew_every: LEASE_RENEW_EVERY,
            fence_after: LEASE_TTL.saturating_sub(Duration::from_secs(2)),
            statement_timeout: Duration::from_secs(3),
        }
    }
}

/// How long `/health`'s `select 1` may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// How often holds are checked against `fence_after`.
const FENCE_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How often expired rows are cleaned up.
const CLEANUP_EVERY: Duration = Duration::from_secs(15 * 60);
/// How long to wait for the first connection at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the session's lease in one statement. Granted when there is no row, when the row has
/// expired, or when the same user's same (non-empty) sign-in holds it; the row keeps its call.
/// Two racing acquires of a free session cannot both win: the second waits on the primary key
/// for the first to commit, then finds a live row that is not its sign-in's. `previous` is the
/// row as the statement found it, to say how the lease was granted and to tell a replaced
/// holder on this instance at once (under a race it may be stale: then only the label is).
const ACQUIRE: &str = "
with previous as (
    select holder, conn_id, expires_at <= now() as expired
      from viva_proxy.leases
     where session_id = $1::uuid
), taken as (
    insert into viva_proxy.leases as l
           (session_id, holder, conn_id, user_id, auth_session, expires_at)
    values ($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5, now() + make_interval(secs => $6))
    on conflict (session_id) do update
       set holder = excluded.holder,
           conn_id = excluded.conn_id,
           user_id = excluded.user_id,
           auth_session = excluded.auth_session,
           acquired_at = now(),
           expires_at = excluded.expires_at
     where l.expires_at <= now()
        or (excluded.auth_session <> ''
            and (l.user_id, l.auth_session) = (excluded.user_id, excluded.auth_session))
    returning l.call_live, l.call_id
)
select exists (select 1 from taken) as granted,
       (select call_live from taken) as call_live,
       (select call_id from taken) as call_id,
       (select holder::text from previous) as previous_holder,
       (select conn_id::text from previous) as previous_conn,
       (select expired from previous) as previous_expired";

/// Renews this instance's live holds in one statement; for each, whether it was renewed and
/// who holds the session now (to tell a replaced connection from a lapsed one). A lapsed row
/// is never revived: once the database's clock has passed `expires_at`, the hold is gone.
const RENEW: &str = "
with mine as (
    select * from unnest($2::uuid[], $3::uuid[]) as m(conn_id, session_id)
), renewed as (
    update viva_proxy.leases l
       set expires_at = now() + make_interval(secs => $4)
      from mine
     where l.session_id = mine.session_id
       and l.conn_id = mine.conn_id
       and l.holder = $1::uuid
       and l.expires_at > now()
    returning l.conn_id
)
select mine.conn_id::text as conn_id,
       exists (select 1 from renewed r where r.conn_id = mine.conn_id) as renewed,
       now_held.conn_id::text as holder_conn,
       now_held.user_id::text as holder_user,
       now_held.auth_session as holder_sign_in
  from mine
  left join viva_proxy.leases now_held on now_held.session_id = mine.session_id";

/// Records the holder's call; returns the call it had (the row locked first, so the values
/// are the ones replaced).
const RECORD_CALL: &str = "
update viva_proxy.leases l
   set call_live = $4, call_id = $5
  from (select session_id, call_live, call_id
          from viva_proxy.leases
         where session_id = $1::uuid and conn_id = $2::uuid and holder = $3::uuid
           and expires_at > now()
           for update) old
 where l.session_id = old.session_id
returning old.call_live, old.call_id";

/// Gives up a hold: only the connection's own row.
const RELEASE: &str = "
delete from viva_proxy.leases
 where session_id = $1::uuid and conn_id = $2::uuid and holder = $3::uuid
returning call_live, call_id";

/// Gives up every hold of this instance (it is stopping).
const RELEASE_ALL: &str = "delete from viva_proxy.leases where holder = $1::uuid";

const CLEANUP: &str = "delete from viva_proxy.leases where expires_at < now() - interval '1 hour'";

/// Whether the role may use the table (each privilege on its own: with several,
/// `has_table_privilege` answers whether *any* is held).
const CHECK: &str = "
select has_table_privilege('viva_proxy.leases', 'select')
   and has_table_privilege('viva_proxy.leases', 'insert')
   and has_table_privilege('viva_proxy.leases', 'update')
   and has_table_privilege('viva_proxy.leases', 'delete') as usable,
       current_user::text as role";

/// A hold this instance has, as its heartbeat sees it.
#[derive(Debug)]
struct Live {
    claim: Claim,
    lost: oneshot::Sender<LeaseLoss>,
    /// When the last renewal (or the acquire) that the database confirmed was sent.
    confirmed: Instant,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    holder: String,
    timing: Timing,
    /// This instance's holds, by connection.
    live: Mutex<HashMap<String, Live>>,
}

/// Why a statement failed.
#[derive(Debug)]
enum DbFailure {
    Timeout,
    Pool(String),
    Db(tokio_postgres::Error),
}

impl std::fmt::Display for DbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("the database did not answer in time"),
            Self::Pool(problem) => write!(f, "cannot connect to the database: {problem}"),
            Self::Db(error) => f.write_str(&describe(error)),
        }
    }
}

/// A database error in one line: the server's message when it sent one (the driver's own
/// `Display` says only "db error").
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

impl Inner {
    /// Runs one statement with the unnamed prepared statement, within `limit` (the pool's
    /// wait included). A connection that did not answer in time is dropped from the pool: a
    /// dead TCP connection would otherwise hold every later statement behind it.
    async fn query(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        limit: Duration,
    ) -> Result<Vec<Row>, DbFailure> {
        let deadline = Instant::now() + limit;
        let client = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(problem)) => return Err(DbFailure::Pool(pool_problem(&problem))),
            Err(_) => return Err(DbFailure::Timeout),
        };
        match tokio::time::timeout_at(deadline, client.query_typed(sql, params)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(error)) => {
                if error.is_closed() {
                    drop(Object::take(client));
                }
                Err(DbFailure::Db(error))
            }
            Err(_) => {
                drop(Object::take(client));
                Err(DbFailure::Timeout)
            }
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        // A panic while holding the map cannot leave it inconsistent (every change is one
        // insert or remove), so a poisoned lock is taken as it is.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells `conn` it lost its hold, if it still has one here.
    fn tell(&self, conn: &str, loss: LeaseLoss) {
        if let Some(live) = self.live().remove(conn) {
            tracing::info!(event = "proxy_lease_lost", conn_id = %conn, loss = ?loss);
            let _ = live.lost.send(loss);
        }
    }

    /// Renews every live hold once.
    async fn renew(&self) {
        let mine: Vec<(String, String)> = self
            .live()
            .values()
            .map(|l| (l.claim.conn_id.clone(), l.claim.session_id.clone()))
            .collect();
        if mine.is_empty() {
            return;
        }
        let (conns, sessions): (Vec<String>, Vec<String>) = mine.into_iter().unzip();
        let sent = Instant::now();
        let ttl = self.timing.ttl.as_secs_f64();
        let rows = self
            .query(
                RENEW,
                &[
                    (&self.holder, Type::TEXT),
                    (&conns, Type::TEXT_ARRAY),
                    (&sessions, Type::TEXT_ARRAY),
                    (&ttl, Type::FLOAT8),
                ],
                self.timing.statement_timeout,
            )
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(problem) => {
                tracing::warn!(event = "proxy_lease_renewal_failed", holds = conns.len(), %problem);
                return;
            }
        };
        for row in rows {
            let (Ok(conn), Ok(renewed)) = (
                row.try_get::<_, String>("conn_id"),
                row.try_get::<_, bool>("renewed"),
            ) else {
                continue;
            };
            if renewed {
                if let Some(live) = self.live().get_mut(&conn) {
                    live.confirmed = live.confirmed.max(sent);
                }
                continue;
            }
            let holder_conn = row
                .try_get::<_, Option<String>>("holder_conn")
                .ok()
                .flatten();
            let holder_user = row
                .try_get::<_, Option<String>>("holder_user")
                .ok()
                .flatten();
            let holder_sign_in = row
                .try_get::<_, Option<String>>("holder_sign_in")
                .ok()
                .flatten();
            let loss = {
                let live = self.live();
                let Some(ours) = live.get(&conn) else {
                    continue;
                };
                let now_held = holder_conn.zip(holder_user).zip(holder_sign_in);
                match now_held {
                    // Another connection of the same sign-in has it: this one was replaced.
                    Some(((other, user), sign_in))
                        if other != conn
                            && !sign_in.is_empty()
                            && user == ours.claim.user_id
                            && sign_in == ours.claim.auth_session =>
                    {
                        LeaseLoss::Replaced
                    }
                    // It lapsed (or someone else took it after it lapsed).
                    _ => LeaseLoss::Unconfirmed,
                }
            };
            self.tell(&conn, loss);
        }
    }

    /// Tells every hold not confirmed for `fence_after` that it is no longer sure.
    fn fence(&self) {
        let now = Instant::now();
        let stale: Vec<String> = self
            .live()
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.confirmed) >= self.timing.fence_after)
            .map(|(conn, _)| conn.clone())
            .collect();
        if !stale.is_empty() {
            tracing::warn!(
                event = "proxy_lease_unconfirmed",
                holds = stale.len(),
                "the lease store has not confirmed these holds in time: their connections close"
            );
        }
        for conn in stale {
            self.tell(&conn, LeaseLoss::Unconfirmed);
        }
    }

    async fn cleanup(&self) {
        if let Err(problem) = self
            .query(CLEANUP, &[], self.timing.statement_timeout)
            .await
        {
            tracing::warn!(event = "proxy_lease_cleanup_failed", %problem);
        }
    }
}

fn pool_problem(problem: &deadpool_postgres::PoolError) -> String {
    match problem {
        deadpool_postgres::PoolError::Backend(error) => describe(error),
        other => other.to_string(),
    }
}

/// Leases in PostgreSQL, shared by every instance that uses the same database.
pub struct PgLeases {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's configuration holds the password: only who this holder is.
        f.debug_struct("PgLeases")
            .field("holder", &self.inner.holder)
            .field("timing", &self.inner.timing)
            .finish_non_exhaustive()
    }
}

/// A connection string, read: the driver's configuration, and what the driver does not know
/// itself (`sslrootcert`; `verify-ca` and `verify-full`, which rustls always does).
fn read_url(url: &str) -> Result<(tokio_postgres::Config, Option<PathBuf>, bool), String> {
    let mut root_cert = None;
    let mut verify = false;
    let mut keep = |key: &str, value: &str| -> Option<String> {
        match (key, value) {
            ("sslrootcert", path) => {
                root_cert = Some(PathBuf::from(percent_decode(path)));
                None
            }
            ("sslmode", "verify-ca" | "verify-full") => {
                verify = true;
                Some(format!("{key}=require"))
            }
            _ => Some(format!("{key}={value}")),
        }
    };
    let rewritten = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<String> = query
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .filter_map(|pair| {
                        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                        keep(key, value)
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_owned(),
        }
    } else {
        // `key=value` pairs separated by spaces (quoted values are passed on as they are).
        url.split_whitespace()
            .filter_map(|pair| match pair.split_once('=') {
                Some((key, value)) => keep(key, value),
                None => Some(pair.to_owned()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let config: tokio_postgres::Config = rewritten.parse().map_err(|error| {
        format!(
            "VIVA_PROXY_DATABASE_URL is not a PostgreSQL connection string ({}): use postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            describe(&error)
        )
    })?;
    Ok((config, root_cert, verify))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_loopback(config: &tokio_postgres::Config) -> bool {
    let hosts_local = config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    });
    hosts_local && config.get_hostaddrs().iter().all(|ip| ip.is_loopback())
}

fn tls_config(root_cert: Option<&PathBuf>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("sslrootcert: cannot read {}: {error}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert: {} holds no usable certificate",
                    path.display()
                ));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
    .map_err(|error| format!("cannot set up TLS: {error}"))
}

/// A pool of connections to the database at `url` (a libpq URL; TLS as the module says). It
/// connects lazily: nothing is checked yet.
pub fn pool(url: &str, pool_size: usize) -> Result<Pool, String> {
    let (mut config, root_cert, verify) = read_url(url)?;
    if config.get_application_name().is_none() {
        config.application_name("viva-proxy");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let loopback = is_loopback(&config);
    let use_tls = match config.get_ssl_mode() {
        SslMode::Disable => false,
        SslMode::Require => true,
        _ => verify || root_cert.is_some() || !loopback,
    };
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if use_tls {
        config.ssl_mode(SslMode::Require);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(root_cert.as_ref())?);
        Manager::from_config(config, tls, manager_config)
    } else {
        if !loopback {
            tracing::warn!(
                event = "proxy_database_without_tls",
                "sslmode=disable: the connection to the database is not encrypted"
            );
        }
        config.ssl_mode(SslMode::Disable);
        Manager::from_config(config, NoTls, manager_config)
    };
    Pool::builder(manager)
        .max_size(pool_size.max(2))
        .build()
        .map_err(|error| format!("cannot set up the database pool: {error}"))
}

impl PgLeases {
    /// Connects with the contract's timing, checks that the lease table is usable, and starts
    /// this instance's heartbeat. The error is one line saying what to fix.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, String> {
        Self::with_pool(pool(url, pool_size)?, Timing::default()).await
    }

    /// [`PgLeases::connect`] with other timing (tests).
    pub async fn connect_with(url: &str, pool_size: usize, timing: Timing) -> Result<Self, String> {
        Self::with_pool(pool(url, pool_size)?, timing).await
    }

    /// Leases on `pool` (which other readers may share), checked and with their heartbeat.
    pub async fn with_pool(pool: Pool, timing: Timing) -> Result<Self, String> {
        let inner = Arc::new(Inner {
            pool,
            holder: uuid::Uuid::new_v4().to_string(),
            timing,
            live: Mutex::new(HashMap::new()),
        });
        let leases = Self { inner };
        leases.check().await?;
        leases.spawn_heartbeat();
        Ok(leases)
    }

    /// This instance's id as the lease rows name it.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// Whether the database answers and the lease table is usable; the error is one line
    /// saying what to fix.
    pub async fn check(&self) -> Result<(), String> {
        let rows = self
            .inner
            .query(CHECK, &[], CONNECT_TIMEOUT)
            .await
            .map_err(|problem| match &problem {
                DbFailure::Db(error) => match error.code().map(|c| c.code()) {
                    Some("3F000" | "42P01") => format!(
                        "the database has no lease table viva_proxy.leases ({problem}): apply supabase/migrations/20261208000000_proxy_leases.sql (`supabase db push`)"
                    ),
                    Some("42501") => format!(
                        "the database role cannot use viva_proxy.leases ({problem}): `grant viva_proxy to <the role in VIVA_PROXY_DATABASE_URL>`"
                    ),
                    _ => format!("the lease database refused the check: {problem}"),
                },
                DbFailure::Pool(text) if text.contains("invalid peer certificate") => format!(
                    "{problem}: if the database's certificate comes from its own authority (Supabase's does), add sslrootcert=/path/to/its-ca.crt to VIVA_PROXY_DATABASE_URL"
                ),
                DbFailure::Pool(_) | DbFailure::Timeout => format!(
                    "{problem}: check VIVA_PROXY_DATABASE_URL (host, port, user, password, sslmode, sslrootcert)"
                ),
            })?;
        let usable = rows
            .first()
            .and_then(|row| row.try_get::<_, bool>("usable").ok())
            .unwrap_or(false);
        if usable {
            return Ok(());
        }
        let role = rows
            .first()
            .and_then(|row| row.try_get::<_, String>("role").ok())
            .unwrap_or_default();
        Err(format!(
            "the database role `{role}` may not read and write viva_proxy.leases: `grant viva_proxy to \"{role}\"`"
        ))
    }

    /// Gives up every hold of this instance (on shutdown, after the drain), so its interviews
    /// are free at once rather than at expiry.
    pub async fn release_all(&self) {
        let holder = &self.inner.holder;
        if let Err(problem) = self
            .inner
            .query(
                RELEASE_ALL,
                &[(holder, Type::TEXT)],
                self.inner.timing.statement_timeout,
            )
            .await
        {
            tracing::warn!(event = "proxy_lease_release_all_failed", %problem);
        }
    }

    /// The heartbeat (renewals, then now and then a cleanup) and the fence, each in its own
    /// task so a renewal the database does not answer cannot delay the fence. Both end when
    /// the leases are dropped.
    fn spawn_heartbeat(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.timing.renew_every;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_cleanup: Option<Instant> = None;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                inner.renew().await;
                if last_cleanup.is_none_or(|at| at.elapsed() >= CLEANUP_EVERY) {
                    inner.cleanup().await;
                    last_cleanup = Some(Instant::now());
                }
            }
        });
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(FENCE_CHECK_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                inner.fence();
            }
        });
    }

    async fn acquire_now(&self, claim: &Claim) -> Result<Grant, LeaseError> {
        let inner = &self.inner;
        let ids = [&claim.session_id, &claim.conn_id, &claim.user_id];
        if ids.iter().any(|id| uuid::Uuid::parse_str(id).is_err()) {
            // Sessions, connections and users are UUIDs; anything else never reaches SQL.
            tracing::warn!(event = "proxy_lease_not_a_uuid", conn_id = %claim.conn_id);
            return Err(LeaseError::Unavailable);
        }
        let ttl = inner.timing.ttl.as_secs_f64();
        let sent = Instant::now();
        let rows = inner
            .query(
                ACQUIRE,
                &[
                    (&claim.session_id, Type::TEXT),
                    (&inner.holder, Type::TEXT),
                    (&claim.conn_id, Type::TEXT),
                    (&claim.user_id, Type::TEXT),
                    (&claim.auth_session, Type::TEXT),
                    (&ttl, Type::FLOAT8),
                ],
                inner.timing.statement_timeout,
            )
            .await
            .map_err(|problem| {
                tracing::warn!(event = "proxy_lease_acquire_failed", conn_id = %claim.conn_id, %problem);
                LeaseError::Unavailable
            })?;
        let row = rows.first().ok_or(LeaseError::Unavailable)?;
        let granted: bool = row
            .try_get("granted")
            .map_err(|_| LeaseError::Unavailable)?;
        if !granted {
            return Err(LeaseError::Held);
        }
        let call = read_call(row, &claim.session_id);
        let previous_holder: Option<String> = row.try_get("previous_holder").ok().flatten();
        let previous_conn: Option<String> = row.try_get("previous_conn").ok().flatten();
        let previous_expired: Option<bool> = row.try_get("previous_expired").ok().flatten();
        let how = match previous_expired {
            None => Acquired::Fresh,
            Some(true) => Acquired::TookOverExpired,
            Some(false) => Acquired::ReplacedOwn,
        };
        let (tell, lost) = oneshot::channel();
        inner.live().insert(
            claim.conn_id.clone(),
            Live {
                claim: claim.clone(),
                lost: tell,
                confirmed: sent,
            },
        );
        // The replaced connection is on this instance: it learns now, not at the next renewal.
        if how == Acquired::ReplacedOwn
            && previous_holder.as_deref() == Some(inner.holder.as_str())
            && let Some(previous) = previous_conn.filter(|c| *c != claim.conn_id)
        {
            inner.tell(&previous, LeaseLoss::Replaced);
        }
        Ok(Grant { how, call, lost })
    }

    async fn record_call_now(
        &self,
        claim: &Claim,
        call: &UpstreamCall,
    ) -> Result<Option<UpstreamCall>, LeaseError> {
        let inner = &self.inner;
        if !inner.live().contains_key(&claim.conn_id) {
            return Err(LeaseError::Lost);
        }
        let rows = inner
            .query(
                RECORD_CALL,
                &[
                    (&claim.session_id, Type::TEXT),
                    (&claim.conn_id, Type::TEXT),
                    (&inner.holder, Type::TEXT),
                    (&call.live, Type::BOOL),
                    (&call.id, Type::TEXT),
                ],
                inner.timing.statement_timeout,
            )
            .await
            .map_err(|problem| {
                tracing::warn!(event = "proxy_lease_record_call_failed", conn_id = %claim.conn_id, %problem);
                LeaseError::Unavailable
            })?;
        let row = rows.first().ok_or(LeaseError::Lost)?;
        Ok(read_call(row, &claim.session_id).filter(|previous| previous != call))
    }

    async fn release_now(&self, claim: &Claim) -> Option<UpstreamCall> {
        let inner = &self.inner;
        inner.live().remove(&claim.conn_id);
        if uuid::Uuid::parse_str(&claim.session_id).is_err()
            || uuid::Uuid::parse_str(&claim.conn_id).is_err()
        {
            return None;
        }
        let rows = inner
            .query(
                RELEASE,
                &[
                    (&claim.session_id, Type::TEXT),
                    (&claim.conn_id, Type::TEXT),
                    (&inner.holder, Type::TEXT),
                ],
                inner.timing.statement_timeout,
            )
            .await;
        match rows {
            Ok(rows) => rows
                .first()
                .and_then(|row| read_call(row, &claim.session_id)),
            Err(problem) => {
                // The row expires on its own.
                tracing::warn!(event = "proxy_lease_release_failed", conn_id = %claim.conn_id, %problem);
                None
            }
        }
    }
}

/// The call a row names (`call_id` set), if any.
fn read_call(row: &Row, session_id: &str) -> Option<UpstreamCall> {
    let id: Option<String> = row.try_get("call_id").ok().flatten();
    let live: Option<bool> = row.try_get("call_live").ok().flatten();
    id.map(|id| UpstreamCall {
        session_id: session_id.to_owned(),
        live: live.unwrap_or(false),
        id,
    })
}

impl Leases for PgLeases {
    fn acquire<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Grant, LeaseError>> {
        Box::pin(self.acquire_now(claim))
    }

    fn record_call<'a>(
        &'a self,
        claim: &'a Claim,
        call: &'a UpstreamCall,
    ) -> BoxFuture<'a, Result<Option<UpstreamCall>, LeaseError>> {
        Box::pin(self.record_call_now(claim, call))
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Option<UpstreamCall>> {
        Box::pin(self.release_now(claim))
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.inner
                .query("select 1", &[], HEALTH_TIMEOUT)
                .await
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_url_is_read_with_what_the_driver_does_not_know_itself() {
        let (config, root, verify) = read_url(
            "postgres://viva_proxy:p%40ss@db.example.com:6543/postgres?sslmode=verify-full&sslrootcert=/etc/viva%20proxy/ca.crt&application_name=x",
        )
        .unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(root, Some(PathBuf::from("/etc/viva proxy/ca.crt")));
        assert!(verify);
        assert_eq!(config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(config.get_application_name(), Some("x"));
        assert!(!is_loopback(&config));

        let (config, root, verify) =
            read_url("host=127.0.0.1 port=5432 user=u sslrootcert=/ca.crt dbname=d").unwrap();
        assert_eq!(root, Some(PathBuf::from("/ca.crt")));
        assert!(!verify);
        assert!(is_loopback(&config));

        let (config, _, _) = read_url("postgresql://u@localhost/d").unwrap();
        assert!(is_loopback(&config));
        assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
        let (config, _, _) = read_url("postgres://u@[::1]:5432/d").unwrap();
        assert!(is_loopback(&config));
    }

    #[test]
    fn a_bad_url_is_refused_in_one_line_without_its_password() {
        let refused = read_url("postgres://u:secret-pw@h/d?sslmode=sometimes").unwrap_err();
        assert!(refused.contains("VIVA_PROXY_DATABASE_URL"), "{refused}");
        assert!(!refused.contains("secret-pw"), "{refused}");
        assert!(!refused.contains('\n'));
    }

    #[test]
    fn a_root_certificate_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "").unwrap();
        assert!(
            tls_config(Some(&empty))
                .unwrap_err()
                .contains("sslrootcert")
        );
        assert!(
            tls_config(Some(&dir.path().join("missing.crt")))
                .unwrap_err()
                .contains("cannot read")
        );
        assert!(tls_config(None).is_ok());
    }
}
