use super::HumanDuration;

/// Installation-wide bounds that rule parsing enforces. The interval floor is
/// an operator setting (`MONITORS_MIN_INTERVAL`); the rest bound the work and
/// storage one rule may cost.
#[derive(Debug, Clone, Copy)]
pub struct RuleLimits {
    pub min_interval: HumanDuration,
    pub max_interval: HumanDuration,
    pub max_window: HumanDuration,
    pub max_for: HumanDuration,
}

impl Default for RuleLimits {
    fn default() -> Self {
        Self {
            min_interval: HumanDuration::from_secs(10),
            max_interval: HumanDuration::from_secs(86_400),
            max_window: HumanDuration::from_secs(31 * 86_400),
            max_for: HumanDuration::from_secs(7 * 86_400),
        }
    }
}

pub(crate) const MAX_NAME_CHARS: usize = 200;
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 2_000;
pub(crate) const MAX_IDENTIFIER_CHARS: usize = 256;
pub(crate) const MAX_TAG_VALUE_CHARS: usize = 1_024;
pub(crate) const MAX_TAGS: usize = 32;
pub(crate) const MAX_GROUP_BY: usize = 16;
pub(crate) const MAX_LABELS: usize = 32;
pub(crate) const MAX_LABEL_KEY_CHARS: usize = 64;
pub(crate) const MAX_LABEL_VALUE_CHARS: usize = 1_024;
pub(crate) const MAX_ANNOTATIONS: usize = 16;
pub(crate) const MAX_ANNOTATION_CHARS: usize = 4_096;
pub(crate) const MAX_CHANNELS: usize = 10;
