//! Telephony: where call events come from and what they reduce to.
//!
//! Every source (Asterisk AMI, a Caller-ID modem, a cloud PBX's webhooks) turns its outside
//! bytes into [`calls::Signal`]s with a pure decoder; the call hub (`app::calls`) owns the
//! [`calls::CallBook`] that turns signals into ringing/answered/ended events for the operator
//! screens and `call` documents for the CRM. Source tasks never look anything up.

pub mod ami;
pub mod calls;
pub mod modem;
pub mod webhook;
