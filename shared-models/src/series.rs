//! Series identity: the canonical key of a set of tag values, shared by the
//! built-in store, the sources and the evaluation state.

use std::collections::BTreeMap;

use ring::digest::{SHA256, digest};

/// Longest key stored as is; longer ones are cut and suffixed with a digest
/// of the whole, so that they stay unique and fit their column.
pub const MAX_SERIES_KEY: usize = 512;

/// `key=value,key=value`, sorted by key, with `\`, `,` and `=` escaped so
/// that different tag sets never share a key.
pub fn series_key(labels: &BTreeMap<String, String>) -> String {
    let mut key = String::new();
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        escape_into(&mut key, name);
        key.push('=');
        escape_into(&mut key, value);
    }
    if key.len() <= MAX_SERIES_KEY {
        return key;
    }
    let hash = hex::encode(&digest(&SHA256, key.as_bytes()).as_ref()[..16]);
    let mut cut = MAX_SERIES_KEY - hash.len() - 1;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hash}", &key[..cut])
}

fn escape_into(out: &mut String, raw: &str) {
    for c in raw.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn sorted_and_escaped() {
        assert_eq!(
            series_key(&labels(&[("venue", "x"), ("symbol", "BTC")])),
            "symbol=BTC,venue=x"
        );
        assert_eq!(series_key(&labels(&[("a", "1,b=2")])), "a=1\\,b\\=2");
        assert_eq!(series_key(&BTreeMap::new()), "");
    }

    proptest! {
        #[test]
        fn distinct_label_sets_get_distinct_keys(a in prop::collection::btree_map(".{0,8}", ".{0,8}", 0..4),
                                                 b in prop::collection::btree_map(".{0,8}", ".{0,8}", 0..4)) {
            prop_assume!(a != b);
            prop_assert_ne!(series_key(&a), series_key(&b));
        }

        #[test]
        fn long_keys_fit(value in ".{600,900}") {
            let key = series_key(&labels(&[("k", &value)]));
            prop_assert!(key.len() <= MAX_SERIES_KEY);
        }
    }
}
