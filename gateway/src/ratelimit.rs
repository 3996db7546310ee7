//! Token buckets for `tools/call`: per principal (all tools) and per principal and tool (first
//! matching glob of `[rate_limits.per_tool]`), keyed by the qualified principal (`key:eve` and
//! `oauth:eve` have separate buckets). A refused call is recorded (`rate.limited`, within the
//! refusal budget of `crate::audit::refusals`) and answered with a clear error saying when to retry; it
//! never reaches the policy or Convex. [`TokenBucket`] is the bucket both use.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{BucketConfig, RateLimitsConfig};
use crate::oauth::glob_match;

/// `rate` tokens a second, up to `burst`; starts full.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn full(c: &BucketConfig, now: Instant) -> Self {
        Self {
            tokens: f64::from(c.burst),
            at: now,
        }
    }

    /// Refills up to `now`; `Err(ms)` when no whole token is available (when one will be).
    pub fn peek(&mut self, c: &BucketConfig, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * c.rate).min(f64::from(c.burst));
        self.at = now;
        if self.tokens < 1.0 {
            return Err(((1.0 - self.tokens) / c.rate * 1000.0).ceil() as u64);
        }
        Ok(())
    }

    /// Takes one token if one is available.
    pub fn take(&mut self, c: &BucketConfig, now: Instant) -> Result<(), u64> {
        self.peek(c, now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether the bucket would be full at `now` (a full bucket holds no state worth keeping).
    pub fn is_full_at(&self, c: &BucketConfig, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * c.rate >= f64::from(c.burst)
    }
}

/// Which limit refused a call, and when a token is next available.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    /// `principal` or `tool`.
    pub scope: &'static str,
    pub rate: f64,
    pub burst: u32,
    pub retry_after_ms: u64,
}

#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitsConfig,
    buckets: Mutex<HashMap<(String, String), TokenBucket>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitsConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from each applicable bucket, or none if any is empty. `principal` is the
    /// qualified name ([`crate::principal::Principal::qualified`]).
    pub fn check(&self, principal: &str, tool: &str) -> Result<(), Limited> {
        let per_tool = self
            .config
            .per_tool
            .iter()
            .find(|(glob, _)| glob_match(glob, tool))
            .map(|(_, b)| *b);
        let mut limits: Vec<(&'static str, String, BucketConfig)> = Vec::new();
        if let Some(b) = self.config.per_principal {
            limits.push(("principal", String::new(), b));
        }
        if let Some(b) = per_tool {
            limits.push(("tool", tool.to_string(), b));
        }
        if limits.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for (scope, sub, c) in &limits {
            let bucket = buckets
                .entry((principal.to_string(), sub.clone()))
                .or_insert_with(|| TokenBucket::full(c, now));
            if let Err(wait) = bucket.peek(c, now) {
                return Err(Limited {
                    scope,
                    rate: c.rate,
                    burst: c.burst,
                    retry_after_ms: wait,
                });
            }
        }
        for (_, sub, c) in &limits {
            if let Some(b) = buckets.get_mut(&(principal.to_string(), sub.clone())) {
                let _ = b.take(c, now);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn burst_then_refusal_with_a_retry_time() {
        let mut per_tool = BTreeMap::new();
        per_tool.insert(
            "invoices_*".to_string(),
            BucketConfig {
                rate: 1.0,
                burst: 2,
            },
        );
        let rl = RateLimiter::new(RateLimitsConfig {
            per_principal: Some(BucketConfig {
                rate: 100.0,
                burst: 100,
            }),
            per_tool,
        });
        assert!(rl.check("key:alice", "invoices_refund").is_ok());
        assert!(rl.check("key:alice", "invoices_refund").is_ok());
        let limited = rl.check("key:alice", "invoices_refund").unwrap_err();
        assert_eq!(limited.scope, "tool");
        assert!(limited.retry_after_ms > 0 && limited.retry_after_ms <= 1000);
        // Other tools and other principals have their own buckets.
        assert!(rl.check("key:alice", "customers_get").is_ok());
        assert!(rl.check("key:bob", "invoices_refund").is_ok());
        // An OAuth subject of the same name is another caller with its own buckets.
        assert!(rl.check("oauth:alice", "invoices_refund").is_ok());
    }
}
