//! Recording budgets for refusals (`docs/audit-events.md` §7): each source of refusals — a peer
//! IP address before authentication, a qualified principal after it — has a token bucket; a
//! refusal within it is written as its own entry, one over it is counted into the current
//! window's `refusals.summary`. Every refusal is accounted for, and a flood writes one summary per
//! window instead of one entry per request.
//!
//! **Architecture Invariant:** the memory held here is bounded: at most [`MAX_SOURCES`] buckets
//! (full ones are dropped at each window's end; a new source beyond the bound counts as over
//! budget) and at most [`MAX_GROUPS`] summary groups per window (the rest merge into source `*`).
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use auditgate_ledger::Draft;
use auditgate_ledger::timestamp::Timestamp;
use serde_json::{Value, json};

use super::bounded;
use crate::config::{BucketConfig, RefusalsConfig};
use crate::ratelimit::TokenBucket;

/// Buckets kept at most; beyond it, refusals from new sources are summarized.
pub const MAX_SOURCES: usize = 65_536;
/// Groups per summary at most; beyond it, groups merge into source `*`.
pub const MAX_GROUPS: usize = 256;

/// Who a refusal is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A peer before authentication (its IP address: the port changes per connection).
    Peer(IpAddr),
    /// An authenticated principal, qualified (`key:eve`).
    Principal(String),
}

impl Source {
    /// The peer of `remote` (`ip:port` as the listener reports it). An IPv6 peer is its /64:
    /// one host holds a whole /64, and keying by address would give it 2^64 budgets.
    pub fn peer(remote: &str) -> Source {
        remote
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| remote.parse::<IpAddr>())
            .map(|ip| match ip {
                IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                    let net = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(std::net::Ipv6Addr::from(net))
                }
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            })
            .map(Source::Peer)
            .unwrap_or(Source::Principal(format!(
                "peer:{}",
                bounded::string(remote)
            )))
    }

    fn label(&self) -> String {
        match self {
            Source::Peer(ip) => ip.to_string(),
            Source::Principal(p) => bounded::owned(p),
        }
    }
}

/// One refusal as the budget sees it.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    /// The entry kind it has when written on its own.
    pub kind: &'static str,
    pub reason: &'a str,
    /// HTTP status (0 on stdio).
    pub status: u16,
    pub source: Source,
}

/// Whether a refusal gets its own entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Record,
    /// Counted in the window's summary; a token is next available after this long.
    Counted {
        retry_after_ms: u64,
    },
}

#[derive(Debug, Clone)]
struct Group {
    count: u64,
    first: Timestamp,
    last: Timestamp,
}

type GroupKey = (&'static str, String, u16, String);

#[derive(Debug)]
struct Window {
    start: Timestamp,
    groups: BTreeMap<GroupKey, Group>,
    total: u64,
}

impl Window {
    fn new() -> Self {
        Self {
            start: Timestamp::now(),
            groups: BTreeMap::new(),
            total: 0,
        }
    }

    fn count(&mut self, r: &Refusal<'_>) {
        let now = Timestamp::now();
        let mut key: GroupKey = (r.kind, bounded::owned(r.reason), r.status, r.source.label());
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_GROUPS {
            key.3 = "*".into();
        }
        self.total += 1;
        self.groups
            .entry(key)
            .and_modify(|g| {
                g.count += 1;
                g.last = now;
            })
            .or_insert(Group {
                count: 1,
                first: now,
                last: now,
            });
    }
}

/// Every source's bucket, how many of them are peers (bounded by [`MAX_SOURCES`]; principals are
/// bounded by the callers that authenticate), and the bucket all peers share.
#[derive(Debug)]
struct Buckets {
    map: HashMap<Source, TokenBucket>,
    peers: usize,
    all_peers: TokenBucket,
}

/// The budgets and the window in progress.
#[derive(Debug)]
pub struct RefusalBudget {
    config: RefusalsConfig,
    buckets: Mutex<Buckets>,
    window: Mutex<Window>,
}

impl RefusalBudget {
    pub fn new(config: RefusalsConfig) -> Self {
        let all_peers = TokenBucket::full(&config.all_sources, Instant::now());
        Self {
            config,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                peers: 0,
                all_peers,
            }),
            window: Mutex::new(Window::new()),
        }
    }

    pub fn config(&self) -> &RefusalsConfig {
        &self.config
    }

    fn bucket_config(&self, source: &Source) -> &BucketConfig {
        match source {
            Source::Peer(_) => &self.config.per_source,
            Source::Principal(_) => &self.config.per_principal,
        }
    }

    /// Takes a token for `r`, or counts it into the window. A peer also needs a token of the
    /// bucket all peers share (`all_sources`), so that many addresses together still write a
    /// bounded number of entries per window.
    pub fn admit(&self, r: &Refusal<'_>) -> Admission {
        let c = *self.bucket_config(&r.source);
        let now = Instant::now();
        let taken = {
            let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let b = &mut *b;
            let new_peer = matches!(r.source, Source::Peer(_)) && !b.map.contains_key(&r.source);
            if new_peer && b.peers >= MAX_SOURCES {
                Err(((1.0 / c.rate) * 1000.0).ceil() as u64)
            } else {
                if new_peer {
                    b.peers += 1;
                }
                let own = b
                    .map
                    .entry(r.source.clone())
                    .or_insert_with(|| TokenBucket::full(&c, now));
                match r.source {
                    Source::Peer(_) => {
                        let all = &self.config.all_sources;
                        own.peek(&c, now)
                            .and_then(|()| b.all_peers.take(all, now))
                            .and_then(|()| own.take(&c, now))
                    }
                    Source::Principal(_) => own.take(&c, now),
                }
            }
        };
        match taken {
            Ok(()) => Admission::Record,
            Err(retry_after_ms) => {
                self.count(r);
                Admission::Counted { retry_after_ms }
            }
        }
    }

    /// Counts `r` into the window's summary (over budget, or admitted but not recordable).
    pub fn count(&self, r: &Refusal<'_>) {
        self.window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count(r);
    }

    /// Ends the window: its `refusals.summary`, if anything was counted. Buckets that have
    /// refilled are dropped (they hold nothing a new bucket would not).
    pub fn end_window(&self) -> Option<Ended> {
        let window = std::mem::replace(
            &mut *self.window.lock().unwrap_or_else(|e| e.into_inner()),
            Window::new(),
        );
        {
            let now = Instant::now();
            let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let buckets = &mut *guard;
            let (source, principal) = (self.config.per_source, self.config.per_principal);
            buckets.map.retain(|s, b| {
                let c = match s {
                    Source::Peer(_) => &source,
                    Source::Principal(_) => &principal,
                };
                !b.is_full_at(c, now)
            });
            buckets.peers = buckets
                .map
                .keys()
                .filter(|s| matches!(s, Source::Peer(_)))
                .count();
        }
        (window.total > 0).then(|| Ended {
            body: summary(&window),
            window,
        })
    }

    /// Puts the counts of a summary that could not be written back into the window in
    /// progress: the next summary carries them, nothing is lost while the ledger is failing.
    pub fn put_back(&self, ended: Ended) {
        let mut current = self.window.lock().unwrap_or_else(|e| e.into_inner());
        current.start = ended.window.start;
        current.total += ended.window.total;
        for (mut key, g) in ended.window.groups {
            if !current.groups.contains_key(&key) && current.groups.len() >= MAX_GROUPS {
                key.3 = "*".into();
            }
            current
                .groups
                .entry(key)
                .and_modify(|c| {
                    c.count += g.count;
                    c.first = g.first;
                })
                .or_insert(g);
        }
    }
}

/// A window that ended with refusals counted: its summary entry's body.
#[derive(Debug)]
pub struct Ended {
    pub body: Value,
    window: Window,
}

impl Ended {
    pub fn draft(&self) -> Draft {
        match Draft::from_value("refusals.summary", &self.body) {
            Ok(d) => d,
            // Members are ours and strings are capped: a summary is always a valid draft.
            Err(e) => unreachable!("refusals.summary is malformed: {e}"),
        }
    }
}

fn summary(w: &Window) -> Value {
    let groups: Vec<Value> = w
        .groups
        .iter()
        .map(|((kind, reason, status, source), g)| {
            json!({"kind": kind, "reason": reason, "status": status, "source": source,
                   "count": g.count, "first": g.first.as_str(), "last": g.last.as_str()})
        })
        .collect();
    json!({
        "window_start": w.start.as_str(),
        "window_end": Timestamp::now().as_str(),
        "total": w.total,
        "groups": groups,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn budget(burst: u32) -> RefusalBudget {
        RefusalBudget::new(RefusalsConfig {
            per_source: BucketConfig { rate: 0.001, burst },
            per_principal: BucketConfig { rate: 0.001, burst },
            all_sources: BucketConfig {
                rate: 0.001,
                burst: 100_000,
            },
            window_secs: 10,
            tarpit_ms: 0,
        })
    }

    fn refusal(source: Source) -> Refusal<'static> {
        Refusal {
            kind: "auth.refused",
            reason: "missing",
            status: 401,
            source,
        }
    }

    #[test]
    fn a_burst_is_recorded_then_counted_per_source_then_summarized_once() {
        let b = budget(3);
        let a = Source::peer("127.0.0.2:5000");
        let other = Source::peer("127.0.0.3:5000");
        for _ in 0..3 {
            assert_eq!(b.admit(&refusal(a.clone())), Admission::Record);
        }
        for _ in 0..1000 {
            assert!(matches!(
                b.admit(&refusal(a.clone())),
                Admission::Counted { .. }
            ));
        }
        // Another address has its own budget; so has a principal.
        assert_eq!(b.admit(&refusal(other)), Admission::Record);
        assert_eq!(
            b.admit(&refusal(Source::Principal("key:eve".into()))),
            Admission::Record
        );
        let ended = b.end_window().unwrap();
        let v = ended.body.clone();
        assert_eq!(v["total"], 1000);
        assert_eq!(v["groups"][0]["source"], "127.0.0.2");
        assert_eq!(v["groups"][0]["count"], 1000);
        // A summary that could not be written comes back in the next one.
        b.put_back(ended);
        assert_eq!(b.end_window().unwrap().body["total"], 1000);
        // Nothing more counted: no summary for the next window.
        assert!(b.end_window().is_none());
    }

    #[test]
    fn ipv6_peers_are_their_64_and_all_peers_share_a_budget() {
        let a = Source::peer("[2001:db8:1:2:aaaa::1]:443");
        let b = Source::peer("[2001:db8:1:2:bbbb::9]:443");
        assert_eq!(a, b);
        assert_ne!(a, Source::peer("[2001:db8:1:3::1]:443"));
        assert_eq!(
            Source::peer("[::ffff:127.0.0.2]:80"),
            Source::peer("127.0.0.2:80")
        );
        let mut b = budget(5);
        b.config.all_sources = BucketConfig {
            rate: 0.001,
            burst: 3,
        };
        let b = RefusalBudget::new(b.config.clone());
        let recorded = (0..10u8)
            .filter(|i| {
                let s = Source::Peer(IpAddr::from([10, 0, 0, *i]));
                b.admit(&refusal(s)) == Admission::Record
            })
            .count();
        assert_eq!(recorded, 3, "ten addresses share the all-sources burst");
        assert_eq!(
            b.admit(&refusal(Source::Principal("key:eve".into()))),
            Admission::Record,
            "principals do not draw on it"
        );
    }

    #[test]
    fn groups_are_bounded() {
        let b = budget(1);
        for i in 0..(MAX_GROUPS as u32 + 50) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            let s = Source::Peer(IpAddr::V4(ip));
            b.admit(&refusal(s.clone()));
            b.admit(&refusal(s));
        }
        let v = b.end_window().unwrap().body;
        let groups = v["groups"].as_array().unwrap();
        assert_eq!(groups.len(), MAX_GROUPS + 1);
        assert_eq!(v["total"], MAX_GROUPS as u64 + 50);
        assert!(
            groups
                .iter()
                .any(|g| g["source"] == "*" && g["count"] == 50)
        );
    }
}
