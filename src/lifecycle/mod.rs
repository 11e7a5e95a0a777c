//! The life of a deployment after `deploy`: redeploy, watch, status, logs, rollback, destroy.
//! Everything is found by the prefix's names and tags: no local state, so any machine with the
//! credentials can run any command.

pub mod destroy;
pub mod live;
pub mod logs;
pub mod plan;
pub mod redeploy;
pub mod rollback;
pub mod status;
pub mod watch;
