//! Token buckets for `tools/call`: per principal (all tools) and per principal and tool (first
//! matching glob of `[rate_limits.per_tool]`). A refused call is recorded (`rate.limited`) and
//! answered with a clear error saying when to retry; it never reaches the policy or Convex.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{BucketConfig, RateLimitsConfig};
use crate::oauth::glob_match;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
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
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitsConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from each applicable bucket, or none if any is empty.
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
        let mut refill = |key: &(String, String), c: &BucketConfig| -> Bucket {
            let b = buckets.entry(key.clone()).or_insert(Bucket {
                tokens: f64::from(c.burst),
                at: now,
            });
            let elapsed = now.duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * c.rate).min(f64::from(c.burst));
            b.at = now;
            *b
        };
        for (scope, sub, c) in &limits {
            let key = (principal.to_string(), sub.clone());
            let b = refill(&key, c);
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / c.rate * 1000.0).ceil();
                return Err(Limited {
                    scope,
                    rate: c.rate,
                    burst: c.burst,
                    retry_after_ms: wait as u64,
                });
            }
        }
        for (_, sub, _) in &limits {
            if let Some(b) = buckets.get_mut(&(principal.to_string(), sub.clone())) {
                b.tokens -= 1.0;
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
        assert!(rl.check("alice", "invoices_refund").is_ok());
        assert!(rl.check("alice", "invoices_refund").is_ok());
        let limited = rl.check("alice", "invoices_refund").unwrap_err();
        assert_eq!(limited.scope, "tool");
        assert!(limited.retry_after_ms > 0 && limited.retry_after_ms <= 1000);
        // Other tools and other principals have their own buckets.
        assert!(rl.check("alice", "customers_get").is_ok());
        assert!(rl.check("bob", "invoices_refund").is_ok());
    }
}
