//! One module per `auditgate` subcommand.
pub mod approvals;
pub mod check_config;
pub mod client_config;
pub mod explain;
pub mod init;
pub mod keys;
pub mod serve;
pub mod status;
pub mod tools;
pub mod vault;
