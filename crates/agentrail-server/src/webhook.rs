//! Webhook delivery of new findings.
//!
//! Each configured webhook has its own bounded queue and one task (its
//! [`Delivery`]) that posts
//! the payloads in order. A failed post (no connection, a timeout, a 5xx, a
//! 408 or a 429) is retried with exponential backoff (1 s, 2 s, 4 s, … up to
//! five minutes, or the receiver's `Retry-After`) until the attempts run
//! out; a refusal (any other 4xx) is not retried. The scheduler only pushes
//! onto a queue: a slow or dead receiver delays nothing but its own queue,
//! and a full queue drops its oldest payload with a warning.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agentrail_report::Severity;
use agentrail_report::notify::PayloadFormat;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;

/// Payloads waiting per webhook before the oldest is dropped.
const QUEUE_CAPACITY: usize = 256;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(300);

/// One webhook, as the configuration file gives it (`[[reports.webhooks]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names it in logs; the URL (which often holds a secret) is never logged.
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    /// `slack` (a chat message) or `generic` (the findings as JSON).
    #[serde(default = "default_format")]
    pub format: PayloadFormat,
    /// Findings less severe than this are not sent.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Extra request headers, e.g. `Authorization`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Posts of one payload before it is given up on.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_format() -> PayloadFormat {
    PayloadFormat::Slack
}

fn default_min_severity() -> Severity {
    Severity::Low
}

fn default_attempts() -> u32 {
    8
}

fn default_timeout() -> u64 {
    10
}

/// Why a webhook's configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {name}: {problem}")]
    Invalid { name: String, problem: String },
}

impl WebhookConfig {
    /// The name logs use: the configured one, or the URL's host.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| match reqwest::Url::parse(&self.url) {
            Ok(url) => url.host_str().unwrap_or("webhook").to_owned(),
            Err(_) => "webhook".to_owned(),
        })
    }
}

/// The sending end of one webhook's queue.
#[derive(Debug, Clone)]
pub struct Webhook {
    config: Arc<WebhookConfig>,
    queue: Arc<Mutex<VecDeque<Value>>>,
    ready: Arc<Notify>,
    metrics: Metrics,
}

impl Webhook {
    /// Checks `config` and makes the webhook; nothing is sent until its
    /// [`Delivery`] runs.
    pub fn new(config: WebhookConfig, metrics: Metrics) -> Result<(Webhook, Delivery), WebhookError> {
        let invalid = |problem: String| WebhookError::Invalid { name: config.label(), problem };
        let url = reqwest::Url::parse(&config.url).map_err(|e| invalid(format!("url is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("url must be http or https, not {}", url.scheme())));
        }
        if config.max_attempts == 0 || config.timeout_seconds == 0 {
            return Err(invalid("max_attempts and timeout_seconds must be at least 1".to_owned()));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|e| invalid(format!("header {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|e| invalid(format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("agentrail/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(config.timeout_seconds))
            .default_headers(headers)
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        let webhook = Webhook {
            config: Arc::new(config),
            queue: Arc::new(Mutex::new(VecDeque::new())),
            ready: Arc::new(Notify::new()),
            metrics,
        };
        let delivery = Delivery { webhook: webhook.clone(), client, url };
        Ok((webhook, delivery))
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Queues `payload`; never waits.
    pub fn send(&self, payload: Value) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.len() >= QUEUE_CAPACITY {
            queue.pop_front();
            self.metrics.webhook_dropped.add(1);
            tracing::warn!(webhook = %self.config.label(), "webhook queue full: dropped its oldest payload");
        }
        queue.push_back(payload);
        drop(queue);
        self.ready.notify_one();
    }

    fn next(&self) -> Option<Value> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }
}

/// The task that posts one webhook's queue.
#[derive(Debug)]
pub struct Delivery {
    webhook: Webhook,
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Delivery {
    /// Posts queued payloads, one at a time, until `stopping`.
    pub async fn run(self, mut stopping: watch::Receiver<bool>) {
        let Delivery { webhook, client, url } = self;
        let label = webhook.config.label();
        loop {
            let Some(payload) = webhook.next() else {
                tokio::select! {
                    _ = webhook.ready.notified() => continue,
                    _ = stopping.wait_for(|stop| *stop) => break,
                }
            };
            let mut attempt = 1;
            loop {
                let outcome = tokio::select! {
                    outcome = post(&client, &url, &payload) => outcome,
                    _ = stopping.wait_for(|stop| *stop) => break,
                };
                match outcome {
                    Ok(()) => {
                        webhook.metrics.webhook_delivered.add(1);
                        tracing::info!(webhook = %label, attempt, "webhook delivered");
                        break;
                    }
                    Err(failure) => {
                        webhook.metrics.webhook_failed_attempts.add(1);
                        if !failure.retry || attempt >= webhook.config.max_attempts {
                            webhook.metrics.webhook_dropped.add(1);
                            tracing::error!(webhook = %label, attempt, error = %failure.reason, "webhook payload given up");
                            break;
                        }
                        let wait = failure.retry_after.unwrap_or_else(|| backoff(attempt)).min(LONGEST_RETRY);
                        tracing::warn!(webhook = %label, attempt, error = %failure.reason, retry_in = ?wait, "webhook post failed");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {},
                            _ = stopping.wait_for(|stop| *stop) => break,
                        }
                        attempt += 1;
                    }
                }
            }
            if *stopping.borrow() {
                break;
            }
        }
        let left = webhook.queue.lock().unwrap_or_else(PoisonError::into_inner).len();
        if left > 0 {
            tracing::warn!(webhook = %label, payloads = left, "stopping with webhook payloads not delivered");
        }
    }
}

/// The wait after failed attempt `attempt` (1-based): 1 s, 2 s, 4 s, … capped.
fn backoff(attempt: u32) -> Duration {
    FIRST_RETRY.saturating_mul(1_u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX)).min(LONGEST_RETRY)
}

#[derive(Debug)]
struct Failure {
    reason: String,
    retry: bool,
    retry_after: Option<Duration>,
}

async fn post(client: &reqwest::Client, url: &reqwest::Url, payload: &Value) -> Result<(), Failure> {
    let response = client.post(url.clone()).json(payload).send().await.map_err(|error| Failure {
        // Without the URL: it may carry the webhook's secret.
        reason: error.without_url().to_string(),
        retry: true,
        retry_after: None,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let retry = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Err(Failure { reason: format!("the receiver answered {status}: {body}"), retry, retry_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|attempt| backoff(attempt).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(200), LONGEST_RETRY);
    }

    #[test]
    fn a_bad_webhook_configuration_is_refused_by_name() {
        let config = |url: &str| WebhookConfig {
            name: Some("oncall".into()),
            url: url.into(),
            format: PayloadFormat::Slack,
            min_severity: Severity::Low,
            headers: BTreeMap::new(),
            max_attempts: 3,
            timeout_seconds: 5,
        };
        for (url, named) in [("not a url", "not a URL"), ("ftp://x.example/", "http or https")] {
            let error = Webhook::new(config(url), Metrics::default()).expect_err(url);
            assert!(error.to_string().contains(named) && error.to_string().contains("oncall"), "{error}");
        }
        let mut bad_header = config("https://hooks.example/x");
        bad_header.headers.insert("Bad Header".into(), "v".into());
        let error = Webhook::new(bad_header, Metrics::default()).expect_err("header");
        assert!(error.to_string().contains("Bad Header"), "{error}");
        assert!(Webhook::new(config("https://hooks.example/x"), Metrics::default()).is_ok());
    }
}
