pub mod body_limit;
pub mod health;
