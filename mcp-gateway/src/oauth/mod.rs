pub mod pages;
pub mod password;
pub mod throttle;
