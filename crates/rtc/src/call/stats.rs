//! A health sample of the live connection: WebRTC statistics, the downlink meter and the
//! levels the owner reported.

use std::time::Instant;

use webrtc::peer_connection::{RTCStatsReportEntry, StatsSelector};

use super::connect::Connection;
use crate::health::{Health, Quality, QualityLevel, assess};

/// What the sample needs from outside the connection.
pub(crate) struct Context {
    pub at_ms: u64,
    pub levels: (Option<f32>, Option<f32>),
    pub reconnects: u32,
    pub voice_api: &'static str,
    pub model: String,
}

pub(crate) async fn sample(live: &mut Connection, context: Context) -> Health {
    let report = live
        .peer
        .pc
        .get_stats(Instant::now(), StatsSelector::None)
        .await;
    let mut rtt_ms = None;
    let mut dtls_state = String::from("unknown");
    let mut uplink = (0u64, 0u64);
    for entry in report.iter() {
        match entry {
            RTCStatsReportEntry::IceCandidatePair(pair)
                if pair.nominated && pair.current_round_trip_time > 0.0 =>
            {
                rtt_ms = Some(pair.current_round_trip_time * 1000.0);
            }
            RTCStatsReportEntry::Transport(transport) => {
                dtls_state = transport.dtls_state.to_string();
            }
            RTCStatsReportEntry::OutboundRtp(out) => {
                uplink.0 += out.sent_rtp_stream_stats.packets_sent;
                uplink.1 += out.sent_rtp_stream_stats.bytes_sent;
            }
            _ => {}
        }
    }
    let now = Instant::now();
    let (then, bytes_then) = live.last_uplink_bytes;
    let seconds = now.duration_since(then).as_secs_f64();
    let uplink_kbps = (seconds > 0.2 && uplink.1 >= bytes_then)
        .then(|| (uplink.1 - bytes_then) as f64 * 8.0 / 1000.0 / seconds);
    live.last_uplink_bytes = (now, uplink.1);
    let mut sample = Health {
        at_ms: context.at_ms,
        peer_state: live.peer_state.to_string(),
        ice_state: live.ice_state.to_string(),
        dtls_state,
        data_channel: if live.channel_open {
            "open"
        } else {
            "connecting"
        }
        .into(),
        rtt_ms,
        downlink_jitter_ms: live.meter.jitter_ms(),
        downlink_packets: live.meter.received(),
        downlink_lost: live.meter.lost(),
        downlink_loss: live.meter.interval_loss(),
        uplink_packets: uplink.0,
        uplink_bytes: uplink.1,
        uplink_kbps,
        uplink_loss: None,
        mic_dbfs: context.levels.0,
        speaker_dbfs: context.levels.1,
        since_last_event_ms: live.last_event.map(|t| t.elapsed().as_millis() as u64),
        reconnects: context.reconnects,
        voice_api: context.voice_api.into(),
        model: context.model,
        quality: Quality {
            level: QualityLevel::Good,
            reason: None,
        },
    };
    sample.quality = assess(&sample);
    sample
}
