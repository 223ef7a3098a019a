//! The built-in metrics store (being written).
