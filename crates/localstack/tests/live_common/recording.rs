//! An upstream for tests of the proxy's socket: it answers every offer at once with a fixed
//! SDP (a GPT-Live call `live_stub`) and records the typed answers it is given; one that reads
//! `fail` fails, one that starts with `slow` waits for a permit first.

use std::sync::Mutex;

use viva_localstack::proxy::{Answered, CallApi, UpstreamCall, UpstreamError};

pub const STUB_ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

#[derive(Debug)]
pub struct Recording {
    /// (interview session, text), in the order passed on.
    typed: Mutex<Vec<(String, String)>>,
    /// Permits for the `slow…` answers.
    pub slow: tokio::sync::Semaphore,
}

impl Default for Recording {
    fn default() -> Self {
        Self {
            typed: Mutex::default(),
            slow: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Recording {
    /// The texts passed on, in order.
    pub fn typed(&self) -> Vec<String> {
        self.typed_by_session()
            .into_iter()
            .map(|(_, text)| text)
            .collect()
    }

    /// The texts passed on with their interview session, in order.
    pub fn typed_by_session(&self) -> Vec<(String, String)> {
        self.typed.lock().unwrap().clone()
    }
}

impl viva_localstack::proxy::Upstream for Recording {
    fn answer<'a>(
        &'a self,
        session_id: &'a str,
        _offer: &'a str,
        api: &'a CallApi,
    ) -> viva_proxy::auth::BoxFuture<'a, Result<Answered, UpstreamError>> {
        Box::pin(async move {
            Ok(Answered {
                sdp: STUB_ANSWER.to_owned(),
                call: UpstreamCall {
                    session_id: session_id.to_owned(),
                    live: matches!(api, CallApi::Live(_)),
                    id: "live_stub".to_owned(),
                },
            })
        })
    }

    fn typed_answer<'a>(
        &'a self,
        call: &'a UpstreamCall,
        text: &'a str,
    ) -> viva_proxy::auth::BoxFuture<'a, Result<(), UpstreamError>> {
        Box::pin(async move {
            if text == "fail" {
                return Err(UpstreamError::CallEnded);
            }
            if text.starts_with("slow") {
                self.slow
                    .acquire()
                    .await
                    .map_err(|_| UpstreamError::CallEnded)?
                    .forget();
            }
            self.typed
                .lock()
                .unwrap()
                .push((call.session_id.clone(), text.to_owned()));
            Ok(())
        })
    }
}
