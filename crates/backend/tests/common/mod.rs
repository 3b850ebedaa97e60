//! What the backend tests share: a local stack with one tenant and candidate.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use viva_localstack::{Config, LocalStack};

pub const PASSWORD: &str = "correct horse 1";

pub struct Stack {
    pub stack: LocalStack,
    pub tenant: String,
    pub email: String,
}

/// A local stack (in memory) with a candidate `email` whose password is [`PASSWORD`].
pub async fn stack(config: Config) -> Stack {
    let stack = LocalStack::start(config).await.unwrap();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    let email = format!("cand-{}@acme.test", std::process::id());
    stack
        .add_user(&email, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    Stack {
        stack,
        tenant,
        email,
    }
}

pub fn backend(stack: &LocalStack) -> viva_backend::Backend {
    viva_backend::Backend::from_settings(&stack.base_url, &stack.anon_key).unwrap()
}
