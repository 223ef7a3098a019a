//! The alert-rule specification: what a client sends (`input`), the parsed
//! domain form that cannot hold invalid values (`spec`), and partial updates.

mod duration;
mod enums;
mod input;
mod limits;
mod patch;
mod spec;
mod stored;

pub use duration::{DurationParseError, HumanDuration};
pub use enums::{
    Aggregation, AlertState, Comparator, ConditionKind, ErrorPolicy, NoDataPolicy, Severity,
};
pub use input::{ConditionInput, MetricInput, RuleInput};
pub use limits::RuleLimits;
pub use patch::{ConditionPatch, MetricPatch, RulePatch, apply_patch};
pub(crate) use spec::check_text;
pub use spec::{Condition, MetricQuery, RuleName, RuleSpec, parse_labels};
