//! The alert-evaluation worker. Evaluation is not built yet: this crate
//! exists so that the workspace has its final shape.
