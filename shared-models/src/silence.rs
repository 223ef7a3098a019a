//! Silences mute notifications, not evaluation: a silenced transition is
//! still recorded, with its outbox row marked silenced instead of sent.

use std::collections::BTreeMap;

use crate::time::Timestamp;

/// A silence as the engine needs it to decide whether it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveSilence {
    pub id: String,
    pub owner_id: String,
    /// Mutes this one rule, when set.
    pub rule_id: Option<String>,
    /// Mutes alerts whose labels include every one of these pairs.
    pub matchers: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

impl ActiveSilence {
    /// Whether this silence mutes an alert of `rule` with `labels` at `now`.
    /// `labels` are the alert's series labels together with the rule's own.
    pub fn mutes(
        &self,
        owner: &str,
        rule: &str,
        labels: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> bool {
        self.owner_id == owner
            && self.starts_at <= now
            && now < self.ends_at
            && self.rule_id.as_deref().is_none_or(|r| r == rule)
            && self
                .matchers
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn silence(rule: Option<&str>, matchers: &[(&str, &str)]) -> ActiveSilence {
        ActiveSilence {
            id: "s".into(),
            owner_id: "u1".into(),
            rule_id: rule.map(Into::into),
            matchers: labels(matchers),
            starts_at: at(100),
            ends_at: at(200),
        }
    }

    #[test]
    fn a_rule_silence_mutes_only_that_rule_and_only_in_its_window() {
        let s = silence(Some("r1"), &[]);
        let any = labels(&[]);
        assert!(s.mutes("u1", "r1", &any, at(150)));
        assert!(!s.mutes("u1", "r2", &any, at(150)));
        assert!(!s.mutes("u1", "r1", &any, at(99)));
        assert!(!s.mutes("u1", "r1", &any, at(200)));
        assert!(
            !s.mutes("u2", "r1", &any, at(150)),
            "another tenant's silence"
        );
    }

    #[test]
    fn label_matchers_all_have_to_match() {
        let s = silence(None, &[("team", "trading"), ("symbol", "BTC")]);
        assert!(s.mutes(
            "u1",
            "r",
            &labels(&[("team", "trading"), ("symbol", "BTC"), ("x", "y")]),
            at(150)
        ));
        assert!(!s.mutes(
            "u1",
            "r",
            &labels(&[("team", "trading"), ("symbol", "ETH")]),
            at(150)
        ));
        assert!(!s.mutes("u1", "r", &labels(&[("team", "trading")]), at(150)));
    }
}
