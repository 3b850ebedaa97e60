//! When a check is due, where it asks, how long it waits and which key it trusts.

use std::time::Duration;

use crate::UpdateChannel;

/// Checks at launch come at most this often.
pub const CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);
/// The setting holding when the last successful check was, in Unix milliseconds.
pub const LAST_CHECK_KEY: &str = "updates.last_check_ms";
/// Where each channel's manifest lives; `{channel}` is the channel's name. `viva-release`
/// writes these files under the update site's `updates/` folder.
pub const MANIFEST_URL: &str = "https://releases.viva.app/updates/{channel}/latest.json";
/// What `plugins.updater.pubkey` holds in the repository: the release key's public half is
/// merged in by whoever builds and signs a release (`cargo xtask release`), so an organisation
/// building its own Viva edits no tracked file. A build that still carries it has no key.
pub const UNCONFIGURED_PUBKEY: &str = "UNCONFIGURED: cargo xtask release sets the release key";
/// Giving up on reaching the update server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence while reading (the manifest, or a chunk of the download). A large
/// update on a slow link takes as long as it takes, as long as bytes keep coming.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole check (a small manifest) gives up after this long.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a launch check is due: none recorded, or the last was `every` or longer ago. A
/// recorded time in the future (a clock set back, a corrupt setting) makes it due rather than
/// postponing checks until that time comes; the arithmetic saturates, so no stored value can
/// overflow it.
pub fn check_due(last_check_ms: Option<i64>, now_ms: i64, every: Duration) -> bool {
    let Some(last) = last_check_ms else {
        return true;
    };
    let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    !(0..every).contains(&now_ms.saturating_sub(last))
}

/// Where a check asks and what it trusts. A release build always uses the constants above;
/// a debug build (development, the end-to-end tests) may be pointed at a local server with
/// `VIVA_UPDATE_URL` (`{channel}` is replaced), trust a key made for the test with
/// `VIVA_UPDATE_PUBKEY`, and shorten [`READ_TIMEOUT`] with `VIVA_UPDATE_READ_TIMEOUT_MS` so a
/// stalled download is found in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    debug: bool,
    url: Option<String>,
    pubkey: Option<String>,
    read_timeout: Option<Duration>,
}

impl Endpoint {
    /// This build's endpoint: the environment is read only by a debug build.
    pub fn from_env() -> Self {
        Self::from_vars(cfg!(debug_assertions), |name| std::env::var(name).ok())
    }

    /// The endpoint for a build that is (`debug`) or is not a debug build, with `var` reading
    /// the environment.
    pub fn from_vars(debug: bool, var: impl Fn(&str) -> Option<String>) -> Self {
        if !debug {
            return Self::default();
        }
        Self {
            debug,
            url: var("VIVA_UPDATE_URL"),
            pubkey: var("VIVA_UPDATE_PUBKEY"),
            read_timeout: var("VIVA_UPDATE_READ_TIMEOUT_MS")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(Duration::from_millis),
        }
    }

    /// Whether a check may start without being asked. A debug build checks by itself only
    /// against a test server: development runs never reach beyond this computer unless
    /// someone asks.
    pub fn checks_by_itself(&self) -> bool {
        !self.debug || self.url.is_some()
    }

    /// The channel's manifest address.
    pub fn manifest_url(&self, channel: UpdateChannel) -> String {
        self.url
            .as_deref()
            .unwrap_or(MANIFEST_URL)
            .replace("{channel}", channel.as_str())
    }

    /// The longest silence while reading.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout.unwrap_or(READ_TIMEOUT)
    }

    /// The key updates are verified with, given the one the build was configured with.
    pub fn release_key(&self, configured: Option<&str>) -> Option<String> {
        release_key(configured, self.pubkey.as_deref())
    }
}

/// The key updates are verified with: a test key (debug builds), else the one the release
/// build was given; `None` when this build has none, and then nothing is checked or downloaded.
pub fn release_key(configured: Option<&str>, test_key: Option<&str>) -> Option<String> {
    test_key.map(str::to_owned).or_else(|| {
        configured
            .map(str::trim)
            .filter(|key| !key.is_empty() && *key != UNCONFIGURED_PUBKEY)
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 60 * 60 * 1000;

    #[test]
    fn a_launch_check_is_due_six_hours_after_the_last() {
        let now = 100 * HOUR_MS;
        assert!(check_due(None, now, CHECK_EVERY));
        assert!(!check_due(Some(now), now, CHECK_EVERY));
        assert!(!check_due(Some(now - 6 * HOUR_MS + 1), now, CHECK_EVERY));
        assert!(check_due(Some(now - 6 * HOUR_MS), now, CHECK_EVERY));
        // Choosing a channel records 0: the next launch asks.
        assert!(check_due(Some(0), now, CHECK_EVERY));
    }

    #[test]
    fn a_corrupt_or_future_last_check_neither_panics_nor_postpones_checks() {
        let now = 100 * HOUR_MS;
        assert!(check_due(Some(now + HOUR_MS), now, CHECK_EVERY));
        assert!(check_due(Some(i64::MAX), now, CHECK_EVERY));
        assert!(check_due(Some(i64::MIN), now, CHECK_EVERY));
        assert!(check_due(Some(i64::MAX), i64::MIN, CHECK_EVERY));
        // An interval too long for milliseconds is treated as "never by itself", not wrapped.
        assert!(!check_due(Some(0), now, Duration::MAX));
    }

    #[test]
    fn a_build_without_a_release_key_has_no_key_to_verify_with() {
        assert_eq!(release_key(Some(UNCONFIGURED_PUBKEY), None), None);
        assert_eq!(release_key(Some("  "), None), None);
        assert_eq!(release_key(None, None), None);
        assert_eq!(
            release_key(Some(" dW50cnVzdGVk\n"), None).as_deref(),
            Some("dW50cnVzdGVk")
        );
        assert_eq!(
            release_key(Some(UNCONFIGURED_PUBKEY), Some("test-key")).as_deref(),
            Some("test-key")
        );
    }

    fn test_vars(name: &str) -> Option<String> {
        match name {
            "VIVA_UPDATE_URL" => Some("http://127.0.0.1:9/{channel}.json".into()),
            "VIVA_UPDATE_PUBKEY" => Some("test-key".into()),
            "VIVA_UPDATE_READ_TIMEOUT_MS" => Some("1500".into()),
            _ => None,
        }
    }

    #[test]
    fn a_debug_build_follows_the_test_overrides() {
        let endpoint = Endpoint::from_vars(true, test_vars);
        assert!(endpoint.checks_by_itself());
        assert_eq!(
            endpoint.manifest_url(UpdateChannel::Beta),
            "http://127.0.0.1:9/beta.json"
        );
        assert_eq!(endpoint.read_timeout(), Duration::from_millis(1500));
        assert_eq!(
            endpoint.release_key(Some(UNCONFIGURED_PUBKEY)).as_deref(),
            Some("test-key")
        );
        // Without a test server, a debug build asks only when asked.
        let plain = Endpoint::from_vars(true, |_| None);
        assert!(!plain.checks_by_itself());
        assert_eq!(plain.read_timeout(), READ_TIMEOUT);
    }

    #[test]
    fn a_release_build_ignores_the_environment() {
        let endpoint = Endpoint::from_vars(false, test_vars);
        assert!(endpoint.checks_by_itself());
        assert_eq!(
            endpoint.manifest_url(UpdateChannel::Stable),
            "https://releases.viva.app/updates/stable/latest.json"
        );
        assert_eq!(endpoint.read_timeout(), READ_TIMEOUT);
        assert_eq!(endpoint.release_key(Some(UNCONFIGURED_PUBKEY)), None);
        assert_eq!(
            endpoint.release_key(Some("release-key")).as_deref(),
            Some("release-key")
        );
    }
}
