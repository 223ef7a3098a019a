pub mod body_limit;
pub mod health;
pub mod write;
