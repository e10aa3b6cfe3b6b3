//! Admission at the door: the server's queue limit for everyone (`max_queue`), and the policy
//! file's limits for each user (requests at once, requests per minute, tokens per minute).
//! Checked before any costly work (template, schemas, grammar); a refusal is a 429 with
//! `Retry-After` that names the limit.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fulcrum_tools::{LimitConfig, Principal};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Why a request was refused at the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds as many generations as it admits (`slots + max_queue`).
    QueueFull,
    /// The caller has this many requests in progress already.
    Concurrent { limit: u32 },
    /// The caller started this many requests in the last minute.
    PerMinute { limit: u32, retry_after: Duration },
    /// The caller's requests of the last minute used this many tokens.
    TokensPerMinute { limit: u32, retry_after: Duration },
}

/// The window `tokens_per_minute` counts over.
const TOKEN_WINDOW: Duration = Duration::from_secs(60);

impl Refusal {
    /// The `reason` label of `fulcrum_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::QueueFull => "queue_full",
            Refusal::Concurrent { .. } => "concurrent_requests",
            Refusal::PerMinute { .. } => "requests_per_minute",
            Refusal::TokensPerMinute { .. } => "tokens_per_minute",
        }
    }

    /// Seconds the client should wait before it tries again.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Refusal::QueueFull | Refusal::Concurrent { .. } => 1,
            Refusal::PerMinute { retry_after, .. }
            | Refusal::TokensPerMinute { retry_after, .. } => {
                retry_after.as_secs_f64().ceil().max(1.0) as u64
            }
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::QueueFull => format!(
                "the server has as many requests as it admits at once (`max_queue`); retry after {} s",
                self.retry_after_secs()
            ),
            Refusal::Concurrent { limit } => format!(
                "you have {limit} requests in progress, your limit (`concurrent_requests` in the policy file); retry when one ends"
            ),
            Refusal::PerMinute { limit, .. } => format!(
                "you started {limit} requests within a minute, your limit (`requests_per_minute` in the policy file); retry after {} s",
                self.retry_after_secs()
            ),
            Refusal::TokensPerMinute { limit, .. } => format!(
                "your requests of the last minute used {limit} tokens or more, your limit (`tokens_per_minute` in the policy file); retry after {} s",
                self.retry_after_secs()
            ),
        }
    }
}

/// The policy file's per-user limits, and each user's count against them.
#[derive(Debug)]
pub struct CallerLimits {
    rules: Vec<LimitConfig>,
    in_progress: Mutex<HashMap<String, usize>>,
    rates: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    /// Tokens each user's generations used, when they finished, over the last minute.
    tokens: Mutex<HashMap<String, VecDeque<(Instant, u64)>>>,
}

/// A request's place in its caller's count of requests in progress, given back when dropped.
#[derive(Debug)]
pub struct CallerSlot {
    limits: Arc<CallerLimits>,
    user: String,
}

impl Drop for CallerSlot {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .in_progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

impl CallerLimits {
    /// `None` when the policy sets no limit.
    pub fn new(rules: &[LimitConfig]) -> Option<Arc<Self>> {
        (!rules.is_empty()).then(|| {
            Arc::new(CallerLimits {
                rules: rules.to_vec(),
                in_progress: Mutex::new(HashMap::new()),
                rates: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            })
        })
    }

    /// The rule for `caller`: their own, else their role's.
    fn rule(&self, caller: &Principal) -> Option<&LimitConfig> {
        self.rules
            .iter()
            .find(|rule| rule.user.as_deref() == Some(caller.user.as_str()))
            .or_else(|| {
                self.rules
                    .iter()
                    .find(|rule| rule.role.as_deref() == Some(caller.role.as_str()))
            })
    }

    /// Counts `tokens` a generation of `caller` used, finished now. Tokens are known only
    /// when a generation ends (GCRA limiters such as `governor`'s cannot charge a cost after
    /// the fact past their burst), so this is a sliding window of what finished in the last
    /// minute, checked when the next request arrives.
    pub fn charge(&self, caller: &Principal, tokens: u64) {
        self.charge_at(caller, tokens, Instant::now());
    }

    fn charge_at(&self, caller: &Principal, tokens: u64, at: Instant) {
        if self
            .rule(caller)
            .and_then(|r| r.tokens_per_minute)
            .is_none()
            || tokens == 0
        {
            return;
        }
        let mut windows = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        windows
            .entry(caller.user.clone())
            .or_default()
            .push_back((at, tokens));
    }

    /// `Err` with the time until the caller's tokens of the last minute fall below `limit`.
    fn check_tokens(&self, user: &str, limit: u32, now: Instant) -> Result<(), Duration> {
        let mut windows = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(window) = windows.get_mut(user) else {
            return Ok(());
        };
        while window
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= TOKEN_WINDOW)
        {
            window.pop_front();
        }
        let mut used: u64 = window.iter().map(|(_, tokens)| tokens).sum();
        if used < u64::from(limit) {
            if window.is_empty() {
                windows.remove(user);
            }
            return Ok(());
        }
        for (at, tokens) in window.iter() {
            used -= tokens;
            if used < u64::from(limit) {
                return Err((*at + TOKEN_WINDOW).saturating_duration_since(now));
            }
        }
        Err(TOKEN_WINDOW)
    }

    /// Counts one more request of `caller`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, caller: &Principal) -> Result<Option<CallerSlot>, Refusal> {
        let Some(rule) = self.rule(caller) else {
            return Ok(None);
        };
        let mut counts = self
            .in_progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.get(&caller.user).copied().unwrap_or(0);
        if let Some(limit) = rule.concurrent_requests {
            if count >= limit as usize {
                return Err(Refusal::Concurrent { limit });
            }
        }
        if let Some(limit) = rule.tokens_per_minute {
            if let Err(retry_after) = self.check_tokens(&caller.user, limit, Instant::now()) {
                return Err(Refusal::TokensPerMinute { limit, retry_after });
            }
        }
        if let Some(per_minute) = rule.requests_per_minute.and_then(NonZeroU32::new) {
            let limiter = {
                let mut rates = self
                    .rates
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Arc::clone(rates.entry(caller.user.clone()).or_insert_with(|| {
                    Arc::new(RateLimiter::direct(Quota::per_minute(per_minute)))
                }))
            };
            if let Err(not_until) = limiter.check() {
                return Err(Refusal::PerMinute {
                    limit: per_minute.get(),
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                });
            }
        }
        counts.insert(caller.user.clone(), count + 1);
        Ok(Some(CallerSlot {
            limits: Arc::clone(self),
            user: caller.user.clone(),
        }))
    }
}

/// The server-wide count of generations admitted (being decoded or waiting for a sequence).
#[derive(Debug, Default)]
pub struct Pending(AtomicUsize);

/// A generation's place among the pending ones (and its caller's count), given back when it
/// is dropped.
#[derive(Debug)]
pub struct Admission {
    pending: Arc<Pending>,
    _caller: Option<CallerSlot>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.pending.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pending {
    /// One more generation, or `QueueFull` when `max` are admitted; then the caller's limits.
    pub fn admit(
        self: &Arc<Self>,
        max: usize,
        caller: Option<(&Arc<CallerLimits>, &Principal)>,
    ) -> Result<Admission, Refusal> {
        let before = self.0.fetch_add(1, Ordering::SeqCst);
        let mut admission = Admission {
            pending: Arc::clone(self),
            _caller: None,
        };
        if before >= max {
            return Err(Refusal::QueueFull);
        }
        if let Some((limits, principal)) = caller {
            // Dropping `admission` on a refusal gives the server-wide place back.
            admission._caller = limits.admit(principal)?;
        }
        Ok(admission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user: &str, role: &str) -> Principal {
        Principal {
            user: user.into(),
            role: role.into(),
        }
    }

    fn rule(
        role: Option<&str>,
        user: Option<&str>,
        concurrent: Option<u32>,
        per_minute: Option<u32>,
    ) -> LimitConfig {
        LimitConfig {
            role: role.map(Into::into),
            user: user.map(Into::into),
            concurrent_requests: concurrent,
            requests_per_minute: per_minute,
            tokens_per_minute: None,
        }
    }

    #[test]
    fn tokens_of_the_last_minute_refuse_until_enough_of_them_are_older_than_a_minute() {
        let limits = CallerLimits::new(&[LimitConfig {
            tokens_per_minute: Some(1000),
            ..rule(Some("employee"), None, None, None)
        }])
        .expect("limits");
        let li = principal("li", "employee");
        let boss = principal("boss", "admin");
        let now = Instant::now();
        let ago = |secs| now.checked_sub(Duration::from_secs(secs)).expect("uptime");
        drop(limits.admit(&li).expect("nothing used yet"));
        limits.charge_at(&li, 700, ago(50));
        limits.charge_at(&li, 200, ago(20));
        drop(limits.admit(&li).expect("900 of 1000 used"));
        limits.charge_at(&li, 300, ago(5));
        // 1200 used; below the limit once the 700 of 50 s ago leave the window, in 10 s.
        let wait = limits
            .check_tokens("li", 1000, now)
            .expect_err("1200 of 1000 used");
        assert_eq!(wait, Duration::from_secs(10));
        match limits.admit(&li) {
            Err(Refusal::TokensPerMinute {
                limit: 1000,
                retry_after,
            }) => {
                assert!(retry_after <= Duration::from_secs(10), "{retry_after:?}")
            }
            other => panic!("expected a tokens-per-minute refusal, got {other:?}"),
        }
        assert!(
            limits
                .check_tokens("li", 1000, now + Duration::from_secs(11))
                .is_ok(),
            "the oldest charge left the window"
        );
        // A user without a token rule is not counted.
        limits.charge_at(&boss, 5000, now);
        assert!(limits.admit(&boss).is_ok());
    }

    #[test]
    fn each_user_of_a_role_is_counted_on_their_own_and_a_user_rule_wins() {
        let limits = CallerLimits::new(&[
            rule(Some("employee"), None, Some(2), None),
            rule(None, Some("boss"), Some(3), None),
        ])
        .expect("limits");
        let li = principal("li", "employee");
        let wang = principal("wang", "employee");
        let boss = principal("boss", "employee");
        let held: Vec<_> = (0..2)
            .map(|_| limits.admit(&li).expect("admitted"))
            .collect();
        assert_eq!(
            limits.admit(&li).err(),
            Some(Refusal::Concurrent { limit: 2 })
        );
        assert!(
            limits.admit(&wang).is_ok(),
            "another user of the role has their own count"
        );
        let bosses: Vec<_> = (0..3)
            .map(|_| limits.admit(&boss).expect("admitted"))
            .collect();
        assert!(limits.admit(&boss).is_err());
        drop(held);
        assert!(
            limits.admit(&li).is_ok(),
            "a finished request gives its place back"
        );
        drop(bosses);
        assert!(limits
            .admit(&principal("sun", "auditor"))
            .expect("no rule")
            .is_none());
    }

    #[test]
    fn a_rate_per_minute_refuses_with_the_time_to_wait() {
        let limits =
            CallerLimits::new(&[rule(Some("employee"), None, None, Some(3))]).expect("limits");
        let li = principal("li", "employee");
        for _ in 0..3 {
            drop(limits.admit(&li).expect("within the burst"));
        }
        let refusal = limits.admit(&li).expect_err("the fourth in a minute");
        assert_eq!(refusal.reason(), "requests_per_minute");
        assert!(
            (1..=20).contains(&refusal.retry_after_secs()),
            "{refusal:?}"
        );
    }

    #[test]
    fn the_queue_limit_counts_everyone_and_frees_on_drop() {
        let pending = Arc::new(Pending::default());
        let first = pending.admit(1, None).expect("room");
        assert_eq!(pending.admit(1, None).err(), Some(Refusal::QueueFull));
        drop(first);
        assert!(pending.admit(1, None).is_ok());
    }
}
