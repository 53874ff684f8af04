//! Asterisk Manager Interface: the wire format ([`frame`]), the channel-to-call tracker
//! ([`tracker`]) and the connection that logs in, keeps alive and reconnects ([`connection`]).

pub mod connection;
pub mod frame;
pub mod tracker;

pub use frame::{FrameError, Message};
pub use tracker::AmiTracker;
